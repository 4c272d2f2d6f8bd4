"""A scikit-learn estimator is scored on what the assignment says it reads: the features of the contract
function named in ``[features]``, or its held-out inputs as flattened rows. Real export (skops), real
held-out sets, the scorer's own loading."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid

from grader.artifacts import Artifacts
from grader.config import ConfigError, load_config
from grader.export import export_artifacts
from grader.heldout import build_heldout, load_answers
from tests.test_config import write_variant


def column_means(images):
    """A feature function of the shape a student might write: one mean per image column."""
    return np.asarray(images, dtype="float32").reshape(len(images), 28, 28).mean(axis=1)


def fitted_on(rows: np.ndarray, labels: np.ndarray) -> NearestCentroid:
    return NearestCentroid().fit(rows, labels)


@pytest.fixture(scope="module")
def heldout_folder(light_config, tmp_path_factory):
    folder = tmp_path_factory.mktemp("heldout")
    build_heldout(light_config).write(folder / "inputs", folder / "answers")
    return folder


def scored_outputs(config, objects, heldout_folder, folder):
    export_artifacts(objects, str(folder), str(heldout_folder / "inputs"), dict(config.contract),
                     dict(config.inputs), config.limits.model_dump())
    artifacts = Artifacts(folder, load_answers(heldout_folder / "inputs"), config)
    return artifacts.outputs("svm_hog")


def test_an_estimator_predicts_from_the_features_of_the_function_the_config_names(
        light_config, heldout_folder, tmp_path):
    assert light_config.features == {"svm_hog": "hog_features"}
    images = load_answers(heldout_folder / "inputs")["mnist"]
    rng = np.random.default_rng(0)
    estimator = fitted_on(column_means(images[:200]), rng.integers(0, 10, 200))

    outputs, verified = scored_outputs(light_config, {"hog_features": column_means, "svm_hog": estimator},
                                       heldout_folder, tmp_path)
    assert verified and np.array_equal(outputs, estimator.predict(column_means(images)))


def test_an_estimator_the_config_gives_no_features_predicts_from_its_flattened_inputs(
        light_config, heldout_folder, tmp_path):
    config = light_config.model_copy(update={"features": {}})
    images = load_answers(heldout_folder / "inputs")["mnist"]
    rows = images.reshape(len(images), -1)
    estimator = fitted_on(rows[:200].astype("float32"), np.arange(200) % 10)

    outputs, verified = scored_outputs(config, {"hog_features": column_means, "svm_hog": estimator},
                                       heldout_folder, tmp_path)
    assert verified and outputs.shape == (len(images),)
    assert np.array_equal(outputs, estimator.predict(rows))


@pytest.mark.parametrize("new, expected", [
    ('svm_hog = "cnn_model"', "features.svm_hog = 'cnn_model' is not a function in [contract]"),
    ('cnn_model = "hog_features"', "[features] names 'cnn_model', which is not a sklearn_estimator"),
])
def test_features_must_pair_an_estimator_with_a_function(tmp_path, new, expected):
    path = write_variant(tmp_path, 'svm_hog = "hog_features"', new)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(path)


def test_an_estimator_needs_a_held_out_set(tmp_path):
    path = write_variant(tmp_path, 'svm_hog = "mnist"\n', "")
    with pytest.raises(ConfigError, match=r"estimators \['svm_hog'\] have no held-out set in \[inputs\]"):
        load_config(path)


def test_an_estimator_and_its_function_read_the_same_held_out_set(tmp_path):
    path = write_variant(tmp_path, 'svm_hog = "mnist"', 'svm_hog = "fashion_noisy"')
    with pytest.raises(ConfigError, match="must be applied to the same held-out set"):
        load_config(path)
