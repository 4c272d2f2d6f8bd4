"""Student self-check: instant checks in the notebook, and a full local run from the command line,
from the student release alone (no hidden tests, no labels, no gradebook)."""

from __future__ import annotations

import sys
import time

import pytest

from grader import check
from grader.instructor import ASSIGNMENTS_DIR, HIDDEN_TESTS_DIR, REFERENCE_DIR
from grader.public_checks import public_checks_path
from grader.selfcheck import run_local_check
from tests import submissions as s
from tests.conftest import COURSE_DATA
from tests.test_architecture_checks import SubclassedCNN, given_cnn, sequential_with_activation_layers


def test_in_notebook_check_passes_the_reference_and_prints_a_table(capsys):
    started = time.perf_counter()
    outcome = check("ej1_arquitectura", sequential_with_activation_layers())
    assert time.perf_counter() - started < 5  # generous bound; bench/ measures the real latency
    printed = capsys.readouterr().out
    assert outcome.passed and "✔ ej1_arquitectura: 100%" in printed
    assert "✔    12  Dense         (None, 10)" in printed  # the student's own layer numbers


@pytest.mark.parametrize("model, part, hint", [
    (given_cnn(conv2_padding="same"), "ej1_arquitectura", "revisa padding='valid'"),
    (given_cnn(second_pool=False), "ej1_arquitectura", "falta una capa MaxPooling2D"),
    (given_cnn(conv2_filters=32), "ej1_parametros", "capa 3 (Conv2D): 25.632 parámetros, esperados 12.816"),
], ids=["padding", "missing-pool", "parameters"])
def test_in_notebook_check_fails_defects_with_the_hint(model, part, hint, capsys):
    with pytest.raises(AssertionError, match=part):
        check(part, model)
    printed = capsys.readouterr().out
    assert f"✘ {part}" in printed and hint in printed


def test_in_notebook_check_of_a_subclassed_model_and_the_autoencoder(capsys):
    assert check("ej1_arquitectura", SubclassedCNN()).passed
    import keras

    identity = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Identity()])
    with pytest.raises(AssertionError, match="la salida es igual a la entrada"):
        check("ej2_autoencoder", identity)


def test_unknown_part_names_the_known_ones():
    with pytest.raises(KeyError, match="ej1_arquitectura, ej1_parametros, ej2_autoencoder"):
        check("ej9", object())


def test_student_release_holds_no_hidden_test_and_no_labels(released):
    nb, _ = released
    text = "\n".join(cell.source for cell in nb.cells)
    assert "hidden=True" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "mnist_labels" not in text and "answers" not in text


@pytest.mark.slow
@pytest.mark.parametrize("name, overrides, expected", [
    ("reference", {}, {"ej1_arquitectura": 1.0, "ej1_parametros": 0.5, "ej2_autoencoder": 0.5}),
    # two defects in two exercises: each loses its own part's points only
    ("padding-and-identity", {"ej1_cnn_modelo": s.cnn_cell(padding2="same"),
                              "ej2_modelo": s.denoiser_cell(identity=True), "ej2_entrenamiento": None},
     {"ej1_arquitectura": 0.5, "ej1_parametros": 0.0, "ej2_autoencoder": 0.0}),
    ("extra-dense", {"ej1_cnn_modelo": s.cnn_cell(extra_dense=True)},
     {"ej1_arquitectura": 0.0, "ej1_parametros": 0.0, "ej2_autoencoder": 0.5}),
])
def test_grader_check_runs_the_notebook_with_public_checks_only(name, overrides, expected, released, tmp_path,
                                                                monkeypatch):
    opened: list[str] = []
    instructor_only = tuple(str(p) for p in (HIDDEN_TESTS_DIR, REFERENCE_DIR, ASSIGNMENTS_DIR))
    shipped = str(public_checks_path("practica3").parent)  # the public/ folder students' package has

    def audit(event, args):
        if event == "open" and args and str(args[0]).startswith(instructor_only) and \
                not str(args[0]).startswith(shipped):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # audit hooks cannot be removed: the list is only read in this test
    notebook = s.write(s.fill(released[0], {**overrides, "ej2_entrenamiento": overrides.get(
        "ej2_entrenamiento", s.denoiser_training_cell(images=500))}), tmp_path / "practica3.ipynb")
    cells = []
    result, report = run_local_check(notebook, tmp_path / "out", on_cell=lambda i, n, src: cells.append(i))
    assert {c.name: c.points for c in result.checks} == expected
    assert report.is_file() and "ej1_arquitectura" in report.read_text(encoding="utf-8")
    assert cells == sorted(cells) and len(cells) > 10
    assert opened == []
    assert not any(c.hidden for c in result.checks)


@pytest.mark.skipif(not (COURSE_DATA / "mnist.npz").is_file(), reason="no offline course datasets")
@pytest.mark.parametrize("by_name", [True, False], ids=["feature-function-by-name", "in-contract-order"])
def test_hidden_check_scores_the_object_it_is_given_whatever_its_place_in_the_contract(by_name):
    """``check("ej1_svm_hog", svm_hog, hog_features=hog_features, hidden=True)`` is how the source notebook
    calls it: the estimator comes first although the check's ``objects`` list the feature function first.
    Objects not passed by their contract name fill the check's ``objects`` in order."""
    import numpy as np
    from skimage.feature import hog
    from sklearn.svm import LinearSVC

    def hog_features(images):
        return np.stack([hog(image, pixels_per_cell=(7, 7), cells_per_block=(2, 2)) for image in images])

    with np.load(COURSE_DATA / "mnist.npz") as data:
        images, labels = data["x_train"][:300], data["y_train"][:300]
    svm_hog = LinearSVC().fit(hog_features(images), labels)
    with pytest.raises(AssertionError, match=r"ej1_svm_hog: precisión 0,\d+"):  # 300 images: below full marks
        if by_name:
            check("ej1_svm_hog", svm_hog, hog_features=hog_features, hidden=True)
        else:
            check("ej1_svm_hog", hog_features, estimator=svm_hog, hidden=True)
