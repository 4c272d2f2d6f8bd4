"""Students' instant self-checks, inside their own notebook: ``check("ej1_arquitectura", cnn_model)``.

Objects are passed explicitly (no stack walking). Public parts need no training and no data, and
answer in well under a second: the model is summarised on a random batch and compared with the
architecture spec shipped in the package. A failing part prints its table and raises
``AssertionError``, so nbgrader's graded test cells score it 0.

``hidden=True`` is the slow path for nbgrader's own ``nbgrader autograde``: it evaluates a hidden
part in the same kernel with the real test labels. The course grader never uses it: it runs the
equivalent tests under ``autograde_tests/`` in a separate process, where labels stay out of reach.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from grader.checks import CheckOutcome

ASSIGNMENT = "practica3"
MARK = {True: "✔", False: "✘"}


def _architecture(model, lang: str) -> CheckOutcome:
    from grader.checks.architecture import compare_architecture
    from grader.probe import summarize
    from grader.specs import load_specs

    return compare_architecture(load_specs(ASSIGNMENT)["cnn_model"], summarize(model), lang)


def _parameters(model, lang: str) -> CheckOutcome:
    from grader.checks.architecture import compare_parameters
    from grader.probe import summarize
    from grader.specs import load_specs

    return compare_parameters(load_specs(ASSIGNMENT)["cnn_model"], summarize(model), lang)


def _autoencoder(model, lang: str) -> CheckOutcome:
    from grader.checks.denoising import check_autoencoder_output
    from grader.export import _prepare_for_model

    noisy = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    output = np.asarray(model(_prepare_for_model(model, noisy), training=False))
    return check_autoencoder_output(noisy, output.reshape(noisy.shape) if output.size == noisy.size else output,
                                    lang)


PUBLIC_PARTS: dict[str, Callable[..., CheckOutcome]] = {
    "ej1_arquitectura": _architecture,
    "ej1_parametros": _parameters,
    "ej2_autoencoder": _autoencoder,
}
# The notebook object each public part is about (the names of the notebook's contract).
PUBLIC_OBJECTS = {"ej1_arquitectura": "cnn_model", "ej1_parametros": "cnn_model", "ej2_autoencoder": "denoiser"}


def export_public_outcomes(namespace: dict, out_path: str, lang: str = "es") -> None:
    """Epilogue of ``grader check``: run every public part on the notebook's objects, as JSON."""
    import json

    from grader.checks.messages import message

    outcomes = {}
    for part, run in PUBLIC_PARTS.items():
        name = PUBLIC_OBJECTS[part]
        if name not in namespace:
            outcomes[part] = {"fraction": 0.0, "error": True, "details": {},
                              "message": message(lang, "missing_object", name=name, reason="no está definido")}
            continue
        try:
            outcome = run(namespace[name], lang)
            outcomes[part] = {"fraction": outcome.fraction, "message": outcome.message, "details": outcome.details,
                              "error": False}
        except Exception as exc:  # the student's object broke the check: say so, go on
            outcomes[part] = {"fraction": 0.0, "error": True, "details": {},
                              "message": f"{type(exc).__name__}: {exc}"[:500]}
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(outcomes, handle, ensure_ascii=False)


def _hidden(part: str, obj, lang: str, **objects) -> CheckOutcome:
    """nbgrader slow path: the same checks as autograde_tests/, with the labels in this kernel."""
    from grader.checks.accuracy import check_accuracy, check_improvement, check_svm_hog
    from grader.checks.denoising import check_denoising
    from grader.config import load_assignment
    from grader.export import _prepare_for_model
    from grader.heldout import build_heldout

    config = load_assignment(ASSIGNMENT)
    held = build_heldout(config)
    images, labels = held.inputs.get("mnist"), held.answers.get("mnist_labels")

    def predict(model, data):
        return np.asarray(model.predict(_prepare_for_model(model, data), batch_size=256, verbose=0))

    bounds = config.threshold_bounds(part) if config.checks[part].threshold else None
    if part == "ej1_precision_cnn":
        return check_accuracy(predict(obj, images), labels, *bounds, lang)
    if part == "ej1_svm_hog":
        features = np.asarray(objects["hog_features"](images)).reshape(len(images), -1)
        return check_svm_hog(obj.predict(features), features, images, labels, *bounds, lang)
    if part == "ej1_mejora":
        return check_improvement(predict(obj, images), predict(objects["base"], images), labels, *bounds, lang)
    if part == "ej2_denoising":
        noisy = held.inputs["fashion_noisy"]
        return check_denoising(held.answers["fashion_clean"], noisy, predict(obj, noisy), *bounds, lang)
    raise KeyError(part)


