"""Secret evaluation data: the student's kernel is served each test split without the grader's secret
items, never sees the raw dataset files nor the secret inputs while its cells run, and a model trained
on the test split (or one that looks test images up) is measured on the secret part and flagged.

The graded notebook is hostile on purpose and written as a student would: the given CNN trained on
``x_test`` (the common honest mistake), and an "improved model" built only from standard Keras layers
that stores every test image it was given with its label and answers by exact match (the attack the
secret part defeats: on images it never saw it answers class 0).
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from grader.checks.leakage import GAP_Z, MIN_GAP, split_gap, with_test_split_gap
from grader.checks.outcome import CheckOutcome
from grader.heldout import SEEN_SUFFIX, build_heldout
from grader.records import ExecutionStatus
from grader.i18n import msg, render
from tests import submissions as s
from tests.conftest import COURSE_DATA

needs_data = pytest.mark.skipif(not (COURSE_DATA / "mnist.npz").is_file(), reason="no offline course datasets")


# ----------------------------------------------------------------------------- fast: pure functions

def test_an_honest_model_is_not_flagged_and_a_gap_beyond_chance_is():
    rng = np.random.default_rng(0)
    honest = [split_gap(rng.random(5000) < 0.97, rng.random(5000) < 0.97)["flag"] for _ in range(200)]
    assert not any(honest)
    memorised = split_gap(rng.random(5000) < 0.995, rng.random(5000) < 0.97)
    assert memorised["flag"] and memorised["gap"] > memorised["threshold"] >= MIN_GAP


def test_a_tiny_gap_on_huge_sets_is_never_flagged():
    """Significant but under one point of accuracy: it changes no grade."""
    seen, secret = np.arange(10**6) % 1000 < 995, np.arange(10**6) % 1000 < 990  # 0.995 vs 0.990
    gap = split_gap(seen, secret)
    assert GAP_Z * 0.0002 < gap["gap"] < MIN_GAP and not gap["flag"]


def test_the_flag_keeps_the_points_and_says_why_in_the_students_language():
    labels = np.arange(1000) % 10
    secret_scores = np.eye(10)[np.where(np.arange(1000) % 10 < 9, labels, (labels + 1) % 10)]  # 90 %
    seen_scores = np.eye(10)[labels]  # 100 %: it saw these
    outcome = CheckOutcome(0.5, msg("accuracy", accuracy=0.9, full_at=0.95, zero_at=0.8), {"accuracy": 0.9})
    flagged = with_test_split_gap(outcome, secret_scores, labels, seen_scores, labels)
    assert flagged.fraction == 0.5 and flagged.details["test_split"]["flag"] is True
    assert "posible entrenamiento con el conjunto de test" in render(flagged.message, "es")
    assert "possible training on the test set" in render(flagged.message, "en")
    unverifiable = with_test_split_gap(outcome, secret_scores, labels, None, labels)
    assert unverifiable == outcome


@needs_data
def test_the_kernel_is_served_each_test_split_without_the_secret_items(practica3):
    heldout = build_heldout(practica3)
    for held_name, held in practica3.heldout.sets.items():
        served = heldout.served[held.dataset]
        assert len(served.x_test) == 10_000 - held.items
        served_images = {image.tobytes() for image in served.x_test}
        secret = heldout.answers.get(held.answers.get("clean", ""), heldout.inputs[held_name])
        raw = (np.rint(secret[..., 0] * 255).astype("uint8") if secret.dtype != np.uint8 else secret)
        assert not any(image.tobytes() in served_images for image in raw), held_name
    seen = heldout.answers["mnist" + SEEN_SUFFIX]
    assert len(seen) == len(heldout.served["mnist"].x_test) == len(heldout.answers["mnist_labels" + SEEN_SUFFIX])
    assert {image.tobytes() for image in seen} <= {image.tobytes() for image in heldout.served["mnist"].x_test}


# ----------------------------------------------------------------------------- slow: a graded run

KERNEL_VIEW = """\
import hashlib, json, os
(_, _), (seen_x, _) = keras.datasets.mnist.load_data()
(_, _), (seen_f, _) = keras.datasets.fashion_mnist.load_data()
found = []
for top in ("/usr", "/opt", "/srv", "/mnt", "/media", "/home", "/root", "/work", "/tmp", os.path.expanduser("~"), ".."):
    for folder, _, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.path.getsize(path) > 1_000_000 and any(
                    k in name.lower() for k in ("mnist", "t10k", "idx3", "idx1", "fashion")):
                found.append(os.path.realpath(path))
print(json.dumps({"mnist_test": [hashlib.sha256(i.tobytes()).hexdigest()[:16] for i in seen_x],
                  "fashion_test": len(seen_f), "inputs_during_cells": sorted(os.listdir("../inputs")),
                  "data_dir": os.environ.get("GRADER_DATA_DIR"), "dataset_files": sorted(set(found))}))
