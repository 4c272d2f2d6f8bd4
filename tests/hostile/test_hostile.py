"""The hostile-submission corpus (tests/hostile/corpus.py), graded for real: bubblewrap sandbox,
real kernels, the scoring process. Each case asserts its own exact expectation; a case that shows a
weakness of the grader stays strict and is marked xfail(strict=True) with the reason.

Few kernels run: cases share submissions ("groups", see corpus.GROUPS), each graded once per session.
"""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from grader.records import CheckStatus, ExecutionStatus
from grader.sandbox import sandbox_status
from tests import submissions as s
from tests.hostile.corpus import (
    CASES,
    GROUPS,
    HOST_PROBES,
    HOSTILE_LIMITS,
    Context,
    Graded,
    grade_group,
    verify,
)

USABLE, WHY_NOT = sandbox_status()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not USABLE, reason=f"no sandbox here: {WHY_NOT}")]

MIXED_GOOD = "buena"


class Corpus:
    """Grades each group once, on first use; the mixed groups come from one batch beside a good one."""

    def __init__(self, ctx: Context, hostile_config, light_config, scorer):
        self.ctx, self.config, self.light, self.scorer = ctx, hostile_config, light_config, scorer
        self.graded: dict[str, Graded] = {}
        self.batch = None
        self.summary = None

    def get(self, name: str) -> Graded:
        group = GROUPS[name]
        if group.mixed:
            return self.mixed()[name]
        if name not in self.graded:
            for before in group.after:
                self.get(before)
            self.graded[name] = grade_group(self.ctx, group, self.config, self.scorer)
        return self.graded[name]

    def mixed(self) -> dict[str, Graded]:
        """The light reference and the mixed hostile groups graded one batch (Dask, 2 workers), or one
        after another with grade_submission when the batch engine is not there."""
        if self.batch is not None:
            return self.batch
        ctx = self.ctx
        folder = ctx.root / "mixta"
        out = folder / "entregas"
        paths = {MIXED_GOOD: s.write(s.fill(ctx.released), out / MIXED_GOOD / "practica3.ipynb")}
        for name, group in GROUPS.items():
            if group.mixed:
                paths[name] = out / name / "practica3.ipynb"
                group.build(ctx, paths[name])
        try:
            from grader.batch import autograde
        except ImportError:
            autograde = None
        graded: dict[str, Graded] = {}
        if autograde is not None:
            from grader.collect import Submission, write_submissions
            from grader.gradebook import load_results

            write_submissions(out, "practica3", [Submission(n, n, p, None) for n, p in paths.items()])
            shutil.copy(ctx.gradebook, folder / "gradebook.db")  # the release's cells; the batch writes here
            url = f"sqlite:///{folder / 'gradebook.db'}"
            summary = autograde(self.light, out, db_url=url, workers=2, sandbox=True, progress=False)
            stored = load_results(url, "practica3")
            leftovers = ctx.leftovers()
            for name in paths:
                # A submission the batch could not grade (grade_submission raised) is that raise.
                error = RuntimeError(summary.messages.get(name)) if name in summary.errored else None
                graded[name] = Graded(name, folder / "work" / name, None if error else stored[name].result,
                                      error, leftovers=leftovers)
            self.summary = summary
        else:
            from grader.pipeline import grade_submission

            for name, path in paths.items():
                workdir = folder / "work" / name
                try:
                    graded[name] = Graded(name, workdir, grade_submission(path, self.light, student=name,
                                                                         workdir=workdir, db_url=ctx.db_url))
                except Exception as exc:  # noqa: BLE001 (the case of that group reports it)
                    graded[name] = Graded(name, workdir, None, exc)
            leftovers = ctx.leftovers()
            for item in graded.values():
                item.leftovers = leftovers
        self.batch = graded
        return graded


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, light_config, released):
    """The groups graded one after another share one scoring process (outside the corpus' folder, so it
    is never taken for a process a submission left behind), as a batch worker's jobs do."""
    from grader.scoring import ScoringServer

    ctx = Context(tmp_path_factory.mktemp("hostil"), released[0], released[1])
    limits = light_config.limits.model_copy(update=HOSTILE_LIMITS)
    try:
        with ScoringServer(tmp_path_factory.mktemp("hostile-scorer"), limits, sandboxed=True) as scorer:
            yield Corpus(ctx, light_config.model_copy(update={"limits": limits}), light_config, scorer)
    finally:
        ctx.close()


def test_the_corpus_is_complete_and_consistent():
    names = [c.name for c in CASES]
    assert len(names) >= 25 and len(set(names)) == len(names), Counter(names).most_common(3)
    assert {c.group for c in CASES} == set(GROUPS), "every group has a case and every case a group"
    for case in CASES:
        assert set(case.host) <= set(HOST_PROBES), case.name
        statuses = {c.status for c in CASES if c.group == case.group}
        assert len(statuses) == 1, f"{case.group}: one submission has one execution status"
        assert case.xfail is None or case.xfail.strip(), case.name
        if not GROUPS[case.group].kernel:  # refused before execution: nothing may have run
            assert "nothing_ran" in case.host and case.status is ExecutionStatus.INVALID_NOTEBOOK, case.name


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, marks=marks, id=case.name)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_submission(case, corpus):
    graded = corpus.get(case.group)
    problems = verify(case, graded, corpus.ctx)
    assert not problems, f"{case.name} ({case.does}):\n  " + "\n  ".join(problems)


def test_a_good_submission_graded_among_hostile_ones_gets_full_marks(corpus):
    """The light reference in one batch (2 Dask workers) with hostile submissions: it still gets full
    marks, and every hostile one ends with a result of its own (the cases of their groups say which)."""
    graded = corpus.mixed()
    good = graded[MIXED_GOOD].result
    assert good is not None, graded[MIXED_GOOD].error
    assert good.execution.status is ExecutionStatus.COMPLETED, good.execution.message
    assert good.execution.sandboxed
    failing = [(c.name, c.status.value, c.message) for c in good.checks
               if c.status not in (CheckStatus.PASSED, CheckStatus.MANUAL)]
    assert failing == [] and good.score == good.max_score == 6.5
    hostile = [name for name, group in GROUPS.items() if group.mixed]
    assert len(hostile) >= 2
    summary = corpus.summary
    if summary is not None:  # graded by grader.batch.autograde: each has a stored result
        assert set(summary.outcomes) == {MIXED_GOOD, *hostile}
        assert summary.scores[MIXED_GOOD] == 6.5
        assert all(summary.scores[name] < 6.5 for name in hostile)
    for name in hostile:
        item = graded[name]
        assert item.result is not None or item.error is not None, name
        if item.result is not None:
            assert item.result.score < 6.5 and (item.workdir / "result.json").is_file(), name
    assert graded[MIXED_GOOD].leftovers == []
