"""Feedback reports students can learn from, and a class summary for the instructor.

``write_report`` turns one :class:`~grader.records.GradeResult` into ``<student>.html`` (one
self-contained page: CSS inline, figures as base64 PNG data URIs, no script, no external URL) and
``<student>.json`` (Gradescope's results schema, :func:`gradescope_json`). ``write_class_summary``
writes ``index.html`` over a whole class. The ``grader feedback`` command drives both.

Everything a student wrote (error messages, layer names, the executed notebook) reaches the page
through Jinja2 with autoescape on. The executed notebook's HTML is the one piece that must stay
markup: it is cleaned (no script, no event handler, no external resource) and shown inside a
sandboxed ``<iframe srcdoc>``, and every page carries a Content-Security-Policy that blocks scripts
and any load that is not an inline ``data:`` image, so a notebook can neither run code in the
report nor restyle it. Every sentence and label comes from the engine's catalogue (``report.*`` keys,
:mod:`grader.i18n`).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from grader.errors import GraderError
from grader.i18n import LANGUAGES, catalogue, msg
from grader.records import CheckResult, CheckStatus, ExecutionStatus, GradeResult, write_json_atomic

if TYPE_CHECKING:
    from grader.config import AssignmentConfig

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

#: Rendered notebooks larger than this (characters of HTML) are written beside the report and linked.
NOTEBOOK_EMBED_LIMIT = 3_000_000

#: No script, no load other than inline data: images and inline CSS (a srcdoc iframe inherits it).
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           "base-uri 'none'; form-action 'none'")

TRACEBACK_MAX_LINES = 40
SLOWEST_SHOWN = 10

_EXEC_KEYS = {
    ExecutionStatus.COMPLETED: "exec_completed",
    ExecutionStatus.CELL_ERROR: "exec_cell_error",
    ExecutionStatus.TIMEOUT: "exec_timeout",
    ExecutionStatus.KERNEL_DIED: "exec_kernel_died",
    ExecutionStatus.OUTPUT_LIMIT: "exec_output_limit",
    ExecutionStatus.INVALID_NOTEBOOK: "exec_invalid_notebook",
}


class Catalogue:
    """One language's messages (``t("report_title")``, ``t("threshold", zero=.., full=..)``) and number style."""

    prefix = "report."

    def __init__(self, lang: str = "es") -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGUAGES)}")
        self.lang = lang
        self._catalogue = catalogue(lang)

    def __call__(self, key: str, **values: Any) -> str:
        return self._catalogue.render(msg(self.prefix + key, **values))

    def plural(self, key: str, count: int, **values: Any) -> str:
        """The language's plural form of ``key`` for ``count`` (the catalogue's ``{n}``)."""
        return self(key, n=count, **values)

    def num(self, value: Any, digits: int = 2, *, strip: bool = False) -> str:
        """1234.5 -> '1.234,50' (es) or '1,234.50' (en); ``strip`` drops trailing zeros."""
        number = _finite(value)
        if number is None:
            return "—"
        text = f"{number:,.{digits}f}"
        if strip and "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", "-0.0"):
            text = "0"
        return text.translate(str.maketrans(",.", ".,")) if self.lang == "es" else text

    def points(self, value: Any) -> str:
        return self.num(value, 2, strip=True)

    def integer(self, value: Any) -> str:
        return self.num(value, 0)

    def pct(self, fraction: Any, digits: int = 2) -> str:
        number = _finite(fraction)
        if number is None:
            return "—"
        return f"{self.num(number * 100, digits)} %" if self.lang == "es" else f"{self.num(number * 100, digits)}%"

    def seconds(self, value: Any) -> str:
        number = _finite(value)
        if number is None:
            return "—"
        if number < 60:
            return self("seconds", value=self.num(number, 1))
        minutes, seconds = divmod(int(round(number)), 60)
        return self("minutes_seconds", minutes=minutes, seconds=seconds)

    def status(self, status: CheckStatus) -> str:
        return self(f"status_{CheckStatus(status).value}")

    def execution(self, status: ExecutionStatus) -> str:
        return self(_EXEC_KEYS[ExecutionStatus(status)])


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------
# Small helpers shared by the pages and the Gradescope JSON
# --------------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def report_stem(student: str) -> str:
    """The file name (without suffix) of a student's report: the id, with anything odd replaced."""
    stem = _UNSAFE_NAME.sub("_", student).strip("._") or "student"
    return stem[:120]


def check_title(check: CheckResult, config: AssignmentConfig | None) -> str:
    if config is not None:
        if check.name in config.checks:
            return config.checks[check.name].title
        if check.name in config.manual:
            return config.manual[check.name].title
    return check.name


def trim_traceback(text: str, max_lines: int = TRACEBACK_MAX_LINES) -> str:
    lines = _ANSI.sub("", text or "").rstrip().splitlines()
    if len(lines) > max_lines:
        lines = ["…", *lines[-max_lines:]]
    return "\n".join(lines)


