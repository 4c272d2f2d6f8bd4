"""View models: everything the report templates show, already formatted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from grader.records import CheckResult, CheckStatus, ExecutionStatus, GradeResult
from grader.report.figures import (
    FigureDataError,
    as_matrix,
    confusion_figure,
    denoise_metrics_figure,
    examples_figure,
    figure_view,
    history_figure,
)
from grader.report.text import (
    Catalogue,
    check_title,
    dicts,
    finite,
    report_stem,
    trim_traceback,
)

if TYPE_CHECKING:
    from grader.config import AssignmentConfig


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
    mismatches = dicts(details.get("mismatches"))
    hints_by_index: dict[Any, list[str]] = {}
    general = []
    for mismatch in mismatches:
        text = str(mismatch.get("message", ""))
        if mismatch.get("index") is None:
            general.append(text)
        else:
            hints_by_index.setdefault(mismatch["index"], []).append(text)
    pairs = _paired_layers(dicts(details.get("expected")), dicts(details.get("submitted")))
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
    for row in dicts(details.get("per_layer")):
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
    if finite(details.get("zero_at")) is None or finite(details.get("full_at")) is None:
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
            cm = as_matrix(details["confusion_matrix"], square=True)
        except FigureDataError:
            return None
        totals = cm.sum(axis=1)
        values = [float(cm[i, i] / totals[i]) if totals[i] else None for i in range(cm.shape[0])]
    if not isinstance(values, list | tuple) or not values:
        return None
    numbers = [finite(v) for v in values]
    known = [(v, i) for i, v in enumerate(numbers) if v is not None]
    worst = min(known)[1] if known and min(known)[0] < max(known)[0] else None
    rows = [{"label": str(i), "value": t.pct(v), "worst": i == worst} for i, v in enumerate(numbers)]
    note = t("worst_class", label=worst, value=t.pct(numbers[worst])) if worst is not None else None
    return {"kind": "per_class", "rows": rows, "note": note}


def _with_unit(t: Catalogue, value: Any, digits: int, unit: str, *, signed: bool = False) -> str:
    number = finite(value)
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
        figure = figure_view("figure", t("denoise_heading"), t("denoise_alt"), t, denoise_metrics_figure, noisy, denoised)
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
        sections.append(figure_view("figure", t("confusion_heading"), t("confusion_alt"), t, confusion_figure,
                                details["confusion_matrix"]))
    per_class = _per_class_section(details, t) if ("per_class_accuracy" in details
                                                   or "confusion_matrix" in details) else None
    if per_class:
        sections.append(per_class)
    if isinstance(details.get("noisy"), Mapping) or isinstance(details.get("denoised"), Mapping) \
            or "psnr_gain" in details:
        sections.append(_denoise_section(details, t))
    if isinstance(details.get("examples"), Mapping):
        sections.append(figure_view("figure", t("examples_heading"), t("examples_alt"), t, examples_figure,
                                details["examples"]))
    if details.get("history"):
        sections.append(figure_view("figure", t("history_heading"), t("history_alt"), t, history_figure,
                                details["history"]))
    if isinstance(details.get("verified"), bool) and not any(s["kind"] == "architecture" for s in sections):
        key = "results_verified" if details["verified"] else "results_unverified"
        sections.append({"kind": "note", "text": t(key)})
    violations = dicts(details.get("violations"))
    if violations:
        sections.append({"kind": "violations",
                         "rows": [{"rule": str(v.get("rule", "")), "message": str(v.get("message", ""))}
                                  for v in violations]})
    extra = [{"key": str(k), "value": t.num(v, 4, strip=True) if finite(v) is not None else str(v)}
             for k, v in details.items()
             if k not in _CONSUMED and (isinstance(v, str | int | float | bool) or v is None)]
    if extra:
        sections.append({"kind": "extra", "rows": extra})
    return sections


def check_view(check: CheckResult, config: AssignmentConfig | None, t: Catalogue,
                show_hidden_details: bool) -> dict[str, Any]:
    visible = show_hidden_details or not check.hidden
    sections = check_sections(check.details or {}, t) if visible else []
    status_label = t.status(check.status)
    if check.needs_review:  # the flag shows on the check's badge, and why first among its details
        status_label = f"{status_label} · {t('review_badge')}"
        sections.insert(0, {"kind": "note", "text": t("review_note", reason=check.review or "-")})
    return {
        "name": check.name, "anchor": "check-" + report_stem(check.name), "title": check_title(check, config, t.lang),
        "status": CheckStatus(check.status).value, "status_label": status_label,
        "needs_review": check.needs_review, "review": check.review,
        "points": t.points(check.points), "max_points": t.points(check.max_points),
        "message": check.message, "hidden": check.hidden, "details_hidden": not visible,
        "sections": sections,
    }


def execution_view(result: GradeResult, t: Catalogue) -> dict[str, Any]:
    execution = result.execution
    memory = finite(execution.peak_memory_mb)
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
