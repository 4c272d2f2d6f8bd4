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
