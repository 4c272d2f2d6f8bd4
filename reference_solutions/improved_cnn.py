"""Práctica 3, Ejercicio 1, apartado 3: an improved CNN for MNIST.

Changes from the given network, each for a reason:
- 3x3 kernels with padding 'same' in both convolutions and more filters (32 -> 64 in the second):
  richer features without shrinking the maps before pooling;
- BatchNormalization after each convolution (bias dropped, BN has its own shift): faster and
  steadier training at the same learning rate, so 3 epochs go further;
- Dropout before and after a wider dense layer (128): the given net starts to overfit after a few
  epochs, and dropout lets the wider layer help without memorising.
Data augmentation (small rotations and shifts as Keras layers) was tried and left out: at 3 epochs
it slows convergence more than it helps on MNIST. Trained with the base CNN's recipe and epochs
so the comparison is fair.
"""

from __future__ import annotations

import keras
from keras import layers

from reference_solutions.mnist_cnn import INPUT_SHAPE, NUM_CLASSES, RECIPE


def build_improved_cnn() -> keras.Model:
    def conv_block(filters: int) -> list[layers.Layer]:
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(2),
        ]

    model = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *conv_block(32),
            *conv_block(64),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="improved_cnn",
    )
    model.compile(optimizer=RECIPE.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
