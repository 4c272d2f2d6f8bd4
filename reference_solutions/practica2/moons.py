"""Práctica 2, Ejercicio 4: why an activation function? The two-moons problem with and without one.

A stack of Dense layers with ``activation=None`` composes linear maps into one linear map (the
course's derivation: z2 = x1 w1' + x2 w2' + b'), so however many hidden layers it has, a sigmoid on
top of it draws a straight decision boundary: no better than logistic regression on moons that
are not linearly separable. The same network with ReLU in the hidden layers bends the boundary
around the moons.

Data: ``sklearn.datasets.make_moons(N_SAMPLES, noise=NOISE)`` (the course's notebook gives no
figures; these are the usual ones). The model trains on moons drawn with ``TRAIN_SEED`` and is
scored on a fresh draw with ``TEST_SEED``: held-out points, not the training ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression

N_SAMPLES = 1000
NOISE = 0.2
TRAIN_SEED = 0
TEST_SEED = 1
HIDDEN_UNITS = (16, 16)


@dataclass(frozen=True)
class TrainingRecipe:
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 0.01
    seed: int = 42


RECIPE = TrainingRecipe()


def make_data(seed: int, n_samples: int = N_SAMPLES, noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return x.astype("float32"), y.astype("float32")


def build_mlp(activation: str | None, recipe: TrainingRecipe = RECIPE) -> keras.Model:
    """Two hidden Dense(16) layers with ``activation`` (None: linear), one sigmoid output unit."""
    keras.utils.set_random_seed(recipe.seed)
    model = keras.Sequential(
        [keras.Input((2,))]
        + [layers.Dense(units, activation=activation) for units in HIDDEN_UNITS]
        + [layers.Dense(1, activation="sigmoid")],
        name=f"moons_{activation or 'linear'}",
    )
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def train(model: keras.Model, x: np.ndarray, y: np.ndarray, recipe: TrainingRecipe = RECIPE):
    keras.utils.set_random_seed(recipe.seed)
    return model.fit(x, y, epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of points on the right side of the 0.5 probability boundary."""
    probabilities = model.predict(x, batch_size=1024, verbose=0)[:, 0]
    return float(np.mean((probabilities >= 0.5) == (y >= 0.5)))


def logistic_baseline(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """The linear boundary a network without activations cannot beat."""
    return LogisticRegression().fit(x, y)
