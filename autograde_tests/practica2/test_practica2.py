"""Práctica 2: every automatically graded check, run by the grader outside the student's kernel.

Each test is one check of assignments/practica2/assignment.toml (points and thresholds live there)
and records its outcome with ``credit``. Fixtures come from ``grader.score.GradingPlugin``. The expected
values of the activation functions are Keras' own and TensorFlow's automatic differentiation on the
secret grid; the initializers' are the theoretical moments, with tolerances from sampling noise.
"""

import math

import numpy as np
import pytest

from grader.artifacts import ObjectUnavailable
from grader.checks import CheckOutcome
from grader.checks.accuracy import check_accuracy
from grader.checks.architecture import compare_architecture, compare_parameters
from grader.checks.functions import check_functions, check_registered
from grader.checks.regression import check_regression
from grader.checks.rules import check_rules
from grader.checks.tables import Expected, check_geometric_sweep, check_table
from grader.i18n import joined, msg

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "softsign")
LEAKY_SLOPE = 0.2  # keras.activations.leaky_relu's default, stated in the notebook
RELU_0_3_SLOPE = 0.3

# Ejercicio 3: the kernel of Dense(1000) on 1000 inputs, seed free: each initializer's theoretical
# standard deviation (uniform on [-b, b]: b / sqrt(3)).
FAN = 1000
WEIGHTS = FAN * FAN
THEORETICAL_STD = {
    "random_uniform": 0.05 / math.sqrt(3), "random_normal": 0.05,
    "glorot_uniform": math.sqrt(6 / (2 * FAN)) / math.sqrt(3), "glorot_normal": math.sqrt(2 / (2 * FAN)),
    "he_uniform": math.sqrt(6 / FAN) / math.sqrt(3), "he_normal": math.sqrt(2 / FAN),
    "lecun_uniform": math.sqrt(3 / FAN) / math.sqrt(3), "lecun_normal": math.sqrt(1 / FAN),
    "zeros": 0.0, "ones": 0.0,
}
THEORETICAL_MEAN = {name: (1.0 if name == "ones" else 0.0) for name in THEORETICAL_STD}
STANDARD_ERRORS = 6.0  # sampling noise of a million weights, with room for truncation's small bias
COLUMN_NAMES = {"mean": ("media", "promedio", "mu"), "std": ("desviacion", "desviacion_tipica", "stddev", "sd", "sigma")}


def _values(artifacts, names):
    """Each function's values on its grid, or the message saying why there are none."""
    found = {}
    for name in names:
        try:
            found[name] = artifacts.features(name)
        except ObjectUnavailable as exc:
            found[name] = exc.text
    return found


