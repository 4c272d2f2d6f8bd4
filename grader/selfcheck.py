"""Students' instant self-checks, inside their own notebook: ``check("<part>", model)``.

Objects are passed explicitly (no stack walking). Public parts need no training and no data, and
answer in well under a second: the model is summarised on a random batch and compared with the
architecture spec shipped in the package (:mod:`grader.public_checks`: the assignment's parts with a
``public`` kind). A failing part prints its table and raises ``AssertionError``, so nbgrader's
graded test cells score it 0. The assignment is the one named (``assignment=``), else the one the
kernel was started for (``$GRADER_ASSIGNMENT``, set by the grader), else the installed one that
has the part.

``hidden=True`` is the slow path for nbgrader's own ``nbgrader autograde``: it runs the assignment's
hidden tests in the same kernel with the real test labels. The course grader never uses it: it runs
those tests under ``autograde_tests/`` in a separate process, where labels stay out of reach.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader.checks import CheckOutcome
from grader.errors import GraderError
from grader.i18n import Message, catalogue, json_ready, msg, render
from grader.instructor import ASSIGNMENTS_DIR
from grader.public_checks import (ASSIGNMENT_ENV, PublicChecks, installed_assignments, load_public_checks,
                                  public_checks_of, public_checks_path, UnknownPart)

MARK = {True: "✔", False: "✘"}


def _architecture(model, spec: dict) -> CheckOutcome:
    from grader.checks.architecture import compare_architecture
    from grader.probe import summarize

    return compare_architecture(spec, summarize(model, spec["input_shape"]))


def _parameters(model, spec: dict) -> CheckOutcome:
    from grader.checks.architecture import compare_parameters
    from grader.probe import summarize

    return compare_parameters(spec, summarize(model, spec["input_shape"]))


def _image_output(model, spec: dict | None) -> CheckOutcome:
    """The model applied to a random batch of the reference's input shape (else its own)."""
    from grader.checks.denoising import check_autoencoder_output
    from grader.export import _prepare_for_model
    from grader.probe import model_input_shape

    shape = spec["input_shape"] if spec else model_input_shape(model)
    if shape is None or None in tuple(shape)[1:]:
        raise ValueError("the model does not state the size of its input images; build it on an example first")
    noisy = np.random.default_rng(0).random((8, *tuple(shape)[1:]), dtype=np.float32)
    output = np.asarray(model(_prepare_for_model(model, noisy), training=False))
    return check_autoencoder_output(noisy, output.reshape(noisy.shape) if output.size == noisy.size else output)


# Each kind of public check (grader.config.PUBLIC_CHECK_KINDS): (object, its reference spec) -> outcome.
PUBLIC_KINDS: dict[str, Callable[..., CheckOutcome]] = {
    "architecture": _architecture,
    "parameters": _parameters,
    "image_output": _image_output,
}


def run_public_check(checks: PublicChecks, part: str, obj) -> CheckOutcome:
    public = checks.parts[part]
    return PUBLIC_KINDS[public.kind](obj, checks.specs.get(public.object))


def export_public_outcomes(namespace: dict, out_path: str, assignment: str | None = None) -> None:
    """Epilogue of ``grader check``: run every public part on the notebook's objects, as JSON (each
    message in its key form, ``text``). ``assignment``: default the kernel's (``$GRADER_ASSIGNMENT``),
    else the one installed."""
    import json

    checks = load_public_checks(assignment or _only_assignment())
    outcomes = {}
    for part, public in checks.parts.items():
        name = public.object
        if name not in namespace:
            outcomes[part] = {"fraction": 0.0, "error": True, "details": {},
                              "text": msg("missing_object", name=name, reason=msg("not_defined"))}
            continue
        try:
            outcome = run_public_check(checks, part, namespace[name])
            outcomes[part] = {"fraction": outcome.fraction, "text": outcome.message, "details": outcome.details,
                              "error": False}
        except Exception as exc:  # the student's object broke the check: say so, go on
            outcomes[part] = {"fraction": 0.0, "error": True, "details": {},
                              "text": msg("object_broke_check", error=f"{type(exc).__name__}: {exc}"[:500])}
    outcomes = json_ready(outcomes)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(outcomes, handle, ensure_ascii=False)