def _automatic(checks: Iterable[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.status is not CheckStatus.MANUAL]


def _public_hints(check: CheckResult) -> list[str]:
    """The short lines of a check's details worth repeating in plain text (mismatches, rules)."""
    details = check.details or {}
    lines = [str(m.get("message", "")) for m in _dicts(details.get("mismatches")) if m.get("message")]
    lines += [str(v.get("message", "")) for v in _dicts(details.get("violations")) if v.get("message")]
    return lines


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------
# Gradescope results JSON
# --------------------------------------------------------------------------------------------

def gradescope_json(result: GradeResult, lang: str = "es", *,
                    config: AssignmentConfig | None = None) -> dict[str, Any]:
    """A GradeResult in Gradescope's ``results.json`` schema (pure: no file, no figure).

    One test per automatic check (manual parts are left to the instructor): ``status`` is
    ``passed`` only at full points; a hidden check is shown ``after_published`` and its output is
    its message only. The top-level ``score`` is the total after the late penalty.
    """
    result = result.rendered(lang, _folder(config))
    t = Catalogue(lang)
    tests = []
    for number, check in enumerate(_automatic(result.checks), start=1):
        lines = [check.message] if check.message else []
        if check.needs_review:
            lines.append(t("gs_review", reason=check.review or "-"))
        if check.hidden:
            lines.append(t("gs_hidden"))
        else:
            lines += [f"- {hint}" for hint in _public_hints(check)]
        tests.append({
            "name": check_title(check, config),
            "number": str(number),
            "score": float(check.points),
            "max_score": float(check.max_points),
            "status": "passed" if check.status is CheckStatus.PASSED else "failed",
            "output": "\n".join(lines),
            "visibility": "after_published" if check.hidden else "visible",
            "tags": [check.name],
        })
    execution = result.execution
    output = [t("gs_score", score=t.points(result.score), max_score=t.points(result.max_score))]
    if result.late_penalty:
        output.append(t("late_penalty", points=t.points(result.late_penalty)))
    output.append(t("gs_execution", status=t.execution(execution.status), message=execution.message).strip())
    if execution.first_error is not None:
        error = execution.first_error
        output.append(t("gs_first_error", cell=error.cell_index + 1, ename=error.ename, evalue=error.evalue))
        if error.traceback:
            output.append(trim_traceback(error.traceback, 15))
    return {
        "score": float(result.score),
        "execution_time": int(math.ceil(_finite(execution.wall_seconds) or 0.0)),
        "output": "\n".join(output),
        "output_format": "text",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "assignment": result.assignment,
            "max_score": float(result.max_score),
            "late_penalty": float(result.late_penalty),
            "execution_status": ExecutionStatus(execution.status).value,
            "graded_at": result.graded_at,
            "grader_version": result.grader_version,
        },
    }


# --------------------------------------------------------------------------------------------
# Figures: matplotlib's object API (no pyplot, no global state), PNG as a data URI
# --------------------------------------------------------------------------------------------

class _FigureDataError(ValueError):
    """The details hold something that cannot be drawn."""


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def _png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _matrix(value: Any, *, square: bool = False) -> Any:
    import numpy as np

    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise _FigureDataError(str(exc)) from None
    if array.ndim != 2 or array.size == 0 or (square and array.shape[0] != array.shape[1]):
        raise _FigureDataError(f"shape {array.shape}")
    if not np.isfinite(array).all():
        raise _FigureDataError("not finite")
    return array


