"""Architecture and parameter checks over layer summaries (see :mod:`grader.probe`).

Students write the same network in several equivalent ways (activation as an argument or as a
separate ReLU/Activation/Softmax layer, explicit Input or not, a Reshape adding the channel axis,
softmax in the last layer or logits with a ``from_logits`` loss). Both summaries are first reduced
to a canonical list of layers; the lists are then aligned so that a missing or extra layer is
named as such instead of shifting every later comparison.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from grader.i18n import Message, joined, msg
from grader.checks.outcome import CheckOutcome

ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax", "LeakyReLU": "leaky_relu", "ELU": "elu"}
# Keys compared between matched layers, in the order their hints are given.
COMPARED_KEYS = ("filters", "kernel_size", "padding", "strides", "pool_size", "units", "rate", "activation")


@dataclass
class CanonicalLayer:
    cls: str
    index: int | None          # 1-based position in the submitter's own layer list
    output_shape: list | None
    params: int
    config: dict[str, Any] = field(default_factory=dict)


def _activation_of(row: dict) -> str | None:
    if row["class"] in ACTIVATION_LAYERS:
        return ACTIVATION_LAYERS[row["class"]]
    if row["class"] == "Activation":
        return row["config"].get("activation")
    return None


def _normalise(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        return value[0]  # (3, 3) == 3
    return value


def without_channel_axis(input_shape: list) -> list | None:
    """The spec's input shape without its channel axis of 1 ((None, h, w, 1) -> (None, h, w)), which a
    model may take instead when a Reshape adds the axis first; None when there is no such axis."""
    return input_shape[:-1] if len(input_shape) > 2 and input_shape[-1] == 1 else None


def canonical_layers(summary: dict, spec_input_shape: list) -> list[CanonicalLayer]:
    """Fold separate activation layers into the layer before them; drop input plumbing (an
    InputLayer, and a first Reshape into the spec's input shape)."""
    layers: list[CanonicalLayer] = []
    for row in summary["layers"]:
        if row["class"] == "InputLayer":
            continue
        if row["class"] == "Reshape" and not layers and (row.get("output_shape") or [])[1:] == spec_input_shape[1:]:
            continue  # (h, w) -> (h, w, 1): channel axis plumbing, not a layer of the network
        activation = _activation_of(row)
        if activation is not None and layers and layers[-1].config.get("activation", "linear") == "linear":
            layers[-1].config["activation"] = activation
            layers[-1].output_shape = row["output_shape"]
            continue
        config = {k: _normalise(v) for k, v in row["config"].items() if k in COMPARED_KEYS}
        if row["class"] in ("Conv2D", "Dense") and "activation" not in config:
            config["activation"] = "linear"
        layers.append(CanonicalLayer(row["class"], row["index"], row["output_shape"], row["params"], config))
    return layers


def _alignment_key(layer: CanonicalLayer) -> tuple:
    """What identifies a layer when aligning: its class and size, not its other settings."""
    return (layer.cls, layer.config.get("units"), layer.config.get("filters"), layer.config.get("kernel_size"))


def _aligned(want: list[CanonicalLayer], got: list[CanonicalLayer]):
    """difflib opcodes over the alignment keys; same-length replaced runs are compared pairwise."""
    matcher = difflib.SequenceMatcher(a=[_alignment_key(l) for l in want], b=[_alignment_key(l) for l in got],
                                      autojunk=False)
    return matcher.get_opcodes()


def _label(layer: CanonicalLayer) -> Message:
    return msg("layer", index=layer.index, cls=layer.cls)


def _shape_text(shape: list | None) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in (shape or [])) + ")"


def _logits_equivalent(expected: CanonicalLayer, got: CanonicalLayer, from_logits: bool | None) -> bool:
    return (expected.config.get("activation") == "softmax" and got.config.get("activation") == "linear"
            and from_logits is True)


def _compare_pair(expected: CanonicalLayer, got: CanonicalLayer, is_last: bool,
                  from_logits: bool | None) -> dict | None:
    """A mismatch ``{"index", "kind", "message_text"}`` for one aligned pair, or None when they agree.

    kind "setting": a layer setting differs (with a hint); kind "shape": only the output shape differs,
    the echo of a wrong setting further up.
    """
    hints = []
    for key in COMPARED_KEYS:
        want, have = expected.config.get(key), got.config.get(key)
        if want == have or want is None:
            continue
        if key == "activation" and is_last and _logits_equivalent(expected, got, from_logits):
            continue
        if key == "activation" and is_last and want == "softmax" and have == "linear":
            hints.append(msg("hint_softmax"))
            continue
        shown = {"kernel_size": lambda v: f"{v}x{v}" if isinstance(v, int) else "x".join(map(str, v))}.get(
            key, lambda v: v)
        hints.append(msg(f"hint_{key}", expected=shown(want), got=shown(have)))
    shape_differs = expected.output_shape != got.output_shape
    if not hints and not shape_differs:
        return None
    parts = [_label(got)]
    if shape_differs:
        parts.append(msg("output", got=_shape_text(got.output_shape), expected=_shape_text(expected.output_shape)))
    if hints:
        parts.append(joined(hints))
    return {"index": got.index, "kind": "setting" if hints else "shape", "message_text": joined(parts, ": ")}


