"""The checks an assignment of functions, tables and regressions grades with (Práctica 2's kinds),
as pure functions, and the custom Keras objects the scorer rebuilds from the instructor's code."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from grader.checks.functions import check_functions, check_registered, compare_on_grid
from grader.checks.outcome import linear_credit
from grader.checks.regression import check_regression
from grader.checks.tables import Expected, check_geometric_sweep, check_table
from grader.export import table_dict
from grader.i18n import LANGUAGES, msg, render
from grader.trusted_objects import custom_objects_for, load_trusted_objects, serialized_functions

GRID = np.sort(np.random.default_rng(0).uniform(-8, 8, 400))


def sentences(outcome):
    return {lang: render(outcome.message, lang) for lang in LANGUAGES}


def test_functions_matching_keras_within_float32_precision_get_full_credit():
    expected = {"tanh": np.tanh(GRID), "relu": np.maximum(GRID, 0)}
    found = {"tanh": np.tanh(GRID.astype("float32")).astype("float64")[:, None], "relu": np.maximum(GRID, 0)}
    outcome = check_functions(found, GRID, expected)
    assert outcome.fraction == 1.0
    assert sentences(outcome)["en"] == "2 of 2 functions right on 400 points"
    one = sentences(check_functions({"relu": found["relu"]}, GRID, {"relu": expected["relu"]}))
    assert one == {"es": "1 de 1 función correcta en 400 puntos", "en": "1 of 1 function right on 400 points"}


def test_one_wrong_function_of_four_loses_a_quarter_and_is_named_with_the_point():
    expected = {name: np.tanh(GRID) for name in ("a", "b", "c")} | {"leaky": np.where(GRID > 0, GRID, 0.2 * GRID)}
    found = dict(expected) | {"leaky": np.where(GRID > 0, GRID, 0.01 * GRID)}
    outcome = check_functions(found, GRID, expected, hints={"leaky": msg("not_exported")})
    assert outcome.fraction == 0.75
    text = sentences(outcome)
    assert "3 of 4 functions right" in text["en"] and "'leaky' at x = -" in text["en"]
    assert "3 de 4 funciones correctas" in text["es"] and "'leaky' en x = -" in text["es"]
    assert outcome.details["functions"]["leaky"] == "off"


def test_a_function_that_overflows_or_returns_another_shape_is_told_so():
    assert compare_on_grid("f", np.full(GRID.shape, np.inf), GRID, GRID).key == "function_not_finite"
    assert compare_on_grid("f", GRID[:10], GRID, GRID).key == "function_shape"
    missing = check_functions({}, GRID, {"f": GRID})
    assert missing.fraction == 0.0 and "not_exported" in json.dumps(missing.message.to_dict())


def test_a_registered_function_is_found_by_its_package_name_and_an_unregistered_one_loses_the_points():
    assert check_registered(["practica2>relu_0_3"], "m", "relu_0_3").fraction == 1.0
    assert check_registered(["Custom>relu_0_3"], "m", "relu_0_3").fraction == 1.0
    unregistered = check_registered(["relu_0_3"], "m", "relu_0_3")
    assert unregistered.fraction == 0.0 and "register_keras_serializable" in render(unregistered.message, "en")
    assert check_registered([], "m", "relu_0_3").message.key == "function_not_used"


def _initializers_expected():
    return {"glorot_uniform": {"mean": Expected(0.0, 1e-4), "std": Expected(0.0316, 1e-4)},
            "ones": {"mean": Expected(1.0, 1e-9), "std": Expected(0.0, 1e-9)}}


@pytest.mark.parametrize("table", [
    {"glorot_uniform": {"mean": 0.00002, "std": 0.03165}, "ones": {"mean": 1.0, "std": 0.0}},
    {"GlorotUniform": {"Media": 0.00002, "Desviación": 0.03165}, "Ones": {"media": 1.0, "desviacion": 0.0}},
    {"glorot uniform": [0.00002, 0.03165], "ones": [1.0, 0.0]},
], ids=["english", "spanish_and_class_names", "rows_as_lists"])
def test_a_table_is_read_as_a_fair_reader_would(table):
    aliases = {"mean": ("media",), "std": ("desviacion",)}
    assert check_table(table, _initializers_expected(), "t", aliases).fraction == 1.0


def test_a_wrong_row_of_a_table_loses_its_share_with_the_value_expected():
    table = {"glorot_uniform": {"mean": 0.0, "std": 0.0447}, "ones": {"mean": 1.0, "std": 0.0}}
    outcome = check_table(table, _initializers_expected(), "t")
    assert outcome.fraction == 0.5
    assert "row 'glorot_uniform': std = 0.044700, expected 0.031600" in render(outcome.message, "en")


def test_the_export_turns_a_dataframe_into_rows_named_by_its_text_column():
    import pandas as pd

    frame = pd.DataFrame({"initializer": ["zeros", "ones"], "mean": [0.0, 1.0], "std": [0.0, 0.0]})
    assert table_dict(frame) == {"zeros": {"mean": 0.0, "std": 0.0}, "ones": {"mean": 1.0, "std": 0.0}}
    assert table_dict(frame.set_index("initializer")) == table_dict(frame)
    assert table_dict({"learning_rate": np.geomspace(1e-5, 1, 5), "loss": [2.0, 1.0, 0.5, np.inf, 3.0]}) == {
        "learning_rate": pytest.approx(list(np.geomspace(1e-5, 1, 5))), "loss": [2.0, 1.0, 0.5, None, 3.0]}


def test_a_learning_rate_search_must_grow_exponentially_over_enough_decades():
    rates = list(np.geomspace(1e-5, 1.0, 30))
    assert check_geometric_sweep({"learning_rate": rates, "loss": [1.0] * 30}, "s", "learning_rate", "loss",
                                 10, 2.0).fraction == 1.0
    linear = list(np.linspace(1e-5, 1.0, 30))
    assert check_geometric_sweep({"learning_rate": linear, "loss": [1.0] * 30}, "s", "learning_rate", "loss",
                                 10, 2.0).message.key == "sweep_not_geometric"
    narrow = list(np.geomspace(1e-3, 1e-2, 30))
    assert check_geometric_sweep({"learning_rate": narrow, "loss": [1.0] * 30}, "s", "learning_rate", "loss",
                                 10, 2.0).message.key == "sweep_narrow"
    assert check_geometric_sweep({"lr": rates}, "s", "learning_rate", "loss", 10, 2.0).message.key == "sweep_columns"


def test_regression_credit_falls_as_the_mean_absolute_error_grows():
    targets = np.linspace(25, 346, 89)
    assert check_regression(targets[:, None] + 40.0, targets, zero_at=57.25, full_at=45.25).fraction == 1.0
    halfway = check_regression(targets + 51.25, targets, zero_at=57.25, full_at=45.25)
    assert halfway.fraction == pytest.approx(0.5) and halfway.details["mae"] == 51.25
    untrained = check_regression(np.zeros(89), targets, zero_at=57.25, full_at=45.25)
    assert untrained.fraction == 0.0 and "MAE 185,50" in render(untrained.message, "es")
    assert check_regression(np.zeros(10), targets, 57.25, 45.25).message.key == "prediction_count"
    assert linear_credit(0.95, 0.9, 1.0) == pytest.approx(0.5)  # higher is better, as before


def test_a_model_with_a_custom_activation_loads_with_the_instructors_function_under_any_package(tmp_path):
    import keras

    (tmp_path / "custom_objects.py").write_text(
        "import keras\n\ndef relu_0_3(x):\n    return keras.ops.maximum(0.3 * x, x)\n", encoding="utf-8")
    trusted = load_trusted_objects({"relu_0_3": "custom_objects:relu_0_3"}, tmp_path)

    @keras.saving.register_keras_serializable(package="mine", name="relu_0_3")
    def student_relu(x):
        return keras.ops.maximum(0.3 * x, x)

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(3, activation=student_relu), keras.layers.Dense(1)])
    path = tmp_path / "model.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert serialized_functions(config) == ["mine>relu_0_3"]
    keras.saving.get_custom_objects().pop("mine>relu_0_3")  # the scorer's process never ran the student's code
    with pytest.raises(Exception):  # without the declaration, safe mode has nothing to load it with
        keras.saving.load_model(path, safe_mode=True, custom_objects={})
    loaded = keras.saving.load_model(path, safe_mode=True, custom_objects=custom_objects_for(config, trusted))
    assert loaded.layers[0].activation is trusted["relu_0_3"]
    x = np.linspace(-3, 3, 7, dtype="float32")[:, None]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_missing_row_is_named():
    outcome = check_table({"ones": {"mean": 1, "std": 0}}, _initializers_expected(), "t")
    assert outcome.fraction == 0.5 and "row 'glorot_uniform' is missing from 't'" in render(outcome.message, "en")