def confusion_figure(matrix: Any, t: Catalogue) -> str:
    """Counts annotated; the off-diagonal cells (the mistakes) coloured on their own scale so that the
    confusions stand out next to a diagonal that is always much larger."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    cm = _matrix(matrix, square=True)
    n = cm.shape[0]
    diagonal = np.eye(n, dtype=bool)
    errors = np.where(diagonal, 0.0, cm)
    top = errors.max() if errors.max() > 0 else 1.0
    figure = _new_figure(0.42 * n + 1.9, 0.42 * n + 1.2)
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_where(diagonal, errors), cmap="Reds", vmin=0, vmax=top)
    ax.imshow(np.ma.masked_where(~diagonal, cm), cmap=ListedColormap(["#dbe4ee"]))
    colorbar = figure.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label(t("confusion_errors"), fontsize=8)
    if n <= 15:
        for row in range(n):
            for col in range(n):
                value = cm[row, col]
                light = row != col and value > top / 2
                ax.text(col, row, f"{value:.0f}" if value == int(value) else f"{value:.2f}",
                        ha="center", va="center", fontsize=7, color="white" if light else "#1b2a3a")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel(t("confusion_xlabel"))
    ax.set_ylabel(t("confusion_ylabel"))
    return _png_data_uri(figure)


def _history_series(history: Any) -> dict[str, dict[str, list[float]]]:
    """{"loss": {"train": [...], "val": [...]}, "accuracy": {...}} from a History.history dict."""
    if not isinstance(history, Mapping):
        raise _FigureDataError("history is not a dict")
    series: dict[str, dict[str, list[float]]] = {}
    for key, values in history.items():
        if not isinstance(values, list | tuple) or not values:
            continue
        numbers = [_finite(v) for v in values]
        if any(v is None for v in numbers):
            continue
        key = str(key)
        base, part = (key[4:], "val") if key.startswith("val_") else (key, "train")
        if base in ("lr", "learning_rate"):
            continue
        series.setdefault(base, {})[part] = numbers
    if not series:
        raise _FigureDataError("no numeric series")
    ordered = sorted(series, key=lambda name: (name != "loss", name))
    return {name: series[name] for name in ordered[:3]}


def history_figure(history: Any, t: Catalogue) -> str:
    series = _history_series(history)
    figure = _new_figure(3.6 * len(series), 2.8)
    axes = figure.subplots(1, len(series), squeeze=False)[0]
    for ax, (name, parts) in zip(axes, series.items(), strict=True):
        for part, style in (("train", "-o"), ("val", "--s")):
            if part in parts:
                values = parts[part]
                ax.plot(range(1, len(values) + 1), values, style, markersize=3,
                        label=t("train") if part == "train" else t("validation"))
        ax.set_title(name)
        ax.set_xlabel(t("epoch"))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png_data_uri(figure)


def denoise_metrics_figure(noisy: Mapping, denoised: Mapping, t: Catalogue) -> str:
    figure = _new_figure(6.0, 2.6)
    axes = figure.subplots(1, 2)
    drawn = 0
    for ax, metric, unit in ((axes[0], "psnr", "dB"), (axes[1], "ssim", "")):
        values = [_finite(noisy.get(metric)), _finite(denoised.get(metric))]
        if any(v is None for v in values):
            ax.set_visible(False)
            continue
        drawn += 1
        bars = ax.bar([t("row_noisy"), t("row_denoised")], values, color=["#c9a227", "#2f7d4f"])
        ax.bar_label(bars, fmt="%.2f" if metric == "psnr" else "%.3f", fontsize=8)
        ax.set_title(f"{metric.upper()} ({unit})" if unit else metric.upper())
        ax.margins(y=0.2)
    if not drawn:
        raise _FigureDataError("no PSNR/SSIM figures")
    return _png_data_uri(figure)


def examples_figure(examples: Mapping, t: Catalogue) -> str:
    import numpy as np

    rows = [(key, t(f"row_{key}")) for key in ("noisy", "denoised", "clean") if key in examples]
    if not rows:
        raise _FigureDataError("no example images")
    images = {}
    for key, _label in rows:
        if not isinstance(examples[key], list | tuple) or not examples[key]:
            raise _FigureDataError(f"{key}: not a list of images")
        images[key] = [np.clip(np.squeeze(_image(img)), 0.0, 1.0) for img in examples[key][:10]]
    columns = max(len(v) for v in images.values())
    figure = _new_figure(1.15 * columns + 0.9, 1.2 * len(rows))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, (key, label) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images[key]):
                ax.imshow(images[key][c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    return _png_data_uri(figure)


def _image(value: Any) -> Any:
    import numpy as np

    array = np.asarray(value, dtype=float)
    squeezed = np.squeeze(array)
    if squeezed.ndim != 2 or not np.isfinite(squeezed).all():
        raise _FigureDataError(f"image shape {array.shape}")
    return squeezed


def histogram_figure(scores: list[float], max_score: float, t: Catalogue) -> str:
    import numpy as np

    figure = _new_figure(8.0, 2.8)
    ax = figure.add_subplot()
    top = max(max_score, max(scores, default=0.0), 1e-9)
    bins = np.linspace(0.0, top, min(20, max(5, int(math.ceil(top * 2)))) + 1)
    ax.hist(scores, bins=bins, color="#3b6ea5", edgecolor="white")
    ax.set_xlabel(t("total_score"))
    ax.set_ylabel(t("histogram_ylabel"))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return _png_data_uri(figure)


def _figure(kind: str, title: str, alt: str, t: Catalogue, draw, *args) -> dict[str, Any]:
    """A figure section, or a short note in its place when the details cannot be drawn."""
    try:
        return {"kind": kind, "title": title, "src": draw(*args, t), "alt": alt, "error": None}
    except (_FigureDataError, ValueError, TypeError, KeyError, IndexError):
        return {"kind": kind, "title": title, "src": None, "alt": alt, "error": t("figure_failed", what=title)}


# --------------------------------------------------------------------------------------------
# View models: everything the templates show, already formatted
# --------------------------------------------------------------------------------------------

def _shape(value: Any) -> str:
    if isinstance(value, list | tuple):
        inner = ", ".join("None" if v is None else _shape(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return "None" if value is None else str(value)


def _config_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return _shape(value)
    return repr(value) if isinstance(value, str) else str(value)


def _config_items(layer: Mapping | None, other: Mapping | None) -> list[dict[str, Any]]:
    """``key=value`` items of a layer's config; ``diff`` where the other side's layer has another value."""
    config = layer.get("config") if layer is not None and isinstance(layer.get("config"), Mapping) else {}
    other_config = (other.get("config") if other is not None and isinstance(other.get("config"), Mapping)
                    else None)
    return [{"text": f"{key}={_config_value(value)}",
             "diff": other_config is not None and other_config.get(key) != value}
            for key, value in config.items()]


def _layer_cells(layer: Mapping | None, other: Mapping | None, t: Catalogue) -> dict[str, Any]:
    if layer is None:
        return {"index": "", "cls": t("missing_layer"), "shape": "", "params": "", "config": []}
    index = layer.get("index")
    return {"index": "" if index is None else str(index), "cls": str(layer.get("class", "")),
            "shape": _shape(layer.get("output_shape")),
            "params": t.integer(layer.get("params")) if layer.get("params") is not None else "",
            "config": _config_items(layer, other)}


def _alignment_key(layer: Mapping) -> tuple:
    """What identifies a layer when pairing expected and submitted rows (as grader.checks.architecture)."""
    config = layer.get("config") if isinstance(layer.get("config"), Mapping) else {}
    return tuple(repr(v) for v in (layer.get("class"), config.get("units"), config.get("filters"),
                                   config.get("kernel_size")))


def _paired_layers(expected: list[dict], submitted: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Expected and submitted rows side by side; a missing or extra layer gets an empty other side."""
    import difflib

    matcher = difflib.SequenceMatcher(a=[_alignment_key(r) for r in expected],
                                      b=[_alignment_key(r) for r in submitted], autojunk=False)
    pairs: list[tuple[dict | None, dict | None]] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag in ("equal", "replace") and a1 - a0 == b1 - b0:
            pairs.extend(zip(expected[a0:a1], submitted[b0:b1], strict=True))
            continue
        pairs.extend((row, None) for row in expected[a0:a1])
        pairs.extend((None, row) for row in submitted[b0:b1])
    return pairs


