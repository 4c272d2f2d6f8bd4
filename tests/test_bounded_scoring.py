"""Self-reported results wait for review, forged archives earn nothing, and scoring is bounded per object.

Real exports (grader.export), real hidden tests (grader.score.score in this process, or the scoring
server), real Keras archives. The bounds are configured small, so a History "of 500 MB" is one of a
million values cut to ten, and a model "that takes an hour to predict" is one that takes minutes,
stopped after seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from grader.artifacts import Artifacts, ObjectUnavailable
from grader.i18n import msg, render
from grader.checks.rules import SubmissionFacts
from grader.config import Limits
from grader.export import export_artifacts
from grader.heldout import build_heldout
from grader.pipeline import write_scoring_job
from grader.records import CheckStatus
from grader.reply_bounds import fit_reply
from grader.score import ScoringPaths, score
from grader.scoring import ScoringServer, stopped_results


class OwnCNN(keras.Model):
    """The required CNN as a subclass: only the student's code can rebuild it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = layers.Conv2D(32, 3, padding="same", activation="relu")
        self.p1 = layers.MaxPooling2D()
        self.c2 = layers.Conv2D(16, 5, activation="relu")
        self.p2 = layers.MaxPooling2D()
        self.f = layers.Flatten()
        self.d1 = layers.Dense(100, activation="relu")
        self.d2 = layers.Dense(50, activation="relu")
        self.o = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.o(self.d2(self.d1(self.f(self.p2(self.c2(self.p1(self.c1(x))))))))


