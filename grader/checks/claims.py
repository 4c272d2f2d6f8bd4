"""Claimed vs measured: what the student's notebook reported about a model (the accuracy a cell
that evaluates it printed, else its Keras History) against what the grader measured on held-out
images, and the likely cause when they disagree."""

from __future__ import annotations

import re
from typing import Iterable

from grader.i18n import joined, msg
from grader.checks.outcome import CheckOutcome

ACCURACY_KEYS = ("val_accuracy", "val_acc", "val_sparse_categorical_accuracy", "val_categorical_accuracy",
                 "accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
# Beyond this gap (claimed above measured) the disagreement is no noise of a small held-out set or
# of an epoch's running average: the model is being fed other inputs than it was trained on.
CLAIM_GAP = 0.10
# An accuracy as students print it: Keras' progress line ("accuracy: 0.9876"), print("Test accuracy:",
# acc), f"Precisión en test: {acc:.2%}" (Spanish decimal comma too). Up to 40 characters between the
# word and the number; numbers above 1 are percentages.
_PRINTED_ACCURACY = re.compile(r"(?:accuracy|\bacc\b|precisi[oó]n|exactitud|acierto)[^\d\n]{0,40}?(\d+(?:[.,]\d+)?)",
                               re.IGNORECASE)


def claimed_accuracy(history: dict | None) -> tuple[float, str] | None:
    """(last value, History key) of the first accuracy the History recorded, validation first."""
    for key in ACCURACY_KEYS:
        values = [v for v in (history or {}).get(key) or [] if v is not None]
        if values:
            return float(values[-1]), key
    return None


def printed_accuracy(cells: Iterable[tuple[str, str]], name: str) -> dict | None:
    """``{"claimed", "cell"}``: the last accuracy printed by the last code cell that calls
    ``<name>.evaluate(...)``; ``cells`` are (source, printed text) of every cell, in notebook order
    (``cell`` is the 1-based position). None when no such cell printed an accuracy."""
    evaluates = re.compile(rf"\b{re.escape(name)}\s*\.\s*evaluate\s*\(")
    found = None
    for position, (source, text) in enumerate(cells, start=1):
        if not evaluates.search(source):
            continue
        values = [float(number.replace(",", ".")) for number in _PRINTED_ACCURACY.findall(text)]
        values = [v / 100 if 1 < v <= 100 else v for v in values if 0 <= v <= 100]
        if values:
            found = {"claimed": values[-1], "cell": position}
    return found


def with_claim(outcome: CheckOutcome, history: dict | None, printed: dict | None = None) -> CheckOutcome:
    """``outcome`` of an accuracy check, flagged when the notebook's own claim (``printed``: what a cell
    evaluating the model printed, see :func:`printed_accuracy`; else its History) is clearly above
    what the grader measured; the points are the measured ones (the statement fixes the inputs)."""
    measured = outcome.details.get("accuracy")
    if printed is not None:
        claimed, source = float(printed["claimed"]), msg("claim_printed", cell=printed["cell"])
    elif (claim := claimed_accuracy(history)) is not None:
        claimed, source = claim[0], msg("claim_history", metric=claim[1])
    else:
        return outcome
    if measured is None:
        return outcome
    details = {**outcome.details, "claim": {"claimed": round(claimed, 4), "source_text": source,
                                            "measured": round(float(measured), 4),
                                            "flag": claimed - measured > CLAIM_GAP}}
    if claimed - measured <= CLAIM_GAP:
        return CheckOutcome(outcome.fraction, outcome.message, details)
    flag = msg("claim_gap", claimed=claimed, source=source, measured=measured)
    return CheckOutcome(outcome.fraction, joined([outcome.message, flag]), details)