def _architecture_section(details: Mapping, t: Catalogue) -> dict[str, Any]:
    """Expected vs submitted rows; a row is highlighted when a mismatch names its (submitted) index."""
    mismatches = _dicts(details.get("mismatches"))
    hints_by_index: dict[Any, list[str]] = {}
    general = []
    for mismatch in mismatches:
        text = str(mismatch.get("message", ""))
        if mismatch.get("index") is None:
            general.append(text)
        else:
            hints_by_index.setdefault(mismatch["index"], []).append(text)
    pairs = _paired_layers(_dicts(details.get("expected")), _dicts(details.get("submitted")))
    rows = []
    for exp, sub in pairs:
        exp_cells, sub_cells = _layer_cells(exp, sub, t), _layer_cells(sub, exp, t)
        differs = {key: exp_cells[key] != sub_cells[key] for key in ("cls", "shape", "params")}
        differs["config"] = exp is not None and sub is not None and (
            any(item["diff"] for item in exp_cells["config"] + sub_cells["config"]))
        index = sub.get("index") if sub is not None else None
        hints = hints_by_index.pop(index, []) if index is not None else []
        # A layer with no counterpart is always wrong; otherwise the check's own verdict decides.
        mismatch = bool(hints) or exp is None or sub is None or (not mismatches and any(differs.values()))
        rows.append({"index": "" if index is None else str(index), "expected": exp_cells, "submitted": sub_cells,
                     "differs": differs, "hints": hints, "mismatch": mismatch})
    general += [hint for hints in hints_by_index.values() for hint in hints]  # indices with no row
    count = sum(1 for row in rows if row["mismatch"])
    verified = details.get("verified")
    return {
        "kind": "architecture", "rows": rows, "general_hints": general,
        "summary": t.plural("arch_mismatch", count) if count or general else t("arch_all_match"),
        "verified_note": None if verified is None else t("arch_verified" if verified else "arch_unverified"),
    }


def _parameters_section(details: Mapping, t: Catalogue) -> dict[str, Any]:
    rows = []
    for row in _dicts(details.get("per_layer")):
        rows.append({"index": row.get("index", ""), "cls": str(row.get("class", "")),
                     "expected": t.integer(row.get("expected")), "submitted": t.integer(row.get("submitted")),
                     "mismatch": row.get("expected") != row.get("submitted")})
    total = None
    if "expected_total" in details or "submitted_total" in details:
        total = t("params_total", submitted=t.integer(details.get("submitted_total")),
                  expected=t.integer(details.get("expected_total")))
    total_mismatch = details.get("expected_total") != details.get("submitted_total")
    return {"kind": "parameters", "rows": rows, "total": total, "total_mismatch": total_mismatch}


def _threshold_text(details: Mapping, t: Catalogue, unit: str, key: str = "threshold") -> str | None:
    if _finite(details.get("zero_at")) is None or _finite(details.get("full_at")) is None:
        return None
    if unit == "pct":
        zero, full = t.pct(details["zero_at"]), t.pct(details["full_at"])
    else:
        zero, full = f"{t.num(details['zero_at'])}{unit}", f"{t.num(details['full_at'])}{unit}"
    return t(key, zero=zero, full=full)


def _accuracy_section(details: Mapping, t: Catalogue) -> dict[str, Any]:
    rows = [{"label": t("accuracy"), "value": t.pct(details.get("accuracy")), "key": "accuracy"}]
    if "base_accuracy" in details:
        rows.append({"label": t("base_accuracy"), "value": t.pct(details.get("base_accuracy")),
                     "key": "base_accuracy"})
    return {"kind": "accuracy", "rows": rows, "threshold": _threshold_text(details, t, "pct")}


def _per_class_section(details: Mapping, t: Catalogue) -> dict[str, Any] | None:
    values = details.get("per_class_accuracy")
    if values is None and "confusion_matrix" in details:
        try:
            cm = _matrix(details["confusion_matrix"], square=True)
        except _FigureDataError:
            return None
        totals = cm.sum(axis=1)
        values = [float(cm[i, i] / totals[i]) if totals[i] else None for i in range(cm.shape[0])]
    if not isinstance(values, list | tuple) or not values:
        return None
    numbers = [_finite(v) for v in values]
    known = [(v, i) for i, v in enumerate(numbers) if v is not None]
    worst = min(known)[1] if known and min(known)[0] < max(known)[0] else None
    rows = [{"label": str(i), "value": t.pct(v), "worst": i == worst} for i, v in enumerate(numbers)]
    note = t("worst_class", label=worst, value=t.pct(numbers[worst])) if worst is not None else None
    return {"kind": "per_class", "rows": rows, "note": note}


def _with_unit(t: Catalogue, value: Any, digits: int, unit: str, *, signed: bool = False) -> str:
    number = _finite(value)
    if number is None:
        return "—"
    sign = "+" if signed and number > 0 else ""
    return f"{sign}{t.num(number, digits)}{unit}"


