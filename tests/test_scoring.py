"""The long-lived scoring process (grader.scoring.ScoringServer), with real exports and real bubblewrap.

The jobs are built without a kernel: the real export function writes untrained reference models and
a HOG+SVM fitted on 200 images, which the real hidden tests then score. Servers are shared within the
module where a test does not need a fresh one (each start imports Keras, scikit-learn and pytest).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader.checks.rules import SubmissionFacts
from grader.errors import GraderError
from grader.export import export_artifacts
from grader.heldout import build_heldout
from grader.pipeline import write_scoring_job
from grader.sandbox import sandbox_status
from grader.scoring import ScoringServer

USABLE, WHY_NOT = sandbox_status()
needs_bwrap = pytest.mark.skipif(not USABLE, reason=WHY_NOT)


def make_job(folder: Path, config, objects: dict) -> dict[str, Path]:
    work = {key: folder / key for key in ("artifacts", "inputs", "answers", "job")}
    build_heldout(config).write(work["inputs"], work["answers"])
    export_artifacts(objects, str(work["artifacts"]), str(work["inputs"]), dict(config.contract), dict(config.inputs))
    work["job"].mkdir()
    write_scoring_job(work["job"], config, SubmissionFacts(0, [], [], []))
    return work


def copy_job(work: dict[str, Path], folder: Path) -> dict[str, Path]:
    return {key: Path(shutil.copytree(path, folder / key)) for key, path in work.items()}


def by_name(checks) -> dict[str, tuple[float, str, str]]:
    return {c.name: (c.points, c.status.value, c.message) for c in checks}


@pytest.fixture(scope="module")
def jobs(light_config, tmp_path_factory):
    """``full``: every contract object; ``partial``: the CNN only."""
    from reference_solutions.practica3 import denoising_autoencoder, mnist_cnn, svm_hog

    images = build_heldout(light_config).inputs["mnist"][:200]
    cnn = mnist_cnn.build_cnn()
    objects = {"cnn_model": cnn, "denoiser": denoising_autoencoder.build_denoiser(),
               "hog_features": svm_hog.hog_features,
               "svm_hog": svm_hog.build_svm().fit(svm_hog.hog_features(images), np.arange(200) % 10)}
    root = tmp_path_factory.mktemp("jobs")
    return {"full": make_job(root / "full", light_config, objects),
            "partial": make_job(root / "partial", light_config, {"cnn_model": cnn})}


@pytest.fixture(scope="module")
def server(light_config, tmp_path_factory):
    with ScoringServer(tmp_path_factory.mktemp("server"), light_config.limits, sandboxed=False) as shared:
        yield shared


@pytest.fixture(scope="module")
def sandboxed_server(light_config, tmp_path_factory):
    if not USABLE:
        pytest.skip(WHY_NOT)
    with ScoringServer(tmp_path_factory.mktemp("sandboxed"), light_config.limits, sandboxed=True) as shared:
        yield shared


@needs_bwrap
def test_one_process_scores_submissions_one_after_another_as_fresh_ones_would(
        tmp_path, light_config, jobs, sandboxed_server, server):
    first = sandboxed_server.score(jobs["full"], "es")
    pid = sandboxed_server._process.pid
    second = sandboxed_server.score(jobs["partial"], "es")
    third = sandboxed_server.score(jobs["full"], "es")
    assert sandboxed_server._process.pid == pid  # the imports were paid once
    with ScoringServer(tmp_path / "fresh", light_config.limits, sandboxed=True) as fresh:
        alone = fresh.score(jobs["partial"], "es")

    assert by_name(first) == by_name(third) == by_name(server.score(jobs["full"], "es"))
    assert by_name(second) == by_name(alone)
    assert by_name(first)["ej1_arquitectura"][:2] == (1.0, "passed")
    assert by_name(first)["ej1_svm_hog"][1] != "error"  # the skops file loaded and predicted
    assert by_name(second)["ej1_svm_hog"][1] == "error"  # nothing from the first job leaked into it
    assert "svm_hog" in by_name(second)["ej1_svm_hog"][2]
    assert not list(sandboxed_server.jobs.iterdir())  # staged copies are removed


@needs_bwrap
def test_what_one_job_leaves_in_the_writable_folders_is_gone_before_the_next(jobs, sandboxed_server):
    sandboxed_server.score(jobs["partial"], "es")
    home = sandboxed_server.home
    owner = home.stat()  # the sandbox's user on the host (nobody, when the tests run as root)
    planted = home / ".keras" / "keras.json"  # e.g. a config the next job's Keras would read
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(json.dumps({"backend": "jax"}), encoding="utf-8")
    (home / "left.txt").write_text("x", encoding="utf-8")
    for path in (planted.parent, planted, home / "left.txt"):
        os.chown(path, owner.st_uid, owner.st_gid)
    sandboxed_server.score(jobs["partial"], "es")
    assert list(home.iterdir()) == []


def test_each_job_is_scored_in_its_own_language(light_config, jobs, server):
    spanish, english = by_name(server.score(jobs["partial"], "es")), by_name(server.score(jobs["partial"], "en"))
    assert list(spanish) == list(light_config.checks)
    assert spanish["ej1_arquitectura"][2].startswith("La arquitectura coincide")
    assert english["ej1_arquitectura"][2] != spanish["ej1_arquitectura"][2]
    assert english["ej1_arquitectura"][:2] == spanish["ej1_arquitectura"][:2]


def test_a_job_that_cannot_be_scored_fails_alone(tmp_path, jobs, server):
    broken = copy_job(jobs["partial"], tmp_path / "broken")
    (broken["job"] / "config.json").write_text("{", encoding="utf-8")
    server.score(jobs["partial"], "es")
    pid = server._process.pid
    with pytest.raises(GraderError, match="scoring failed: ValidationError"):
        server.score(broken, "es")
    assert by_name(server.score(jobs["partial"], "es"))["ej1_arquitectura"][1] == "passed"
    assert server._process.pid == pid


def test_a_crashed_fork_is_scored_again_in_a_fresh_interpreter(tmp_path, jobs, server):
    expected = by_name(server.score(jobs["partial"], "es"))
    crashing = copy_job(jobs["partial"], tmp_path / "crashing")
    crashed = tmp_path / "crashed"
    # A conftest that kills the forked child (as a native crash would), but not `grader.score_server once`.
    (crashing["job"] / "tests" / "conftest.py").write_text(
        "import os, signal\n"
        "if b'once' not in open('/proc/self/cmdline', 'rb').read():\n"
        f"    open({str(crashed)!r}, 'w').close()\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n", encoding="utf-8")
    assert by_name(server.score(crashing, "es")) == expected
    assert server.forking is True and crashed.exists()


def test_a_server_that_cannot_fork_scores_each_job_in_a_fresh_interpreter_with_the_same_result(
        tmp_path, light_config, jobs, server):
    forked = server.score(jobs["full"], "es")
    assert server.forking is True  # this stack imports without leaving threads behind
    with ScoringServer(tmp_path / "fresh", light_config.limits, sandboxed=False, fork=False) as fresh:
        spawned = fresh.score(jobs["full"], "es")
        assert fresh.forking is False
    assert by_name(spawned) == by_name(forked)


def test_a_launched_server_starts_up_in_the_background_and_scores_as_a_lazily_started_one(
        tmp_path, light_config, jobs, server):
    """What a notebook graded alone does: launch() returns at once, the process imports while the
    notebook runs, and the first job waits until it is ready."""
    import time

    expected = by_name(server.score(jobs["partial"], "es"))
    with ScoringServer(tmp_path / "launched", light_config.limits, sandboxed=False) as launched:
        started = time.monotonic()
        launched.launch()
        assert time.monotonic() - started < 5  # far less than the imports take
        assert launched._process is not None and launched._process.poll() is None
        first = launched._process
        assert launched.launch()._process is first  # launching again starts nothing
        assert by_name(launched.score(jobs["partial"], "es")) == expected
        assert launched.forking is True


def test_a_scoring_process_past_its_time_is_killed_and_the_next_job_starts_a_new_one(tmp_path, light_config, jobs):
    hurried = light_config.limits.model_copy(update={"total_timeout_s": 1})
    server = ScoringServer(tmp_path / "server", hurried, sandboxed=False)
    with pytest.raises(GraderError, match="no answer from the scoring process within 1 s"):
        server.score(jobs["partial"], "es")  # the imports alone take longer
    assert server._process is None
    server.limits = light_config.limits
    with server:
        assert by_name(server.score(jobs["partial"], "es"))["ej1_arquitectura"][1] == "passed"