def _only_assignment() -> str:
    """The kernel's assignment (``$GRADER_ASSIGNMENT``), else the only one installed."""
    pinned = os.environ.get(ASSIGNMENT_ENV)
    if pinned:
        return pinned
    installed = installed_assignments()
    if len(installed) != 1:
        raise GraderError(f"{len(installed)} assignments are installed ({', '.join(installed)}); fix: name one "
                          "(assignment='...')")
    return installed[0]


def _assignment_declaring(part: str) -> str:
    """The one assignment of the checkout whose ``assignment.toml`` has the check ``part``."""
    import tomllib

    from grader.instructor import ASSIGNMENTS_DIR

    having = sorted(path.parent.name for path in ASSIGNMENTS_DIR.glob("*/assignment.toml")
                    if part in tomllib.loads(path.read_text(encoding="utf-8")).get("checks", {}))
    if len(having) != 1:
        raise KeyError(f"{len(having)} assignments have the check {part!r} ({', '.join(having)}); fix: "
                       f"check({part!r}, ..., hidden=True, assignment='...')")
    return having[0]


_HIDDEN_WORK: dict[str, Path] = {}  # per assignment: the held-out data and the scoring job, built once per kernel


def _hidden_work(config) -> Path:
    import atexit
    import shutil
    import tempfile

    from grader.checks.rules import SubmissionFacts
    from grader.heldout import build_heldout
    from grader.pipeline import write_scoring_job

    if config.name not in _HIDDEN_WORK:
        work = Path(tempfile.mkdtemp(prefix="grader-hidden-"))
        atexit.register(shutil.rmtree, work, True)
        build_heldout(config).write(work / "inputs", work / "answers")
        write_scoring_job(work / "job", config, SubmissionFacts())
        _HIDDEN_WORK[config.name] = work
    return _HIDDEN_WORK[config.name]


def _hidden(part: str, obj, lang: str, assignment: str | None, **objects) -> tuple[CheckOutcome, Path]:
    """nbgrader's slow path: the assignment's own hidden tests (``autograde_tests/<name>/``) on the live
    objects, with the held-out answers in this kernel. Objects passed by their contract name are taken
    as named; ``obj`` and any others fill the check's remaining ``objects`` in order."""
    from grader.config import load_assignment
    from grader.export import export_artifacts
    from grader.score import ScoringPaths, score

    config = load_assignment(assignment or os.environ.get(ASSIGNMENT_ENV) or _assignment_declaring(part))
    namespace = {name: value for name, value in objects.items() if name in config.contract}
    unnamed = [obj, *(value for name, value in objects.items() if name not in config.contract)]
    namespace.update(zip([name for name in config.checks[part].objects if name not in namespace], unnamed))
    work = _hidden_work(config)
    artifacts = work / f"artifacts-{part}"
    export_artifacts(namespace, str(artifacts), str(work / "inputs"),
                     {name: config.contract[name] for name in namespace}, dict(config.inputs))
    scored = score(ScoringPaths(artifacts=artifacts, inputs=work / "inputs", answers=work / "answers",
                                job=work / "job"), lang)
    result = next(r for r in scored.results() if r.name == part)
    outcome = CheckOutcome(result.points / result.max_points if result.max_points else 0.0,
                           result.text or msg("scoring_failed"), result.details)
    return outcome, config.folder


def format_outcome(part: str, outcome: CheckOutcome, seconds: float, lang: str = "es",
                   assignment_dir: Path | None = None) -> str:
    """A plain-text table: one mark per layer for architecture parts, the message otherwise."""
    lines = [f"{MARK[outcome.passed]} {part}: {outcome.fraction:.0%}  ({seconds:.2f} s)"]
    say = catalogue(lang, assignment_dir)
    details = outcome.details
    if "expected" in details and "submitted" in details:
        flagged = {m["index"] for m in details["mismatches"] if m["index"] is not None}
        header = [say.text(f"selfcheck.col_{column}") for column in ("layer", "class", "output", "params")]
        lines.append(f"  {'':2}{header[0]:>5}  {header[1]:<14}{header[2]:<22}{header[3]:>10}")
        for row in details["submitted"]:
            shape = "(" + ", ".join("None" if d is None else str(d) for d in row["output_shape"] or []) + ")"
            ok = row["index"] not in flagged
            lines.append(f"  {MARK[ok]} {row['index']:>5}  {row['class']:<14}{shape:<22}{row['params']:>10}")
        for mismatch in details["mismatches"]:
            lines.append(f"    → {say.render(mismatch['message_text'])}")
    else:
        lines.append(f"  {say.render(outcome.message)}")
    return "\n".join(lines)


