"""The report's figures: matplotlib's object API (no pyplot, no global state), PNG as a data URI."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

from grader.report.text import Catalogue, finite


class FigureDataError(ValueError):
    """The details hold something that cannot be drawn."""


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def _png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def as_matrix(value: Any, *, square: bool = False) -> Any:
    import numpy as np

    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise FigureDataError(str(exc)) from None
    if array.ndim != 2 or array.size == 0 or (square and array.shape[0] != array.shape[1]):
        raise FigureDataError(f"shape {array.shape}")
    if not np.isfinite(array).all():
        raise FigureDataError("not finite")
    return array


def confusion_figure(matrix: Any, t: Catalogue) -> str:
    """Counts annotated; the off-diagonal cells (the mistakes) coloured on their own scale so that the
    confusions stand out next to a diagonal that is always much larger."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    cm = as_matrix(matrix, square=True)
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
        raise FigureDataError("history is not a dict")
    series: dict[str, dict[str, list[float]]] = {}
    for key, values in history.items():
        if not isinstance(values, list | tuple) or not values:
            continue
        numbers = [finite(v) for v in values]
        if any(v is None for v in numbers):
            continue
        key = str(key)
        base, part = (key[4:], "val") if key.startswith("val_") else (key, "train")
        if base in ("lr", "learning_rate"):
            continue
        series.setdefault(base, {})[part] = numbers
    if not series:
        raise FigureDataError("no numeric series")
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
        values = [finite(noisy.get(metric)), finite(denoised.get(metric))]
        if any(v is None for v in values):
            ax.set_visible(False)
            continue
        drawn += 1
        bars = ax.bar([t("row_noisy"), t("row_denoised")], values, color=["#c9a227", "#2f7d4f"])
        ax.bar_label(bars, fmt="%.2f" if metric == "psnr" else "%.3f", fontsize=8)
        ax.set_title(f"{metric.upper()} ({unit})" if unit else metric.upper())
        ax.margins(y=0.2)
    if not drawn:
        raise FigureDataError("no PSNR/SSIM figures")
    return _png_data_uri(figure)


def examples_figure(examples: Mapping, t: Catalogue) -> str:
    import numpy as np

    rows = [(key, t(f"row_{key}")) for key in ("noisy", "denoised", "clean") if key in examples]
    if not rows:
        raise FigureDataError("no example images")
    images = {}
    for key, _label in rows:
        if not isinstance(examples[key], list | tuple) or not examples[key]:
            raise FigureDataError(f"{key}: not a list of images")
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
        raise FigureDataError(f"image shape {array.shape}")
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


def figure_view(kind: str, title: str, alt: str, t: Catalogue, draw, *args) -> dict[str, Any]:
    """A figure section, or a short note in its place when the details cannot be drawn."""
    try:
        return {"kind": kind, "title": title, "src": draw(*args, t), "alt": alt, "error": None}
    except (FigureDataError, ValueError, TypeError, KeyError, IndexError):
        return {"kind": kind, "title": title, "src": None, "alt": alt, "error": t("figure_failed", what=title)}
