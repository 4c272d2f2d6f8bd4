"""Runs inside the student's kernel, after the last student cell: write the contract objects out.

The grader passes the notebook's namespace explicitly (the epilogue cell calls
``export_artifacts(globals(), ...)``); nothing here walks stack frames. What is written:

- ``<name>.keras`` (Keras' zip format, no pickle) and ``<name>.summary.json`` (:func:`grader.probe.summarize`)
  for each Keras model, plus ``<name>.outputs.npy`` (the model applied to its held-out inputs) only
  for a model the scorer cannot rebuild by itself (a subclass, a custom layer): the scorer predicts
  with every model it can load, so the kernel does not predict twice;
- ``<name>.features.npy`` for a feature function applied to its held-out inputs (uint8 images); the
  manifest entry also says whether the function gives other features for the same images as floats
  in [0, 1] (``"dtype_sensitive"``: a function written for floats that multiplies by 255 wraps uint8);
- ``<name>.skops`` for a scikit-learn estimator (the scorer predicts on the function's features);
- ``<name>.history.json`` for a Keras History (or its ``.history`` dict);
- ``<name>.table.json`` for a table of numbers (:func:`table_dict`: a dict, a pandas DataFrame or Series);
- for a function applied to points or a grid (not uint8 images), its values as float64;
- ``manifest.json``: per name, ``{"status": "exported" | "missing" | "invalid" | "failed", "reason"}``, and
  ``"cut"`` (what was cut to the bounds, see below) or ``"timed_out_s"`` where that applies.

Every object is bounded (``limits``, the assignment's :class:`grader.config.Limits` as a dict): its export
runs under a time limit (``object_timeout_s``; past it the object is ``failed`` with ``timed_out_s`` and
the next one is exported), a History keeps at most ``history_keys`` metrics of ``history_values`` values,
and reasons and type names are cut to ``reason_chars`` and ``name_chars``. Each cut is listed in the
entry's ``"cut"`` (``{"field", "total", "kept"}``, and ``"key"`` for a metric), so the scorer can say so.

Only inputs are here: labels and clean images stay in the grader's process. Everything is loaded
back by the scoring process as data (``numpy.load(allow_pickle=False)``, JSON, Keras ``safe_mode``,
skops trusted types), so nothing written here can run code in the grader.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

PREDICT_BATCH = 256
# (batch, height, width, channels): the rank of the input a model that states no input shape (a
# subclassed model not built yet) is given; images without a channel axis get one.
IMAGE_RANK = 4


def _prepare_for_model(model, images: np.ndarray) -> np.ndarray:
    """uint8 images become float32 in [0, 1]; the channel axis is added or dropped to fit the model."""
    from grader.probe import model_input_shape

    data = np.asarray(images)
    if data.dtype == np.uint8:
        data = data.astype("float32") / 255.0
    declared = model_input_shape(model)
    rank = len(declared) if declared is not None else IMAGE_RANK
    if rank == 4 and data.ndim == 3:
        data = data[..., np.newaxis]
    elif rank == 3 and data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    return data.astype("float32")


def dtype_sensitive(function, images: np.ndarray, sample: int = 32) -> bool:
    """True when ``function`` gives clearly other features for uint8 images than for the same images
    as floats in [0, 1]. HOG normalises each block, so a correct HOG gives the same features either way;
    one that does ``(img * 255).astype(np.uint8)`` wraps the uint8 input and does not."""
    if images.dtype != np.uint8:
        return False
    as_uint8 = np.asarray(function(images[:sample]), dtype="float64").reshape(min(sample, len(images)), -1)
    try:
        as_float = np.asarray(function(images[:sample].astype("float32") / 255.0), dtype="float64")
    except Exception:  # a function written for uint8 only: it never sees floats when graded
        return False
    if as_float.size != as_uint8.size:
        return True
    as_float = as_float.reshape(as_uint8.shape)
    scale = max(float(np.abs(as_float).max()), 1e-12)
    return float(np.abs(as_uint8 - as_float).mean()) > 0.05 * scale


BOUND_FIELDS = ("object_timeout_s", "history_keys", "history_values", "reason_chars", "name_chars")


def export_bounds(limits: dict | None = None) -> dict[str, int]:
    """The bounds of :data:`BOUND_FIELDS` from ``limits`` (a dict of :class:`grader.config.Limits`),
    the defaults of Limits where it gives none."""
    from grader.config import Limits

    defaults = Limits().model_dump()
    given = limits if isinstance(limits, dict) else {}
    return {key: int(given.get(key) or defaults[key]) for key in BOUND_FIELDS}


def cut_text(text: str, limit: int, cuts: list[dict] | None = None, field: str = "reason") -> str:
    """``text`` cut to ``limit`` characters (ending in an ellipsis); the cut is listed in ``cuts``."""
    text = str(text)
    if len(text) <= limit:
        return text
    if cuts is not None:
        cuts.append({"field": field, "total": len(text), "kept": limit})
    return text[:max(limit - 1, 0)] + "…"


def type_name(obj, limit: int, cuts: list[dict] | None = None) -> str:
    """The name of ``obj``'s type, cut to ``limit`` characters (a class may be named by the student)."""
    return cut_text(type(obj).__name__, limit, cuts, "name")


