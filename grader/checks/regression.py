"""Regression checks: a model's predictions on held-out points against targets it never saw."""

from __future__ import annotations

import numpy as np

from grader.checks.outcome import CheckOutcome, linear_credit
from grader.i18n import msg


def check_regression(predictions: np.ndarray, targets: np.ndarray, zero_at: float, full_at: float) -> CheckOutcome:
    """Linear credit on the mean absolute error: full at ``full_at`` or less, none at ``zero_at`` or more
    (``zero_at > full_at``); the RMSE is reported beside it."""
    values = np.asarray(predictions, dtype="float64")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != len(targets):
        return CheckOutcome(0.0, msg("prediction_count", got=int(values.shape[0]) if values.ndim else 1,
                                     expected=int(len(targets))))
    if not np.all(np.isfinite(values)):
        return CheckOutcome(0.0, msg("not_finite"))
    errors = values - np.asarray(targets, dtype="float64")
    mae, rmse = float(np.mean(np.abs(errors))), float(np.sqrt(np.mean(errors ** 2)))
    details = {"mae": round(mae, 4), "rmse": round(rmse, 4), "zero_at": round(zero_at, 4), "full_at": round(full_at, 4)}
    return CheckOutcome(linear_credit(mae, zero_at, full_at),
                        msg("regression_error", mae=mae, rmse=rmse, full_at=full_at, zero_at=zero_at), details)
