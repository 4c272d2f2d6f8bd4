"""Summarise a Keras model as plain JSON-able layer rows, whatever style built it.

Sequential, functional and subclassed models all go through one path: the model is called once on
a small sample batch while every leaf layer's ``call`` records its output shape, so layers come out
in the order data flows through them (``layer.output`` does not exist for subclassed models, and
``model.layers`` omits the InputLayer of a Sequential model but not of a functional one).
The same summary is produced inside the student's kernel (self-check, export) and in the grader's
scoring process (from the model loaded with ``safe_mode``); checks compare summaries, not models.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

# Layer configuration keys that matter for grading; everything else (names, initialisers) is noise.
RELEVANT_CONFIG = ("filters", "kernel_size", "strides", "padding", "activation", "units", "pool_size",
                   "rate", "target_shape")


def _shape(value: Any) -> list[int | None] | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    return [None] + [int(d) if d is not None else None for d in tuple(shape)[1:]]


def _relevant_config(layer) -> dict[str, Any]:
    try:
        config = layer.get_config()
    except Exception:  # a student's custom layer may not implement get_config
        return {}
    picked = {}
    for key in RELEVANT_CONFIG:
        if key in config:
            value = config[key]
            picked[key] = list(value) if isinstance(value, tuple) else value
    return picked


def _leaf_layers(model) -> list:
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if not list(layer._flatten_layers(include_self=False, recursive=False))]


@contextlib.contextmanager
def _recording_calls(layers: list, calls: list):
    """Temporarily wrap each layer's ``call`` (an instance attribute shadows the class method)."""
    originals = {}
    for layer in layers:
        original = layer.call

        def recorder(*args, __layer=layer, __original=original, **kwargs):
            output = __original(*args, **kwargs)
            calls.append((__layer, _shape(output)))
            return output

        originals[id(layer)] = layer
        object.__setattr__(layer, "call", recorder)
    try:
        yield
    finally:
        for layer in originals.values():
            with contextlib.suppress(AttributeError):
                object.__delattr__(layer, "call")


def sample_batch(input_shape: tuple, fill: tuple | None = None, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Random inputs of ``input_shape``; a size it leaves open (None) is taken from ``fill``."""
    dims = list(tuple(input_shape)[1:])
    if any(d is None for d in dims):
        if fill is None or len(fill) != len(input_shape) or any(f is None for d, f in zip(dims, fill[1:]) if d is None):
            raise ValueError(f"the model's input shape {tuple(input_shape)} leaves sizes open and there is no "
                             "example input to take them from")
        dims = [f if d is None else d for d, f in zip(dims, fill[1:])]
    return np.random.default_rng(seed).random((batch, *dims), dtype=np.float32)


def model_input_shape(model, default: tuple | None = None) -> tuple | None:
    """The model's input shape, or ``default`` when it states none (a subclassed model not built yet)."""
    with contextlib.suppress(AttributeError, ValueError, IndexError, TypeError):
        shape = model.inputs[0].shape
        return tuple(shape)
    with contextlib.suppress(AttributeError, ValueError, TypeError):
        shape = model.input_shape
        if isinstance(shape, tuple) and shape and (shape[0] is None or isinstance(shape[0], int)):
            return shape
    return default


def loss_from_logits(model) -> bool | None:
    """True/False when the compiled loss says whether it expects logits; None when unknown."""
    loss = getattr(model, "loss", None)
    if loss is None:
        return None
    if isinstance(loss, str):
        return False
    from_logits = getattr(loss, "from_logits", None)
    if from_logits is None:
        with contextlib.suppress(Exception):
            from_logits = loss.get_config().get("from_logits")
    return bool(from_logits) if from_logits is not None else None


def summarize(model, example_input_shape: tuple | None = None) -> dict[str, Any]:
    """``{"input_shape", "output_shape", "total_params", "from_logits", "layers": [row, ...]}``.

    Each row: ``index`` (1-based position in call order), ``name``, ``class``, ``output_shape``
    (batch dimension None), ``params`` (all weights, trainable or not), ``config`` (relevant keys).
    ``example_input_shape`` (the spec's input, or the data the model is applied to) is used where the
    model does not state its own input shape (a subclassed model not built yet) or leaves sizes open.
    """
    declared = model_input_shape(model, default=example_input_shape)
    if declared is None:
        raise ValueError("the model does not state its input shape and there is no example input; call it "
                         "once on data (or build it) first")
    input_shape = tuple(declared)
    layers = _leaf_layers(model)
    calls: list = []
    with _recording_calls(layers, calls):
        output = model(sample_batch(input_shape, fill=example_input_shape), training=False)
    rows, seen = [], set()
    for layer, shape in calls:
        if id(layer) in seen:  # a shared layer called twice is listed once, at its first use
            continue
        seen.add(id(layer))
        rows.append({
            "index": len(rows) + 1,
            "name": layer.name,
            "class": type(layer).__name__,
            "output_shape": shape,
            "params": int(layer.count_params()) if layer.built else 0,
            "config": _relevant_config(layer),
        })
    return {
        "input_shape": [None] + [int(d) if d is not None else None for d in input_shape[1:]],
        "output_shape": _shape(output),
        "total_params": int(model.count_params()),
        "from_logits": loss_from_logits(model),
        "layers": rows,
    }