def _keras_values(grid):
    """(values, derivatives) of every Keras activation on ``grid``, in float64."""
    import keras
    import tensorflow as tf

    values, derivatives = {}, {}
    for name in ACTIVATIONS:
        x = tf.constant(grid, dtype=tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = getattr(keras.activations, name)(x)
        values[name], derivatives[name + "_derivative"] = np.asarray(y), np.asarray(tape.gradient(y, x))
    return values, derivatives


def _slope_hints(found: dict, grid: np.ndarray, name: str, wanted: float, key: str) -> dict:
    """For a function of the form max(a x, x) that is off: the slope it has on the negative points."""
    values = found.get(name)
    negative = grid < -0.5
    if not isinstance(values, np.ndarray) or values.size != grid.size or not negative.any():
        return {}
    slope = float(np.median(values.reshape(-1)[negative] / grid[negative]))
    return {} if abs(slope - wanted) < 1e-3 else {name: msg(key, name=name, slope=slope, wanted=wanted)}


@pytest.mark.check("ej1_funciones")
def test_activation_functions(artifacts, answers, credit):
    grid = answers["grid"]
    expected, _ = _keras_values(grid)
    found = _values(artifacts, ACTIVATIONS)
    credit(check_functions(found, grid, expected, hints=_slope_hints(found, grid, "leaky_relu", LEAKY_SLOPE, "leaky_slope")))


@pytest.mark.check("ej1_derivadas")
def test_activation_derivatives(artifacts, answers, credit):
    grid = answers["grid"]
    _, expected = _keras_values(grid)
    found = _values(artifacts, expected)
    hints = {}
    values = found.get("leaky_relu_derivative")
    if isinstance(values, np.ndarray) and values.size == grid.size and (grid < 0).any():
        slope = float(np.median(values.reshape(-1)[grid < 0]))  # a derivative's slope is its value there
        if abs(slope - LEAKY_SLOPE) >= 1e-3:
            hints = {"leaky_relu_derivative": msg("leaky_slope", name="leaky_relu_derivative", slope=slope,
                                                  wanted=LEAKY_SLOPE)}
    credit(check_functions(found, grid, expected, hints=hints))


@pytest.mark.check("ej2_relu_0_3")
def test_custom_activation(artifacts, answers, credit):
    grid = answers["grid"]
    found = _values(artifacts, ["relu_0_3"])
    credit(check_functions(found, grid, {"relu_0_3": np.maximum(RELU_0_3_SLOPE * grid, grid)},
                           hints=_slope_hints(found, grid, "relu_0_3", RELU_0_3_SLOPE, "relu_0_3_slope")))


@pytest.mark.check("ej2_modelo")
def test_custom_activation_model(artifacts, credit):
    artifacts.model("relu_0_3_model")  # loads with the instructor's relu_0_3, or says why it cannot
    credit(check_registered(artifacts.functions("relu_0_3_model"), "relu_0_3_model", "relu_0_3"))


@pytest.mark.check("ej3_inicializadores")
def test_initializer_table(artifacts, credit):
    table = artifacts.table("initializer_table")
    expected = {
        name: {"mean": Expected(THEORETICAL_MEAN[name], STANDARD_ERRORS * std / math.sqrt(WEIGHTS) + 1e-9),
               "std": Expected(std, STANDARD_ERRORS * std / math.sqrt(2 * WEIGHTS) + 1e-9)}
        for name, std in THEORETICAL_STD.items()}
    credit(check_table(table, expected, "initializer_table", aliases=COLUMN_NAMES))


@pytest.mark.check("ej4_lineal")
def test_linear_moons(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("moons_linear")
    outcome = check_accuracy(outputs, answers["moons_labels"], *bounds)
    # A linear boundary cannot do much better than the reference's: beyond it, the model is not linear.
    ceiling = bounds[1] + 0.06
    if outcome.details.get("accuracy", 0.0) > ceiling:
        outcome = CheckOutcome(0.0, joined([outcome.message, msg("moons_not_linear", ceiling=ceiling)]),
                               outcome.details)
    credit(outcome, verified=verified)


@pytest.mark.check("ej4_relu")
def test_relu_moons(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("moons_relu")
    credit(check_accuracy(outputs, answers["moons_labels"], *bounds), verified=verified)


@pytest.mark.check("ej5_arquitectura")
def test_fashion_architecture(artifacts, specs, credit):
    summary, verified = artifacts.summary("fashion_mlp")
    credit(compare_architecture(specs["fashion_mlp"], summary), verified=verified)


@pytest.mark.check("ej5_parametros")
def test_fashion_parameters(artifacts, specs, credit):
    summary, verified = artifacts.summary("fashion_mlp")
    credit(compare_parameters(specs["fashion_mlp"], summary), verified=verified)


@pytest.mark.check("ej5_precision")
def test_fashion_accuracy(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("fashion_mlp")
    credit(check_accuracy(outputs, answers["fashion_labels"], *bounds), verified=verified,
           history=artifacts.history("fashion_history"))


@pytest.mark.check("ej6_busqueda_lr")
def test_learning_rate_search(artifacts, credit):
    credit(check_geometric_sweep(artifacts.table("lr_search"), "lr_search", "learning_rate", "loss",
                                 min_points=10, min_decades=2.0))


@pytest.mark.check("ej6_precision")
def test_deep_mlp_accuracy(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("deep_mlp")
    credit(check_accuracy(outputs, answers["mnist_labels"], *bounds), verified=verified,
           history=artifacts.history("deep_history"))


@pytest.mark.check("ej7_regresion")
def test_diabetes_regression(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("diabetes_model")
    credit(check_regression(outputs, answers["diabetes_targets"], *bounds), verified=verified)


@pytest.mark.check("normas")
def test_submission_rules(facts, credit):
    credit(check_rules(facts))
