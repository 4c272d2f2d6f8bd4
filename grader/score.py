"""Run an assignment's hidden tests against one submission's exported artifacts, as a pytest plugin.

The hidden tests under ``autograde_tests/<assignment>/`` are ordinary pytest tests, each marked
``@pytest.mark.check("<check name>")``; the check's points and thresholds come from the assignment's
configuration. This module runs them with a plugin that provides the fixtures they use:

- ``artifacts``: the student's exported objects, loaded as data (:class:`~grader.artifacts.Artifacts`:
  Keras ``safe_mode``, skops trusted types, ``numpy.load(allow_pickle=False)``) — models are re-applied
  to the held-out inputs here;
- ``answers``: held-out labels and clean images (never seen by the student's kernel);
- ``facts``: the :class:`~grader.checks.rules.SubmissionFacts` the pipeline gathered;
- ``config``, ``specs``, ``bounds`` (a check's (zero_at, full_at) thresholds);
- ``credit``: records a test's :class:`~grader.checks.CheckOutcome` as that check's result, its message
  rendered in the result's language beside its key form (:mod:`grader.i18n`).

Besides the checks' results, a scoring gives the class labels each classifier predicted on labelled
held-out inputs (:func:`class_predictions`, kept beside the result for the similarity report). A reply
is cut to fit its bytes (:func:`grader.reply_bounds.fit_reply`); whatever was cut is named in the message of the check.
:mod:`grader.score_server` is the process that calls :func:`score` for each submission.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

from grader.artifacts import Artifacts, ObjectUnavailable, _short
from grader.checks import CheckOutcome
from grader.checks.rules import SubmissionFacts
from grader.config import AssignmentConfig
from grader.trusted_objects import load_trusted_objects
from grader.heldout import load_answers
from grader.i18n import Message, joined, msg
from grader.metrics import labels_from_scores
from grader.records import CheckResult, CheckStatus


def class_predictions(config: AssignmentConfig, outputs: dict[str, np.ndarray],
                      answers: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{name: {"input", "labels", "predicted": [int, ...]}}`` for each object whose outputs are class
    scores or labels, one per item of a held-out set that keeps labels (``labels``: that answer's name)."""
    found = {}
    for name, scores in outputs.items():
        source = config.inputs.get(name)
        held = config.heldout.sets.get(source) if source is not None else None
        labels_name = held.answers.get("labels") if held is not None else None
        labels = answers.get(labels_name) if labels_name is not None else None
        scores = np.asarray(scores)
        if (labels is None or scores.ndim not in (1, 2) or len(scores) != len(labels)
                or scores.dtype.kind not in "biuf" or not np.isfinite(scores).all()):
            continue
        found[name] = {"input": source, "labels": labels_name,
                       "predicted": labels_from_scores(scores).astype("int64").tolist()}
    return found


@dataclass(frozen=True)
class ScoringPaths:
    """Where the scoring process reads (each may be bound read-only into its sandbox)."""

    artifacts: Path  # exported by the student's kernel
    inputs: Path     # held-out inputs (the student's kernel saw these)
    answers: Path    # held-out labels and clean images (the student's kernel never saw these)
    job: Path        # from the pipeline: config.json, bounds.json, facts.json, specs.json, tests/ (hidden tests)
    #                  and public/locale/ (the assignment's own messages, grader.i18n)

    def config(self) -> AssignmentConfig:
        return AssignmentConfig.model_validate_json((self.job / "config.json").read_text(encoding="utf-8"))