class ContractError(TypeError):
    """An object that is not of its contract's kind; ``code`` names the grader's sentence for it (one of
    :data:`grader.artifacts.EXPORT_REASONS`), ``detail`` fills it."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


class ObjectTimedOut(BaseException):
    """The export of one object ran past its time. A BaseException, like KeyboardInterrupt: a student's
    ``except Exception`` inside the object's own code does not swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`ObjectTimedOut` in this (main) thread after ``seconds``, and every second after that
    until the block ends (a bare ``except:`` in the student's code swallows one, not all). Python code
    is interrupted between two bytecodes, so a single native call that never returns is left to the
    cell's own time limit. Outside the main thread no timer is set."""
    pending, _ = signal.getitimer(signal.ITIMER_REAL)
    if (seconds <= 0 or threading.current_thread() is not threading.main_thread()
            or 0 < pending <= seconds):  # someone else's alarm (pytest-timeout) comes first: leave it be
        yield
        return

    def expired(signum, frame):
        raise ObjectTimedOut(seconds)

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expired)
    _, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if pending > 0:  # a later alarm that was set before: it keeps its time
            signal.setitimer(signal.ITIMER_REAL, max(pending - (time.monotonic() - started), 0.001),
                             previous_interval)


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _first(values, count: int) -> tuple[list, int | None]:
    """The first ``count`` items of ``values`` and how many it holds (None: more than ``count``, of an
    iterable that does not say), without walking further: a History of 500 MB is never read whole."""
    if isinstance(values, (str, bytes)):
        raise ContractError("history_text")
    if isinstance(values, np.ndarray):
        return values.reshape(-1)[:count].tolist(), int(values.size)
    if isinstance(values, (list, tuple)):
        return list(values[:count]), len(values)
    kept = list(itertools.islice(iter(values), count + 1))
    return kept[:count], (len(kept) if len(kept) <= count else None)


def _history_dict(obj, bounds: dict[str, int] | None = None,
                  cuts: list[dict] | None = None) -> dict[str, list[float | None]]:
    """The History's metrics as JSON numbers, at most ``history_keys`` metrics of ``history_values``
    values, names cut to ``name_chars``; each cut is listed in ``cuts``."""
    bounds = bounds or export_bounds()
    cuts = cuts if cuts is not None else []
    history = getattr(obj, "history", obj)
    if not isinstance(history, dict):
        raise TypeError(f"se esperaba un History de Keras o un dict, no {type_name(obj, bounds['name_chars'], cuts)}")
    if len(history) > bounds["history_keys"]:
        cuts.append({"field": "history_keys", "total": len(history), "kept": bounds["history_keys"]})
    found: dict[str, list[float | None]] = {}
    for key, values in itertools.islice(history.items(), bounds["history_keys"]):
        name = cut_text(key, bounds["name_chars"], cuts, "name")
        kept, total = _first(values, bounds["history_values"])
        if total is None or total > len(kept):
            cuts.append({"field": "history_values", "key": name, "total": total, "kept": len(kept)})
        found[name] = [_json_number(v) for v in kept]
    return found


