"""Práctica 3: every automatically graded check, run by the grader outside the student's kernel.

Each test is one check of assignments/practica3/assignment.toml (points and thresholds live there)
and records its outcome with ``credit``. Fixtures come from ``grader.score.GradingPlugin``.
"""

import pytest

from grader.checks import CheckOutcome
from grader.checks.accuracy import check_accuracy, check_improvement, check_svm_hog, looks_like_raw_pixels
from grader.checks.claims import with_claim
from grader.checks.leakage import with_test_split_gap
from grader.checks.architecture import compare_architecture, compare_parameters
from grader.checks.denoising import check_autoencoder_output, check_denoising
from grader.checks.rules import check_rules
from grader.i18n import joined, msg


@pytest.mark.check("ej1_arquitectura")
def test_cnn_architecture(artifacts, specs, credit):
    summary, verified = artifacts.summary("cnn_model")
    credit(compare_architecture(specs["cnn_model"], summary), verified=verified)


@pytest.mark.check("ej1_parametros")
def test_cnn_parameters(artifacts, specs, credit):
    summary, verified = artifacts.summary("cnn_model")
    credit(compare_parameters(specs["cnn_model"], summary), verified=verified)


@pytest.mark.check("ej1_precision_cnn")
def test_cnn_accuracy(artifacts, answers, bounds, facts, credit):
    outputs, verified = artifacts.outputs("cnn_model")
    history = artifacts.history("cnn_history")
    outcome = with_claim(check_accuracy(outputs, answers["mnist_labels"], *bounds), history,
                         printed=facts.printed_accuracy.get("cnn_model"))
    seen = artifacts.outputs_on("cnn_model", answers.get("mnist.seen"))
    outcome = with_test_split_gap(outcome, outputs, answers["mnist_labels"], seen, answers.get("mnist_labels.seen"))
    credit(outcome, verified=verified, history=history)


@pytest.mark.check("ej1_svm_hog")
def test_svm_on_hog_features(artifacts, answers, bounds, credit):
    predictions, _ = artifacts.outputs("svm_hog")
    features = artifacts.features("hog_features")
    outcome = check_svm_hog(predictions, features, answers["mnist"], answers["mnist_labels"], *bounds)
    if (not outcome.passed and artifacts.manifest["hog_features"].get("dtype_sensitive")
            and not looks_like_raw_pixels(features, answers["mnist"])):
        outcome = CheckOutcome(outcome.fraction, joined([outcome.message, msg("hog_uint8")]), outcome.details)
    credit(outcome)


@pytest.mark.check("ej1_mejora")
def test_improved_model_beats_base(artifacts, answers, bounds, credit):
    improved, verified = artifacts.outputs("improved_model")
    base, base_verified = artifacts.outputs("cnn_model")
    outcome = check_improvement(improved, base, answers["mnist_labels"], *bounds)
    seen = artifacts.outputs_on("improved_model", answers.get("mnist.seen"))
    outcome = with_test_split_gap(outcome, improved, answers["mnist_labels"], seen,
                                  answers.get("mnist_labels.seen"))
    credit(outcome, verified=verified and base_verified, history=artifacts.history("improved_history"))


@pytest.mark.check("ej1_normas")
def test_submission_rules(facts, credit):
    credit(check_rules(facts))


@pytest.mark.check("ej2_autoencoder")
def test_autoencoder_output(artifacts, answers, credit):
    outputs, verified = artifacts.outputs("denoiser")
    credit(check_autoencoder_output(answers["fashion_noisy"], outputs), verified=verified)


@pytest.mark.check("ej2_denoising")
def test_denoising_gain(artifacts, answers, bounds, credit):
    outputs, verified = artifacts.outputs("denoiser")
    credit(check_denoising(answers["fashion_clean"], answers["fashion_noisy"], outputs, *bounds),
           verified=verified, history=artifacts.history("denoiser_history"))
