"""Classifier checks over predictions exported from the student's kernel and labels it never saw."""

from __future__ import annotations

import math

import numpy as np

from grader.checks.outcome import CheckOutcome, linear_credit
from grader.i18n import joined, msg
from grader.metrics import accuracy, labels_from_scores

NOISE_SIGMAS = 2.0  # a difference within two standard errors is noise, not a worse model


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class; predictions outside [0, classes) are left out."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    valid = (predicted >= 0) & (predicted < classes)
    np.add.at(matrix, (labels[valid], predicted[valid]), 1)
    return matrix


def classification_details(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """The confusion matrix and per-class accuracy over the classes of the held-out labels (0 to the
    largest label)."""
    classes = int(labels.max()) + 1 if labels.size else 0
    matrix = confusion_matrix(predicted, labels, classes)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {"confusion_matrix": matrix.tolist(), "per_class_accuracy": [round(float(v), 4) for v in per_class]}


def _predicted_labels(scores: np.ndarray, labels: np.ndarray) -> np.ndarray | CheckOutcome:
    scores = np.asarray(scores)
    if scores.dtype.kind == "f" and not np.all(np.isfinite(scores)):
        return CheckOutcome(0.0, msg("not_finite"))
    predicted = labels_from_scores(scores)
    if predicted.shape[0] != labels.shape[0]:
        return CheckOutcome(0.0, msg("prediction_count", got=predicted.shape[0], expected=labels.shape[0]))
    return predicted


def check_accuracy(scores: np.ndarray, labels: np.ndarray, zero_at: float, full_at: float) -> CheckOutcome:
    """Linear partial credit between ``zero_at`` and ``full_at`` accuracy."""
    predicted = _predicted_labels(scores, labels)
    if isinstance(predicted, CheckOutcome):
        return predicted
    value = accuracy(predicted, labels)
    details = {"accuracy": round(value, 4), "zero_at": round(zero_at, 4), "full_at": round(full_at, 4),
               **classification_details(predicted, labels)}
    text = msg("accuracy", accuracy=value, zero_at=zero_at, full_at=full_at)
    return CheckOutcome(linear_credit(value, zero_at, full_at), text, details)


def paired_noise(predicted: np.ndarray, base: np.ndarray, labels: np.ndarray) -> float:
    """Two standard errors of the accuracy difference of two classifiers on the same images: the
    paired (McNemar) estimate, from the images exactly one of the two gets right."""
    discordant = np.count_nonzero((predicted == labels) != (base == labels))
    return NOISE_SIGMAS * math.sqrt(discordant) / max(len(labels), 1)


def check_improvement(scores: np.ndarray, base_scores: np.ndarray, labels: np.ndarray, zero_at: float,
                      full_at: float) -> CheckOutcome:
    """The improved model must not be worse than the student's own base CNN; credit then grows with
    accuracy. "Worse" means beyond the noise of the held-out set: two training runs of one notebook on
    a GPU (not deterministic) differ by a few hundredths of a point, and that must not cost the point.
    Identical predictions (the base model handed in again) are no improvement at all."""
    outcome = check_accuracy(scores, labels, zero_at, full_at)
    base = _predicted_labels(base_scores, labels)
    if "accuracy" not in outcome.details:
        return outcome
    predicted = labels_from_scores(np.asarray(scores))
    if isinstance(base, CheckOutcome):
        base, base_accuracy, noise = None, 0.0, 0.0
    else:
        base_accuracy, noise = accuracy(base, labels), paired_noise(predicted, base, labels)
    improved = outcome.details["accuracy"]
    details = {**outcome.details, "base_accuracy": round(base_accuracy, 4), "noise": round(noise, 4)}
    values = {"accuracy": improved, "base": base_accuracy, "noise": noise}
    if improved < base_accuracy - noise or (base is not None and np.array_equal(predicted, base)):
        return CheckOutcome(0.0, msg("not_beats_base", **values), details)
    key = "beats_base" if improved > base_accuracy else "ties_base"
    return CheckOutcome(outcome.fraction, joined([msg(key, **values), outcome.message]), details)


def looks_like_raw_pixels(features: np.ndarray, images: np.ndarray) -> bool:
    """True when the 'features' are the images' pixels, flattened and possibly rescaled."""
    features = np.asarray(features, dtype="float64").reshape(len(features), -1)
    pixels = np.asarray(images, dtype="float64").reshape(len(images), -1)
    if features.shape != pixels.shape:
        return False
    a, b = features.ravel(), pixels.ravel()
    if a.std() == 0 or b.std() == 0:
        return False
    return float(np.corrcoef(a, b)[0, 1]) > 0.999


def check_svm_hog(predicted: np.ndarray, features: np.ndarray, images: np.ndarray, labels: np.ndarray,
                  zero_at: float, full_at: float) -> CheckOutcome:
    if looks_like_raw_pixels(features, images):
        outcome = check_accuracy(predicted, labels, zero_at, full_at)
        return CheckOutcome(0.0, joined([msg("raw_pixels"), outcome.message]), outcome.details)
    return check_accuracy(predicted, labels, zero_at, full_at)
