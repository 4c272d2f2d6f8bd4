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
- ``manifest.json``: per name, ``{"status": "exported" | "missing" | "invalid" | "failed", "reason"}``.

Only inputs are here: labels and clean images stay in the grader's process. Everything is loaded
back by the scoring process as data (``numpy.load(allow_pickle=False)``, JSON, Keras ``safe_mode``,
skops trusted types), so nothing written here can run code in the grader.
"""

from __future__ import annotations

import json
import math
import shutil
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


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _history_dict(obj) -> dict[str, list[float | None]]:
    history = getattr(obj, "history", obj)
    if not isinstance(history, dict):
        raise TypeError(f"se esperaba un History de Keras o un dict, no {type(obj).__name__}")
    return {str(k): [_json_number(v) for v in values] for k, values in history.items()}


def rebuildable_by_scorer(model) -> bool:
    """A Sequential or functional model made of Keras' own layers: the scorer loads it from the
    ``.keras`` file with ``safe_mode`` (or refuses its Lambda layers) and never needs kernel outputs."""
    def builtin(obj) -> bool:
        return type(obj).__module__.startswith("keras.")

    return (builtin(model) and type(model).__name__ in ("Sequential", "Functional")
            and all(builtin(layer) for layer in model._flatten_layers(include_self=False)))


def _export_keras_model(name: str, model, images: np.ndarray | None, out: Path) -> None:
    import keras

    from grader.probe import summarize

    if not isinstance(model, keras.Model):
        raise TypeError(f"se esperaba un modelo de Keras, no {type(model).__name__}")
    if images is not None and not rebuildable_by_scorer(model):
        outputs = model.predict(_prepare_for_model(model, images), batch_size=PREDICT_BATCH, verbose=0)
        np.save(out / f"{name}.outputs.npy", np.asarray(outputs, dtype="float32"), allow_pickle=False)
    example = None if images is None else (None, *_prepare_for_model(model, images[:1]).shape[1:])
    (out / f"{name}.summary.json").write_text(json.dumps(summarize(model, example)), encoding="utf-8")
    model.save(out / f"{name}.keras")


def _export_estimator(name: str, estimator, out: Path) -> None:
    import skops.io

    if not hasattr(estimator, "predict"):
        raise TypeError(f"se esperaba un estimador de scikit-learn ajustado, no {type(estimator).__name__}")
    skops.io.dump(estimator, out / f"{name}.skops")


def export_artifacts(namespace: dict, out_dir: str, inputs_dir: str, contract: dict[str, str],
                     inputs_for: dict[str, str]) -> dict[str, dict]:
    """Export every contract object found in ``namespace``; never raises for a student's object."""
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
            manifest[name] = {"status": "missing", "reason": "no está definido"}
            continue
        obj = namespace[name]
        images = held_out.get(inputs_for.get(name, ""))
        try:
            if kind == "keras_model":
                _export_keras_model(name, obj, images, out)
            elif kind == "function":
                if not callable(obj):
                    raise TypeError(f"se esperaba una función, no {type(obj).__name__}")
                features = np.asarray(obj(images), dtype="float32").reshape(len(images), -1)
                np.save(out / f"{name}.features.npy", features, allow_pickle=False)
                manifest[name] = {"status": "exported", "reason": "", "dtype_sensitive": dtype_sensitive(obj, images)}
                continue
            elif kind == "sklearn_estimator":
                _export_estimator(name, obj, out)
            elif kind == "history":
                (out / f"{name}.history.json").write_text(json.dumps(_history_dict(obj)), encoding="utf-8")
            manifest[name] = {"status": "exported", "reason": ""}
        except (TypeError, ValueError) as exc:
            manifest[name] = {"status": "invalid", "reason": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # the student's object failed in its own code: report, go on
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            manifest[name] = {"status": "failed", "reason": last[:500]}
    _write_manifest(out, manifest)
    return manifest


def _write_manifest(out: Path, manifest: dict[str, dict]) -> None:
    temporary = out / "manifest.json.tmp"
    temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(out / "manifest.json")
