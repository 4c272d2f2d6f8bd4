"""Práctica 2's reference solutions, fast checks only (no training): the NumPy activations against
``keras.activations`` and their derivatives against ``tf.GradientTape``, the custom activation's
safe-mode save/load round trip, the initializers' formulas against sampled kernels and the
Fashion-MNIST MLP's parameter count. The trainings behind metrics.json run with
``grader reference train practica2``."""

from __future__ import annotations

import numpy as np
import pytest

from grader.instructor import require_checkout

require_checkout()
tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from reference_solutions.practica2 import activations, custom_activation, fashion_mlp, initializers  # noqa: E402

GRID = activations.reference_grid()


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_matches_keras_and_its_derivative_matches_gradient_tape(name):
    function, derivative = activations.ACTIVATIONS[name]
    x = tf.constant(GRID, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = getattr(keras.activations, name)(x)
    assert activations.scaled_error(function(GRID), y.numpy()) < 1e-6
    assert activations.scaled_error(derivative(GRID), tape.gradient(y, x).numpy()) < 1e-6


def test_kinks_follow_tensorflows_gradient_convention():
    zero = np.array([0.0])
    assert activations.relu_derivative(zero)[0] == 0.0
    assert activations.leaky_relu_derivative(zero)[0] == activations.LEAKY_RELU_SLOPE == 0.2
    assert activations.elu_derivative(zero)[0] == 1.0
    assert activations.selu_derivative(zero)[0] == pytest.approx(activations.SELU_SCALE)


def test_activations_stay_finite_where_naive_formulas_overflow():
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        for function, derivative in activations.ACTIVATIONS.values():
            assert np.all(np.isfinite(function(x))) and np.all(np.isfinite(derivative(x)))


def test_relu_0_3_saves_and_loads_back_in_safe_mode(tmp_path):
    model = custom_activation.build_model()
    reloaded = custom_activation.save_and_reload(model, tmp_path / "model.keras", safe_mode=True)
    assert reloaded.layers[0].activation is custom_activation.relu_0_3
    x = np.linspace(-3.0, 3.0, 13, dtype="float32")[:, None]
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    values = keras.ops.convert_to_numpy(custom_activation.relu_0_3(keras.ops.convert_to_tensor([-2.0, 0.0, 2.0])))
    np.testing.assert_allclose(values, [-0.6, 0.0, 2.0], rtol=1e-6)
    assert keras.activations.serialize(custom_activation.relu_0_3)["config"] == "practica2>relu_0_3"


@pytest.mark.parametrize(("name", "expected"), [
    ("random_uniform", (0.0, 0.05 / np.sqrt(3))), ("random_normal", (0.0, 0.05)),
    ("glorot_uniform", (0.0, np.sqrt(2 / 2000))), ("glorot_normal", (0.0, np.sqrt(2 / 2000))),
    ("he_uniform", (0.0, np.sqrt(2 / 1000))), ("he_normal", (0.0, np.sqrt(2 / 1000))),
    ("lecun_uniform", (0.0, np.sqrt(1 / 1000))), ("lecun_normal", (0.0, np.sqrt(1 / 1000))),
    ("zeros", (0.0, 0.0)), ("ones", (1.0, 0.0)),
])
def test_theoretical_values_of_the_courses_table(name, expected):
    assert initializers.theoretical(name, 1000, 1000) == pytest.approx(expected, abs=1e-9)


def test_truncated_normal_shrink_factor():
    assert np.sqrt(initializers.TRUNCATED_VARIANCE) == pytest.approx(initializers.KERAS_TRUNCATED_STD, abs=1e-12)


def test_sampled_kernels_match_their_formulas_within_sampling_noise():
    table = initializers.initializer_table(input_dim=300, units=1000, seed=7)
    assert [row["initializer"] for row in table] == list(initializers.INITIALIZERS)
    for row in table:
        assert row["matches"], row
        assert abs(row["std"] - row["theoretical_std"]) <= row["std_tolerance"] + 1e-7


def test_untruncated_he_normal_would_fail_the_table():
    """The tolerance is tight enough to catch Keras 2's untruncated HeNormal (std +14 %)."""
    weights = np.random.default_rng(0).normal(0.0, np.sqrt(2 / 1000) / initializers.KERAS_TRUNCATED_STD, 10**6)
    _, std_se = initializers.standard_errors("he_normal", 1000, 1000, weights.size)
    assert abs(weights.std() - initializers.theoretical("he_normal", 1000, 1000)[1]) > initializers.TOLERANCE_SE * std_se


def test_fashion_mlp_has_the_courses_266610_parameters():
    model = fashion_mlp.build_fashion_mlp()
    assert model.count_params() == fashion_mlp.PARAMETERS == 266_610
    assert [layer.count_params() for layer in model.layers] == [0, 235_500, 30_100, 1_010]
