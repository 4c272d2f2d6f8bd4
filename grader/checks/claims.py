"""Claimed vs measured: what the student's notebook reported about a model (its Keras History)
against what the grader measured on held-out images, and the likely cause when they disagree."""

from __future__ import annotations

from grader.checks.messages import message
from grader.checks.outcome import CheckOutcome

ACCURACY_KEYS = ("val_accuracy", "val_acc", "val_sparse_categorical_accuracy", "val_categorical_accuracy",
                 "accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
# Beyond this gap (claimed above measured) the disagreement is no noise of a small held-out set or
# of an epoch's running average: the model is being fed other inputs than it was trained on.
CLAIM_GAP = 0.10


def claimed_accuracy(history: dict | None) -> tuple[float, str] | None:
    """(last value, History key) of the first accuracy the History recorded, validation first."""
    for key in ACCURACY_KEYS:
        values = [v for v in (history or {}).get(key) or [] if v is not None]
        if values:
            return float(values[-1]), key
    return None


def with_claim(outcome: CheckOutcome, history: dict | None, lang: str = "es") -> CheckOutcome:
    """``outcome`` of an accuracy check, flagged when the notebook's own History claims clearly more
    than the grader measured; the points are the measured ones (the statement fixes the inputs)."""
    measured = outcome.details.get("accuracy")
    claim = claimed_accuracy(history)
    if measured is None or claim is None:
        return outcome
    claimed, key = claim
    details = {**outcome.details, "claim": {"claimed": round(claimed, 4), "source": f"History['{key}']",
                                            "measured": round(float(measured), 4),
                                            "flag": claimed - measured > CLAIM_GAP}}
    if claimed - measured <= CLAIM_GAP:
        return CheckOutcome(outcome.fraction, outcome.message, details)
    flag = message(lang, "claim_gap", claimed=claimed, source=f"History['{key}']", measured=measured)
    return CheckOutcome(outcome.fraction, f"{outcome.message}; {flag}", details)
