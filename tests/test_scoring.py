"""The long-lived scoring process (grader.scoring.ScoringServer), with real exports and real bubblewrap.

The jobs are built without a kernel: the real export function writes untrained reference models and
a HOG+SVM fitted on 200 images, which the real hidden tests then score.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from grader.checks.rules import SubmissionFacts
from grader.errors import GraderError
from grader.export import export_artifacts
from grader.heldout import build_heldout
from grader.pipeline import write_scoring_job
from grader.records import CheckStatus
from grader.sandbox import sandbox_status
from grader.scoring import ScoringServer

USABLE, WHY_NOT = sandbox_status()
MODES = [pytest.param(True, id="sandboxed", marks=pytest.mark.skipif(not USABLE, reason=WHY_NOT)),
         pytest.param(False, id="unsandboxed")]


@pytest.fixture(scope="module")
def student_objects(light_config):
    from reference_solutions import denoising_autoencoder, mnist_cnn, svm_hog

    images = build_heldout(light_config).inputs["mnist"][:200]
    labels = np.arange(200) % 10
    return {"cnn_model": mnist_cnn.build_cnn(), "denoiser": denoising_autoencoder.build_denoiser(),
            "hog_features": svm_hog.hog_features,
            "svm_hog": svm_hog.build_svm().fit(svm_hog.hog_features(images), labels)}


def make_job(folder: Path, config, objects: dict) -> dict[str, Path]:
    work = {key: folder / key for key in ("artifacts", "inputs", "answers", "job")}
    build_heldout(config).write(work["inputs"], work["answers"])
    export_artifacts(objects, str(work["artifacts"]), str(work["inputs"]), dict(config.contract), dict(config.inputs))
    work["job"].mkdir()
    write_scoring_job(work["job"], config, SubmissionFacts(0, [], [], []))
    return work


def by_name(checks) -> dict[str, tuple[float, str, str]]:
    return {c.name: (c.points, c.status.value, c.message) for c in checks}


@pytest.mark.parametrize("sandboxed", MODES)
def test_one_process_scores_submissions_one_after_another_as_fresh_ones_would(
        tmp_path, light_config, student_objects, sandboxed):
    full = make_job(tmp_path / "full", light_config, student_objects)
    partial = make_job(tmp_path / "partial", light_config, {"cnn_model": student_objects["cnn_model"]})
    with ScoringServer(tmp_path / "shared", light_config.limits, sandboxed=sandboxed) as server:
        first = server.score(full, "es")
        pid = server._process.pid
        second = server.score(partial, "es")
        third = server.score(full, "es")
        assert server._process.pid == pid  # the imports were paid once
    with ScoringServer(tmp_path / "fresh", light_config.limits, sandboxed=sandboxed) as fresh:
        alone = fresh.score(partial, "es")

    assert by_name(first) == by_name(third)
    assert by_name(second) == by_name(alone)
    assert by_name(first)["ej1_arquitectura"][:2] == (1.0, "passed")
    assert by_name(first)["ej1_svm_hog"][1] != "error"  # the skops file loaded and predicted
    assert by_name(second)["ej1_svm_hog"][1] == "error"  # nothing from the first job leaked into it
    assert "svm_hog" in by_name(second)["ej1_svm_hog"][2]
    assert not list((tmp_path / "shared" / "staged").iterdir())  # staged copies are removed


def test_a_server_that_cannot_fork_scores_each_job_in_a_fresh_interpreter_with_the_same_result(
        tmp_path, light_config, student_objects):
    job = make_job(tmp_path / "job", light_config, student_objects)
    with ScoringServer(tmp_path / "forking", light_config.limits, sandboxed=False) as forking:
        forked = forking.score(job, "es")
        assert forking.forking is True  # this stack imports without leaving threads behind
    with ScoringServer(tmp_path / "fresh", light_config.limits, sandboxed=False, fork=False) as fresh:
        spawned = fresh.score(job, "es")
        assert fresh.forking is False
    assert by_name(spawned) == by_name(forked)


def test_a_crashed_fork_is_scored_again_in_a_fresh_interpreter(tmp_path, light_config, student_objects):
    job = make_job(tmp_path / "job", light_config, {"cnn_model": student_objects["cnn_model"]})
    with ScoringServer(tmp_path / "reference", light_config.limits, sandboxed=False) as server:
        expected = by_name(server.score(job, "es"))
    # A conftest that kills the forked child (as a native crash would), but not `grader.score once`.
    crashed = tmp_path / "crashed"
    (job["job"] / "tests" / "conftest.py").write_text(
        "import os, signal\n"
        "if b'once' not in open('/proc/self/cmdline', 'rb').read():\n"
        f"    open({str(crashed)!r}, 'w').close()\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n", encoding="utf-8")
    with ScoringServer(tmp_path / "crashing", light_config.limits, sandboxed=False) as server:
        assert by_name(server.score(job, "es")) == expected
        assert server.forking is True and crashed.exists()


def test_a_job_that_cannot_be_scored_fails_alone(tmp_path, light_config, student_objects):
    good = make_job(tmp_path / "good", light_config, {"cnn_model": student_objects["cnn_model"]})
    broken = make_job(tmp_path / "broken", light_config, {"cnn_model": student_objects["cnn_model"]})
    (broken["job"] / "config.json").write_text("{", encoding="utf-8")
    with ScoringServer(tmp_path / "server", light_config.limits, sandboxed=False) as server:
        with pytest.raises(GraderError, match="scoring failed: ValidationError"):
            server.score(broken, "es")
        pid = server._process.pid
        assert by_name(server.score(good, "es"))["ej1_arquitectura"][1] == "passed"
        assert server._process.pid == pid


def test_a_scoring_process_past_its_time_is_killed_and_the_next_job_starts_a_new_one(tmp_path, light_config,
                                                                                     student_objects):
    job = make_job(tmp_path / "job", light_config, {"cnn_model": student_objects["cnn_model"]})
    hurried = light_config.limits.model_copy(update={"total_timeout_s": 1})
    server = ScoringServer(tmp_path / "server", hurried, sandboxed=False)
    with pytest.raises(GraderError, match="no answer from the scoring process within 1 s"):
        server.score(job, "es")  # the imports alone take longer
    assert server._process is None
    server.limits = light_config.limits
    with server:
        checks = server.score(job, "es")
    assert {c.status for c in checks} - {CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR} == set()
    assert by_name(checks)["ej1_arquitectura"][1] == "passed"


@pytest.mark.skipif(not USABLE, reason=WHY_NOT)
def test_what_one_job_leaves_in_the_writable_folders_is_gone_before_the_next(tmp_path, light_config,
                                                                             student_objects):
    job = make_job(tmp_path / "job", light_config, {"cnn_model": student_objects["cnn_model"]})
    with ScoringServer(tmp_path / "server", light_config.limits, sandboxed=True) as server:
        server.score(job, "es")
        owner = server.home.stat()  # the sandbox's user on the host (nobody, when the tests run as root)
        planted = server.home / ".keras" / "keras.json"  # e.g. a config the next job's Keras would read
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text(json.dumps({"backend": "jax"}), encoding="utf-8")
        (server.home / "left.txt").write_text("x", encoding="utf-8")
        for path in (planted.parent, planted, server.home / "left.txt"):
            os.chown(path, owner.st_uid, owner.st_gid)
        server.score(job, "es")
        assert list(server.home.iterdir()) == []


def test_each_job_is_scored_in_its_own_language(tmp_path, light_config, student_objects):
    job = make_job(tmp_path / "job", light_config, {"cnn_model": student_objects["cnn_model"]})
    with ScoringServer(tmp_path / "server", light_config.limits, sandboxed=False) as server:
        spanish, english = by_name(server.score(job, "es")), by_name(server.score(job, "en"))
    assert list(spanish) == list(light_config.checks)
    assert spanish["ej1_arquitectura"][2].startswith("La arquitectura coincide")
    assert english["ej1_arquitectura"][2] != spanish["ej1_arquitectura"][2]
    assert english["ej1_arquitectura"][:2] == spanish["ej1_arquitectura"][:2]