def _denoise_section(details: Mapping, t: Catalogue) -> dict[str, Any]:
    noisy = details.get("noisy") if isinstance(details.get("noisy"), Mapping) else {}
    denoised = details.get("denoised") if isinstance(details.get("denoised"), Mapping) else {}
    rows = []
    for metric, label, digits, gain_key, unit in (("mse", "MSE", 4, None, ""), ("psnr", "PSNR", 2, "psnr_gain", " dB"),
                                                  ("ssim", "SSIM", 3, "ssim_gain", "")):
        if metric not in noisy and metric not in denoised and (gain_key is None or gain_key not in details):
            continue
        rows.append({"metric": label, "key": metric,
                     "noisy": _with_unit(t, noisy.get(metric), digits, unit),
                     "denoised": _with_unit(t, denoised.get(metric), digits, unit),
                     "gain": _with_unit(t, details.get(gain_key), digits, unit, signed=True) if gain_key else ""})
    figure = None
    if noisy and denoised:
        figure = _figure("figure", t("denoise_heading"), t("denoise_alt"), t, denoise_metrics_figure, noisy, denoised)
    return {"kind": "denoising", "rows": rows, "figure": figure,
            "threshold": _threshold_text(details, t, " dB", "threshold_gain")}


_CONSUMED = {"expected", "submitted", "mismatches", "verified", "expected_total", "submitted_total", "per_layer",
             "accuracy", "base_accuracy", "zero_at", "full_at", "confusion_matrix", "per_class_accuracy", "history",
             "noisy", "denoised", "psnr_gain", "ssim_gain", "examples", "violations"}


def check_sections(details: Mapping, t: Catalogue) -> list[dict[str, Any]]:
    """What a check's details show, in reading order; only the kinds that are present."""
    sections: list[dict[str, Any]] = []
    if "expected" in details or "submitted" in details or "mismatches" in details:
        sections.append(_architecture_section(details, t))
    if "per_layer" in details or "expected_total" in details:
        sections.append(_parameters_section(details, t))
    if "accuracy" in details:
        sections.append(_accuracy_section(details, t))
    if "confusion_matrix" in details:
        sections.append(_figure("figure", t("confusion_heading"), t("confusion_alt"), t, confusion_figure,
                                details["confusion_matrix"]))
    per_class = _per_class_section(details, t) if ("per_class_accuracy" in details
                                                   or "confusion_matrix" in details) else None
    if per_class:
        sections.append(per_class)
    if isinstance(details.get("noisy"), Mapping) or isinstance(details.get("denoised"), Mapping) \
            or "psnr_gain" in details:
        sections.append(_denoise_section(details, t))
    if isinstance(details.get("examples"), Mapping):
        sections.append(_figure("figure", t("examples_heading"), t("examples_alt"), t, examples_figure,
                                details["examples"]))
    if details.get("history"):
        sections.append(_figure("figure", t("history_heading"), t("history_alt"), t, history_figure,
                                details["history"]))
    if isinstance(details.get("verified"), bool) and not any(s["kind"] == "architecture" for s in sections):
        key = "results_verified" if details["verified"] else "results_unverified"
        sections.append({"kind": "note", "text": t(key)})
    violations = _dicts(details.get("violations"))
    if violations:
        sections.append({"kind": "violations",
                         "rows": [{"rule": str(v.get("rule", "")), "message": str(v.get("message", ""))}
                                  for v in violations]})
    extra = [{"key": str(k), "value": t.num(v, 4, strip=True) if _finite(v) is not None else str(v)}
             for k, v in details.items()
             if k not in _CONSUMED and (isinstance(v, str | int | float | bool) or v is None)]
    if extra:
        sections.append({"kind": "extra", "rows": extra})
    return sections


def _check_view(check: CheckResult, config: AssignmentConfig | None, t: Catalogue,
                show_hidden_details: bool) -> dict[str, Any]:
    visible = show_hidden_details or not check.hidden
    sections = check_sections(check.details or {}, t) if visible else []
    status_label = t.status(check.status)
    if check.needs_review:  # the flag shows on the check's badge, and why first among its details
        status_label = f"{status_label} · {t('review_badge')}"
        sections.insert(0, {"kind": "note", "text": t("review_note", reason=check.review or "-")})
    return {
        "name": check.name, "anchor": "check-" + report_stem(check.name), "title": check_title(check, config),
        "status": CheckStatus(check.status).value, "status_label": status_label,
        "needs_review": check.needs_review, "review": check.review,
        "points": t.points(check.points), "max_points": t.points(check.max_points),
        "message": check.message, "hidden": check.hidden, "details_hidden": not visible,
        "sections": sections,
    }


def _execution_view(result: GradeResult, t: Catalogue) -> dict[str, Any]:
    execution = result.execution
    memory = _finite(execution.peak_memory_mb)
    first = execution.first_error
    first_view = None
    if first is not None:
        first_view = {"cell": first.cell_index + 1, "cell_id": first.cell_id, "ename": first.ename,
                      "evalue": first.evalue, "traceback": trim_traceback(first.traceback)}
    others = [e for e in execution.errors if first is None or e.cell_index != first.cell_index]
    return {
        "status": ExecutionStatus(execution.status).value, "status_label": t.execution(execution.status),
        "ok": execution.status is ExecutionStatus.COMPLETED, "message": execution.message,
        "rows": [
            {"key": "run_time", "label": t("run_time"), "value": t.seconds(execution.wall_seconds)},
            {"key": "peak_memory", "label": t("peak_memory"),
             "value": t("megabytes", value=t.num(memory, 0)) if memory is not None else t("unknown")},
            {"key": "device", "label": t("device"), "value": execution.device or t("unknown")},
            {"key": "sandboxed", "label": t("sandboxed"), "value": t("yes") if execution.sandboxed else t("no")},
            {"key": "cells_executed", "label": t("cells_executed"), "value": str(execution.cells_executed)},
        ],
        "first_error": first_view,
        "more_errors": t.plural("more_errors", len(others)) if others else None,
        "timing": [{"stage": str(k), "value": t.seconds(v)} for k, v in (result.timing or {}).items()],
    }


