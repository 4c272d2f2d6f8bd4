"""Checks of tables of numbers the student computed (a dict or a DataFrame, exported as JSON).

Rows and columns are found as a fair reader would: names compared without case, spaces, underscores
and accents (``GlorotUniform`` is ``glorot_uniform``, ``Desviación`` is ``desviacion``), a column by any of
the names given for it, or a row given as a list by position.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from grader.checks.outcome import CheckOutcome
from grader.i18n import joined, msg

SHOWN_PROBLEMS = 3


def plain(name: str) -> str:
    """``name`` lower-case, without accents and without anything but letters and digits."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True)
class Expected:
    """One expected cell: its value and how far from it still counts as equal."""

    value: float
    tolerance: float


def _cell(row, column: str, position: int, names: tuple[str, ...]):
    if isinstance(row, dict):
        wanted = {plain(name) for name in (column, *names)}
        return next((value for key, value in row.items() if plain(key) in wanted), None)
    if isinstance(row, list) and position < len(row):
        return row[position]
    return None


def check_table(table: dict, expected: dict[str, dict[str, Expected]], name: str,
                aliases: dict[str, tuple[str, ...]] | None = None) -> CheckOutcome:
    """Each expected row of ``table`` with every column within its tolerance: the share of rows right
    is the fraction of the points. ``aliases``: other names a column may have (``std``: ``desviacion``)."""
    aliases = aliases or {}
    rows = {plain(key): value for key, value in table.items()}
    problems, right = [], 0
    for row_name, columns in expected.items():
        row = rows.get(plain(row_name))
        if row is None:
            problems.append(msg("table_row_missing", name=name, row=row_name))
            continue
        row_problems = []
        for position, (column, wanted) in enumerate(columns.items()):
            got = _cell(row, column, position, aliases.get(column, ()))
            if not isinstance(got, (int, float)) or isinstance(got, bool) or not math.isfinite(got):
                row_problems.append(msg("table_column_missing", name=name, row=row_name, column=column))
            elif abs(got - wanted.value) > wanted.tolerance:
                row_problems.append(msg("table_value_off", name=name, row=row_name, column=column, got=float(got),
                                        expected=wanted.value, tolerance=wanted.tolerance))
        problems += row_problems
        right += not row_problems
    summary = msg("table_rows_match", passed=right, total=len(expected))
    details = {"rows_right": right, "rows": len(expected)}
    return CheckOutcome(right / len(expected) if expected else 0.0, joined([summary, *problems[:SHOWN_PROBLEMS]]),
                        details)


def check_geometric_sweep(table: dict, name: str, x: str, y: str, min_points: int, min_decades: float,
                          ratio_tolerance: float = 0.1) -> CheckOutcome:
    """A sweep (``{x: [...], y: [...]}``) whose ``x`` grows by a constant factor, over at least
    ``min_decades`` powers of ten, with ``min_points`` finite ``y`` values: a learning-rate search."""
    columns = {plain(key): value for key, value in table.items()}
    xs, ys = columns.get(plain(x)), columns.get(plain(y))
    if not isinstance(xs, list) or not isinstance(ys, list):
        return CheckOutcome(0.0, msg("sweep_columns", name=name, x=x, y=y))
    pairs = [(a, b) for a, b in zip(xs, ys) if isinstance(a, (int, float)) and a is not None and a > 0]
    finite = [b for _, b in pairs if isinstance(b, (int, float)) and math.isfinite(b)]
    details = {"points": len(pairs), "finite": len(finite)}
    if len(xs) != len(ys) or len(pairs) < min_points or len(finite) < min_points:
        return CheckOutcome(0.0, msg("sweep_too_short", name=name, got=len(finite), expected=min_points), details)
    ratios = [b[0] / a[0] for a, b in zip(pairs, pairs[1:])]
    middle = sorted(ratios)[len(ratios) // 2]
    decades = math.log10(pairs[-1][0] / pairs[0][0])
    details.update(ratio=round(middle, 4), decades=round(decades, 2))
    if middle <= 1 or any(abs(r / middle - 1) > ratio_tolerance for r in ratios):
        return CheckOutcome(0.0, msg("sweep_not_geometric", name=name, x=x), details)
    if decades < min_decades:
        return CheckOutcome(0.0, msg("sweep_narrow", name=name, x=x, got=decades, expected=min_decades), details)
    return CheckOutcome(1.0, msg("sweep_ok", name=name, points=len(pairs), ratio=middle, decades=decades), details)
