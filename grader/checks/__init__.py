"""Checks: small pure functions over exported artifacts (summaries, predictions, images).

Each returns a :class:`CheckOutcome` (a fraction of the check's points and a message); the caller
(a hidden pytest test in the grader's process, or the student's self-check) turns it into points.
"""

from grader.checks.outcome import CheckOutcome

__all__ = ["CheckOutcome"]
