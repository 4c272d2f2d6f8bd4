"""Training on the test split, seen from outside the kernel.

The grader scores a classifier on the secret part of a dataset's test split, which the student's
kernel never had (:mod:`grader.heldout`). It also measures the model on a sample of the same size of
the test images the student did have. An honest model does equally well on both, up to sampling
noise; a model that was trained (or tuned) on the test split does better on the part it saw. Points
are never taken for the gap (they are earned on the secret part alone): it is flagged for review.
"""

from __future__ import annotations

import math

import numpy as np

from grader.i18n import joined, msg
from grader.checks.outcome import CheckOutcome
from grader.metrics import labels_from_scores

# One-sided z of a two-proportion test: an honest model is flagged about 3 times in 100,000.
GAP_Z = 4.0
# Below this absolute gap (1 point of accuracy) a difference does not change a grade: never flagged.
MIN_GAP = 0.01


def split_gap(seen_correct: np.ndarray, secret_correct: np.ndarray) -> dict:
    """Accuracy on the seen sample, on the secret part, their gap and the gap beyond which it is no
    sampling noise (``max(MIN_GAP, GAP_Z * standard error)``, pooled two-proportion test)."""
    seen, secret = np.asarray(seen_correct, dtype=bool), np.asarray(secret_correct, dtype=bool)
    pooled = (seen.sum() + secret.sum()) / (len(seen) + len(secret))
    error = math.sqrt(pooled * (1 - pooled) * (1 / len(seen) + 1 / len(secret)))
    gap, threshold = float(seen.mean() - secret.mean()), max(MIN_GAP, GAP_Z * error)
    return {"seen": round(float(seen.mean()), 4), "secret": round(float(secret.mean()), 4), "gap": round(gap, 4),
            "threshold": round(threshold, 4), "seen_items": len(seen), "secret_items": len(secret),
            "flag": gap > threshold}


def with_test_split_gap(outcome: CheckOutcome, secret_scores: np.ndarray | None, secret_labels: np.ndarray,
                        seen_scores: np.ndarray | None, seen_labels: np.ndarray | None) -> CheckOutcome:
    """``outcome`` of an accuracy check with the gap in its details (``test_split``) and, when the gap is
    beyond chance, a sentence saying so; the points stay what the secret part earned. Without the
    model's outputs on both parts (e.g. a model the grader could not rebuild) it is returned as is."""
    if secret_scores is None or seen_scores is None or seen_labels is None:
        return outcome
    secret_scores, seen_scores = np.asarray(secret_scores), np.asarray(seen_scores)
    if len(secret_scores) != len(secret_labels) or len(seen_scores) != len(seen_labels):
        return outcome
    gap = split_gap(labels_from_scores(seen_scores) == seen_labels,
                         labels_from_scores(secret_scores) == secret_labels)
    details = {**outcome.details, "test_split": gap}
    if not gap["flag"]:
        return CheckOutcome(outcome.fraction, outcome.message, details)
    flag = msg("test_split_gap", **{k: gap[k] for k in ("seen", "secret", "gap", "threshold")})
    return CheckOutcome(outcome.fraction, joined([outcome.message, flag]), details)
