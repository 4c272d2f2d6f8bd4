"""Identical architecture plus training recipe: the same layers, optimizer, loss and epochs.

Read as data from what the export leaves in ``<workdir>/<student>/artifacts/``, never deserialised by
Keras:

- ``<name>.keras``'s ``config.json``: the leaf layers in order, each with its class and key settings
  (:data:`grader.probe.RELEVANT_CONFIG`; names, initialisers and the input layer do not count, so
  ``Sequential`` and functional spellings of one network are the same), and the compile config's
  optimizer (class and learning rate) and loss;
- the History exported for that model (``<history>.history.json``): epochs and the metrics logged
  (with validation or not). A History belongs to the model whose contract name starts with the same
  word (``cnn_history`` -> ``cnn_model``, ``denoiser_history`` -> ``denoiser``). The export keeps no
  batch size, so the batch size is not part of the recipe.

An architecture held by most of the students with that model (more than half of them, or more than
the common cap) is what the assignment prescribes or what everybody builds (the given CNN) and counts
for nobody. Another recipe shared by at most ``recipe_group_max`` students is evidence for each pair
of them; one shared by more is listed in the baseline only.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from grader.probe import RELEVANT_CONFIG

CONFIG_MEMBER = "config.json"
MAX_CONFIG_BYTES = 16 * 2**20
MAX_HISTORY_BYTES = 16 * 2**20
MAX_DEPTH = 20
SKIPPED_LAYERS = ("InputLayer",)


def _value(value: Any) -> str:
    """A configuration value as stable text (floats to 4 significant digits: float32 round trips)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _layers(config: dict, depth: int = 0) -> list[str]:
    """Leaf layers of a serialised model in order, nested models flattened: ``Conv2D(filters=32, ...)``."""
    if depth > MAX_DEPTH:
        raise ValueError("models nested too deep")
    found = []
    for layer in (config.get("config") or {}).get("layers") or []:
        inner = layer.get("config") or {}
        if isinstance(inner.get("layers"), list):
            found.extend(_layers(layer, depth + 1))
        elif layer.get("class_name") not in SKIPPED_LAYERS:
            settings = ", ".join(f"{key}={_value(inner[key])}" for key in RELEVANT_CONFIG if key in inner)
            found.append(f"{layer.get('class_name')}({settings})")
    return found


def _optimizer(compile_config: dict) -> str | None:
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, str):
        return optimizer.lower()
    if not isinstance(optimizer, dict):
        return None
    rate = (optimizer.get("config") or {}).get("learning_rate")
    name = str(optimizer.get("class_name", "?")).lower()
    return f"{name} (learning_rate={_value(rate)})" if rate is not None else name


def _loss(compile_config: dict) -> str | None:
    loss = compile_config.get("loss")
    if isinstance(loss, str):
        return loss
    if not isinstance(loss, dict):
        return None if loss is None else _value(loss)
    settings = loss.get("config") or {}
    name = settings.get("name") or str(loss.get("class_name", "?"))
    return f"{name} (from_logits)" if settings.get("from_logits") else name


def read_recipe(keras_path: Path, history_path: Path | None) -> dict[str, Any]:
    """``{"layers", "optimizer", "loss", "epochs", "logged"}`` of one exported model and its History."""
    with zipfile.ZipFile(keras_path) as archive:
        info = archive.getinfo(CONFIG_MEMBER)
        if info.file_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{CONFIG_MEMBER} larger than {MAX_CONFIG_BYTES} bytes")
        config = json.loads(archive.read(info))
    compile_config = config.get("compile_config") or {}
    recipe: dict[str, Any] = {"layers": _layers(config), "optimizer": _optimizer(compile_config),
                              "loss": _loss(compile_config), "epochs": None, "logged": []}
    if history_path is not None and history_path.is_file() and history_path.stat().st_size <= MAX_HISTORY_BYTES:
        history = json.loads(history_path.read_text(encoding="utf-8"))
        if isinstance(history, dict) and history:
            recipe["epochs"] = max((len(values) for values in history.values() if isinstance(values, list)),
                                   default=None)
            recipe["logged"] = sorted(str(key) for key in history)
    return recipe


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def histories_of(contract: dict[str, str]) -> dict[str, str]:
    """Keras model -> the History exported for it: the one history whose name starts with the same word."""
    models = [name for name, kind in contract.items() if kind == "keras_model"]
    histories = [name for name, kind in contract.items() if kind == "history"]
    matched = {}
    for model in models:
        same = [h for h in histories if h.split("_")[0] == model.split("_")[0]]
        if len(same) == 1:
            matched[model] = same[0]
    return matched


def compare_recipes(work_dir: Path, students: list[str], contract: dict[str, str], options,
                    cap: int) -> dict[str, Any]:
    """Pairs sharing a rare architecture-plus-recipe fingerprint per model, and the baseline per model."""
    work_dir = Path(work_dir)
    histories = histories_of(contract)
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)   # model -> student -> recipe
    notes = []
    for student in students:
        folder = work_dir / student / "artifacts"
        for model in (name for name, kind in contract.items() if kind == "keras_model"):
            path = folder / f"{model}.keras"
            if path.is_symlink() or not path.is_file():
                continue
            history = folder / f"{histories[model]}.history.json" if model in histories else None
            try:
                found[model][student] = read_recipe(path, history)
            except Exception:  # noqa: BLE001 - a damaged or odd file costs only this model's evidence
                notes.append({"student": student, "model": model, "reason": "unreadable"})
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    per_model = {}
    for model, by_student in sorted(found.items()):
        architectures: dict[str, list[str]] = defaultdict(list)
        recipes: dict[str, list[str]] = defaultdict(list)
        for student, recipe in by_student.items():
            architectures[_digest(recipe["layers"])].append(student)
            recipes[_digest(recipe)].append(student)
        limit = min(cap, len(by_student) // 2)
        common = {student for holders in architectures.values() if len(holders) > limit for student in holders}
        shared = 0
        for holders in recipes.values():
            if len(holders) < 2 or holders[0] in common:
                continue
            shared += 1
            if len(holders) > options.recipe_group_max:
                continue
            holders.sort()
            recipe = by_student[holders[0]]
            evidence = {"model": model, "holders": len(holders), "students": len(by_student),
                        "layers": len(recipe["layers"]), "optimizer": recipe["optimizer"], "loss": recipe["loss"],
                        "epochs": recipe["epochs"]}
            for i in range(len(holders)):
                for j in range(i + 1, len(holders)):
                    record = pairs.setdefault((holders[i], holders[j]),
                                              {"flagged": True, "reasons": ["recipe_identical"], "recipe": []})
                    record["recipe"].append(evidence)
        per_model[model] = {"students": len(by_student), "architectures": len(architectures), "recipes": len(recipes),
                            "largest_architecture_group": max(map(len, architectures.values())),
                            "common_limit": limit, "common_architecture_students": len(common),
                            "shared_recipes": shared, "history": histories.get(model)}
    return {"baseline": {"group_max": options.recipe_group_max, "notes": notes, "per_model": per_model},
            "pairs": pairs}
