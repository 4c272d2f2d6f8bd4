"""The classifier checks as pure functions: predictions and labels in, credit and message out."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks.accuracy import check_accuracy, check_improvement, paired_noise
from grader.i18n import render

N = 5000
LABELS = np.arange(N) % 10


def predictions_with_errors(wrong: np.ndarray) -> np.ndarray:
    """Labels for LABELS, wrong (shifted by one class) exactly at the indices ``wrong``."""
    predicted = LABELS.copy()
    predicted[wrong] = (predicted[wrong] + 1) % 10
    return predicted


def test_accuracy_credit_is_linear_between_the_bounds():
    half = predictions_with_errors(np.arange(250))  # 0.95
    outcome = check_accuracy(half, LABELS, zero_at=0.90, full_at=1.0)
    assert outcome.details["accuracy"] == 0.95
    assert outcome.fraction == pytest.approx(0.5)
    assert check_accuracy(LABELS, LABELS, 0.9, 0.99).passed


def test_an_improved_model_within_the_noise_of_the_base_keeps_its_credit():
    # Two GPU runs of one notebook: 0.9848 vs 0.9852, their errors mostly on different images.
    improved = predictions_with_errors(np.arange(0, 76))
    base = predictions_with_errors(np.arange(40, 114))
    outcome = check_improvement(improved, base, LABELS, zero_at=0.95, full_at=0.98)
    assert outcome.details["accuracy"] == 0.9848 and outcome.details["base_accuracy"] == 0.9852
    assert outcome.details["noise"] == pytest.approx(2 * np.sqrt(40 + 38) / N, abs=1e-4)
    assert outcome.passed and "no se distingue de la CNN base" in render(outcome.message, "es")


def test_an_improved_model_clearly_worse_than_the_base_gets_nothing():
    improved = predictions_with_errors(np.arange(0, 150))  # 0.97
    base = predictions_with_errors(np.arange(0, 50))       # 0.99
    outcome = check_improvement(improved, base, LABELS, zero_at=0.90, full_at=0.96)
    assert outcome.fraction == 0.0
    assert render(outcome.message, "en") == "the improved model (0.9700) does not beat the base CNN (0.9900)"


def test_the_base_model_handed_in_again_is_no_improvement():
    same = predictions_with_errors(np.arange(0, 60))
    outcome = check_improvement(same, same.copy(), LABELS, zero_at=0.90, full_at=0.96)
    assert outcome.fraction == 0.0 and "no supera" in render(outcome.message, "es")


def test_a_better_model_gets_the_credit_its_accuracy_earns():
    improved = predictions_with_errors(np.arange(0, 40))   # 0.992
    base = predictions_with_errors(np.arange(0, 100))      # 0.98
    outcome = check_improvement(improved, base, LABELS, zero_at=0.95, full_at=0.995)
    assert render(outcome.message, "es").startswith("el modelo mejorado (0,9920) supera a la CNN base (0,9800)")
    assert outcome.fraction == pytest.approx((0.992 - 0.95) / (0.995 - 0.95))


def test_paired_noise_counts_only_the_images_one_model_gets_right():
    a = predictions_with_errors(np.arange(0, 100))
    assert paired_noise(a, a, LABELS) == 0.0
    b = predictions_with_errors(np.arange(50, 150))
    assert paired_noise(a, b, LABELS) == pytest.approx(2 * np.sqrt(100) / N)
