"""Práctica 3, Ejercicio 1, apartado 2: HOG features (scikit-image) + an RBF SVM (scikit-learn).

HOG with 9 orientations, 7x7-pixel cells and 2x2-cell blocks gives 324 features per 28x28 image.
The SVM trains on a fixed, seeded subset of the training set (``TRAIN_SUBSET`` images) because an
RBF SVC scales worse than linearly with the number of samples.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import hog
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

ORIENTATIONS = 9
PIXELS_PER_CELL = (7, 7)
CELLS_PER_BLOCK = (2, 2)
TRAIN_SUBSET = 20_000
SVC_C = 5.0
SEED = 0


def hog_features(images: np.ndarray) -> np.ndarray:
    """HOG descriptor of each image: (n, 28, 28) -> (n, 324) float32."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    return np.stack(
        [
            hog(image, orientations=ORIENTATIONS, pixels_per_cell=PIXELS_PER_CELL,
                cells_per_block=CELLS_PER_BLOCK, feature_vector=True)
            for image in images
        ]
    ).astype("float32")


def build_svm() -> Pipeline:
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=SVC_C, gamma="scale"))


def training_subset(n_train: int, size: int = TRAIN_SUBSET, seed: int = SEED) -> np.ndarray:
    """Indices of the seeded training subset."""
    return np.random.default_rng(seed).permutation(n_train)[: min(size, n_train)]


def train(x_train: np.ndarray, y_train: np.ndarray, size: int = TRAIN_SUBSET) -> Pipeline:
    subset = training_subset(len(x_train), size)
    svm = build_svm()
    svm.fit(hog_features(x_train[subset]), y_train[subset])
    return svm