def _table_value(value, bounds: dict[str, int], cuts: list[dict], depth: int):
    """A number, a list of numbers or (one level down) a dict of them, as JSON values."""
    if hasattr(value, "to_dict") and depth == 0:  # a pandas Series: its labels are the keys
        value = value.to_dict()
    if isinstance(value, dict) and depth == 0:
        return _table_rows(value, bounds, cuts, depth + 1)
    if isinstance(value, (list, tuple, np.ndarray)):
        kept, total = _first(value, bounds["history_values"])
        if total is None or total > len(kept):
            cuts.append({"field": "table_values", "total": total, "kept": len(kept)})
        return [_json_number(v) for v in kept]
    if isinstance(value, (str, bytes)):
        raise ContractError("table_text")
    return _json_number(value)


def _table_rows(rows: dict, bounds: dict[str, int], cuts: list[dict], depth: int) -> dict:
    if len(rows) > bounds["history_keys"]:
        cuts.append({"field": "table_keys", "total": len(rows), "kept": bounds["history_keys"]})
    return {cut_text(key, bounds["name_chars"], cuts, "name"): _table_value(value, bounds, cuts, depth)
            for key, value in itertools.islice(rows.items(), bounds["history_keys"])}


def table_dict(obj, bounds: dict[str, int] | None = None, cuts: list[dict] | None = None) -> dict:
    """A table of numbers as JSON: a dict whose values are numbers, lists of numbers or dicts of those
    (a row per key); a pandas DataFrame by rows (its index, or its one text column, names them), a
    Series as a dict. Bounded like a History (``history_keys`` rows and columns, ``history_values``
    values per list); each cut is listed in ``cuts``."""
    bounds = bounds or export_bounds()
    cuts = cuts if cuts is not None else []
    if hasattr(obj, "select_dtypes") and hasattr(obj, "to_dict"):  # a DataFrame
        text = list(obj.select_dtypes(exclude="number").columns)
        if len(text) == 1:
            obj = obj.set_index(text[0])
        obj = obj.to_dict(orient="index")
    elif hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if not isinstance(obj, dict):
        raise ContractError("not_a_table", type_name(obj, bounds["name_chars"], cuts))
    return _table_rows(obj, bounds, cuts, 0)


def rebuildable_by_scorer(model) -> bool:
    """A Sequential or functional model made of Keras' own layers: the scorer loads it from the
    ``.keras`` file with ``safe_mode`` (or refuses its Lambda layers) and never needs kernel outputs."""
    def builtin(obj) -> bool:
        return type(obj).__module__.startswith("keras.")

    return (builtin(model) and type(model).__name__ in ("Sequential", "Functional")
            and all(builtin(layer) for layer in model._flatten_layers(include_self=False)))


def _export_keras_model(name: str, model, images: np.ndarray | None, out: Path,
                        bounds: dict[str, int] | None = None, cuts: list[dict] | None = None) -> None:
    import keras

    from grader.probe import summarize

    if not isinstance(model, keras.Model):
        limit = (bounds or export_bounds())["name_chars"]
        raise TypeError(f"se esperaba un modelo de Keras, no {type_name(model, limit, cuts)}")
    if images is not None and not rebuildable_by_scorer(model):
        outputs = model.predict(_prepare_for_model(model, images), batch_size=PREDICT_BATCH, verbose=0)
        np.save(out / f"{name}.outputs.npy", np.asarray(outputs, dtype="float32"), allow_pickle=False)
    example = None if images is None else (None, *_prepare_for_model(model, images[:1]).shape[1:])
    (out / f"{name}.summary.json").write_text(json.dumps(summarize(model, example)), encoding="utf-8")
    model.save(out / f"{name}.keras")


def _export_estimator(name: str, estimator, out: Path, bounds: dict[str, int] | None = None,
                      cuts: list[dict] | None = None) -> None:
    import skops.io

    if not hasattr(estimator, "predict"):
        limit = (bounds or export_bounds())["name_chars"]
        raise TypeError(f"se esperaba un estimador de scikit-learn ajustado, no {type_name(estimator, limit, cuts)}")
    skops.io.dump(estimator, out / f"{name}.skops")


