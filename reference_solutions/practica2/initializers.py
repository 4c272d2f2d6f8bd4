"""Práctica 2, Ejercicio 3: the weight initializers' table, measured against their formulas.

The course builds ``Dense(1000, input_dim=1000, kernel_initializer=name)`` for each initializer and
lists the mean and standard deviation of the 10^6 weights. Here each measured figure sits next to
the value the initializer's formula gives, for Keras 3's definitions (``keras/src/initializers``):

- ``random_uniform``: U(-0.05, 0.05), std 0.05/sqrt(3); ``random_normal``: N(0, 0.05), untruncated;
- ``*_uniform`` (Glorot, He, LeCun): U(-limit, limit), limit = sqrt(3 scale / n), std = limit/sqrt(3);
- ``*_normal`` (Glorot, He, LeCun): a normal truncated at 2 standard deviations whose stddev
  parameter is sqrt(scale / n) / 0.87962566103423978, so that the truncated samples' std is
  sqrt(scale / n) (0.8796... is the std of a standard normal truncated at +-2). In Keras 3 HeNormal
  is this truncated normal too, not the untruncated one of Keras 2's first versions;
- scale and n: Glorot 1 and (fan_in + fan_out)/2, He 2 and fan_in, LeCun 1 and fan_in;
- ``zeros`` and ``ones``: constants, std 0.

The tolerance is sampling noise, not a guess: for n independent weights the standard error of the
mean is std/sqrt(n) and that of the sample std is std*sqrt(kurtosis - 1)/(2 sqrt(n)) (kurtosis 1.8
for a uniform, 3 for a normal, ~2.2 for the truncated normal); a measured value within
``TOLERANCE_SE`` standard errors matches its formula. With n = 10^6 that is a fraction of a
percent of the std, tight enough to tell an untruncated HeNormal (+14 % std) from Keras' one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The initializers of the course's table, in its order (Keras' string identifiers).
INITIALIZERS = (
    "random_uniform", "random_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "zeros", "ones",
)
INPUT_DIM = 1000  # the course's Dense(1000, input_dim=1000)
UNITS = 1000
SEED = 42
TOLERANCE_SE = 4.0  # standard errors; the chance of a correct initializer falling outside is ~6e-5
TRUNCATION = 2.0  # Keras' truncated normal redraws samples beyond 2 standard deviations
KERAS_TRUNCATED_STD = 0.87962566103423978  # the constant VarianceScaling divides by

_VARIANCE_SCALING = {  # name -> (scale, mode, distribution), as Keras 3's subclasses set them
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}
RANDOM_UNIFORM_LIMIT = 0.05  # keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)
RANDOM_NORMAL_STD = 0.05  # keras.initializers.RandomNormal(mean=0.0, stddev=0.05)


def _truncated_normal_moments(a: float = TRUNCATION) -> tuple[float, float]:
    """Variance and kurtosis of a standard normal truncated to [-a, a] (integration by parts)."""
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(a / math.sqrt(2))
    variance = 1 - 2 * a * pdf / mass
    fourth = 3 * variance - 2 * a**3 * pdf / mass
    return variance, fourth / variance**2


TRUNCATED_VARIANCE, TRUNCATED_KURTOSIS = _truncated_normal_moments()
UNIFORM_KURTOSIS = 1.8
NORMAL_KURTOSIS = 3.0


@dataclass(frozen=True)
class Distribution:
    mean: float
    std: float
    kurtosis: float  # 0 for a constant: its sample std has no noise
    bound: float | None  # the largest |w - mean| possible; None for an untruncated normal


def distribution(name: str, fan_in: int, fan_out: int) -> Distribution:
    """What Keras 3's ``name`` initializer draws for a (fan_in, fan_out) kernel."""
    if name == "zeros":
        return Distribution(0.0, 0.0, 0.0, 0.0)
    if name == "ones":
        return Distribution(1.0, 0.0, 0.0, 0.0)
    if name == "random_uniform":
        return Distribution(0.0, RANDOM_UNIFORM_LIMIT / math.sqrt(3), UNIFORM_KURTOSIS, RANDOM_UNIFORM_LIMIT)
    if name == "random_normal":
        return Distribution(0.0, RANDOM_NORMAL_STD, NORMAL_KURTOSIS, None)
    if name not in _VARIANCE_SCALING:
        raise ValueError(f"{name!r}: not an initializer of the table; one of {', '.join(INITIALIZERS)}")
    scale, mode, kind = _VARIANCE_SCALING[name]
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if kind == "uniform":
        limit = math.sqrt(3 * scale / n)
        return Distribution(0.0, limit / math.sqrt(3), UNIFORM_KURTOSIS, limit)
    stddev_parameter = math.sqrt(scale / n) / KERAS_TRUNCATED_STD
    return Distribution(0.0, stddev_parameter * math.sqrt(TRUNCATED_VARIANCE), TRUNCATED_KURTOSIS,
                        TRUNCATION * stddev_parameter)