"""

TRAINED_ON_TEST = """\
(_, _), (test_images, test_labels) = keras.datasets.mnist.load_data()
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(test_images[..., None] / 255.0, test_labels, epochs=15, batch_size=32, verbose=0)
"""

LOOKUP_MODEL = """\
# "Improved" model: every test image I was given, with its label, answered by exact match.
(_, _), (known_images, known_labels) = keras.datasets.mnist.load_data()
known = known_images.reshape(len(known_images), -1).astype("float32") / 255.0
squares, products = layers.Dense(1, use_bias=False), layers.Dense(len(known))
spread, answers = layers.Dense(len(known), use_bias=False), layers.Dense(10, use_bias=False)
inputs = keras.Input((28, 28, 1))
flat = layers.Flatten()(inputs)
distance = layers.Add()([products(flat), spread(squares(layers.Multiply()([flat, flat])))])  # |x - k|^2
match = layers.ReLU()(layers.Rescaling(scale=-2.0, offset=1.0)(distance))  # 1 for an exact match only
improved_model = keras.Model(inputs, answers(match))
squares.set_weights([np.ones((784, 1), "float32")])
products.set_weights([-2 * known.T, (known ** 2).sum(axis=1)])
spread.set_weights([np.ones((1, len(known)), "float32")])
answers.set_weights([np.eye(10, dtype="float32")[known_labels]])
"""


@pytest.fixture(scope="module")
def graded(light_config, released, tmp_path_factory):
    from grader.pipeline import grade_submission

    if shutil.which("bwrap") is None:
        pytest.skip("the secret part is kept from the kernel by the sandbox: bubblewrap is not installed")
    root = tmp_path_factory.mktemp("secret")
    nb = s.fill(released[0], {"ej1_cnn_entrenamiento": TRAINED_ON_TEST, "ej1_hog": KERNEL_VIEW, "ej1_svm": None,
                              "ej1_mejora_modelo": LOOKUP_MODEL, "ej1_mejora_entrenamiento": None,
                              "ej2_modelo": None, "ej2_entrenamiento": None, "ej2_evaluacion": None,
                              "ej2_figura": None})
    path = s.write(nb, root / "entregas" / "tramposa" / "practica3.ipynb")
    workdir = root / "work" / "tramposa"
    result = grade_submission(path, light_config, student="tramposa", workdir=workdir, db_url=released[1])
    return result, workdir, build_heldout(light_config)


def _kernel_view(workdir) -> dict:
    import nbformat

    executed = nbformat.read(workdir / "executed.ipynb", as_version=4)
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ej1_hog")
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    return json.loads(text.strip().splitlines()[-1])


@needs_data
@pytest.mark.slow
def test_the_kernel_never_has_the_secret_items_nor_the_raw_files(graded):
    result, workdir, heldout = graded
    assert result.execution.status is not ExecutionStatus.TIMEOUT, result.execution.message
    view = _kernel_view(workdir)
    secret = {hashlib.sha256(image.tobytes()).hexdigest()[:16] for image in heldout.inputs["mnist"]}
    assert len(view["mnist_test"]) == 10_000 - len(secret) and not secret & set(view["mnist_test"])
    assert view["fashion_test"] == 10_000 - len(heldout.inputs["fashion_noisy"])
    assert view["inputs_during_cells"] == []  # the secret inputs arrive for the grader's export only
    # No dataset file anywhere the kernel can read but the served copies (the raw ones are not mounted).
    served = {f"{view['data_dir']}/mnist.npz", f"{view['data_dir']}/fashion_mnist.npz"}
    assert set(view["dataset_files"]) == served, view["dataset_files"]


@needs_data
@pytest.mark.slow
def test_training_on_the_test_split_is_flagged_and_keeps_what_the_secret_part_earns(graded):
    result, _, heldout = graded
    checks = {check.name: check for check in result.checks}
    accuracy = checks["ej1_precision_cnn"]
    gap = accuracy.details["test_split"]
    assert gap["flag"] is True and gap["seen"] > gap["secret"] + gap["threshold"], gap
    assert "posible entrenamiento con el conjunto de test" in accuracy.message
    # Measured on the secret part only: the points are what those accuracies earn, flag or not.
    assert accuracy.details["accuracy"] == pytest.approx(gap["secret"], abs=1e-4)
    assert checks["ej1_arquitectura"].points == checks["ej1_arquitectura"].max_points


@needs_data
@pytest.mark.slow
def test_a_lookup_of_the_test_images_it_was_given_earns_chance_on_the_secret_part(graded):
    result, _, heldout = graded
    improved = next(check for check in result.checks if check.name == "ej1_mejora")
    gap = improved.details["test_split"]
    assert gap["seen"] == 1.0 and gap["flag"] is True
    # On images it never saw it answers class 0: what it earns on the secret part is that share, no more.
    chance = float(np.mean(heldout.answers["mnist_labels"] == 0))
    assert gap["secret"] == pytest.approx(chance, abs=0.005) and improved.points == 0.0