def export_artifacts(namespace: dict, out_dir: str, inputs_dir: str, contract: dict[str, str],
                     inputs_for: dict[str, str], limits: dict | None = None) -> dict[str, dict]:
    """Export every contract object found in ``namespace``; never raises for a student's object.
    ``limits``: the assignment's Limits as a dict (the bounds above; Limits' defaults where absent)."""
    bounds = export_bounds(limits)
    out, inputs = Path(out_dir), Path(inputs_dir)
    if out.is_symlink() or out.is_file():
        out.unlink()
    if out.is_dir():  # anything planted here before the export is not the export
        shutil.rmtree(out)
    out.mkdir(parents=True)
    held_out = {path.stem: np.load(path, allow_pickle=False) for path in inputs.glob("*.npy")}
    manifest: dict[str, dict] = {}
    for name, kind in contract.items():
        # Written before each object: if one hangs until the time limit, the others still count.
        _write_manifest(out, manifest)
        if name not in namespace:
            manifest[name] = {"status": "missing", "reason": "not defined", "reason_key": "not_defined"}
            continue
        manifest[name] = _export_one(name, kind, namespace[name], held_out.get(inputs_for.get(name, "")), out,
                                     bounds)
    _write_manifest(out, manifest)
    return manifest


def _export_one(name: str, kind: str, obj, images: np.ndarray | None, out: Path, bounds: dict[str, int]) -> dict:
    """The manifest entry of one object, exported within ``object_timeout_s``."""
    cuts: list[dict] = []
    entry: dict[str, Any] = {"status": "exported", "reason": ""}
    try:
        with time_limit(bounds["object_timeout_s"]):
            if kind == "keras_model":
                _export_keras_model(name, obj, images, out, bounds, cuts)
            elif kind == "function":
                if not callable(obj):
                    raise ContractError("not_a_function", type_name(obj, bounds["name_chars"], cuts))
                precision = "float32" if images.dtype == np.uint8 else "float64"
                features = np.asarray(obj(images), dtype=precision).reshape(len(images), -1)
                np.save(out / f"{name}.features.npy", features, allow_pickle=False)
                entry["dtype_sensitive"] = dtype_sensitive(obj, images)
            elif kind == "table":
                table = table_dict(obj, bounds, cuts)
                (out / f"{name}.table.json").write_text(json.dumps(table), encoding="utf-8")
            elif kind == "sklearn_estimator":
                _export_estimator(name, obj, out, bounds, cuts)
            elif kind == "history":
                history = _history_dict(obj, bounds, cuts)
                (out / f"{name}.history.json").write_text(json.dumps(history), encoding="utf-8")
    except ObjectTimedOut:
        entry = {"status": "failed", "reason": f"timed out after {bounds['object_timeout_s']} s",
                 "timed_out_s": bounds["object_timeout_s"]}
    except ContractError as exc:
        entry = {"status": "invalid", "reason": str(exc), "reason_key": exc.code, "reason_detail": exc.detail}
    except (TypeError, ValueError) as exc:
        entry = {"status": "invalid", "reason": _reason(exc, bounds, cuts, invalid=True)}
    except Exception as exc:  # the student's object failed in its own code: report, go on
        entry = {"status": "failed", "reason": _reason(exc, bounds, cuts)}
    if cuts:
        entry["cut"] = cuts
    return entry


def _reason(exc: Exception, bounds: dict[str, int], cuts: list[dict], invalid: bool = False) -> str:
    """The exception in one line, cut to ``reason_chars`` (its message and its type's name are the
    student's: either may be huge)."""
    try:
        text = (f"{type(exc).__name__}: {exc}" if invalid else
                traceback.format_exception_only(type(exc), exc)[-1].strip())
    except Exception:  # an exception whose str() fails: its type is enough
        text = type(exc).__name__
    return cut_text(text, bounds["reason_chars"], cuts)


def _write_manifest(out: Path, manifest: dict[str, dict]) -> None:
    temporary = out / "manifest.json.tmp"
    temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(out / "manifest.json")
