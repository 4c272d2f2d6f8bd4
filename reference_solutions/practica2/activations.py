"""Práctica 2, Ejercicio 1: activation functions and their derivatives in NumPy.

Each function mirrors ``keras.activations.<name>`` (Keras 3) to float64 precision, and each
derivative mirrors what TensorFlow's automatic differentiation returns for it, kinks included:
at ``x == 0`` the gradient of ``relu`` is 0, of ``leaky_relu`` ``negative_slope``, of ``elu`` 1 and
of ``selu`` ``SELU_SCALE`` (TensorFlow's ReluGrad, LeakyReluGrad, EluGrad and SeluGrad kernels take
the ``x > 0`` branch only for ``relu``/``leaky_relu`` and the ``x < 0`` branch only for ``elu``/
``selu``). Matching that convention lets a student's backward pass be compared point by point with
``tf.GradientTape``.

The formulas are written to stay finite for large ``|x|`` (``exp`` only of non-positive numbers),
because the course's naive versions (``1 / (1 + np.exp(-z))``, ``np.log(np.exp(z) + 1)``) overflow
and warn there while Keras does not.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# Keras 3: keras.activations.leaky_relu(x, negative_slope=0.2); the course's leaky ReLU
# (max(0.01 z, z)) and TensorFlow 2's tf.nn.leaky_relu used other defaults, so this is the one to check.
LEAKY_RELU_SLOPE = 0.2
ELU_ALPHA = 1.0
# The constants of Klambauer et al. (2017) to TensorFlow's precision (tf.nn.selu); the course's
# rounded 1.67326324 and 1.05070098 differ from Keras by ~1e-9 relative.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Array = np.ndarray


def _as_float(x) -> Array:
    return np.asarray(x, dtype=np.float64)


def sigmoid(x) -> Array:
    """1 / (1 + e^-x), computed from e^-|x| so that neither branch overflows."""
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(x) -> Array:
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x) -> Array:
    return np.tanh(_as_float(x))


def tanh_derivative(x) -> Array:
    return 1.0 - np.tanh(_as_float(x)) ** 2


def relu(x) -> Array:
    return np.maximum(_as_float(x), 0.0)


def relu_derivative(x) -> Array:
    """1 for x > 0, else 0 (0 at the kink, as TensorFlow's gradient)."""
    return (_as_float(x) > 0).astype(np.float64)


def leaky_relu(x, negative_slope: float = LEAKY_RELU_SLOPE) -> Array:
    x = _as_float(x)
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_derivative(x, negative_slope: float = LEAKY_RELU_SLOPE) -> Array:
    """1 for x > 0, else ``negative_slope`` (the slope at the kink, as TensorFlow's gradient)."""
    return np.where(_as_float(x) > 0, 1.0, negative_slope)


def elu(x, alpha: float = ELU_ALPHA) -> Array:
    x = _as_float(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_derivative(x, alpha: float = ELU_ALPHA) -> Array:
    """alpha * e^x for x < 0, else 1 (1 at the kink, as TensorFlow's gradient)."""
    x = _as_float(x)
    return np.where(x < 0, alpha * np.exp(np.minimum(x, 0.0)), 1.0)


def selu(x) -> Array:
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_derivative(x) -> Array:
    """scale * alpha * e^x for x < 0, else scale (scale at the kink, as TensorFlow's gradient)."""
    return SELU_SCALE * elu_derivative(x, SELU_ALPHA)


def softplus(x) -> Array:
    """log(1 + e^x) as logaddexp(0, x): exact for large x instead of log(inf)."""
    return np.logaddexp(0.0, _as_float(x))


def softplus_derivative(x) -> Array:
    """The derivative of softplus is the sigmoid."""
    return sigmoid(x)


def softsign(x) -> Array:
    x = _as_float(x)
    return x / (np.abs(x) + 1.0)


def softsign_derivative(x) -> Array:
    return 1.0 / (np.abs(_as_float(x)) + 1.0) ** 2


ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "relu": (relu, relu_derivative),
    "leaky_relu": (leaky_relu, leaky_relu_derivative),
    "elu": (elu, elu_derivative),
    "selu": (selu, selu_derivative),
    "softplus": (softplus, softplus_derivative),
    "softsign": (softsign, softsign_derivative),
}
"""Name (as in ``keras.activations``) -> (function, derivative)."""


def reference_grid() -> Array:
    """The points the functions are compared at: a regular grid over [-8, 8], the kink at 0 and
    its close neighbours, and large magnitudes where naive formulas overflow."""
    return np.unique(np.concatenate([np.linspace(-8.0, 8.0, 161), [0.0, 1e-7, -1e-7, -50.0, 50.0, -700.0, 700.0]]))


def scaled_error(mine: Array, reference: Array) -> float:
    """max |mine - reference| / (1 + |reference|): absolute near 0, relative for large values.

    Relative where values are large because TensorFlow holds some constants as float32 op
    attributes (tf.nn.leaky_relu's slope 0.2 is 0.20000000298...): at x = -700 that is 2e-6 apart
    in absolute terms but 1.5e-8 relative, and no formula written in float64 can tell them apart."""
    return float(np.max(np.abs(mine - reference) / (1.0 + np.abs(reference))))


def compare_with_keras(x: Array | None = None) -> dict[str, dict[str, float]]:
    """Per activation, the :func:`scaled_error` of the function against ``keras.activations`` and of
    the derivative against ``tf.GradientTape`` through it, in float64."""
    import keras
    import tensorflow as tf

    points = reference_grid() if x is None else _as_float(x)
    tensor = tf.constant(points, dtype=tf.float64)
    result = {}
    for name, (function, derivative) in ACTIVATIONS.items():
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = getattr(keras.activations, name)(tensor)
        gradient = tape.gradient(value, tensor)
        result[name] = {
            "function_error": scaled_error(function(points), value.numpy()),
            "derivative_error": scaled_error(derivative(points), gradient.numpy()),
        }
    return result
