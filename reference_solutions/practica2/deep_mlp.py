"""Práctica 2, Ejercicio 6 (the chapter's exercise 10): a deep MLP on MNIST at about 98 % accuracy.

Steps, as the chapter describes them:

1. **Learning-rate search.** A fresh model trains for one epoch on a training subset while the
   learning rate grows exponentially, by a constant factor per batch, from ``SEARCH.lr_start`` to
   ``SEARCH.lr_end``; the loss of every batch is recorded against its rate. The loss first falls, then
   shoots up once the rate is too large. The chapter's rule: the good rate is about 10 times
   lower than the turning point, where the loss starts to climb (here: the minimum of the
   exponentially smoothed loss). The search stops early once the smoothed loss is 4 times its
   minimum: past that it only diverges.
2. **Training.** The model is built again from the same seed (the search leaves its weights
   wrecked by the huge rates) and trained with the chosen rate and ``EarlyStopping`` on the
   validation accuracy (``restore_best_weights=True``), with a cap on the epochs.

Architecture: three ReLU hidden layers (300, 200, 100) with He initialization (the initializer
meant for ReLU), each followed by Dropout(0.2), softmax output; Adam at batch size 32. Without the
dropout the network overfits by the third epoch and early stopping ends it at ~97.4 % test
accuracy (measured: best validation accuracy 0.978 at epoch 3, stopped at 6); with it the
reference run reaches 0.979 test accuracy (0.984 validation) in 14 epochs, within a CPU budget.
Validation set: the last 5,000 training images, as the chapter's Fashion-MNIST split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10
HIDDEN_UNITS = (300, 200, 100)
DROPOUT = 0.2
VALIDATION_IMAGES = 5_000


@dataclass(frozen=True)
class SearchRecipe:
    lr_start: float = 1e-5
    lr_end: float = 1.0
    subset: int = 10_000  # one epoch over these images: ~313 batches of 32
    batch_size: int = 32
    smoothing: float = 0.9  # exponential moving average of the batch losses
    divergence_factor: float = 4.0
    divide_turning_point_by: float = 10.0
    seed: int = 42


@dataclass(frozen=True)
class TrainingRecipe:
    max_epochs: int = 15
    patience: int = 4  # dropout makes the validation accuracy noisier from one epoch to the next
    batch_size: int = 32
    seed: int = 42


SEARCH = SearchRecipe()
RECIPE = TrainingRecipe()


@dataclass
class SearchResult:
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # per batch, unsmoothed
    smoothed: list[float] = field(default_factory=list)
    turning_rate: float = math.nan
    chosen_rate: float = math.nan


def prepare_images(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype="float32") / 255.0


def split_validation(x: np.ndarray, y: np.ndarray, size: int = VALIDATION_IMAGES):
    return (x[:-size], y[:-size]), (x[-size:], y[-size:])


def build_deep_mlp(learning_rate: float = 1e-3, seed: int = RECIPE.seed) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(INPUT_SHAPE), layers.Flatten()]
        + [layer for units in HIDDEN_UNITS
           for layer in (layers.Dense(units, activation="relu", kernel_initializer="he_normal"),
                         layers.Dropout(DROPOUT))]
        + [layers.Dense(NUM_CLASSES, activation="softmax")],
        name="deep_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class ExponentialLearningRate(keras.callbacks.Callback):
    """Multiplies the learning rate by ``factor`` every batch and records (rate, batch loss).

    Keras reports in ``logs["loss"]`` the mean loss of the epoch so far; the loss of batch k is
    recovered as ``mean_k * (k + 1) - mean_{k-1} * k``."""

    def __init__(self, start: float, factor: float, smoothing: float, divergence_factor: float, result: SearchResult):
        super().__init__()
        self.start, self.factor, self.smoothing, self.divergence_factor = start, factor, smoothing, divergence_factor
        self.result = result
        self._sum = 0.0
        self._average = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.start * self.factor**batch)

    def on_train_batch_end(self, batch, logs=None):
        total = float(logs["loss"]) * (batch + 1)
        loss, self._sum = total - self._sum, total
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (batch + 1))  # bias-corrected, as Adam's moments
        self.result.rates.append(self.start * self.factor**batch)
        self.result.losses.append(loss)
        self.result.smoothed.append(smoothed)
        if smoothed > self.divergence_factor * min(self.result.smoothed) or not math.isfinite(smoothed):
            self.model.stop_training = True


def search_learning_rate(x_train: np.ndarray, y_train: np.ndarray, recipe: SearchRecipe = SEARCH) -> SearchResult:
    """One epoch over the first ``recipe.subset`` images (already prepared) with an exponentially
    growing rate; the chosen rate is the turning point divided by ``divide_turning_point_by``."""
    x, y = x_train[: recipe.subset], y_train[: recipe.subset]
    steps = math.ceil(len(x) / recipe.batch_size)
    factor = (recipe.lr_end / recipe.lr_start) ** (1 / max(steps - 1, 1))
    result = SearchResult()
    model = build_deep_mlp(learning_rate=recipe.lr_start, seed=recipe.seed)
    callback = ExponentialLearningRate(recipe.lr_start, factor, recipe.smoothing, recipe.divergence_factor, result)
    model.fit(x, y, epochs=1, batch_size=recipe.batch_size, callbacks=[callback], shuffle=True, verbose=0)
    result.turning_rate = result.rates[int(np.argmin(result.smoothed))]
    result.chosen_rate = result.turning_rate / recipe.divide_turning_point_by
    return result


def train(model: keras.Model, x_train_full: np.ndarray, y_train_full: np.ndarray, recipe: TrainingRecipe = RECIPE):
    """Fit with early stopping on the validation accuracy; images already prepared."""
    keras.utils.set_random_seed(recipe.seed)
    (x_train, y_train), (x_valid, y_valid) = split_validation(x_train_full, y_train_full)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=recipe.patience,
                                         restore_best_weights=True)
    return model.fit(x_train, y_train, epochs=recipe.max_epochs, batch_size=recipe.batch_size,
                     validation_data=(x_valid, y_valid), callbacks=[stop], verbose=0)
