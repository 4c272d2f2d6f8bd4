"""Datasets resolve in the documented order, say where they came from, and match the known facts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from grader import datasets
from grader.datasets import DatasetNotFoundError
from tests.conftest import COURSE_DATA as SHARED_DATASETS

needs_data = pytest.mark.skipif(not (SHARED_DATASETS / "mnist.npz").is_file(),
                                reason="no offline course datasets ($GRADER_DATA_DIR)")


@needs_data
def test_mnist_matches_the_known_facts():
    mnist = datasets.load("mnist", SHARED_DATASETS)
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.x_train.mean() == pytest.approx(33.318, abs=1e-3)
    assert mnist.source == f"explicit directory: {SHARED_DATASETS / 'mnist.npz'}"


@needs_data
def test_fashion_mnist_matches_the_known_facts():
    fashion = datasets.load("fashion_mnist", SHARED_DATASETS)
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_test.shape == (10000, 28, 28)
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion.x_train.mean() == pytest.approx(72.94, abs=1e-2)


@needs_data
def test_resolution_order_environment_then_keras_cache(tmp_path, monkeypatch):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    shutil.copy(SHARED_DATASETS / "mnist.npz", cache / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(SHARED_DATASETS))
    assert datasets.load("mnist").source.startswith("$GRADER_DATA_DIR")
    monkeypatch.delenv(datasets.DATA_DIR_ENV)
    assert datasets.load("mnist").source == f"Keras cache: {cache / 'mnist.npz'}"


def test_no_data_anywhere_lists_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras"))
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "nothing"))
    monkeypatch.setattr(datasets, "DEBIAN_DATASETS", tmp_path / "no_debian")
    with pytest.raises(DatasetNotFoundError) as error:
        datasets.load("fashion_mnist", allow_download=False)
    text = str(error.value)
    for place in (str(tmp_path / "nothing"), str(tmp_path / "empty_keras" / "datasets"), str(tmp_path / "no_debian")):
        assert place in text
    assert "Keras download skipped" in text and "set $GRADER_DATA_DIR" in text


def test_truncated_idx_file_is_named(tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 10, 1, 2]))
    with pytest.raises(ValueError, match="truncated IDX file"):
        datasets.read_idx(bad)


@needs_data
def test_keras_loaders_are_served_offline_in_a_kernel_like_process(monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", keras.datasets.mnist.load_data)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", keras.datasets.fashion_mnist.load_data)
    datasets.serve_keras_offline(SHARED_DATASETS)
    (x_train, y_train), (x_test, _) = keras.datasets.mnist.load_data()
    assert y_train[:3].tolist() == [5, 0, 4] and x_test.shape == (10000, 28, 28)
    (f_train, f_labels), _ = keras.datasets.fashion_mnist.load_data()
    assert f_labels[:3].tolist() == [9, 0, 0] and np.asarray(f_train).dtype == np.uint8


# --- arrays an assignment ships ---------------------------------------------------------------------

@pytest.fixture
def shipped_toy(tmp_path, monkeypatch):
    """An installed assignment 'juguete' that ships its own arrays: public/data/toy.npz (Keras' keys)."""
    import grader.instructor

    folder = tmp_path / "assignments" / "juguete" / "public" / "data"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(40, 3)), "y_train": np.arange(40) % 2,
              "x_test": rng.normal(size=(20, 3)), "y_test": np.arange(20) % 2}
    np.savez(folder / "toy.npz", **arrays)
    monkeypatch.setattr(grader.instructor, "ASSIGNMENTS_DIR", tmp_path / "assignments")
    monkeypatch.delenv("GRADER_DATA_DIR", raising=False)
    return arrays


def test_arrays_an_assignment_ships_load_by_name_and_a_served_copy_comes_first(shipped_toy, tmp_path):
    from grader.datasets import ShippedDataset, describe_source, load, load_data, registered

    assert isinstance(registered("toy"), ShippedDataset)
    loaded = load("toy")
    assert loaded.source.startswith("the assignment's data: ") and loaded.x_test.shape == (20, 3)
    (x_train, y_train), (x_test, y_test) = load_data("toy")
    np.testing.assert_array_equal(x_test, shipped_toy["x_test"])
    served = tmp_path / "served"
    served.mkdir()
    np.savez(served / "toy.npz", x_train=x_train, y_train=y_train, x_test=x_test[5:], y_test=y_test[5:])
    assert load("toy", served).x_test.shape == (15, 3)  # the grader's copy without the held-out items
    assert describe_source("toy", served) == f"explicit directory: {served / 'toy.npz'}"
    with pytest.raises(ValueError, match="assignments/<assignment>/public/data/nothing.npz"):
        registered("nothing")


def test_a_held_out_set_drawn_from_shipped_arrays_is_left_out_of_the_served_copy(shipped_toy):
    from grader.config import AssignmentConfig
    from grader.heldout import build_heldout

    config = AssignmentConfig.model_validate({
        "name": "juguete", "title": "Juguete", "source_notebook": "source/juguete.ipynb", "datasets": ["toy"],
        "contract": {"model": "keras_model"}, "inputs": {"model": "toy_test"}, "checks": {},
        "heldout": {"seed": 3, "sets": {"toy_test": {"dataset": "toy", "items": 8,
                                                      "answers": {"labels": "toy_labels"}}}}})
    heldout = build_heldout(config)
    assert heldout.inputs["toy_test"].shape == (8, 3)
    served = heldout.served["toy"]
    assert served.x_test.shape == (12, 3) and served.x_train.shape == (40, 3)
    left = {tuple(row) for row in served.x_test}
    assert not any(tuple(row) in left for row in heldout.inputs["toy_test"])
    np.testing.assert_array_equal(np.sort(heldout.answers["toy_labels"]),
                                  np.sort(shipped_toy["y_test"][[i for i, row in enumerate(shipped_toy["x_test"])
                                                                 if tuple(row) not in left]]))
