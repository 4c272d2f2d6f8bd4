"""The architecture and parameter checks on real Keras models: the four equivalent ways students
write the given CNN get full marks; each common mistake gets its own hint at the right layer."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from grader.checks.architecture import compare_architecture, compare_parameters
from grader.probe import summarize
from grader.public_checks import load_public_checks
from grader.i18n import render

EXPECTED = load_public_checks("practica3").specs["cnn_model"]


def given_cnn(conv2_padding="valid", conv2_filters=16, conv2_kernel=5, second_pool=True, extra_dense=False,
              hidden_activation="relu", last_activation="softmax") -> keras.Model:
    stack = [keras.Input((28, 28, 1)), layers.Conv2D(32, 3, padding="same", activation="relu"),
             layers.MaxPooling2D(),
             layers.Conv2D(conv2_filters, conv2_kernel, padding=conv2_padding, activation="relu")]
    stack += [layers.MaxPooling2D()] if second_pool else []
    stack += [layers.Flatten(), layers.Dense(100, activation=hidden_activation)]
    stack += [layers.Dense(64, activation="relu")] if extra_dense else []
    stack += [layers.Dense(50, activation="relu"), layers.Dense(10, activation=last_activation)]
    return keras.Sequential(stack)


def sequential_with_activation_layers() -> keras.Model:
    model = keras.Sequential()
    model.add(keras.Input((28, 28, 1)))
    for layer in [layers.Conv2D(32, (3, 3), padding="same"), layers.ReLU(), layers.MaxPooling2D((2, 2)),
                  layers.Conv2D(16, (5, 5)), layers.Activation("relu"), layers.MaxPooling2D((2, 2)),
                  layers.Flatten(), layers.Dense(100), layers.ReLU(), layers.Dense(50), layers.ReLU(),
                  layers.Dense(10), layers.Softmax()]:
        model.add(layer)
    return model


def functional_with_reshape_and_logits(compile_from_logits=True) -> keras.Model:
    inputs = keras.Input((28, 28))
    x = layers.Reshape((28, 28, 1))(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(100, activation="relu")(x)
    x = layers.Dense(50, activation="relu")(x)
    model = keras.Model(inputs, layers.Dense(10)(x))
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=compile_from_logits))
    return model


class SubclassedCNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv1 = layers.Conv2D(32, 3, padding="same", activation="relu")
        self.pool1 = layers.MaxPooling2D()
        self.conv2 = layers.Conv2D(16, 5, activation="relu")
        self.pool2 = layers.MaxPooling2D()
        self.flatten = layers.Flatten()
        self.dense1 = layers.Dense(100, activation="relu")
        self.dense2 = layers.Dense(50, activation="relu")
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x):
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.out(self.dense2(self.dense1(self.flatten(x))))


@pytest.mark.parametrize("build", [given_cnn, sequential_with_activation_layers,
                                   functional_with_reshape_and_logits, SubclassedCNN],
                         ids=["sequential", "activation-layers", "functional-logits", "subclassed"])
def test_equivalent_forms_get_full_marks(build):
    summary = summarize(build(), EXPECTED["input_shape"])  # the subclassed model states no input: the spec's
    architecture = compare_architecture(EXPECTED, summary)
    assert architecture.fraction == 1.0, render(architecture.message, "es")
    assert compare_parameters(EXPECTED, summary).fraction == 1.0
    assert summary["total_params"] == 58_796


def test_wrong_padding_points_at_the_second_convolution():
    outcome = compare_architecture(EXPECTED, summarize(given_cnn(conv2_padding="same")))
    first = outcome.details["mismatches"][0]
    assert first["index"] == 3
    assert render(first["message_text"], "es") == ("capa 3 (Conv2D): salida (None, 14, 14, 16), esperada (None, 10, 10, 16): "
                                "revisa padding='valid'")
    assert outcome.fraction == 0.5  # one wrong setting; the later shapes only echo it
    params = compare_parameters(EXPECTED, summarize(given_cnn(conv2_padding="same")))
    assert params.fraction == 0.0
    assert render(params.message, "es") == "97.196 parámetros, esperados 58.796 | capa 6 (Dense): 78.500 parámetros, esperados 40.100"


@pytest.mark.parametrize("kwargs, index, hint", [
    ({"conv2_filters": 32}, 3, "usa 16 filtros (tienes 32)"),
    ({"conv2_kernel": 3}, 3, "usa un kernel 5x5 (tienes 3x3)"),
    ({"hidden_activation": "softmax"}, 6, "activación 'relu' esperada (tienes 'softmax')"),
])
def test_each_common_mistake_gets_its_hint(kwargs, index, hint):
    outcome = compare_architecture(EXPECTED, summarize(given_cnn(**kwargs)))
    hinted = [m for m in outcome.details["mismatches"] if m["kind"] == "setting"]
    assert len(hinted) == 1 and hinted[0]["index"] == index and hint in render(hinted[0]["message_text"], "es")
    assert outcome.fraction == 0.5


def test_missing_pooling_is_named_as_missing():
    outcome = compare_architecture(EXPECTED, summarize(given_cnn(second_pool=False)))
    kinds = [m["kind"] for m in outcome.details["mismatches"]]
    assert "missing" in kinds
    assert "falta una capa MaxPooling2D en la posición 4 (salida esperada (None, 5, 5, 16))" in render(outcome.message, "es")
    assert outcome.fraction == 0.0


def test_extra_dense_is_named_as_extra():
    outcome = compare_architecture(EXPECTED, summarize(given_cnn(extra_dense=True)))
    extra = [m for m in outcome.details["mismatches"] if m["kind"] == "extra"]
    assert len(extra) == 1 and extra[0]["index"] == 7
    assert outcome.fraction == 0.0


def test_logits_without_from_logits_loss_is_flagged():
    outcome = compare_architecture(EXPECTED, summarize(functional_with_reshape_and_logits(False)))
    assert outcome.fraction == 0.5
    assert "capa 9 (Dense): no tiene softmax y la pérdida no usa from_logits=True" in render(outcome.message, "es")


def test_messages_in_english_on_request():
    outcome = compare_architecture(EXPECTED, summarize(given_cnn(conv2_padding="same")))
    assert "layer 3 (Conv2D): output (None, 14, 14, 16), expected (None, 10, 10, 16): check padding='valid'" \
        in render(outcome.message, "en")
