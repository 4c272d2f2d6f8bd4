"""Práctica 2, Ejercicio 7: regression with Keras on scikit-learn's diabetes data.

The course's regression example used Boston housing (withdrawn from scikit-learn and Keras'
datasets for its ethical problems); ``load_diabetes`` is the same shape of problem and ships with
scikit-learn: 442 patients, 10 features, a disease-progression score one year later (25-346).

- Features are standardised with the training split's mean and std (``StandardScaler`` fitted on
  training data only, so no test statistics leak into the model). The target is standardised the
  same way and predictions mapped back, so a freshly initialised output layer starts on the
  target's scale rather than ~150 units off.
- A linear output unit and MSE loss; MAE and RMSE are reported in the target's own units.
- The baseline is predicting the training mean for every patient: what a model that learned
  nothing from the features scores. A useful model must beat it clearly.
- Small data: a small network (32-16), EarlyStopping on a validation share of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

TEST_SIZE = 0.2
SPLIT_SEED = 42
HIDDEN_UNITS = (32, 16)


@dataclass(frozen=True)
class TrainingRecipe:
    max_epochs: int = 300
    patience: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_split: float = 0.2
    seed: int = 42


RECIPE = TrainingRecipe()


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_split(test_size: float = TEST_SIZE, seed: int = SPLIT_SEED) -> Split:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed)
    return Split(x_train, y_train, x_test, y_test)


def build_regressor(n_features: int, recipe: TrainingRecipe = RECIPE) -> keras.Model:
    keras.utils.set_random_seed(recipe.seed)
    model = keras.Sequential(
        [keras.Input((n_features,))]
        + [layers.Dense(units, activation="relu") for units in HIDDEN_UNITS]
        + [layers.Dense(1)],
        name="diabetes_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss="mse")
    return model


class ScaledRegressor:
    """The Keras model between the feature and target scalers fitted on the training split."""

    def __init__(self, recipe: TrainingRecipe = RECIPE):
        self.recipe = recipe
        self.x_scaler = StandardScaler()
        self.y_scaler = StandardScaler()
        self.model: keras.Model | None = None
        self.history = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> "ScaledRegressor":
        xs = self.x_scaler.fit_transform(x).astype("float32")
        ys = self.y_scaler.fit_transform(np.asarray(y, dtype="float64").reshape(-1, 1)).astype("float32")
        self.model = build_regressor(xs.shape[1], self.recipe)
        keras.utils.set_random_seed(self.recipe.seed)
        stop = keras.callbacks.EarlyStopping(patience=self.recipe.patience, restore_best_weights=True)
        self.history = self.model.fit(xs, ys, epochs=self.recipe.max_epochs, batch_size=self.recipe.batch_size,
                                      validation_split=self.recipe.validation_split, callbacks=[stop], verbose=0)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        xs = self.x_scaler.transform(x).astype("float32")
        return self.y_scaler.inverse_transform(self.model.predict(xs, verbose=0)).ravel()


def mae(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(prediction) - target)))


def rmse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(prediction) - target) ** 2)))


def mean_baseline(split: Split) -> dict[str, float]:
    """MAE and RMSE on the test split of always predicting the training mean."""
    prediction = np.full_like(split.y_test, split.y_train.mean(), dtype="float64")
    return {"mae": mae(prediction, split.y_test), "rmse": rmse(prediction, split.y_test)}
