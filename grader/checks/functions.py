"""Checks of functions the student wrote: values on a grid of points, and Keras' registration.

The grid is a held-out set (``[heldout.sets.<name>] grid = {low, high}``): points drawn with the secret
seed, so a function cannot be a table of the points it is graded on. The expected values come from the
hidden tests (Keras' own activation, automatic differentiation); these functions only compare.
"""

from __future__ import annotations

import numpy as np

from grader.checks.outcome import CheckOutcome
from grader.i18n import Message, joined, msg
from grader.trusted_objects import bare_name, is_registered

RTOL, ATOL = 1e-4, 1e-5  # float32 arithmetic passes; a wrong constant (a slope, an alpha) does not
SHOWN_MISMATCHES = 3     # functions named in the message; the details list all


def compare_on_grid(name: str, values: np.ndarray | Message, grid: np.ndarray, expected: np.ndarray,
                    rtol: float = RTOL, atol: float = ATOL) -> Message | None:
    """None when ``values`` (the function on ``grid``) match ``expected``; else why not, at the first
    point that is off. ``values`` may be the message of an object that is unavailable."""
    if isinstance(values, Message):
        return values
    values = np.asarray(values, dtype="float64").reshape(-1)
    if values.shape != expected.shape:
        return msg("function_shape", name=name, got=int(values.size), expected=int(expected.size))
    finite = np.isfinite(values)
    if not finite.all():
        at = int(np.argmin(finite))
        return msg("function_not_finite", name=name, x=float(grid[at]))
    off = np.abs(values - expected) > atol + rtol * np.abs(expected)
    if not off.any():
        return None
    at = int(np.argmax(off))
    return msg("function_mismatch", name=name, x=float(grid[at]), got=float(values[at]),
               expected=float(expected[at]), share=100 * float(off.mean()))


def check_functions(found: dict[str, np.ndarray | Message], grid: np.ndarray, expected: dict[str, np.ndarray],
                    hints: dict[str, Message] | None = None, rtol: float = RTOL,
                    atol: float = ATOL) -> CheckOutcome:
    """Each function of ``expected`` compared on ``grid``: the share that match is the fraction of the
    points. ``hints``: an extra sentence for a function that is off (the hidden test's diagnosis)."""
    hints = hints or {}
    problems = {name: compare_on_grid(name, found.get(name, msg("not_exported")), grid, wanted, rtol, atol)
                for name, wanted in expected.items()}
    wrong = [name for name, problem in problems.items() if problem is not None]
    details = {"functions": {name: ("ok" if problem is None else "off") for name, problem in problems.items()},
               "grid_points": int(grid.size), "rtol": rtol, "atol": atol}
    passed = len(expected) - len(wrong)
    summary = msg("functions_match", passed=passed, n=len(expected), points=int(grid.size))
    shown = [joined([problems[name], hints[name]]) if name in hints else problems[name]
             for name in wrong[:SHOWN_MISMATCHES]]
    return CheckOutcome(passed / len(expected) if expected else 0.0, joined([summary, *shown]), details)


def check_registered(functions: list[str], model: str, name: str) -> CheckOutcome:
    """The model's archive names ``name`` as a function Keras can find by name in a fresh process:
    registered (``package>name``), as ``keras.saving.register_keras_serializable`` saves it."""
    used = [saved for saved in functions if bare_name(saved) == name]
    details = {"functions": functions}
    if not used:
        return CheckOutcome(0.0, msg("function_not_used", model=model, name=name), details)
    registered = [saved for saved in used if is_registered(saved)]
    if not registered:
        return CheckOutcome(0.0, msg("function_not_registered", model=model, name=name, saved=used[0]), details)
    return CheckOutcome(1.0, msg("function_registered", model=model, saved=registered[0]), details)
