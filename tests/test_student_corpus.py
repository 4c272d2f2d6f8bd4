"""Práctica 3 as real students write it (tests/student_corpus): the whole corpus graded in one batch,
each notebook getting what a fair human grader gives, with the key fact of every message asserted.
Plus fast tests of the pure functions those fair grades rest on.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from grader.checks.claims import CLAIM_GAP, claimed_accuracy, printed_accuracy, with_claim
from grader.checks.denoising import check_autoencoder_output, check_denoising, with_channel_axis
from grader.checks.outcome import CheckOutcome
from grader.checks.rules import SubmissionFacts, check_rules, missing_module
from grader.export import dtype_sensitive
from grader.i18n import msg, render
from grader.records import CheckStatus, ExecutionStatus
from tests.languages import ENGLISH, SPANISH, skeleton

CORPUS_CELL_TIMEOUT_S = 90  # no other corpus cell comes near it, even on a loaded 2-core CI machine


# ----------------------------------------------------------------------------- fast: pure functions

def test_channel_axis_is_added_only_to_a_dropped_single_channel():
    noisy = np.zeros((4, 28, 28, 1), "float32")
    assert with_channel_axis(np.zeros((4, 28, 28)), noisy).shape == (4, 28, 28, 1)
    assert with_channel_axis(np.zeros((4, 784)), noisy).shape == (4, 784)
    assert with_channel_axis(np.zeros((4, 28, 28, 1)), noisy).shape == (4, 28, 28, 1)


def test_autoencoder_without_channel_axis_is_the_same_images():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    noisy = np.clip(clean + rng.normal(0, 0.4, clean.shape), 0, 1).astype("float32")
    assert check_autoencoder_output(noisy, clean[..., 0]).fraction == 1.0
    linear = clean[..., 0] * 1.3 - 0.1  # a linear output: outside [0, 1], still a good denoiser once clipped
    shape_and_range = check_autoencoder_output(noisy, linear)
    assert shape_and_range.fraction == 0.0 and "fuera de [0, 1]" in render(shape_and_range.message, "es")
    assert check_denoising(clean, noisy, linear, 0.0, 1.0).details["psnr_gain"] > 0


def test_missing_module_names_the_top_level_module_of_a_module_not_found_error():
    assert missing_module("ModuleNotFoundError", "No module named 'xgboost.sklearn'") == "xgboost"
    assert missing_module("ModuleNotFoundError", "No module named 'torch'") == "torch"
    assert missing_module("ImportError", "cannot import name 'x' from 'numpy'") is None
    assert missing_module("NameError", "name 'xgb' is not defined") is None


def test_rules_name_the_missing_module_the_allowed_list_and_the_time_limit():
    facts = SubmissionFacts(missing_modules=[{"module": "xgboost", "cell": "9 (ej1_cnn_modelo)"}],
                            allowed_modules=["keras", "pandas"], timed_out_cells=["13 (ej1_cnn_entrenamiento)"],
                            cell_timeout_s=900)
    outcome = check_rules(facts)
    assert outcome.fraction == 0.0
    assert [v["rule"] for v in outcome.details["violations"]] == ["allowed_modules", "time_limit"]
    assert ("la celda 9 (ej1_cnn_modelo) importa 'xgboost', que no está en el entorno de corrección "
            "(además de la biblioteca estándar de Python se pueden importar: keras, pandas)") in render(outcome.message, "es")
    assert "la celda 13 (ej1_cnn_entrenamiento) superó el límite de 900 s por celda" in render(outcome.message, "es")
    assert "cell 9 (ej1_cnn_modelo) imports 'xgboost'" in render(outcome.message, "en")


def test_claimed_accuracy_prefers_validation_and_skips_missing_values():
    assert claimed_accuracy({"accuracy": [0.8, 0.9], "val_accuracy": [0.85, None]}) == (0.85, "val_accuracy")
    assert claimed_accuracy({"acc": [0.7]}) == (0.7, "acc")
    assert claimed_accuracy({"loss": [1.0]}) is None and claimed_accuracy(None) is None


def test_claim_is_flagged_only_beyond_the_gap_and_never_changes_the_points():
    measured = CheckOutcome(0.0, msg("accuracy", accuracy=0.41, full_at=0.95, zero_at=0.8), {"accuracy": 0.41})
    flagged = with_claim(measured, {"accuracy": [0.97]})
    assert flagged.fraction == 0.0 and flagged.details["claim"]["flag"] is True
    assert "tu cuaderno obtiene 0,970 (History['accuracy']) pero con imágenes en [0, 1] el modelo obtiene 0,410" \
        in render(flagged.message, "es")
    close = with_claim(measured, {"accuracy": [0.41 + CLAIM_GAP / 2]})
    assert close.message == measured.message and close.details["claim"]["flag"] is False
    assert with_claim(measured, None) is measured


KERAS_EVALUATE_LINE = "313/313 ━━━━━━━━━━━━━━━━━━━━ 1s 3ms/step - accuracy: 0.9712 - loss: 0.0921\n"


@pytest.mark.parametrize("text, claimed", [
    (KERAS_EVALUATE_LINE + "Test loss: 0.0921\nTest accuracy: 0.9733999967575073\n", 0.9733999967575073),
    (KERAS_EVALUATE_LINE, 0.9712),
    ("Precisión en test: 97.34%\n", 0.9734),
    ("Precisión: 97,34 %\n", 0.9734),
    ("acc = 0.41\n", 0.41),
    ("[0.0921, 0.9734]", None),  # the bare list evaluate returns names no metric
])
def test_printed_accuracy_reads_what_students_print_after_evaluate(text, claimed):
    cells = [("history = cnn_model.fit(x, y)", "Epoch 1/3 - accuracy: 0.99 - val_accuracy: 0.99"),
             ("loss, acc = cnn_model.evaluate(x_test, y_test)\nprint('Test accuracy:', acc)", text)]
    found = printed_accuracy(cells, "cnn_model")
    assert (found == {"claimed": pytest.approx(claimed), "cell": 2}) if claimed is not None else found is None


def test_printed_accuracy_belongs_to_the_model_evaluated_and_the_last_cell_counts():
    cells = [("cnn_model.evaluate(x_test, y_test)", "accuracy: 0.95"),
             ("improved_model.evaluate(x_test, y_test)", "accuracy: 0.99"),
             ("_, acc = cnn_model . evaluate(x_test_std, y_test)\nprint(f'acc {acc:.3f}')", "acc 0.981")]
    assert printed_accuracy(cells, "cnn_model") == {"claimed": 0.981, "cell": 3}
    assert printed_accuracy(cells, "improved_model") == {"claimed": 0.99, "cell": 2}
    assert printed_accuracy(cells, "denoiser") is None


def test_a_printed_claim_is_preferred_to_the_history_and_named_by_its_cell():
    measured = CheckOutcome(0.0, msg("accuracy", accuracy=0.41, full_at=0.95, zero_at=0.8), {"accuracy": 0.41})
    flagged = with_claim(measured, {"accuracy": [0.5]}, printed={"claimed": 0.9734, "cell": 12})
    assert flagged.details["claim"] == {"claimed": 0.9734, "source_text": msg("claim_printed", cell=12),
                                        "measured": 0.41, "flag": True}
    assert "tu cuaderno obtiene 0,973 (lo que imprime la celda 12)" in render(flagged.message, "es")
    assert "your notebook reports 0.973 (printed by cell 12)" in render(flagged.message, "en")


def test_dtype_sensitive_finds_a_hog_written_for_floats():
    from skimage.feature import hog

    grid = np.arange(28) - 13.5
    blob = np.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / 40.0)  # strokes fade out as in MNIST
    images = (np.stack([np.roll(blob, shift, axis=1) for shift in range(-4, 4)]) * 255).astype(np.uint8)

    def good(batch):
        return np.stack([hog(i, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2)) for i in batch])

    def for_floats(batch):
        return good((np.asarray(batch) * 255).astype(np.uint8))

    def uint8_only(batch):
        if np.asarray(batch).dtype != np.uint8:
            raise TypeError("uint8 only")
        return good(batch)

    assert not dtype_sensitive(good, images)
    assert dtype_sensitive(for_floats, images)
    assert not dtype_sensitive(uint8_only, images)


# ----------------------------------------------------------------------------- slow: the corpus, graded once

@pytest.fixture(scope="module")
def corpus_results(light_config, released, tmp_path_factory):
    """Every corpus notebook graded in one batch (2 workers, sandboxed when bubblewrap is here), with a
    per-cell limit that stops the 50-epoch student and no one else."""
    from grader.batch import autograde
    from grader.collect import Submission, write_submissions
    from grader.gradebook import load_results
    from tests import student_corpus
    from tests.submissions import write

    config = light_config.model_copy(update={"limits": light_config.limits.model_copy(
        update={"cell_timeout_s": CORPUS_CELL_TIMEOUT_S})})
    root = tmp_path_factory.mktemp("corpus")
    out = root / "entregas"
    notebooks = student_corpus.build(released[0])
    write_submissions(out, config.name, [Submission(name, name, write(nb, out / name / "practica3.ipynb"), None)
                                         for name, nb in notebooks.items()])
    shutil.copy(released[1].removeprefix("sqlite:///"), root / "gradebook.db")  # the release's locked cells
    url = f"sqlite:///{root / 'gradebook.db'}"
    summary = autograde(config, out, db_url=url, workers=2, sandbox=shutil.which("bwrap") is not None,
                        progress=False)
    assert summary.errored == [], summary.messages
    return {name: stored.result for name, stored in load_results(url, config.name).items()}


def _checks(result):
    return {c.name: c for c in result.checks}


# What a fair human grader gives each notebook's graded parts (points of the checks its style is about;
# the parts it deleted must say the object is missing): exact where deterministic.
FULL_CNN = {"ej1_arquitectura": 1.0, "ej1_parametros": 0.5, "ej1_normas": 0.5}
HUMAN_GRADE = {
    "keras2_onehot": FULL_CNN,
    "activation_layers": FULL_CNN,
    "functional_logits": FULL_CNN,
    "subclass_in_function": FULL_CNN,
    "standardised_inputs": FULL_CNN,
    "colab_imports": FULL_CNN,
    "history_h": FULL_CNN,
    "improved_augmented": FULL_CNN,
    "missing_module": {"ej1_arquitectura": 1.0, "ej1_parametros": 0.5, "ej1_normas": 0.0},
    "fifty_epochs": {"ej1_arquitectura": 1.0, "ej1_parametros": 0.5, "ej1_normas": 0.0},
    "hog_times_255": {"ej1_normas": 0.5},
    "dense_ae_reshape": {"ej2_autoencoder": 0.0, "ej1_normas": 0.5},
    "conv_ae_clean": {"ej2_autoencoder": 0.5, "ej1_normas": 0.5},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HUMAN_GRADE))
def test_corpus_notebook_gets_what_a_fair_grader_gives(name, corpus_results):
    checks = _checks(corpus_results[name])
    for check, points in HUMAN_GRADE[name].items():
        assert checks[check].points == points, (check, checks[check].message, corpus_results[name].execution.message)


@pytest.mark.slow
def test_equivalent_cnn_forms_get_full_accuracy_credit(corpus_results):
    for name in ("keras2_onehot", "activation_layers", "functional_logits", "subclass_in_function", "colab_imports",
                 "history_h"):
        accuracy = _checks(corpus_results[name])["ej1_precision_cnn"]
        assert accuracy.points > 0.5, (name, accuracy.message)
        assert "claim" not in accuracy.details or accuracy.details["claim"]["flag"] is False, (name, accuracy.message)
    assert _checks(corpus_results["subclass_in_function"])["ej1_arquitectura"].details["verified"] is False
    printed = _checks(corpus_results["history_h"])["ej1_precision_cnn"].details["claim"]  # no cnn_history there
    assert printed["source"].startswith("lo que imprime la celda") and printed["flag"] is False


@pytest.mark.slow
def test_standardised_inputs_lose_only_the_accuracy_with_the_fix_named(corpus_results):
    accuracy = _checks(corpus_results["standardised_inputs"])["ej1_precision_cnn"]
    assert accuracy.points < 1.0 and accuracy.details["claim"]["flag"] is True
    assert accuracy.details["claim"]["source"].startswith("lo que imprime la celda")  # print() after evaluate
    assert "pero con imágenes en [0, 1] el modelo obtiene" in accuracy.message and "x / 255" in accuracy.message


@pytest.mark.slow
def test_the_class_summary_lists_the_flags_of_the_batch(corpus_results, light_config, tmp_path):
    """The instructor's summary page names each flagged check of the batch: the claim beyond what was
    measured (standardised inputs, and no equivalent form), and the checks waiting for review."""
    from bs4 import BeautifulSoup

    from grader.report import write_class_summary

    results = list(corpus_results.values())
    for lang, claim_words in (("es", "el cuaderno afirma más de lo medido"),
                              ("en", "the notebook claims more than was measured")):
        page = write_class_summary(results, tmp_path / lang, lang=lang, config=light_config)
        rows = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("#flags tbody tr")
        flagged = {(row["data-student"], row["data-check"], row["class"][0]) for row in rows}
        claims = {(student, check) for student, check, kind in flagged if kind == "flag-claim"}
        assert claims == {("standardised_inputs", "ej1_precision_cnn")}
        claim_row = next(r for r in rows if r["class"][0] == "flag-claim")
        assert claim_words in claim_row.get_text()
        reviews = {(student, check) for student, check, kind in flagged if kind == "flag-review"}
        assert reviews == {(r.student, c.name) for r in results for c in r.checks
                           if c.needs_review and not (c.details.get("claim") or {}).get("flag")
                           and not (c.details.get("test_split") or {}).get("flag")}


# Words only one of the two languages writes (checked on the catalogue's words alone: see _skeleton).
@pytest.mark.slow
def test_every_stored_result_reads_in_either_language(corpus_results, light_config, tmp_path):
    """Results graded in Spanish are rendered again in English after the fact (and back): every sentence
    the grader wrote has its key form, none of them keeps a word of the other language, and
    `grader feedback --lang en` on the stored results shows the English sentences and none of the Spanish."""
    from bs4 import BeautifulSoup
    from click.testing import CliRunner

    from grader.cli import main
    from grader.records import write_json_atomic
    from grader.report import report_stem

    folder = light_config.folder
    for name, result in corpus_results.items():
        automatic = [c for c in result.checks if c.status is not CheckStatus.MANUAL]
        assert all(c.text is not None for c in automatic) and result.execution.text is not None, name
        texts = [c.text for c in automatic] + [r for c in automatic for r in c.review_reasons] + [result.execution.text]
        for lang, foreign in (("en", SPANISH), ("es", ENGLISH)):
            for text in texts:
                sentence = render(skeleton(text), lang, folder)
                assert not foreign.search(sentence), (name, lang, sentence)
        write_json_atomic(tmp_path / "results" / f"{name}.json", result.to_dict())
    run = CliRunner().invoke(main, ["feedback", str(folder), "--results", str(tmp_path / "results"),
                                    "--out", str(tmp_path / "en"), "--lang", "en"])
    assert run.exit_code == 0, run.output
    for name, result in corpus_results.items():
        page = BeautifulSoup((tmp_path / "en" / f"{report_stem(name)}.html").read_text(encoding="utf-8"),
                             "html.parser")
        for tag in page.select("iframe"):
            tag.decompose()  # the student's own notebook
        shown = " ".join(page.get_text(" ").split())
        english, spanish = result.rendered("en", folder), result.rendered("es", folder)
        for en, es in zip(english.checks, spanish.checks):
            if en.status is CheckStatus.MANUAL or en.message == es.message:
                continue
            assert " ".join(en.message.split()) in shown, (name, en.name)
            assert " ".join(es.message.split()) not in shown, (name, en.name)


@pytest.mark.slow
def test_hog_written_for_floats_is_told_not_to_multiply_by_255(corpus_results):
    svm = _checks(corpus_results["hog_times_255"])["ej1_svm_hog"]
    assert svm.points < 1.0 and "no multipliques por 255" in svm.message


@pytest.mark.slow
def test_dense_autoencoder_without_channel_axis_loses_only_the_range(corpus_results):
    checks = _checks(corpus_results["dense_ae_reshape"])
    assert "fuera de [0, 1]" in checks["ej2_autoencoder"].message and "usa sigmoid" in checks["ej2_autoencoder"].message
    assert checks["ej2_denoising"].details["psnr_gain"] > 0 and checks["ej2_denoising"].points > 0


@pytest.mark.slow
def test_a_missing_module_gets_one_message_with_the_allowed_list(corpus_results):
    rules = _checks(corpus_results["missing_module"])["ej1_normas"]
    assert [v["rule"] for v in rules.details["violations"]] == ["allowed_modules"]
    assert "importa 'xgboost', que no está en el entorno de corrección" in rules.message
    assert "pandas, seaborn, tqdm" in rules.message


@pytest.mark.slow
def test_a_fifty_epoch_cell_is_stopped_named_and_the_rest_graded(corpus_results):
    result = corpus_results["fifty_epochs"]
    assert result.execution.status is ExecutionStatus.TIMEOUT
    assert "ej1_cnn_entrenamiento" in result.execution.message and "entrena menos épocas" in result.execution.message
    assert "cola con GPU" in result.execution.message
    checks = _checks(result)
    assert [v["rule"] for v in checks["ej1_normas"].details["violations"]] == ["time_limit"]
    # the half-trained model is measured
    assert checks["ej1_precision_cnn"].status is not CheckStatus.ERROR, result.execution.message
