"""Trained models handed in twice: the weight arrays of each ``<workdir>/<student>/artifacts/<name>.keras``.

A ``.keras`` file is a zip whose ``model.weights.h5`` holds one dataset per variable; it is read as
data (h5py over the zip member, never Keras deserialisation), so nothing in it runs.

- identical: the same multiset of arrays (SHA-256 of shape, dtype and bytes of each array, sorted,
  hashed again): layer names, which Keras numbers by creation order, do not matter;
- near-identical: the same shapes and a relative L2 distance below ``NEAR_DISTANCE`` between fixed
  samples of every array (up to ``SAMPLE`` values each), i.e. the same weights fine-tuned a little,
  rounded or re-saved.

The graded artifacts come from the grader's own run of each notebook, with the notebook's seed and
deterministic ops: the same architecture trained by the same code gives the same weights. So the
given CNN, trained with the prescribed recipe, is identical for many honest students; a weight hash
held by more than the batch's common cap of students counts for nobody (like a common code
fingerprint), and an identical model of the free parts (the improved CNN, the autoencoder) mostly
confirms identical code.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_MEMBER = "model.weights.h5"
MAX_MEMBER_BYTES = 1 << 30
SAMPLE = 512
NEAR_DISTANCE = 0.01


def read_weights(path: Path) -> list[np.ndarray]:
    """The weight arrays of a ``.keras`` file, in no particular order."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(WEIGHTS_MEMBER)
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"{WEIGHTS_MEMBER} larger than {MAX_MEMBER_BYTES} bytes")
        data = archive.read(info)
    arrays: list[np.ndarray] = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        def visit(_name, node):
            if isinstance(node, h5py.Dataset) and node.shape is not None and node.dtype.kind in "fiub":
                arrays.append(np.asarray(node[()]))
        weights.visititems(visit)
    return arrays


def _array_hash(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def model_fingerprint(arrays: list[np.ndarray]) -> dict[str, Any]:
    """Content hash, shape signature and sketch (fixed samples of each array, in a naming-free order)."""
    keyed = sorted(arrays, key=lambda a: (a.shape, a.dtype.str, round(float(np.linalg.norm(a.astype("float64"))), 3)))
    content = hashlib.sha256("".join(sorted(_array_hash(a) for a in arrays)).encode()).hexdigest()
    parts = []
    for array in keyed:
        flat = array.astype("float64").ravel()
        if flat.size > SAMPLE:
            seed = int(hashlib.sha256(str(array.shape).encode()).hexdigest()[:8], 16)
            flat = flat[np.random.default_rng(seed).choice(flat.size, SAMPLE, replace=False)]
        parts.append(flat)
    sketch = np.concatenate(parts) if parts else np.zeros(0)
    return {"hash": content, "signature": tuple((a.shape, a.dtype.str) for a in keyed), "sketch": sketch,
            "parameters": int(sum(a.size for a in arrays))}


def _distance(x: np.ndarray, y: np.ndarray) -> float:
    scale = max(np.linalg.norm(x), np.linalg.norm(y), 1e-12)
    return float(np.linalg.norm(x - y) / scale)


def compare_models(work_dir: Path, students: list[str], cap: int) -> dict[str, Any]:
    """Pairs with identical / near-identical weights per model name, and the batch's baseline; a weight
    hash more than ``cap`` students hold counts for nobody."""
    work_dir = Path(work_dir)
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)   # model -> student -> fingerprint
    notes = []
    for student in students:
        folder = work_dir / student / "artifacts"
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.keras")):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                found[path.stem][student] = model_fingerprint(read_weights(path))
            except Exception:  # noqa: BLE001 - a damaged or odd file costs only this model
                notes.append({"student": student, "model": path.stem, "reason": "unreadable"})
    with_models = {s for by_student in found.values() for s in by_student}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    baseline: dict[str, Any] = {"students": len(with_models), "common_cap": cap, "near_distance": NEAR_DISTANCE,
                                "notes": notes, "per_model": {}}

    def entry(a: str, b: str) -> dict[str, Any]:
        key = (a, b) if a <= b else (b, a)
        return pairs.setdefault(key, {"flagged": False, "reasons": [], "identical": [], "near": [],
                                      "common_identical": []})

    for model, by_student in sorted(found.items()):
        groups: dict[str, list[str]] = defaultdict(list)
        for student, print_ in by_student.items():
            groups[print_["hash"]].append(student)
        common = {h for h, holders in groups.items() if len(holders) > cap}
        for h, holders in groups.items():
            holders.sort()
            for i in range(len(holders)):
                for j in range(i + 1, len(holders)):
                    record = entry(holders[i], holders[j])
                    if h in common:
                        record["common_identical"].append(model)
                    else:
                        record["identical"].append(model)
                        record["flagged"] = True
                        reason = "weights_identical"
                        if reason not in record["reasons"]:
                            record["reasons"].append(reason)
        # near-identical: same shapes, different hashes, small distance between the sketches
        by_signature: dict[tuple, list[str]] = defaultdict(list)
        for student, print_ in by_student.items():
            by_signature[print_["signature"]].append(student)
        distances = []
        for members in by_signature.values():
            members.sort()
            for i in range(len(members)):
                for j in range(i + 1, len(members)):
                    x, y = by_student[members[i]], by_student[members[j]]
                    if x["hash"] == y["hash"]:
                        continue
                    distance = _distance(x["sketch"], y["sketch"])
                    distances.append(distance)
                    if distance < NEAR_DISTANCE:
                        record = entry(members[i], members[j])
                        record["near"].append({"model": model, "distance": round(distance, 6)})
                        record["flagged"] = True
                        if "weights_near" not in record["reasons"]:
                            record["reasons"].append("weights_near")
        largest = max((len(h) for h in groups.values()), default=0)
        baseline["per_model"][model] = {
            "students": len(by_student), "distinct": len(groups), "largest_identical_group": largest,
            "common_hashes": len(common),
            "median_distance": round(float(np.median(distances)), 4) if distances else None,
            "parameters": max((p["parameters"] for p in by_student.values()), default=0)}
    # only pairs with evidence worth showing: flagged, or identical only in common groups (kept out of the list)
    shown = {key: value for key, value in pairs.items() if value["flagged"]}
    return {"students": len(with_models), "baseline": baseline, "pairs": shown}
