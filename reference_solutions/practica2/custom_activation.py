"""Práctica 2, Ejercicio 2: a custom activation, ``relu_0_3(x) = max(0.3 x, x)``, usable by name.

The course registers it with ``get_custom_objects()['relu_0_3'] = Lambda(...)``. In Keras 3 that no
longer works: ``activation="relu_0_3"`` is looked up only among Keras' built-in activations
(``keras.activations.get`` reads a fixed dictionary), and a ``Lambda`` is Python bytecode that
``keras.saving.load_model`` refuses to deserialize in its default ``safe_mode=True``. So:

- the function is written with ``keras.ops`` (any backend, differentiable) and registered with
  ``keras.saving.register_keras_serializable(package="practica2")``: the saved model names it
  ``"practica2>relu_0_3"`` instead of storing code, which safe mode loads;
- layers take the function itself (``activation=relu_0_3``); ``CUSTOM_OBJECTS`` is what a loader
  that did not import this module passes as ``custom_objects``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

NEGATIVE_SLOPE = 0.3
PACKAGE = "practica2"
REGISTERED_NAME = f"{PACKAGE}>relu_0_3"


@keras.saving.register_keras_serializable(package=PACKAGE, name="relu_0_3")
def relu_0_3(x):
    """Leaky ReLU with slope 0.3 for negative inputs: max(0.3 x, x)."""
    return keras.ops.maximum(NEGATIVE_SLOPE * x, x)


CUSTOM_OBJECTS = {"relu_0_3": relu_0_3, REGISTERED_NAME: relu_0_3}


def build_model(input_dim: int = 1, seed: int = 42) -> keras.Model:
    """The course's example, Dense(3) on one input with the custom activation, plus one output unit.

    Left uncompiled: what is saved and checked is the architecture and its activation (a compiled,
    never-fitted model also saves an unbuilt optimizer, which Keras warns about on loading)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((input_dim,)), layers.Dense(3, activation=relu_0_3), layers.Dense(1)],
        name="relu_0_3_model",
    )
    return model


def save_and_reload(model: keras.Model, path: str | Path, safe_mode: bool = True) -> keras.Model:
    """Save to ``.keras`` and load back, as a student's saved model is loaded for grading."""
    path = Path(path)
    model.save(path)
    return keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, safe_mode=safe_mode)


def roundtrip_difference(directory: str | Path, seed: int = 42) -> dict:
    """Build, save, reload with ``safe_mode=True`` and compare predictions on points on both
    sides of 0; what the reloaded model's hidden layer calls its activation."""
    model = build_model(seed=seed)
    reloaded = save_and_reload(model, Path(directory) / "relu_0_3.keras")
    x = np.linspace(-3.0, 3.0, 61, dtype="float32")[:, np.newaxis]
    difference = np.max(np.abs(model.predict(x, verbose=0) - reloaded.predict(x, verbose=0)))
    activation = reloaded.layers[0].activation
    return {
        "max_prediction_difference": float(difference),
        "reloaded_activation_is_relu_0_3": activation is relu_0_3,
        "serialized_as": keras.activations.serialize(relu_0_3)["config"],
    }
