from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.i18n import Message


@dataclass(frozen=True)
class CheckOutcome:
    """What a check found: ``fraction`` of its points (0..1), a message (its key form: the caller
    renders it in the reader's language), and details for the report."""

    fraction: float
    message: Message
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0

    def _ipython_display_(self) -> None:
        """Shown as the last expression of a cell (``check(...)``): the table was already printed."""


def linear_credit(value: float, zero_at: float, full_at: float) -> float:
    """0 at ``zero_at`` or worse, 1 at ``full_at`` or better, linear in between; better is higher when
    ``full_at > zero_at`` (an accuracy) and lower when ``full_at < zero_at`` (an error)."""
    if full_at < zero_at:
        return linear_credit(-value, -zero_at, -full_at)
    if value >= full_at:
        return 1.0
    if value <= zero_at:
        return 0.0
    return (value - zero_at) / (full_at - zero_at)