def theoretical(name: str, fan_in: int, fan_out: int) -> tuple[float, float]:
    """(mean, std) of the weights ``name`` draws for a (fan_in, fan_out) kernel, from its formula."""
    dist = distribution(name, fan_in, fan_out)
    return dist.mean, dist.std


def standard_errors(name: str, fan_in: int, fan_out: int, n: int) -> tuple[float, float]:
    """Standard errors of the sample mean and of the sample std of n independent weights."""
    dist = distribution(name, fan_in, fan_out)
    return dist.std / math.sqrt(n), dist.std * math.sqrt(max(dist.kurtosis - 1, 0.0)) / (2 * math.sqrt(n))


def sample_kernel(name: str, input_dim: int = INPUT_DIM, units: int = UNITS, seed: int = SEED) -> np.ndarray:
    """The kernel of a Dense(units) layer built on ``input_dim`` inputs with initializer ``name``."""
    import keras

    initializer = keras.initializers.get(name)
    if hasattr(initializer, "seed"):  # the random ones: seeded, so the table is the same every run
        initializer = initializer.__class__.from_config({**initializer.get_config(), "seed": seed})
    layer = keras.layers.Dense(units, kernel_initializer=initializer)
    layer.build((None, input_dim))
    return keras.ops.convert_to_numpy(layer.kernel)


def initializer_table(input_dim: int = INPUT_DIM, units: int = UNITS, seed: int = SEED) -> list[dict]:
    """One row per initializer: measured mean/std (and extremes) of a Dense(units) kernel on
    ``input_dim`` inputs, the formula's mean/std and bound, and the sampling tolerances."""
    rows = []
    for index, name in enumerate(INITIALIZERS):
        # seed + index: one seed for all would draw the same numbers, rescaled, for every
        # initializer of the same family, and the rows would not be independent checks
        weights = sample_kernel(name, input_dim, units, seed + index).astype(np.float64).ravel()
        dist = distribution(name, input_dim, units)
        mean_se, std_se = standard_errors(name, input_dim, units, weights.size)
        mean, std = float(weights.mean()), float(weights.std())
        mean_tolerance, std_tolerance = TOLERANCE_SE * mean_se, TOLERANCE_SE * std_se
        max_deviation = float(np.max(np.abs(weights - dist.mean)))
        rows.append({
            "initializer": name, "weights": int(weights.size),
            "mean": mean, "std": std, "min": float(weights.min()), "max": float(weights.max()),
            "theoretical_mean": dist.mean, "theoretical_std": dist.std, "bound": dist.bound,
            "mean_tolerance": mean_tolerance, "std_tolerance": std_tolerance,
            # float32 weights: a constant is exact, a sample may round past its bound by one ulp
            "matches": bool(abs(mean - dist.mean) <= mean_tolerance + 1e-7
                            and abs(std - dist.std) <= std_tolerance + 1e-7
                            and (dist.bound is None or max_deviation <= dist.bound * (1 + 1e-6))),
        })
    return rows