class GradingPlugin:
    """pytest plugin: fixtures for hidden tests, and the collection of their outcomes.

    ``stopped``: objects stopped by the supervisor (each unavailable, with a message); ``skip``: checks
    already scored by an earlier attempt at this job (their tests are deselected); ``on_result``: called
    with each check's result as soon as it is known (the supervisor keeps it if the job is stopped later).
    """

    def __init__(self, config: AssignmentConfig, paths: ScoringPaths, lang: str, *,
                 stopped: dict[str, int] | None = None, skip: Collection[str] = (),
                 on_result: Callable[[CheckResult], None] | None = None):
        self.assignment, self.paths, self.language = config, paths, lang
        self.stopped, self.skip, self.on_result = dict(stopped or {}), set(skip), on_result
        self.outcomes: dict[str, CheckResult] = {}
        self.tests_for: dict[str, str] = {}
        self._reported: set[str] = set()

    @cached_property
    def _inputs(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.inputs)

    @pytest.fixture
    def config(self) -> AssignmentConfig:
        return self.assignment

    @cached_property
    def _artifacts(self) -> Artifacts:
        trusted = load_trusted_objects(self.assignment.custom_objects, self.paths.job / "tests")
        return Artifacts(self.paths.artifacts, self._inputs, self.assignment, stopped=self.stopped, trusted=trusted)

    @cached_property
    def _answers(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.answers)

    @pytest.fixture(scope="session")
    def artifacts(self) -> Artifacts:
        return self._artifacts

    @pytest.fixture(scope="session")
    def answers(self) -> dict[str, np.ndarray]:
        return {**self._answers, **self._inputs}

    @pytest.fixture
    def facts(self) -> SubmissionFacts:
        return SubmissionFacts(**json.loads((self.paths.job / "facts.json").read_text(encoding="utf-8")))

    @pytest.fixture
    def specs(self) -> dict[str, dict]:
        """The architecture specs of the assignment's public checks, by contract name."""
        return json.loads((self.paths.job / "specs.json").read_text(encoding="utf-8"))

    @cached_property
    def _bounds(self) -> dict[str, list[float]]:
        return json.loads((self.paths.job / "bounds.json").read_text(encoding="utf-8"))

    @pytest.fixture
    def bounds(self, request) -> tuple[float, float]:
        """(zero_at, full_at) of the check, resolved by the pipeline from the reference metrics."""
        return tuple(self._bounds[_check_name(request.node)])

    def _reads(self) -> tuple[list[Message], list[Message]]:
        """(reviews, notes) of what the running check read (see :class:`Artifacts`)."""
        if "_artifacts" not in self.__dict__:
            return [], []
        return list(self._artifacts.reviews), list(self._artifacts.notes)

    def _result(self, name: str, fraction: float, text: Message, *, status: CheckStatus | None = None,
                reviews: list[Message] = (), notes: list[Message] = (), details: dict | None = None) -> CheckResult:
        """The result of check ``name``: its review flags and cut notes are said in its message too, and
        every sentence is rendered in the result's language (the key forms stay beside them)."""
        check, folder = self.assignment.checks[name], self.paths.job  # the job has the assignment's catalogues
        text = joined([text, *(msg("review_note", reason=reason) for reason in reviews),
                       msg("cut_note", what=joined(notes)) if notes else None], " ")
        result = CheckResult.from_fraction(name, check.points, fraction, "", hidden=check.hidden, text=text,
                                           details=dict(details or {}))
        if status is not None:
            result.status = status
        for reason in reviews:
            result.flag_for_review(reason, self.language, folder)
        return result.rendered(self.language, folder)

    @pytest.fixture
    def credit(self, request):
        name = _check_name(request.node)

        def record(outcome: CheckOutcome, **details) -> None:
            check = self.assignment.checks[name]
            reviews, notes = self._reads()
            if details.get("verified") is False and not reviews:  # from the kernel's own export: could be forged
                reviews = [msg("review_unverified", name=", ".join(check.objects) or name)]
            result = self._result(name, outcome.fraction, outcome.message, reviews=reviews, notes=notes,
                                  details={**outcome.details, **details})
            self.outcomes[name] = result
            assert outcome.passed, result.message

        return record

    def pytest_collection_modifyitems(self, config, items) -> None:
        for item in items:
            name = _check_name(item)
            if name not in self.assignment.checks:
                raise pytest.UsageError(f"{item.nodeid}: check {name!r} is not in assignment.toml [checks]")
            self.tests_for[name] = item.nodeid
        if self.skip:
            done = [item for item in items if _check_name(item) in self.skip]
            if done:
                config.hook.pytest_deselected(items=done)
                items[:] = [item for item in items if _check_name(item) not in self.skip]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item) -> None:
        if "_artifacts" in self.__dict__:
            self._artifacts.start_check()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        name = _check_name(item)
        if report.failed and name not in self.outcomes:
            error = call.excinfo.value if call.excinfo else None
            text = error.text if isinstance(error, ObjectUnavailable) else (
                msg("scoring_error", error=_short(error)) if error else msg("scoring_failed"))
            _, notes = self._reads()
            # No points: only a refusal that may be wrong (a file that looks forged) waits for review.
            reviews = [error.review] if isinstance(error, ObjectUnavailable) and error.review else []
            self.outcomes[name] = self._result(name, 0.0, text, status=CheckStatus.ERROR, reviews=reviews,
                                               notes=notes)
        if report.when == "teardown" and name in self.outcomes and name not in self._reported:
            self._reported.add(name)
            if self.on_result is not None:
                self.on_result(self.outcomes[name])

    def predicted_labels(self) -> dict[str, dict]:
        """:func:`class_predictions` of the outputs the checks computed (none when no check read any)."""
        if "_artifacts" not in self.__dict__:
            return {}
        return class_predictions(self.assignment, self._artifacts.computed_outputs(), self._answers)

    def results(self) -> list[CheckResult]:
        """One result per configured check, in the configuration's order (a skipped check gets a
        placeholder, for the supervisor to replace with the result it kept)."""
        ordered = []
        for name in self.assignment.checks:
            if name in self.outcomes:
                ordered.append(self.outcomes[name])
            else:
                reason = ("scored_earlier" if name in self.skip else "no_test" if name not in self.tests_for
                          else "no_result")
                ordered.append(self._result(name, 0.0, msg(reason), status=CheckStatus.ERROR))
        return ordered


def _check_name(item) -> str:
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{item.nodeid}: hidden tests need @pytest.mark.check('<check name>')")
    return marker.args[0]


def score(paths: ScoringPaths, lang: str | None = None, *, stopped: dict[str, int] | None = None,
          skip: Collection[str] = (), on_result: Callable[[CheckResult], None] | None = None) -> GradingPlugin:
    """Run the assignment's hidden tests (``paths.job / "tests"``) against one submission's artifacts;
    the returned plugin holds the ``results()`` and the ``predicted_labels()``. ``stopped``, ``skip``,
    ``on_result``: see :class:`GradingPlugin` (the supervisor's; none when called directly)."""
    config = paths.config()
    plugin = GradingPlugin(config, paths, lang or config.language, stopped=stopped, skip=skip, on_result=on_result)
    log = io.StringIO()
    tests = paths.job / "tests"
    args = [str(tests), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--rootdir", str(tests), "--import-mode=importlib", "-o", "addopts=", "-o", "markers=check: a graded check",
            "--strict-markers", "-W", "ignore::DeprecationWarning"]
    with contextlib.redirect_stdout(log):
        exit_code = pytest.main(args, plugins=[plugin])
    accepted = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) + ((pytest.ExitCode.NO_TESTS_COLLECTED,)
                                                                     if plugin.skip else ())
    if exit_code not in accepted:
        raise RuntimeError(f"hidden tests of {config.name} could not run "
                           f"(pytest exit {int(exit_code)}):\n{log.getvalue()[-3000:]}")
    return plugin