def format_outcome(part: str, outcome: CheckOutcome, seconds: float, lang: str = "es") -> str:
    """A plain-text table: one mark per layer for architecture parts, the message otherwise."""
    lines = [f"{MARK[outcome.passed]} {part}: {outcome.fraction:.0%}  ({seconds:.2f} s)"]
    details = outcome.details
    if "expected" in details and "submitted" in details:
        flagged = {m["index"]: m["message"] for m in details["mismatches"] if m["index"] is not None}
        header = ("capa", "clase", "salida", "parámetros") if lang == "es" else ("layer", "class", "output", "params")
        lines.append(f"  {'':2}{header[0]:>5}  {header[1]:<14}{header[2]:<22}{header[3]:>10}")
        for row in details["submitted"]:
            shape = "(" + ", ".join("None" if d is None else str(d) for d in row["output_shape"] or []) + ")"
            ok = row["index"] not in flagged
            lines.append(f"  {MARK[ok]} {row['index']:>5}  {row['class']:<14}{shape:<22}{row['params']:>10}")
        for mismatch in details["mismatches"]:
            lines.append(f"    → {mismatch['message']}")
    else:
        lines.append(f"  {outcome.message}")
    return "\n".join(lines)


def check(part: str, obj: Any, *, hidden: bool = False, lang: str = "es", **objects) -> CheckOutcome:
    """Check one part of the assignment on a live object; print a table; raise if it fails."""
    start = time.perf_counter()
    if hidden:
        outcome = _hidden(part, obj, lang, **objects)
    elif part in PUBLIC_PARTS:
        outcome = PUBLIC_PARTS[part](obj, lang)
    else:
        known = ", ".join(PUBLIC_PARTS)
        raise KeyError(f"parte desconocida {part!r}; las partes con comprobación pública son: {known}")
    print(format_outcome(part, outcome, time.perf_counter() - start, lang))
    if not outcome.passed:
        raise AssertionError(f"{part}: {outcome.message}")
    return outcome