class OwnDenoiser(keras.Model):
    """A denoising autoencoder as a subclass: graded from the outputs it gave in the kernel."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = layers.Conv2D(8, 3, padding="same", activation="relu")
        self.o = layers.Conv2D(1, 3, padding="same", activation="sigmoid")

    def call(self, x):
        return self.o(self.c1(x))


def own_denoiser() -> OwnDenoiser:
    model = OwnDenoiser()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model(np.zeros((1, 28, 28, 1), "float32"))
    return model


def own_cnn() -> OwnCNN:
    model = OwnCNN()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model(np.zeros((1, 28, 28, 1), "float32"))
    return model


def with_limits(config, **limits):
    return config.model_copy(update={"limits": config.limits.model_copy(update=limits)})


def make_job(folder: Path, config, objects: dict, heldout=None) -> dict[str, Path]:
    work = {key: folder / key for key in ("artifacts", "inputs", "answers", "job")}
    (heldout or build_heldout(config)).write(work["inputs"], work["answers"])
    export_artifacts(objects, str(work["artifacts"]), str(work["inputs"]), dict(config.contract),
                     dict(config.inputs), config.limits.model_dump())
    work["job"].mkdir()
    write_scoring_job(work["job"], config, SubmissionFacts(0, [], [], []))
    return work


def copy_job(work: dict[str, Path], folder: Path) -> dict[str, Path]:
    return {key: Path(shutil.copytree(path, folder / key)) for key, path in work.items()}


def scored(work: dict[str, Path], lang: str = "es") -> dict:
    sys.modules.pop("test_practica3", None)  # each job has its own copy of the hidden tests
    paths = ScoringPaths(work["artifacts"], work["inputs"], work["answers"], work["job"])
    return {r.name: r for r in score(paths, lang).results()}


def artifacts_of(work: dict[str, Path], config) -> Artifacts:
    from grader.heldout import load_answers

    return Artifacts(work["artifacts"], load_answers(work["inputs"]), config)


def notes_of(artifacts: Artifacts, lang: str = "es") -> list[str]:
    return [render(note, lang) for note in artifacts.notes]


@pytest.fixture(scope="module")
def heldout(light_config):
    return build_heldout(light_config)


@pytest.fixture(scope="module")
def genuine(light_config, heldout, tmp_path_factory):
    """A subclassed CNN and denoiser exported by the real export: archives, summaries and kernel outputs."""
    return make_job(tmp_path_factory.mktemp("genuine"), light_config,
                    {"cnn_model": own_cnn(), "denoiser": own_denoiser()}, heldout)


# ------------------------------------------------------------------------- review, not silent points

def test_a_model_only_its_own_class_rebuilds_keeps_its_points_and_waits_for_review(genuine):
    checks = scored(genuine)
    architecture, output, rules = checks["ej1_arquitectura"], checks["ej2_autoencoder"], checks["ej1_normas"]
    assert architecture.points == 1.0 and architecture.status is CheckStatus.PASSED
    assert architecture.needs_review and architecture.details["verified"] is False
    assert "'cnn_model' no se pudo cargar fuera del notebook" in architecture.review
    assert "[pendiente de revisión del profesor: 'cnn_model'" in architecture.message
    # graded from the outputs the kernel computed: its points stand, flagged
    assert output.points == output.max_points and output.needs_review and "'denoiser'" in output.review, output.message
    assert checks["ej2_denoising"].needs_review
    assert not rules.needs_review and not checks["ej1_svm_hog"].needs_review
    english = scored(genuine, "en")["ej1_parametros"]
    assert english.points == english.max_points and "[awaiting the instructor's review: 'cnn_model' could not be loaded" \
        in english.message


def _archive(path: Path, config: dict, weights: bytes | None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("config.json", json.dumps(config))
        if weights is not None:
            archive.writestr("model.weights.h5", weights)


def _weights_of(model: keras.Model, folder: Path) -> bytes:
    model.save(folder / "other.keras")
    with zipfile.ZipFile(folder / "other.keras") as archive:
        return archive.read("model.weights.h5")


def test_forged_archives_earn_nothing_and_are_flagged(genuine, light_config, tmp_path):
    """What the archive holds is checked against what the kernel reported, whatever the files are called."""
    summary = json.loads((genuine["artifacts"] / "cnn_model.summary.json").read_text(encoding="utf-8"))
    with zipfile.ZipFile(genuine["artifacts"] / "cnn_model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    small = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10)])
    forgeries = {
        # the entries a real subclass archive has, by name, with nothing real in them
        "names_only": (config, b"not HDF5 at all", summary, "no contiene pesos HDF5 legibles"),
        "other_weights": (config, _weights_of(small, tmp_path), summary, "los pesos suman 7850 parámetros"),
        # the genuine archive, and a summary that claims another second convolution
        "other_summary": (config, None, {**summary, "layers": [
            {**row, "config": {**row["config"], "filters": 32}} if row["name"] == summary["layers"][2]["name"] else row
            for row in summary["layers"]]}, "declara filters=32 y sus pesos tienen forma [5, 5, 32, 16]"),
        "other_input": ({**config, "build_config": {"input_shape": [1, 32, 32, 3]}}, None, summary,
                        "el notebook declaró la entrada [None, 28, 28, 1] y el archivo dice [1, 32, 32, 3]"),
    }
    for case, (archive_config, weights, claimed, why) in forgeries.items():
        work = copy_job(genuine, tmp_path / case)
        if weights is not None or archive_config is not config:
            if weights is None:
                with zipfile.ZipFile(genuine["artifacts"] / "cnn_model.keras") as archive:
                    weights = archive.read("model.weights.h5")
            _archive(work["artifacts"] / "cnn_model.keras", archive_config, weights)
        (work["artifacts"] / "cnn_model.summary.json").write_text(json.dumps(claimed), encoding="utf-8")
        checks = scored(work)
        for name in ("ej1_arquitectura", "ej1_parametros", "ej1_precision_cnn"):
            check = checks[name]
            assert (check.points, check.status) == (0.0, CheckStatus.ERROR), (case, name, check.message)
            assert check.message.startswith("'cnn_model' no puntúa: su archivo .keras no es coherente"), case
            assert why in check.message, (case, check.message)
            assert check.needs_review and "no es coherente" in check.review, (case, name)


def test_kernel_outputs_that_do_not_match_the_kernels_own_summary_earn_nothing(genuine, tmp_path):
    work = copy_job(genuine, tmp_path / "outputs")
    np.save(work["artifacts"] / "denoiser.outputs.npy", np.zeros((300, 28, 28), "float32"))  # e.g. copied inputs
    checks = scored(work)
    output = checks["ej2_autoencoder"]
    assert (output.points, output.status) == (0.0, CheckStatus.ERROR) and output.needs_review
    assert "sus salidas exportadas tienen forma [300, 28, 28] y el notebook declaró [300, 28, 28, 1]" in output.message
    assert checks["ej1_arquitectura"].points == 1.0  # the CNN's summary and archive still agree


# ------------------------------------------------------------------------------ bounded per object

def test_a_huge_history_is_cut_in_the_kernel_and_the_check_says_so(light_config, heldout, tmp_path):
    config = with_limits(light_config, history_keys=2, history_values=10, name_chars=20)
    history = {"accuracy": np.linspace(0, 1, 1_000_000), "loss": [0.5] * 1_000_000,
               "k" * 1000: [1.0], **{f"extra{i}": [0.0] for i in range(50)}}
    started = time.perf_counter()
    work = make_job(tmp_path / "job", config, {"cnn_history": history}, heldout)
    assert time.perf_counter() - started < 15
    entry = json.loads((work["artifacts"] / "manifest.json").read_text(encoding="utf-8"))["cnn_history"]
    assert entry["status"] == "exported"
    assert {"field": "history_keys", "total": 53, "kept": 2} in entry["cut"]
    assert {"field": "history_values", "key": "accuracy", "total": 1_000_000, "kept": 10} in entry["cut"]
    assert (work["artifacts"] / "cnn_history.history.json").stat().st_size < 1000

    artifacts = artifacts_of(work, config)
    read = artifacts.history("cnn_history")
    assert list(read) == ["accuracy", "loss"] and len(read["loss"]) == 10
    assert "'cnn_history' tiene 53 métricas, se usan 2" in notes_of(artifacts)
    assert "'cnn_history'['accuracy'] tiene 1.000.000 valores, se usan 10" in notes_of(artifacts)


def test_a_history_file_past_the_bound_is_not_read_and_the_check_says_so(light_config, genuine, tmp_path):
    config = with_limits(light_config, history_keys=2, history_values=10)
    work = copy_job(genuine, tmp_path / "big")
    manifest = json.loads((work["artifacts"] / "manifest.json").read_text(encoding="utf-8"))
    manifest["denoiser_history"] = {"status": "exported", "reason": ""}
    (work["artifacts"] / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with open(work["artifacts"] / "denoiser_history.history.json", "w", encoding="utf-8") as handle:
        handle.write('{"loss": [' + ", ".join(["0.01"] * 200_000) + "]}")  # 1.2 MB, a bound of 1.7 KB
    (work["job"] / "config.json").write_text(config.model_dump_json(), encoding="utf-8")
    artifacts = artifacts_of(work, config)
    assert artifacts.history("denoiser_history") is None
    assert notes_of(artifacts) == ["denoiser_history.history.json ocupa 1.1 MB, más que el límite de 1.7 KB: no se leyó"]
    denoising = scored(work)["ej2_denoising"]
    assert "[recortado: denoiser_history.history.json ocupa 1.1 MB" in denoising.message
    assert denoising.status is not CheckStatus.ERROR and denoising.details["history"] is None


def test_the_export_stops_an_object_past_its_time_and_exports_the_others(light_config, heldout, tmp_path):
    config = with_limits(light_config, object_timeout_s=1, reason_chars=60)

    def hog_features(images):
        try:
            time.sleep(10**6)
        except Exception:  # a student's own handler does not swallow the time limit
            pass

    class Broken(OwnCNN):
        def predict(self, *args, **kwargs):
            raise RuntimeError("x" * 100_000)

    broken = Broken()
    broken(np.zeros((1, 28, 28, 1), "float32"))
    started = time.perf_counter()
    work = make_job(tmp_path / "job", config, {"hog_features": hog_features, "denoiser_history": {"loss": [0.5]},
                                               "cnn_history": type("H" * 10_000, (), {})(), "denoiser": broken},
                    heldout)
    assert time.perf_counter() - started < 30
    manifest = json.loads((work["artifacts"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["hog_features"] == {"status": "failed", "reason": "timed out after 1 s",
                                        "timed_out_s": 1}
    assert manifest["denoiser_history"] == {"status": "exported", "reason": ""}
    history = manifest["cnn_history"]
    assert history["status"] == "invalid" and len(history["reason"]) == 60 and history["reason"].endswith("…")
    assert {"field": "name", "total": 10_000, "kept": 100} in history["cut"]
    assert manifest["denoiser"]["status"] == "failed" and manifest["denoiser"]["reason"].startswith("RuntimeError: xxx")
    assert len(manifest["denoiser"]["reason"]) == 60
    artifacts = artifacts_of(work, config)
    with pytest.raises(ObjectUnavailable) as stopped:
        artifacts.features("hog_features")
    assert render(stopped.value.text, "es").startswith("'hog_features' se detuvo: superó el límite de 1 s por objeto")
    with pytest.raises(ObjectUnavailable) as missing:
        artifacts.require("cnn_history")
    assert render(missing.value.text, "es").startswith("no se encontró 'cnn_history'")
    assert "el motivo de 'cnn_history' tenía" in notes_of(artifacts)[-1]


def test_a_reply_always_fits_and_names_what_was_cut():
    huge = {"name": "ej1_precision_cnn", "points": 0.8, "max_points": 1.0, "status": "partial",
            "message": "precisión 0.9", "hidden": False, "needs_review": False, "review": "",
            "details": {"accuracy": 0.9, "verified": True, "history": {"loss": [0.1] * 200_000}}}
    small = {**huge, "name": "ej1_normas", "details": {}, "message": "ok"}
    reply = {"checks": [huge, small], "predictions": {"cnn_model": {"predicted": [1] * 50_000}}}
    fitted = fit_reply(json.loads(json.dumps(reply)), 64 * 1024, "es")
    assert len(json.dumps(fitted)) <= 64 * 1024
    check = fitted["checks"][0]
    assert check["points"] == 0.8 and check["details"]["cut"] == ["history"] and check["details"]["verified"]
    assert "[recortado: datos history" in check["message"] and fitted["checks"][1] == small
    assert fit_reply(reply, 64 * 2**20, "es") is reply  # nothing to cut
    english = fit_reply(json.loads(json.dumps({**reply, "checks": [{**huge, "message": "m" * 400_000}]})),
                        64 * 1024, "en")
    assert len(json.dumps(english)) <= 64 * 1024 and "[cut: the message had 400,000 characters" in \
        english["checks"][0]["message"]


def test_a_job_whose_server_had_to_be_killed_still_gets_a_result(light_config, genuine):
    results = stopped_results(genuine["job"], "en", 1800)
    assert [r.name for r in results] == list(light_config.checks)
    assert all(r.status is CheckStatus.ERROR and r.points == 0.0 for r in results)
    assert results[0].message == "not evaluated: grading ran past its limit of 1,800 s and was stopped"


def test_the_bounds_are_validated():
    from pydantic import ValidationError

    assert Limits().object_timeout_s == 300 and Limits().reply_mb == 64
    for bad in ({"object_timeout_s": 0}, {"history_values": -1}, {"reason_chars": 5}, {"name_chars": 3}):
        with pytest.raises(ValidationError):
            Limits(**bad)
    assert render(msg("object_timeout", name="m", seconds=3), "en").startswith("'m' was stopped")


# ------------------------------------------------------------------- the scoring server's supervisor

def slow_model() -> keras.Model:
    """Sixteen 3x3 convolutions of 256 filters at 28x28: about 30 TFLOP for 2000 images (minutes on a
    CPU), a few seconds to load."""
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(256, 3, padding="same"),
                              *[layers.Conv2D(256, 3, padding="same") for _ in range(15)],
                              layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def slow_job(light_config, heldout, tmp_path_factory):
    from reference_solutions.practica3 import denoising_autoencoder, mnist_cnn

    config = with_limits(light_config, object_timeout_s=6, history_keys=2, history_values=10)
    history = {f"metric{i}": list(np.linspace(0, 1, 100_000)) for i in range(5)}
    objects = {"cnn_model": mnist_cnn.build_cnn(), "improved_model": slow_model(),
               "denoiser": denoising_autoencoder.build_denoiser(), "denoiser_history": history}
    return config, make_job(tmp_path_factory.mktemp("slow"), config, objects, heldout)


@pytest.fixture(scope="module")
def server(slow_job, tmp_path_factory):
    config, _ = slow_job
    with ScoringServer(tmp_path_factory.mktemp("server"), config.limits, sandboxed=False) as shared:
        shared.launch(wait=True)  # its imports, once, before the timed jobs
        yield shared


def test_a_model_past_its_time_is_stopped_and_the_job_still_gets_every_result(slow_job, server):
    config, work = slow_job
    started = time.perf_counter()
    checks = {c.name: c for c in server.score(work, "es")}
    assert time.perf_counter() - started < 40
    assert list(checks) == list(config.checks)
    improvement = checks["ej1_mejora"]
    assert (improvement.points, improvement.status) == (0.0, CheckStatus.ERROR)
    assert improvement.message.startswith("'improved_model' se detuvo: superó el límite de 6 s por objeto")
    assert checks["ej1_arquitectura"].status is CheckStatus.PASSED  # scored before the slow model, and kept
    denoising = checks["ej2_denoising"]  # scored after the stop
    assert denoising.status is not CheckStatus.ERROR, denoising.message
    assert "[recortado: 'denoiser_history' tiene 5 métricas, se usan 2; 'denoiser_history'['metric0'] tiene " \
           "100.000 valores, se usan 10" in denoising.message
    assert len(denoising.details["history"]["metric0"]) == 10
    assert checks["ej1_normas"].status is not CheckStatus.ERROR


def test_a_job_past_its_time_keeps_what_was_scored_and_says_where_it_stopped(slow_job, server):
    config, work = slow_job
    hurried = config.limits.model_copy(update={"total_timeout_s": 15, "object_timeout_s": 600})
    server.limits, before = hurried, server.limits
    try:
        started = time.perf_counter()
        checks = {c.name: c for c in server.score(work, "en")}
        assert time.perf_counter() - started < 20
    finally:
        server.limits = before
    assert list(checks) == list(config.checks)
    assert checks["ej1_arquitectura"].status is CheckStatus.PASSED  # scored before the time was up
    for name in ("ej1_mejora", "ej1_normas", "ej2_denoising"):
        assert checks[name].status is CheckStatus.ERROR
        assert checks[name].message == ("not evaluated: grading ran past its limit of 15 s while evaluating "
                                        "'improved_model' and was stopped"), name
    assert server._process is not None and server._process.poll() is None  # the server itself carries on
