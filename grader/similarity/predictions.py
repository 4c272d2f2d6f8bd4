"""Classifiers that make the same mistakes: agreement of predicted labels on the held-out set.

The scorer keeps what each classifier predicted on labelled held-out inputs in
``<workdir>/<student>/predictions.json`` (:data:`grader.scoring.PREDICTIONS_FILE`:
``{name: {"input", "labels", "predicted": [int, ...]}}``); the labels are in the grader's answers
folder (:func:`grader.heldout.answers_folder`), which the student's kernel never sees.

Two good models agree on ~98 % of the images because both are right there; their mistakes are what
tells them apart. Per pair and model: among the images at least one of the two gets wrong, the
fraction where both give the same wrong label (``score``), and how many images that is
(``same_wrong``). A pair is flagged when ``score >= min(1, max(floor, max(reference, batch) + margin))``
and ``same_wrong >= min_shared_errors``, where

- ``reference`` is the most two independent trainings of the reference model shared (different seeds,
  the same held-out items: ``reference_solutions/<assignment>/prediction_agreement.json``, written by
  ``bench/prediction_baseline.py``), used for the objects applied to the held-out set it was measured on;
- ``batch`` is this batch's own threshold for that model: median + k · 1.4826 · MAD over its pairs.

Identical predictions held by more than the common cap of students (the given CNN trained with the
prescribed seed gives the same model, hence the same predictions) count for nobody and stay out of the
batch's distribution, like a common weight hash. A model right on fewer than ``min_prediction_accuracy``
of the images is not compared: two broken models agree on everything.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from grader.heldout import answers_folder
from grader.scoring import PREDICTIONS_FILE

REFERENCE_AGREEMENT_FILE = "prediction_agreement.json"   # in the assignment's reference_solutions folder
MAX_FILE_BYTES = 64 * 2**20
ANSWER_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def pairwise_error_agreement(predicted: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """For every pair of rows of ``predicted`` (models × images), as matrices: images either gets
    wrong, both get wrong, both with the same wrong label, and ``score`` = same / either (0 if none)."""
    from scipy import sparse

    predicted = np.asarray(predicted, dtype="int64")
    rows, images = np.nonzero(predicted != labels)
    wrong_labels = predicted[rows, images]
    low = int(wrong_labels.min(initial=0))
    span = int(wrong_labels.max(initial=low)) - low + 1   # one column per (image, wrong label)
    ones = np.ones(len(rows), dtype="float64")
    shape = (len(predicted), predicted.shape[1])
    wrong = sparse.csr_matrix((ones, (rows, images)), shape=shape)
    answers = sparse.csr_matrix((ones, (rows, images * span + wrong_labels - low)), shape=(shape[0], shape[1] * span))
    both = np.rint((wrong @ wrong.T).toarray()).astype("int64")
    same = np.rint((answers @ answers.T).toarray()).astype("int64")
    errors = np.diag(both)
    either = errors[:, None] + errors[None, :] - both
    score = np.divide(same, either, out=np.zeros(same.shape), where=either > 0)
    return {"either_wrong": either, "both_wrong": both, "same_wrong": same, "score": score}


def read_reference(path: Path) -> dict[str, Any] | None:
    """The committed reference figures, or None when this checkout has none (or they cannot be read)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return data if isinstance(data.get("references"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def _reference_for(reference: dict[str, Any] | None, heldout_seed: int, source: str,
                   items: int) -> dict[str, Any] | None:
    """The largest reference agreement measured on these very held-out items, with its provenance."""
    heldout = (reference or {}).get("heldout") or {}
    if heldout.get("seed") != heldout_seed or heldout.get("set") != source or heldout.get("items") != items:
        return None
    best = None
    for name, entry in reference["references"].items():
        try:
            figures = entry["same_wrong_fraction"]
            candidate = {"model": name, "max": float(figures["max"]), "mean": float(figures["mean"]),
                         "pairs": int(entry["pairs"]), "command": reference.get("command"),
                         "date": reference.get("date")}
        except (KeyError, TypeError, ValueError):
            continue
        if best is None or candidate["max"] > best["max"]:
            best = candidate
    return best


def _read_student(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """model -> (predicted, labels, held-out set: input and labels digest) of one student; raises
    ValueError, KeyError, TypeError or OSError when something is unreadable."""
    path = folder / PREDICTIONS_FILE
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{PREDICTIONS_FILE} larger than {MAX_FILE_BYTES} bytes")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"{PREDICTIONS_FILE} is not an object")
    labels_of: dict[str, tuple[np.ndarray, str]] = {}
    found = {}
    for model, entry in data.items():
        name = entry["labels"]
        if not isinstance(name, str) or not ANSWER_NAME.fullmatch(name):
            raise ValueError(f"{model}: labels name {name!r}")
        if name not in labels_of:
            labels = np.load(answers_folder(folder) / f"{name}.npy", allow_pickle=False).astype("int64").reshape(-1)
            labels_of[name] = (labels, hashlib.sha256(labels.tobytes()).hexdigest())
        labels, digest = labels_of[name]
        predicted = np.asarray(entry["predicted"], dtype="int64").reshape(-1)
        if predicted.shape != labels.shape:
            raise ValueError(f"{model}: {predicted.size} predictions for {labels.size} labels")
        found[model] = (predicted, labels, f"{entry.get('input')}|{digest}")
    return found


def compare_predictions(work_dir: Path, students: list[str], options, cap: int, *, heldout_seed: int,
                        reference: dict[str, Any] | None) -> dict[str, Any]:
    """Pairs whose classifiers share unusually many wrong answers, per model, and the baselines."""
    work_dir = Path(work_dir)
    by_model: dict[str, dict[str, tuple[np.ndarray, np.ndarray, str]]] = defaultdict(dict)
    notes, with_predictions = [], 0
    for student in students:
        if not (work_dir / student / PREDICTIONS_FILE).is_file():
            continue
        try:
            for model, found in _read_student(work_dir / student).items():
                by_model[model][student] = found
            with_predictions += 1
        except Exception:  # noqa: BLE001 - a damaged file costs only this student's evidence
            notes.append({"student": student, "model": PREDICTIONS_FILE, "reason": "unreadable"})
    baseline: dict[str, Any] = {"students": with_predictions, "margin": options.prediction_margin,
                                "floor": options.prediction_floor,
                                "min_shared_errors": options.min_shared_errors,
                                "min_accuracy": options.min_prediction_accuracy, "notes": notes, "per_model": {}}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for model, found in sorted(by_model.items()):
        # one held-out set per comparison: the one most students were scored on (a re-grade after the
        # held-out settings changed leaves the others out, with a note)
        usual = Counter(held_out for _, _, held_out in found.values()).most_common(1)[0][0]
        members = sorted(s for s, (_, _, held_out) in found.items() if held_out == usual)
        notes.extend({"student": student, "model": model, "reason": "other_heldout"}
                     for student in sorted(set(found) - set(members)))
        summary, flagged = _compare_model(model, members, found, options, cap,
                                          _reference_for(reference, heldout_seed, usual.split("|")[0],
                                                         len(found[members[0]][1])))
        baseline["per_model"][model] = summary
        for pair, evidence in flagged.items():
            record = pairs.setdefault(pair, {"flagged": True, "reasons": ["predictions_agree"], "predictions": []})
            record["predictions"].append(evidence)
    return {"baseline": baseline, "pairs": pairs}


def _compare_model(model: str, members: list[str], found, options, cap: int,
                   reference: dict[str, Any] | None) -> tuple[dict[str, Any], dict[tuple[str, str], dict]]:
    from grader.similarity import batch_baseline

    labels = found[members[0]][1]
    predicted = np.stack([found[s][0] for s in members])
    accuracy = (predicted == labels).mean(axis=1)
    compared = [i for i in range(len(members)) if accuracy[i] >= options.min_prediction_accuracy]
    stats = pairwise_error_agreement(predicted[compared], labels)
    holders: dict[bytes, list[int]] = defaultdict(list)
    for position, row in enumerate(compared):
        holders[hashlib.sha256(predicted[row].tobytes()).digest()].append(position)
    common_group = {position: number for number, group in enumerate(holders.values()) if len(group) > cap
                    for position in group}
    scores = {(x, y): float(stats["score"][x, y]) for x in range(len(compared)) for y in range(x + 1, len(compared))
              if x not in common_group or common_group[x] != common_group.get(y)}
    batch = batch_baseline(scores, len(scores), 0.0, options.k_mad)
    independent = max(batch["threshold"], reference["max"] if reference else 0.0)
    threshold = min(1.0, max(options.prediction_floor, independent + options.prediction_margin))
    flagged = {}
    for (x, y), score in scores.items():
        same = int(stats["same_wrong"][x, y])
        if score >= threshold and same >= options.min_shared_errors:
            flagged[(members[compared[x]], members[compared[y]])] = {
                "model": model, "score": round(score, 4), "same_wrong": same,
                "either_wrong": int(stats["either_wrong"][x, y]), "both_wrong": int(stats["both_wrong"][x, y]),
                "images": int(len(labels)), "accuracy_a": round(float(accuracy[compared[x]]), 4),
                "accuracy_b": round(float(accuracy[compared[y]]), 4), "threshold": round(threshold, 4)}
    summary = {"students": len(members), "compared": len(compared), "images": int(len(labels)),
               "common_identical_students": len(common_group), "batch": batch, "reference": reference,
               "threshold": round(threshold, 4), "median_accuracy": round(float(np.median(accuracy)), 4)}
    return summary, flagged