def run_local_check(notebook, out_dir, *, sandbox: bool | None = None, lang: str | None = None, on_cell=None,
                    warn=None):
    """``grader check``: run a student's notebook locally with the public checks only.

    Works from the student's release alone (no hidden tests, labels or gradebook): the points of
    each public part come from the notebook's own nbgrader metadata; the assignment, its language
    (unless ``lang`` is given) and its execution limits from the ``grader`` block ``grader release``
    wrote into the notebook's metadata (:mod:`grader.metadata`), else practica3's defaults, said in a
    note. Sandboxed when bubblewrap is usable (``sandbox=None`` means "if possible"; when it is not,
    a note says so and the student's own code runs unsandboxed). ``warn(line)`` receives each note
    (default: none). Returns the GradeResult and the report's path.
    """
    import json
    import tempfile
    from datetime import datetime, timezone
    from pathlib import Path

    from grader import __version__
    from grader.errors import InvalidSubmissionError
    from grader.execute import execute_notebook
    from grader.records import CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult
    from grader.metadata import read_settings
    from grader.report import write_report

    warn = warn or (lambda line: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    student = Path(notebook).stem
    points = {}
    try:
        from grader.pipeline import read_submission

        nb, _ = read_submission(Path(notebook))
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") in PUBLIC_PARTS and meta.get("points") is not None:
                points[meta["grade_id"]] = float(meta["points"])
    except InvalidSubmissionError as exc:
        record = ExecutionRecord(ExecutionStatus.INVALID_NOTEBOOK, str(exc))
        result = GradeResult(student, ASSIGNMENT, [], record, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             __version__)
        return result, write_report(result, out_dir, lang=lang or "es")

    settings = read_settings(nb.metadata, lang)
    lang = settings.language
    for note in settings.notes:
        warn(note)
    if settings.assignment != ASSIGNMENT:
        from grader.errors import GraderError

        update = f"pip install --upgrade \"{settings.install}\"" if settings.install else "pip install --upgrade ..."
        raise GraderError(f"{notebook}: this notebook is for assignment {settings.assignment!r}, but this grader "
                          f"package ({__version__}) has the public checks of {ASSIGNMENT!r} only; fix: update it: "
                          f"{update}")
    if sandbox is None:
        from grader.sandbox import sandbox_status

        sandbox, why = sandbox_status()
        if not sandbox:
            kind = "missing" if "not installed" in why else "broken"
            warn(UNSANDBOXED[lang].format(why=UNSANDBOXED[f"{lang}_{kind}"].format(reason=why.split("; fix:")[0])))
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

        datasets = local_dataset_paths()
        if sandbox:
            from grader.sandbox import SandboxPolicy

            policy = SandboxPolicy(scratch=scratch, limits=limits, runtime_dir=runtime, ro_binds=tuple(datasets))
        executed = execute_notebook(
            nb, workdir=scratch, limits=limits, sandbox=policy, on_cell=on_cell, lang=lang,
            env={DATA_DIR_ENV: kernel_data_dir(datasets)},
            preamble=["from grader.datasets import serve_keras_offline\nserve_keras_offline()"],
            epilogue=[f"from grader.selfcheck import export_public_outcomes\n"
                      f"export_public_outcomes(globals(), {str(outcomes_path)!r}, {lang!r})"])
        outcomes = json.loads(outcomes_path.read_text(encoding="utf-8")) if outcomes_path.is_file() else {}
    executed_path = out_dir / f"{student}.executed.ipynb"
    import nbformat

    nbformat.write(executed.notebook, executed_path)
    record = executed.record
    record.executed_notebook = str(executed_path)
    checks = []
    for part in PUBLIC_PARTS:
        maximum = points.get(part, 1.0)
        found = outcomes.get(part)
        if found is None:
            checks.append(CheckResult(part, 0.0, maximum, CheckStatus.ERROR,
                                      "el notebook no llegó al final (ver la ejecución)"))
        elif found["error"]:
            checks.append(CheckResult(part, 0.0, maximum, CheckStatus.ERROR, found["message"]))
        else:
            checks.append(CheckResult.from_fraction(part, maximum, found["fraction"], found["message"],
                                                    details=found["details"]))
    result = GradeResult(student, settings.assignment, checks, record,
                         datetime.now(timezone.utc).isoformat(timespec="seconds"), __version__)
    return result, write_report(result, out_dir, lang=lang, executed_notebook=executed_path)


# One line when bubblewrap cannot be used: the student's own code then runs without a sandbox.
UNSANDBOXED = {
    "es": "sin sandbox (bubblewrap {why}): como es tu propio código, se ejecuta sin aislar",
    "en": "no sandbox (bubblewrap {why}): it is your own code, so it runs unsandboxed",
    "es_missing": "no está instalado", "es_broken": "no funciona aquí: {reason}",
    "en_missing": "is not installed", "en_broken": "does not work here: {reason}",
}
_NO_DOWNLOAD = {
    "es": "no se pudo descargar {name} ({why}); dentro del sandbox no hay red, así que su load_data() fallará: "
          "conéctate a internet y repite, o usa --no-sandbox",
    "en": "could not download {name} ({why}); the sandbox has no network, so its load_data() will fail: "
          "connect to the network and retry, or use --no-sandbox",
}


def _fetch_missing_datasets(names, nb, warn, lang: str) -> None:
    """Download (into Keras' cache) each dataset of the assignment that the notebook loads
    (``<name>.load_data``) and that has no local copy yet: the sandbox has no network, and the
    kernel is served the local copies (``serve_keras_offline``)."""
    import contextlib
    import os
    import re
    import sys

    from grader.datasets import DATASET_NAMES, OFFLINE_ENV, DatasetNotFoundError, load, probe_sources

    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    for name in names:
        loaded = name in DATASET_NAMES and re.search(rf"(?<!\w){name}\.load_data", code)
        if not loaded or os.environ.get(OFFLINE_ENV) or any(p.found for p in probe_sources(name)):
            continue
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Keras' progress: stdout is for 'grader check --json'
                load(name, allow_download=True)
        except (DatasetNotFoundError, ImportError) as exc:
            found = re.search(r"Keras download (.*?)\. Fix:", str(exc))
            why = found.group(1) if found else f"{type(exc).__name__}: {exc}"
            warn(_NO_DOWNLOAD[lang].format(name=name, why=why[:200]))