# --------------------------------------------------------------------------------------------
# The executed notebook: nbconvert's HTML, cleaned, shown in a sandboxed iframe (or linked)
# --------------------------------------------------------------------------------------------

_DROP_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "link", "meta", "base",
              "form", "noscript", "template", "portal", "style", "audio", "video", "source", "track")
_URL_ATTRS = {"src", "srcset", "href", "xlink:href", "action", "formaction", "poster", "background", "data",
              "ping", "lowsrc", "dynsrc", "longdesc", "cite", "manifest", "codebase", "usemap", "srcdoc"}


def sanitize_fragment(markup: str) -> str:
    """Drop what could run or load something: scripts, frames, handlers, non-data: resources."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        for attribute in list(tag.attrs):
            name = attribute.lower()
            value = tag.attrs[attribute]
            compact = re.sub(r"[\s\x00-\x1f]", "", " ".join(value) if isinstance(value, list) else str(value)).lower()
            if name.startswith("on"):
                del tag.attrs[attribute]
            elif name == "style":
                if any(token in compact for token in ("url(", "expression(", "@import", "image-set(", "\\")):
                    del tag.attrs[attribute]
            elif name in _URL_ATTRS:
                keep = ((tag.name == "img" and name == "src" and compact.startswith("data:image/"))
                        or (name == "href" and compact.startswith("#"))
                        or (tag.name == "a" and name == "href" and compact.startswith(("http:", "https:", "mailto:"))))
                if not keep:
                    del tag.attrs[attribute]
                    if tag.name == "img" and name == "src":
                        tag.decompose()  # an outside image: nothing to show in its place
                        break
                elif tag.name == "a" and not compact.startswith("#"):
                    tag.attrs["rel"] = "noopener noreferrer"
    return str(soup)


def render_notebook_fragment(path: Path) -> str:
    """The executed notebook as a cleaned HTML fragment (nbconvert's ``basic`` template)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(path), as_version=4)
    exporter = HTMLExporter(template_name="basic", embed_images=True)
    body, _resources = exporter.from_notebook_node(notebook)
    return sanitize_fragment(body)


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def _notebook_document(fragment: str, lang: str, title: str) -> str:
    template = _environment().get_template("notebook.html.j2")
    return template.render(lang=lang, title=title, csp=CONTENT_SECURITY_POLICY, fragment=Markup(fragment),
                           pygments_css=Markup(_pygments_css()))


def _notebook_view(path: Path, out_dir: Path, stem: str, t: Catalogue, title: str) -> dict[str, Any]:
    try:
        fragment = render_notebook_fragment(Path(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable notebook must not stop the report
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return {"mode": "error", "note": t("notebook_unreadable", reason=reason)}
    document = _notebook_document(fragment, t.lang, title)
    if len(document) <= NOTEBOOK_EMBED_LIMIT:
        return {"mode": "embedded", "srcdoc": document}
    linked = out_dir / f"{stem}.notebook.html"
    linked.write_text(document, encoding="utf-8")
    return {"mode": "linked", "href": linked.name}


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------

_ENVIRONMENT: Environment | None = None


def _environment() -> Environment:
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        _ENVIRONMENT = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                   keep_trailing_newline=True)
    return _ENVIRONMENT


def _manual_parts(result: GradeResult, config: AssignmentConfig | None, t: Catalogue) -> dict[str, Any] | None:
    if config is None or not config.manual:
        return None
    parts = [{"title": part.title, "points": t.points(part.points)} for part in config.manual.values()]
    total = sum(part.points for part in config.manual.values())
    return {"intro": t("manual_pending", points=t.points(total)), "parts": parts}


def _folder(config: AssignmentConfig | None) -> Path | None:
    """The assignment's folder, whose catalogues have its own messages (none without a configuration)."""
    return config.folder if config is not None else None


def render_report(result: GradeResult, *, config: AssignmentConfig | None = None, lang: str = "es",
                  show_hidden_details: bool = False, notebook: dict[str, Any] | None = None) -> str:
    """The report page as a string (``write_report`` adds the files around it)."""
    t = Catalogue(lang)
    result = result.rendered(lang, _folder(config))
    checks = [_check_view(check, config, t, show_hidden_details) for check in result.checks]
    return _environment().get_template("report.html.j2").render(
        t=t, lang=lang, csp=CONTENT_SECURITY_POLICY,
        title=f"{t('report_title')}: {result.student}",
        assignment_title=config.title if config is not None else result.assignment,
        result=result,
        score=t.points(result.score), max_score=t.points(result.max_score),
        score_status=("passed" if result.score >= result.max_score > 0 else
                      "failed" if result.score <= 0 else "partial"),
        late_penalty=t("late_penalty", points=t.points(result.late_penalty)) if result.late_penalty else None,
        manual=_manual_parts(result, config, t),
        checks=checks, execution=_execution_view(result, t), notebook=notebook,
    )


def write_report(result: GradeResult, out_dir: Path, *, config: AssignmentConfig | None = None, lang: str = "es",
                 show_hidden_details: bool = False, executed_notebook: Path | None = None) -> Path:
    """Write ``<out_dir>/<student>.html`` and ``<out_dir>/<student>.json`` (Gradescope); return the HTML path.

    Hidden checks show only their message unless ``show_hidden_details``. When ``executed_notebook``
    is given it is rendered below the report (or written to ``<student>.notebook.html`` and linked
    when larger than :data:`NOTEBOOK_EMBED_LIMIT`).
    """
    t = Catalogue(lang)
    result = result.rendered(lang, _folder(config))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result.student)
    notebook = None
    if executed_notebook is not None:
        notebook = _notebook_view(Path(executed_notebook), out_dir, stem, t,
                                  f"{t('notebook_heading')}: {result.student}")
    page = render_report(result, config=config, lang=lang, show_hidden_details=show_hidden_details,
                         notebook=notebook)
    html_path = out_dir / f"{stem}.html"
    _write_text_atomic(html_path, page)
    write_json_atomic(out_dir / f"{stem}.json", gradescope_json(result, lang, config=config))
    return html_path


def _write_text_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


# --------------------------------------------------------------------------------------------
# Class summary
# --------------------------------------------------------------------------------------------

def _check_order(results: list[GradeResult], config: AssignmentConfig | None) -> list[str]:
    names: list[str] = list(config.checks) if config is not None else []
    for result in results:
        for check in _automatic(result.checks):
            if check.name not in names:
                names.append(check.name)
    return names


def _summary_check_rows(results: list[GradeResult], config: AssignmentConfig | None,
                        t: Catalogue) -> list[dict[str, Any]]:
    rows = []
    for name in _check_order(results, config):
        found = [c for r in results for c in _automatic(r.checks) if c.name == name]
        if not found:
            continue
        counts = {status: sum(1 for c in found if c.status is status) for status in
                  (CheckStatus.PASSED, CheckStatus.PARTIAL, CheckStatus.FAILED, CheckStatus.ERROR)}
        rate = counts[CheckStatus.PASSED] / len(found)
        rows.append({
            "name": name, "title": check_title(found[0], config), "hidden": found[0].hidden,
            "submissions": len(found), "passed": counts[CheckStatus.PASSED], "partial": counts[CheckStatus.PARTIAL],
            "failed": counts[CheckStatus.FAILED], "error": counts[CheckStatus.ERROR],
            "rate": t.pct(rate, 0), "rate_width": f"{rate * 100:.1f}",
            "mean_points": t.points(statistics.fmean(c.points for c in found)),
            "max_points": t.points(found[0].max_points),
        })
    return rows


def _summary_flag_rows(results: list[GradeResult], report_links: dict[str, str], config: AssignmentConfig | None,
                       t: Catalogue) -> list[dict[str, Any]]:
    """One row per flag a check carries: the notebook's own claim beyond what was measured, a gap
    between the test images the student had and the held-out ones, or a review the points wait for."""
    rows = []
    for result in results:
        for check in _automatic(result.checks):
            claim, gap = check.details.get("claim") or {}, check.details.get("test_split") or {}
            flags = [("claim", claim.get("claimed"), claim.get("measured")) if claim.get("flag") else None,
                     ("test_split", gap.get("seen"), gap.get("secret")) if gap.get("flag") else None]
            flags = [f for f in flags if f is not None]
            if check.needs_review and not flags:
                flags.append(("review", None, None))
            for kind, claimed, measured in flags:
                rows.append({"student": result.student, "href": report_links.get(result.student), "kind": kind,
                             "check": check.name, "title": check_title(check, config), "flag": t(f"flag_{kind}"),
                             "claimed": t.num(claimed, 4) if claimed is not None else "",
                             "measured": t.num(measured, 4) if measured is not None else "",
                             "message": check.review if kind == "review" and check.review else check.message})
    return rows


def write_class_summary(results: list[GradeResult], out_dir: Path, *, report_links: dict[str, str] | None = None,
                        lang: str = "es", config: AssignmentConfig | None = None) -> Path:
    """Write ``<out_dir>/index.html``: score histogram, pass rate per check, flags to review, problems,
    slowest, all reports.

    ``report_links`` maps a student to the href of their report; by default a report is linked when
    ``<out_dir>/<student>.html`` exists.
    """
    results = [result.rendered(lang, _folder(config)) for result in results]
    t = Catalogue(lang)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if report_links is None:
        report_links = {r.student: f"{report_stem(r.student)}.html" for r in results
                        if (out_dir / f"{report_stem(r.student)}.html").is_file()}
    ordered = sorted(results, key=lambda r: r.student)
    scores = [r.score for r in ordered]
    max_score = max((r.max_score for r in ordered), default=0.0)

    def student_row(result: GradeResult) -> dict[str, Any]:
        execution = result.execution
        first = execution.first_error
        errored = [c.name for c in result.checks if c.status is CheckStatus.ERROR]
        return {
            "student": result.student, "href": report_links.get(result.student),
            "score": t.points(result.score), "max_score": t.points(result.max_score),
            "execution_ok": execution.status is ExecutionStatus.COMPLETED,
            "execution": t.execution(execution.status), "execution_status": ExecutionStatus(execution.status).value,
            "message": execution.message,
            "first_error": (f"{t('first_error_heading', cell=first.cell_index + 1)}: {first.ename}: {first.evalue}"
                            if first is not None else ""),
            "error_checks": t("error_checks", names=", ".join(errored)) if errored else "",
            "wall": t.seconds(execution.wall_seconds),
            "memory": (t("megabytes", value=t.num(execution.peak_memory_mb, 0))
                       if _finite(execution.peak_memory_mb) is not None else t("unknown")),
            "device": execution.device or t("unknown"),
        }

    problems = [student_row(r) for r in ordered
                if r.execution.status is not ExecutionStatus.COMPLETED
                or any(c.status is CheckStatus.ERROR for c in r.checks)]
    slowest = [student_row(r) for r in sorted(ordered, key=lambda r: -(_finite(r.execution.wall_seconds) or 0.0))
               [:SLOWEST_SHOWN]]
    stats = None
    if scores:
        stats = [
            {"label": t("summary_submissions"), "value": str(len(scores))},
            {"label": t("summary_mean"), "value": f"{t.points(statistics.fmean(scores))} / {t.points(max_score)}"},
            {"label": t("summary_median"), "value": f"{t.points(statistics.median(scores))} / {t.points(max_score)}"},
            {"label": t("summary_full_marks"),
             "value": str(sum(1 for r in ordered if r.max_score > 0 and r.score >= r.max_score))},
        ]
        waiting = sum(1 for r in ordered if r.needs_review)
        if waiting:
            stats.append({"label": t("summary_review"), "value": str(waiting)})
    histogram = (_figure("figure", t("histogram_heading"), t("histogram_alt"), t, histogram_figure, scores, max_score)
                 if scores else None)
    assignments = sorted({r.assignment for r in ordered})
    page = _environment().get_template("summary.html.j2").render(
        t=t, lang=lang, csp=CONTENT_SECURITY_POLICY,
        title=t("summary_title"),
        assignment_title=config.title if config is not None else ", ".join(assignments),
        stats=stats, histogram=histogram, check_rows=_summary_check_rows(ordered, config, t),
        flags=_summary_flag_rows(ordered, report_links, config, t),
        problems=problems, slowest=slowest, students=[student_row(r) for r in ordered],
        version=ordered[0].grader_version if ordered else "",
    )
    path = out_dir / "index.html"
    _write_text_atomic(path, page)
    return path


# --------------------------------------------------------------------------------------------
# A whole results folder (the ``grader feedback`` command)
# --------------------------------------------------------------------------------------------

@dataclass
class FeedbackRun:
    reports: list[Path] = field(default_factory=list)
    index: Path | None = None
    skipped: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped


def _executed_notebook_path(result: GradeResult, results_dir: Path) -> Path | None:
    recorded = result.execution.executed_notebook
    if not recorded:
        return None
    path = Path(recorded)
    for candidate in ([path] if path.is_absolute() else [results_dir / path, path]):
        if candidate.is_file():
            return candidate
    return None


def write_feedback(assignment: str | Path, results_dir: Path, out_dir: Path | None = None, *,
                   lang: str | None = None, show_hidden_details: bool = False,
                   log: Callable[[str], Any] = print, warn: Callable[[str], Any] = print) -> FeedbackRun:
    """Reports for every ``*.json`` GradeResult in ``results_dir``, and the class summary.

    A file that is not a readable grade result of this assignment is named in one ``warn`` line and
    skipped; the others are still written (``FeedbackRun.ok`` is then False).
    """
    from grader.config import load_assignment

    config = load_assignment(assignment)
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / "feedback"
    if out_dir.resolve() == results_dir.resolve():
        raise GraderError(f"{out_dir}: the reports' .json files would overwrite the grade results there; "
                          "fix: pass another --out folder")
    lang = lang or config.language
    Catalogue(lang)  # an unknown language fails before anything is written
    files = sorted(p for p in results_dir.glob("*.json") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GraderError(f"{results_dir}: no *.json grade results there; fix: point --results at the folder "
                          "the grading step wrote its results to")
    run = FeedbackRun()
    results: list[GradeResult] = []
    links: dict[str, str] = {}
    source_of: dict[str, Path] = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            warn(f"skipped {path}: not valid JSON ({exc})")
            run.skipped.append(path)
            continue
        try:
            result = GradeResult.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            warn(f"skipped {path}: not a grade result ({type(exc).__name__}: {exc})")
            run.skipped.append(path)
            continue
        if result.assignment != config.name:
            warn(f"skipped {path}: a result of {result.assignment!r}, not of {config.name!r}")
            run.skipped.append(path)
            continue
        if result.student in source_of:
            warn(f"skipped {path}: a second result for student {result.student!r} (first: {source_of[result.student]})")
            run.skipped.append(path)
            continue
        try:
            html = write_report(result, out_dir, config=config, lang=lang, show_hidden_details=show_hidden_details,
                                executed_notebook=_executed_notebook_path(result, results_dir))
        except Exception as exc:  # noqa: BLE001 - one odd record must not cost the class its reports
            warn(f"skipped {path}: its report could not be written ({type(exc).__name__}: {exc})")
            run.skipped.append(path)
            continue
        source_of[result.student] = path
        links[result.student] = html.name
        results.append(result)
        run.reports.append(html)
    run.index = write_class_summary(results, out_dir, report_links=links, lang=lang, config=config)
    log(f"wrote {len(run.reports)} reports and the class summary {run.index}")
    return run