def _rows(layers: list[CanonicalLayer]) -> list[dict]:
    return [{"index": l.index, "class": l.cls, "output_shape": l.output_shape, "params": l.params,
             "config": l.config} for l in layers]


def compare_architecture(expected: dict, submitted: dict) -> CheckOutcome:
    """Full credit for an exact match (in any equivalent form); half when exactly one layer setting
    differs (its knock-on output shapes aside) and no layer is missing or extra; none otherwise.
    Every difference is listed, by the submitter's own layer number, with a hint."""
    want = canonical_layers(expected, expected["input_shape"])
    got = canonical_layers(submitted, expected["input_shape"])
    mismatches: list[dict] = []
    alternative = without_channel_axis(expected["input_shape"])
    accepted = [expected["input_shape"][1:]] + ([alternative[1:]] if alternative else [])
    if submitted["input_shape"][1:] not in accepted:
        shapes = {"got": _shape_text(submitted["input_shape"]), "expected": _shape_text(expected["input_shape"])}
        text = (msg("input_shape_or_reshape", without_channel=_shape_text(alternative), **shapes)
                if alternative else msg("input_shape", **shapes))
        mismatches.append({"index": None, "kind": "input", "message_text": text})
    for tag, a0, a1, b0, b1 in _aligned(want, got):
        if tag in ("equal", "replace") and a1 - a0 == b1 - b0:
            for position, (w, g) in enumerate(zip(want[a0:a1], got[b0:b1]), start=a0):
                found = _compare_pair(w, g, position == len(want) - 1, submitted.get("from_logits"))
                if found and w.cls != g.cls:
                    found["kind"] = "replaced"
                if found:
                    mismatches.append(found)
            continue
        for position in range(a0, a1):
            mismatches.append({"index": None, "kind": "missing", "message_text": msg(
                "missing_layer", cls=want[position].cls, position=position + 1,
                expected=_shape_text(want[position].output_shape))})
        for g in got[b0:b1]:
            mismatches.append({"index": g.index, "kind": "extra", "message_text": msg("extra_layer", layer=_label(g))})
    kinds = [m["kind"] for m in mismatches]
    if not mismatches:
        fraction, text = 1.0, msg("architecture_ok", n=len(want))
    else:
        fraction = 0.5 if kinds.count("setting") == 1 and set(kinds) <= {"setting", "shape"} else 0.0
        text = joined([msg("architecture_bad", n=len(mismatches)), joined([m["message_text"] for m in mismatches], " | ")],
                      ": ")
    details = {"expected": _rows(want), "submitted": _rows(got), "mismatches": mismatches}
    return CheckOutcome(fraction, text, details)


def compare_parameters(expected: dict, submitted: dict) -> CheckOutcome:
    """All-or-nothing: the total and every matched layer's count must equal the reference's."""
    want = canonical_layers(expected, expected["input_shape"])
    got = canonical_layers(submitted, expected["input_shape"])
    per_layer, problems = [], []
    for tag, a0, a1, b0, b1 in _aligned(want, got):
        if tag in ("equal", "replace") and a1 - a0 == b1 - b0:
            for w, g in zip(want[a0:a1], got[b0:b1]):
                per_layer.append({"index": g.index, "class": g.cls, "expected": w.params, "submitted": g.params})
                if w.params != g.params:
                    problems.append(msg("params_layer", layer=_label(g), got=g.params, expected=w.params))
    total_ok = submitted["total_params"] == expected["total_params"]
    details = {"expected_total": expected["total_params"], "submitted_total": submitted["total_params"],
               "per_layer": per_layer}
    if total_ok and not problems:
        return CheckOutcome(1.0, msg("params_ok", total=expected["total_params"]), details)
    head = msg("params_bad", got=submitted["total_params"], expected=expected["total_params"])
    return CheckOutcome(0.0, joined([head, *problems], " | "), details)
