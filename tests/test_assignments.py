"""The engine knows no assignment: datasets come from a registry, held-out sets and public checks are
declared by the assignment, and a notebook says which assignment it is for. No training here."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import datasets
from grader.config import PUBLIC_CHECK_KINDS, ConfigError, load_config
from grader.errors import GraderError
from grader.i18n import render
from grader.metrics import labels_from_scores
from grader.public_checks import (ASSIGNMENT_ENV, build_public_checks, installed_assignments, load_public_checks,
                                  public_checks_of, public_checks_path)
from tests.conftest import COURSE_DATA
from tests.test_config import write_variant

GRADER_DIR = Path(__file__).resolve().parents[1] / "grader"
needs_data = pytest.mark.skipif(not (COURSE_DATA / "mnist.npz").is_file(), reason="no offline course datasets")


def test_no_file_of_the_engine_names_an_assignment():
    named = [str(path.relative_to(GRADER_DIR)) for path in GRADER_DIR.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts
             and b"practica" in path.read_bytes().lower()]
    assert named == []


# --- the dataset registry ---------------------------------------------------------------------------

def test_registry_knows_keras_and_scikit_learn_datasets():
    assert {"mnist", "fashion_mnist", "cifar10", "diabetes"} <= set(datasets.REGISTRY)
    assert datasets.probe_sources("diabetes") == []  # nothing to find: no files, no network
    assert "scikit-learn" in datasets.describe_source("diabetes")
    diabetes = datasets.load("diabetes")
    assert diabetes.x_train.shape == (353, 10) and diabetes.x_test.shape == (89, 10)
    with pytest.raises(ValueError, match="unknown dataset 'emnist'; known: mnist, fashion_mnist"):
        datasets.load("emnist")


def test_missing_dataset_names_its_own_layout_in_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_DATASETS", tmp_path / "debian")
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load("mnist", tmp_path / "nothing", allow_download=False)
    assert "(MNIST as mnist.npz), or connect" in str(error.value)
    assert "Debian" not in str(error.value).split("Fix:")[1]


@pytest.mark.parametrize("old, new, expected", [
    ('datasets = ["mnist", "fashion_mnist"]', 'datasets = ["mnist", "emnist"]',
     "key 'datasets': Value error, unknown dataset 'emnist'; known: mnist, fashion_mnist"),
    ('dataset = "fashion_mnist"', 'dataset = "fashion"', "key 'heldout.sets.fashion_noisy.dataset'"),
    ('denoiser = "fashion_noisy"', 'denoiser = "fashion_ruidoso"',
     "[inputs] names held-out sets ['fashion_ruidoso'] that are not in [heldout.sets]"),
    ("gaussian_noise = 0.4\n", "", "answers.clean keeps the inputs before the noise: set gaussian_noise too"),
    ('answers = { labels = "mnist_labels" }', 'answers = { labels = "fashion_clean" }', "used twice"),
    ('public = "architecture"', 'public = "layers"', "key 'checks.ej1_arquitectura.public'"),
    ('objects = ["cnn_model"]\npublic = "architecture"', 'objects = ["cnn_history"]\npublic = "architecture"',
     "checks.ej1_arquitectura.public = 'architecture' reads a keras_model, and 'cnn_history' is a history"),
    ('hidden = false\nobjects = ["denoiser"]', 'hidden = true\nobjects = ["denoiser"]',
     "a public check needs hidden = false"),
])
def test_declared_datasets_held_out_sets_and_public_checks_are_validated(tmp_path, old, new, expected):
    with pytest.raises(ConfigError) as error:
        load_config(write_variant(tmp_path, old, new))
    assert expected in str(error.value) and "\n" not in str(error.value)


# --- held-out sets: declared, and bit for bit what the coded Práctica 3 sets were ---------------------

def _hashes(held) -> dict[str, tuple[str, tuple, str]]:
    return {f"{kind}/{name}": (str(array.dtype), array.shape, hashlib.sha256(array.tobytes()).hexdigest())
            for kind, arrays in (("inputs", held.inputs), ("answers", held.answers)) for name, array in arrays.items()}


# sha256 of the arrays grader/heldout.py built before the sets were declared (its MNIST and
# fashion_noisy branches), for the real configuration and for tests/conftest.py's light one.
BEFORE = {
    "full": {
        "inputs/mnist": ("uint8", (5000, 28, 28), "9eec0c7bc73838f8ce7913a456848fd97d06b719577193b5a4564e2b0079b23a"),
        "inputs/fashion_noisy": ("float32", (1000, 28, 28, 1),
                                 "81c2f4b5b881ffedcaa7f0501a7d68b6369ce40388e92d120ccc08508d997e33"),
        "answers/mnist_labels": ("int64", (5000,), "7bd7dfc4db609a451206f67da6f378a49e46e7bf62e94973e61afc64c2cf05e2"),
        "answers/fashion_clean": ("float32", (1000, 28, 28, 1),
                                  "fd01bda5c81ae21eba4b0ba29f6585da773ce58af7b327b6644f09e644104d1e"),
    },
    "light": {
        "inputs/mnist": ("uint8", (2000, 28, 28), "a95393fe77a450055989ddf84566ae11ff340637540e1a10b347dd6e4c571940"),
        "inputs/fashion_noisy": ("float32", (300, 28, 28, 1),
                                 "817981db6810f1caa23aae62f4035fe9fccd5df6224caf930d58850e4d3567f8"),
        "answers/mnist_labels": ("int64", (2000,), "6577bd9b76f651e14b9e510a2229dfecfc6c55a3c815d58e05d692809af867af"),
        "answers/fashion_clean": ("float32", (300, 28, 28, 1),
                                  "35a9af4e9c64de0032c882c073c93e2795a90c5d5579a9478c7a2526d741b70d"),
    },
}


@needs_data
@pytest.mark.parametrize("which", ["full", "light"])
def test_declared_held_out_sets_reproduce_the_arrays_of_before(which, practica3, light_config):
    from grader.heldout import build_heldout

    from grader.heldout import SEEN_SUFFIX

    hashes = _hashes(build_heldout({"full": practica3, "light": light_config}[which]))
    # Beside them now: the test images the student had, kept to compare with (tests/test_secret_data.py).
    assert {name: h for name, h in hashes.items() if not name.endswith(SEEN_SUFFIX)} == BEFORE[which]


@needs_data
def test_a_set_larger_than_its_split_is_refused_with_the_key(practica3):
    from grader.heldout import build_heldout

    sets = {**practica3.heldout.sets, "mnist": practica3.heldout.sets["mnist"].model_copy(update={"items": 10_001})}
    config = practica3.model_copy(update={"heldout": practica3.heldout.model_copy(update={"sets": sets})})
    with pytest.raises(ConfigError, match=r"key 'heldout.sets.mnist.items': 10001, but the test split of mnist "
                                          r"has 10000; fix: ask for at most 10000"):
        build_heldout(config)


# --- outputs: binary classifiers, image shapes ------------------------------------------------------

def test_one_sigmoid_unit_is_read_as_binary_not_argmax():
    sigmoid = np.array([[0.1], [0.7], [0.5], [0.93]], dtype="float32")
    assert labels_from_scores(sigmoid).tolist() == [0, 1, 0, 1]
    assert labels_from_scores(np.array([[0.2, 0.8], [0.6, 0.4]])).tolist() == [1, 0]  # two softmax units
    assert labels_from_scores(np.array([[3], [0]])).tolist() == [3, 0]  # integer labels as a column
    assert labels_from_scores(np.array([2, 1])).tolist() == [2, 1]


def test_confusion_matrix_has_the_classes_of_the_labels():
    from grader.checks.accuracy import check_accuracy

    outcome = check_accuracy(np.array([[0.2], [0.9], [0.8]]), np.array([0, 1, 0]), 0.0, 1.0)
    assert outcome.details["confusion_matrix"] == [[1, 1], [0, 1]]


def test_input_shape_message_offers_the_spec_without_its_channel_axis():
    from grader.checks.architecture import compare_architecture

    spec = load_public_checks("practica3").specs["cnn_model"]
    flat = {**spec, "input_shape": [None, 784]}
    assert "entrada (None, 784), esperada (None, 28, 28, 1) (o (None, 28, 28) con un Reshape al principio)" in \
        render(compare_architecture(spec, flat).message, "es")
    color = render(compare_architecture({**spec, "input_shape": [None, 28, 28, 3]}, flat).message, "es")
    assert "entrada (None, 784), esperada (None, 28, 28, 3)" in color and "Reshape" not in color


# --- public checks: per assignment, found from the notebook ----------------------------------------

def test_public_checks_file_is_what_the_configuration_declares(practica3):
    shipped = json.loads(public_checks_path("practica3").read_text(encoding="utf-8"))
    assert shipped == build_public_checks(practica3, shipped["specs"])
    assert set(shipped["parts"]) == {name for name, check in practica3.checks.items() if check.public}


def test_every_public_check_kind_has_a_runner():
    from grader.selfcheck import PUBLIC_KINDS

    assert set(PUBLIC_KINDS) == set(PUBLIC_CHECK_KINDS)


@pytest.fixture
def two_assignments(tmp_path, monkeypatch):
    """Two installed assignments, 'alfa' and 'beta', with the same part names (Práctica 3's)."""
    import grader.public_checks

    for name in ("alfa", "beta"):
        folder = tmp_path / name / "public"
        folder.mkdir(parents=True)
        shipped = json.loads(public_checks_path("practica3").read_text(encoding="utf-8"))
        (folder / "checks.json").write_text(json.dumps({**shipped, "assignment": name}), encoding="utf-8")
    monkeypatch.setattr(grader.public_checks, "ASSIGNMENTS_DIR", tmp_path)
    monkeypatch.delenv(ASSIGNMENT_ENV, raising=False)
    load_public_checks.cache_clear()
    yield
    load_public_checks.cache_clear()


def test_a_part_in_two_assignments_needs_the_assignment_named(two_assignments, monkeypatch):
    assert installed_assignments() == ["alfa", "beta"]
    with pytest.raises(KeyError) as ambiguous:
        public_checks_of("ej1_arquitectura")
    assert re.search(r"está en varias prácticas \(alfa, beta\).*assignment='alfa'", render(ambiguous.value.text, "es"))
    assert "is in several assignments (alfa, beta)" in str(ambiguous.value)
    assert public_checks_of("ej1_arquitectura", "beta").assignment == "beta"
    monkeypatch.setenv(ASSIGNMENT_ENV, "alfa")  # a kernel the grader started for 'alfa'
    assert public_checks_of("ej1_arquitectura").assignment == "alfa"


def test_grader_check_takes_the_assignment_from_the_notebook(two_assignments):
    from grader.metadata import KEY
    from grader.selfcheck import notebook_settings

    assert notebook_settings("a.ipynb", {KEY: {"assignment": "beta", "language": "es"}}).assignment == "beta"
    assert notebook_settings("a.ipynb", {}, assignment="alfa").assignment == "alfa"
    with pytest.raises(GraderError) as error:
        notebook_settings("a.ipynb", {})
    text = str(error.value)
    assert "does not say which assignment" in text and "this package has 2 (alfa, beta)" in text
    assert "fix: grader check a.ipynb --assignment NAME" in text and "\n" not in text
    with pytest.raises(GraderError, match="is for assignment 'gamma'.*'alfa', 'beta' only; fix: update it"):
        notebook_settings("a.ipynb", {KEY: {"assignment": "gamma"}})


def test_with_one_assignment_installed_a_notebook_without_metadata_is_checked_as_that_one(tmp_path, monkeypatch):
    import grader.public_checks
    from grader.selfcheck import notebook_settings

    shutil.copytree(public_checks_path("practica3").parent, tmp_path / "practica3" / "public")
    monkeypatch.setattr(grader.public_checks, "ASSIGNMENTS_DIR", tmp_path)
    monkeypatch.delenv(ASSIGNMENT_ENV, raising=False)
    load_public_checks.cache_clear()
    assert installed_assignments() == ["practica3"]
    settings = notebook_settings("a.ipynb", {})
    assert settings.assignment == "practica3" and "se comprueba como practica3" in settings.notes[0]


def test_demo_finds_the_assignments_that_ship_an_example_download():
    from grader.demo import EXAMPLES_DIR, example_downloads

    assert example_downloads() == {name: EXAMPLES_DIR / f"{name}_prado.zip" for name in ("practica2", "practica3")}


@needs_data
@pytest.mark.slow
def test_nbgraders_hidden_path_runs_the_assignments_own_hidden_tests(tmp_path):
    """check(..., hidden=True) in a kernel-like process: the hidden tests of autograde_tests/, twice, on
    the real held-out sets (no training, but about 100 s on the 2-core machine)."""
    script = """
import keras
from grader import check
from tests.test_architecture_checks import given_cnn
keras.utils.set_random_seed(0)
model, base = given_cnn(), given_cnn()
for part, extra in (("ej1_precision_cnn", {}), ("ej1_mejora", {"base": base})):
    try:
        check(part, model, hidden=True, **extra)
    except AssertionError as error:
        print("FAILED", error)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=GRADER_DIR.parent, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert re.match(r"FAILED ej1_precision_cnn: precisión 0,\d{4} \(puntuación completa desde", failed[0])
    assert failed[1].startswith("FAILED ej1_mejora: ") and "CNN base" in failed[1], failed