def check(part: str, obj: Any, *, hidden: bool = False, lang: str = "es", assignment: str | None = None,
          **objects) -> CheckOutcome:
    """Check one part of the assignment on a live object; print a table; raise if it fails."""
    start = time.perf_counter()
    if hidden:
        outcome, folder = _hidden(part, obj, lang, assignment, **objects)
    else:
        try:
            public = public_checks_of(part, assignment)
        except UnknownPart as unknown:
            raise KeyError(render(unknown.text, lang)) from None
        outcome, folder = run_public_check(public, part, obj), ASSIGNMENTS_DIR / public.assignment
    print(format_outcome(part, outcome, time.perf_counter() - start, lang, folder))
    if not outcome.passed:
        raise AssertionError(f"{part}: {render(outcome.message, lang, folder)}")
    return outcome


def run_local_check(notebook, out_dir, *, sandbox: bool | None = None, lang: str | None = None, on_cell=None,
                    warn=None, assignment: str | None = None):
    """``grader check``: run a student's notebook locally with the public checks only.

    Works from the student's release alone (no hidden tests, labels or gradebook): the points of
    each public part come from the notebook's own nbgrader metadata; the assignment, its language
    (unless ``lang`` is given) and its execution limits from the ``grader`` block ``grader release``
    wrote into the notebook's metadata (:mod:`grader.metadata`). Where the notebook has none, the
    defaults, said in a note, and the assignment is ``assignment``, else the only one installed (else
    a one-line error saying how to name it). Sandboxed when bubblewrap is usable (``sandbox=None`` means "if possible"; when it is not,
    a note says so and the student's own code runs unsandboxed). ``warn(line)`` receives each note
    (default: none). Returns the GradeResult and the report's path.
    """
    import json
    import tempfile
    from datetime import datetime, timezone

    from grader import __version__
    from grader.errors import InvalidSubmissionError
    from grader.execute import execute_notebook
    from grader.records import (CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult,
                                details_from_json)
    from grader.report import write_report

    warn = warn or (lambda line: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    student = Path(notebook).stem
    try:
        from grader.pipeline import read_submission

        nb, _ = read_submission(Path(notebook))
    except InvalidSubmissionError as exc:
        record = ExecutionRecord(ExecutionStatus.INVALID_NOTEBOOK, render(exc.text, lang or "es"), text=exc.text)
        result = GradeResult(student, _fallback_assignment(assignment) or "", [], record,
                             datetime.now(timezone.utc).isoformat(timespec="seconds"), __version__)
        return result, write_report(result, out_dir, lang=lang or "es")

    settings = notebook_settings(notebook, nb.metadata, lang, assignment)
    lang = settings.language
    for note in settings.notes:
        warn(note)
    public = load_public_checks(settings.assignment)
    points = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") in public.parts and meta.get("points") is not None:
            points[meta["grade_id"]] = float(meta["points"])
    if sandbox is None:
        from grader.sandbox import sandbox_status

        sandbox, why = sandbox_status()
        if not sandbox:
            kind = "missing" if "not installed" in why else "broken"
            warn(render(msg("check.unsandboxed", why=msg(f"check.sandbox_{kind}", reason=why.split("; fix:")[0])),
                        lang))
    if sandbox:
        _fetch_missing_datasets(settings.datasets, nb, warn, lang)
    with tempfile.TemporaryDirectory(prefix="grader-check-") as temporary:
        scratch, runtime = Path(temporary) / "scratch", Path(temporary) / "runtime"
        scratch.mkdir()
        runtime.mkdir()
        outcomes_path = scratch / "public_checks.json"
        policy = None
        limits = settings.limits
        from grader.datasets import DATA_DIR_ENV, kernel_data_dir, local_dataset_paths

        datasets = local_dataset_paths(settings.datasets)
        if sandbox:
            from grader.sandbox import SandboxPolicy

            policy = SandboxPolicy(scratch=scratch, limits=limits, runtime_dir=runtime,
                                   ro_binds=(*datasets, public_checks_path(settings.assignment).parent))
        executed = execute_notebook(
            nb, workdir=scratch, limits=limits, sandbox=policy, on_cell=on_cell, lang=lang,
            env={DATA_DIR_ENV: kernel_data_dir(datasets), ASSIGNMENT_ENV: settings.assignment},
            preamble=["from grader.datasets import serve_keras_offline\nserve_keras_offline()"],
            epilogue=[f"from grader.selfcheck import export_public_outcomes\n"
                      f"export_public_outcomes(globals(), {str(outcomes_path)!r})"])
        outcomes = json.loads(outcomes_path.read_text(encoding="utf-8")) if outcomes_path.is_file() else {}
    executed_path = out_dir / f"{student}.executed.ipynb"
    import nbformat

    nbformat.write(executed.notebook, executed_path)
    record = executed.record
    record.executed_notebook = str(executed_path)
    checks = []
    for part in public.parts:
        maximum = points.get(part, 1.0)
        found = outcomes.get(part)
        if found is None:
            text = msg("notebook_did_not_finish")
            checks.append(CheckResult(part, 0.0, maximum, CheckStatus.ERROR, "", text=text))
        elif found["error"]:
            checks.append(CheckResult(part, 0.0, maximum, CheckStatus.ERROR, "", text=Message.from_dict(found["text"])))
        else:
            checks.append(CheckResult.from_fraction(part, maximum, found["fraction"], "",
                                                    text=Message.from_dict(found["text"]),
                                                    details=details_from_json(found["details"])))
    checks = [check.rendered(lang, ASSIGNMENTS_DIR / settings.assignment) for check in checks]
    result = GradeResult(student, settings.assignment, checks, record,
                         datetime.now(timezone.utc).isoformat(timespec="seconds"), __version__)
    return result, write_report(result, out_dir, lang=lang, executed_notebook=executed_path)


def _fallback_assignment(assignment: str | None) -> str | None:
    """``assignment``, else the only assignment installed, else None."""
    installed = installed_assignments()
    return assignment or (installed[0] if len(installed) == 1 else None)


def notebook_settings(notebook, metadata: dict, lang: str | None = None, assignment: str | None = None):
    """The settings ``grader check`` runs ``notebook`` with (:func:`grader.metadata.read_settings`): the
    assignment its metadata names, else ``assignment``, else the only one installed. Raises a one-line
    GraderError when it cannot tell, or when this package lacks the notebook's assignment."""
    from grader import __version__
    from grader.metadata import read_settings

    installed = installed_assignments()
    settings = read_settings(metadata, lang, _fallback_assignment(assignment))
    if settings.assignment is None:
        raise GraderError(f"{notebook}: the notebook does not say which assignment it is for (it has no 'grader' "
                          f"metadata: not from 'grader release', or removed) and this package has "
                          f"{len(installed)} ({', '.join(installed)}); fix: grader check {notebook} --assignment "
                          "NAME, or copy your answers into the notebook the course released")
    if settings.assignment not in installed:
        update = f"pip install --upgrade \"{settings.install}\"" if settings.install else "pip install --upgrade ..."
        raise GraderError(f"{notebook}: this notebook is for assignment {settings.assignment!r}, but this grader "
                          f"package ({__version__}) has the public checks of {', '.join(map(repr, installed))} "
                          f"only; fix: update it: {update}")
    return settings


# One line when bubblewrap cannot be used: the student's own code then runs without a sandbox.
def _fetch_missing_datasets(names, nb, warn, lang: str) -> None:
    """Download (into Keras' cache) each dataset of the assignment that the notebook loads
    (``<name>.load_data``) and that has no local copy yet: the sandbox has no network, and the
    kernel is served the local copies (``serve_keras_offline``)."""
    import contextlib
    import re
    import sys

    from grader.datasets import REGISTRY, OFFLINE_ENV, DatasetNotFoundError, FileDataset, load, probe_sources

    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    for name in names:
        dataset = REGISTRY.get(name)
        loaded = (isinstance(dataset, FileDataset)
                  and re.search(rf"(?<!\w){dataset.keras_module}\.load_data", code))
        if not loaded or os.environ.get(OFFLINE_ENV) or any(p.found for p in probe_sources(name)):
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Keras' progress: stdout is for 'grader check --json'
                load(name, allow_download=True)
        except (DatasetNotFoundError, ImportError) as exc:
            found = re.search(r"Keras download (.*?)\. Fix:", str(exc))
            why = found.group(1) if found else f"{type(exc).__name__}: {exc}"
            warn(render(msg("check.no_download", name=name, why=why[:200]), lang))
