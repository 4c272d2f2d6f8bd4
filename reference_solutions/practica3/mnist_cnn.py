"""Práctica 3, Ejercicio 1, apartado 1: the given MNIST CNN, exactly as the assignment's table.

| layer       | kernel | in -> out     | channels |
| Conv + ReLU | 3x3    | 28x28 -> 28x28 | 1 -> 32  |  (padding 'same')
| MaxPooling  | 2x2    | 28x28 -> 14x14 |          |
| Conv + ReLU | 5x5    | 14x14 -> 10x10 | 32 -> 16 |  (padding 'valid')
| MaxPooling  | 2x2    | 10x10 -> 5x5   |          |
| FC + ReLU   |        | 400 -> 100     |          |
| FC + ReLU   |        | 100 -> 50      |          |
| FC (softmax)|        | 50 -> 10       |          |

58,796 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
PARAMETERS = 58_796


@dataclass(frozen=True)
class TrainingRecipe:
    epochs: int = 3
    batch_size: int = 128
    validation_split: float = 0.1
    optimizer: str = "adam"
    seed: int = 42


RECIPE = TrainingRecipe()


def build_cnn() -> keras.Model:
    """The given architecture, compiled for integer labels."""
    model = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, padding="valid", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(100, activation="relu"),
            layers.Dense(50, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="cnn_practica3",
    )
    model.compile(optimizer=RECIPE.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def prepare_images(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., np.newaxis]


def train(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, recipe: TrainingRecipe = RECIPE):
    """Fit with the recipe's fixed seed; returns the Keras History."""
    keras.utils.set_random_seed(recipe.seed)
    return model.fit(
        prepare_images(x_train), y_train,
        epochs=recipe.epochs, batch_size=recipe.batch_size,
        validation_split=recipe.validation_split, verbose=0,
    )
