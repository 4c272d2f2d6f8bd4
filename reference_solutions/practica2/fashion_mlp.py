"""Práctica 2, Ejercicio 5: the course's Fashion-MNIST classifier with the Sequential API.

| layer               | output | parameters          |
| Flatten             | 784    | 0                   |
| Dense(300, relu)    | 300    | 784*300 + 300 = 235,500 |
| Dense(100, relu)    | 100    | 300*100 + 100 = 30,100  |
| Dense(10, softmax)  | 10     | 100*10 + 10   = 1,010   |

266,610 parameters. Trained as the course does: pixels scaled to [0, 1], SGD at Keras' default
learning rate (0.01), sparse categorical cross-entropy, batch size 32 (Keras' default), the last
5,000 training images held out as the validation set (``validation_data``, not
``validation_split``), seed 42. The course trains 30 epochs (about 89 % validation accuracy); the
recipe's ``epochs`` is fewer, to fit the reference run's CPU budget, and metrics.json records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10
PARAMETERS = 266_610
VALIDATION_IMAGES = 5_000
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class TrainingRecipe:
    epochs: int = 10  # the course: 30
    batch_size: int = 32
    optimizer: str = "sgd"
    seed: int = 42


RECIPE = TrainingRecipe()


def prepare_images(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28) in [0, 1]; the Flatten layer does the rest."""
    return np.asarray(images, dtype="float32") / 255.0


def split_validation(x: np.ndarray, y: np.ndarray, size: int = VALIDATION_IMAGES):
    """The course's split: the last ``size`` training images are the validation set."""
    return (x[:-size], y[:-size]), (x[-size:], y[-size:])


def build_fashion_mlp() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Flatten(),
            layers.Dense(300, activation="relu"),
            layers.Dense(100, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="fashion_mlp",
    )
    model.compile(optimizer=RECIPE.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(model: keras.Model, x_train_full: np.ndarray, y_train_full: np.ndarray, recipe: TrainingRecipe = RECIPE):
    """Fit on the full training set minus the validation images; returns the Keras History."""
    keras.utils.set_random_seed(recipe.seed)
    (x_train, y_train), (x_valid, y_valid) = split_validation(prepare_images(x_train_full), y_train_full)
    return model.fit(x_train, y_train, epochs=recipe.epochs, batch_size=recipe.batch_size,
                     validation_data=(x_valid, y_valid), verbose=0)
