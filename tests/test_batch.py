"""Batch autograding on a real Dask LocalCluster (2 workers) into a real SQLite nbgrader gradebook.

``fake_grade`` is a real, tiny grading function: it reads ``fraction = 0.7`` from the notebook's first
cell and gives that fraction of every check's points. Each call writes one file into
``$GRADER_TEST_CALLS`` once its work is done, so tests can count how often each submission was graded.
The workers import this module to run ``fake_grade``: its top level stays light (nbgrader and nbformat,
seconds to import, are imported inside the tests).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader.config import load_assignment
from grader.batch import (ERRORED, FAILED, PASSED, BatchSummary, autograde, detect_gpus, parse_nvidia_smi,
                          print_summary, thread_caps)
from grader.collect import (LATE, MISSING_NOTEBOOK, OK, TOO_LATE, Submission, write_submissions)
from grader.gradebook import finished_students, load_results, open_gradebook
from grader.i18n import msg
from grader.records import CheckResult, ExecutionRecord, ExecutionStatus, GradeResult

ROOT = Path(__file__).resolve().parent.parent
CALLS_ENV = "GRADER_TEST_CALLS"
SLEEP_ENV = "GRADER_TEST_SLEEP"
THREADS_ENV = "GRADER_TEST_THREADS"
SCORERS_ENV = "GRADER_TEST_SCORERS"


def fake_grade(notebook: Path, config, *, student: str, workdir: Path, sandbox: bool = True,
               env: dict[str, str] | None = None) -> GradeResult:
    source = "".join(json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"][0]["source"])
    if "raise" in source:
        raise RuntimeError("fallo simulado del corrector")
    fraction = float(re.search(r"fraction = ([0-9.]+)", source)[1])
    time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
    invocation = uuid.uuid4().hex
    device = (env or {}).get("CUDA_VISIBLE_DEVICES", "<unset>")
    checks = [CheckResult.from_fraction(name, check.points, fraction, "ok", hidden=check.hidden,
                                        details={"invocation": invocation})
              for name, check in config.checks.items()]
    result = GradeResult(student=student, assignment=config.name, checks=checks,
                         execution=ExecutionRecord(ExecutionStatus.COMPLETED, "ok", cells_executed=1, device=device),
                         graded_at=datetime.now(timezone.utc).isoformat(), grader_version="test")
    (Path(workdir) / "graded").write_text(str(fraction))
    calls = os.environ.get(CALLS_ENV)
    if calls:
        (Path(calls) / f"{student}.{invocation}").write_text(device)
    threads = os.environ.get(THREADS_ENV)
    if threads:
        (Path(threads) / f"{student}.{invocation}").write_text((env or {}).get("OMP_NUM_THREADS", "-"))
    return result


def fake_grade_noting_scorer(notebook: Path, config, *, student: str, workdir: Path, sandbox: bool = True,
                             env: dict[str, str] | None = None, scorer=None) -> GradeResult:
    """``fake_grade`` that also notes which scoring server its worker handed it (its folder)."""
    result = fake_grade(notebook, config, student=student, workdir=workdir, sandbox=sandbox, env=env)
    scorers = os.environ.get(SCORERS_ENV)
    if scorers:
        (Path(scorers) / f"{student}.{uuid.uuid4().hex}").write_text(str(scorer.folder) if scorer else "none")
    return result


def write_notebook(path: Path, code: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [], "source": code}
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def fraction_of(i: int) -> float:
    return round((i % 7) / 6, 3)


@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory):
    """Creating a gradebook runs nbgrader's alembic command (seconds): make one, copy it per test."""
    path = tmp_path_factory.mktemp("template") / "gradebook.db"
    open_gradebook(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def course(tmp_path, empty_gradebook):
    shutil.copy(empty_gradebook, tmp_path / "gradebook.db")
    (tmp_path / "calls").mkdir()
    return tmp_path


def make_submissions(course: Path, config, n: int, *, extra: list[Submission] = (), raising: set[str] = frozenset()):
    """n gradable submissions (two of them late) plus ``extra``; written as 'grader collect' would."""
    out = course / "entregas"
    subs = []
    deadline = datetime.fromisoformat(config.late.deadline)
    for i in range(n):
        student = f"s{i:02d}"
        notebook = out / student / "practica3.ipynb"
        write_notebook(notebook, "raise" if student in raising else f"fraction = {fraction_of(i)}")
        late = i in (3, 8)
        subs.append(Submission(student, f"Estudiante {i}", notebook, deadline + timedelta(hours=5 if late else -5),
                               late_days=1 if late else 0, late_penalty=1.0 if late else 0.0,
                               status=LATE if late else OK, participant_id=str(1000 + i)))
    write_submissions(out, config.name, [*subs, *extra])
    return out, subs


def expected_score(config, sub: Submission, tmp: Path) -> float:
    """Grade one submission by itself, without Dask: the reference for the batch."""
    work = tmp / "solo" / sub.student
    work.mkdir(parents=True, exist_ok=True)
    calls = os.environ.pop(CALLS_ENV, None)  # not a batch call: leave the counts alone
    try:
        result = fake_grade(sub.notebook, config, student=sub.student, workdir=work, sandbox=False, env={})
    finally:
        if calls is not None:
            os.environ[CALLS_ENV] = calls
    return replace(result, late_penalty=sub.late_penalty).score


def invocations(calls: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in calls.iterdir():
        student, invocation = path.name.split(".")
        found.setdefault(student, []).append(invocation)
    return found


def test_batch_gives_the_same_scores_as_one_by_one(course, config, monkeypatch):
    from nbgrader.api import Gradebook

    from grader.export_grades import export_all

    monkeypatch.setenv(CALLS_ENV, str(course / "calls"))
    url = f"sqlite:///{course / 'gradebook.db'}"
    extra = [Submission("tarde", "Muy Tarde", None, None, late_days=5, status=TOO_LATE, participant_id="2001",
                        problems=(msg("collect.too_late", n=5, most=3),)),
             Submission("nada", "Sin Notebook", None, None, status=MISSING_NOTEBOOK, participant_id="2002")]
    out, subs = make_submissions(course, config, 12, extra=extra)

    summary = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)

    expected = {s.student: expected_score(config, s, course) for s in subs} | {"tarde": 0.0, "nada": 0.0}
    assert summary.scores == pytest.approx(expected)
    assert summary.total == 14 and summary.skipped == [] and summary.errored == []
    assert summary.outcomes == {**{s.student: PASSED for s in subs}, "tarde": FAILED, "nada": FAILED}
    assert summary.device.startswith("CPU")
    assert finished_students(url, "practica3") == set(expected)
    assert {s: len(v) for s, v in invocations(course / "calls").items()} == {s.student: 1 for s in subs}
    assert set((course / "calls").glob("*")) and all(p.read_text() == "" for p in (course / "calls").iterdir())

    with Gradebook(url) as gradebook:  # nbgrader's own API reads the batch's grades back
        for student, score in expected.items():
            graded = gradebook.find_submission("practica3", student)
            assert graded.score - (graded.late_submission_penalty or 0) == pytest.approx(score)
        assert not gradebook.find_submission("practica3", "tarde").needs_manual_grade
        assert gradebook.find_submission("practica3", "s00").needs_manual_grade  # reports: formgrader

    again = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)
    assert again.graded == 0 and again.skipped == sorted(expected)
    assert sum(len(v) for v in invocations(course / "calls").values()) == 12

    exports = export_all(url, config, course / "grades")
    plain = exports["plain_csv"].read_text(encoding="utf-8-sig").splitlines()
    assert plain[0].startswith("student,display_name,participant_id,status,state,score,max_score,ej1_arquitectura")
    assert len(plain) == 15
    late_row = next(row for row in csv.reader(plain) if row[0] == "tarde")  # the stored problem, rendered
    assert late_row[-1] == "Entrega fuera de plazo: 5 días de retraso, más de los 3 permitidos; se califica con 0."
    moodle = exports["moodle_csv"].read_text(encoding="utf-8").splitlines()
    assert moodle[0] == ("Identificador,Nombre completo,Calificación,Última modificación (calificación),"
                         "Comentarios de retroalimentación")
    # nbgrader's tree under the course root: what the formgrader opens (fake_grade executes nothing)
    assert (course / "submitted" / "s05" / "practica3" / "practica3.ipynb").is_file()
    assert (course / "submitted" / "s05" / "practica3" / "timestamp.txt").read_text().endswith(" UTC")
    assert (course / "feedback" / "s05" / "practica3" / "s05.html").is_file()
    assert moodle[1].startswith("Participante2002,Sin Notebook,0,")  # closed: no manual part pending
    assert len(moodle) == 3 and len(exports["moodle_left_out"]) == 12  # the others wait for the formgrader
    assert len(exports["student_jsons"]["gradescope"]) == 14
    stored = json.loads((course / "grades" / "results" / "s05.json").read_text(encoding="utf-8"))
    assert stored["score"] == pytest.approx(expected["s05"])


def test_a_raising_grade_fn_is_an_error_for_that_student_only(course, config, monkeypatch):
    from nbgrader.api import Gradebook, MissingEntry

    monkeypatch.setenv(CALLS_ENV, str(course / "calls"))
    url = f"sqlite:///{course / 'gradebook.db'}"
    out, subs = make_submissions(course, config, 4, raising={"s02"})

    summary = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)
    assert summary.errored == ["s02"] and sorted(summary.passed) == ["s00", "s01", "s03"]
    assert "fallo simulado del corrector" in summary.messages["s02"]
    assert finished_students(url, "practica3") == {"s00", "s01", "s03"}
    errored = load_results(url, "practica3")["s02"]
    assert errored.state == "error" and "fallo simulado" in errored.result.checks[0].details["traceback"]
    with Gradebook(url) as gradebook, pytest.raises(MissingEntry):
        gradebook.find_submission("practica3", "s02")

    # the cause is fixed; a plain rerun grades only the errored submission
    write_notebook(subs[2].notebook, "fraction = 0.5")
    rerun = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)
    assert rerun.outcomes == {"s02": PASSED} and rerun.skipped == ["s00", "s01", "s03"]
    # --student regrades a finished student, and only that one
    only = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False, students=["s00"])
    assert only.outcomes == {"s00": PASSED}
    assert {s: len(v) for s, v in invocations(course / "calls").items()} == {"s00": 2, "s01": 1, "s02": 1, "s03": 1}


KILLED_BATCH = """
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from test_batch import fake_grade
from grader.batch import autograde
from grader.config import load_assignment
autograde(load_assignment("practica3"), Path(sys.argv[1]), db_url=sys.argv[2], workers=2,
          grade_fn=fake_grade, progress=False)
"""


def test_kill_9_midway_then_rerun_grades_every_submission_exactly_once(course, config, monkeypatch):
    from nbgrader.api import Gradebook

    url = f"sqlite:///{course / 'gradebook.db'}"
    out, subs = make_submissions(course, config, 12)
    everyone = {s.student for s in subs}
    first_calls, second_calls = course / "calls", course / "calls2"
    second_calls.mkdir()
    env = {**os.environ, CALLS_ENV: str(first_calls), SLEEP_ENV: "0.6"}
    batch = subprocess.Popen([sys.executable, "-c", KILLED_BATCH, str(out), url, str(ROOT / "tests"), str(ROOT)],
                             env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(finished_students(url, "practica3")) < 3:
            assert batch.poll() is None, batch.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the batch recorded nothing in time"
            time.sleep(0.1)
        batch.send_signal(signal.SIGKILL)
        batch.wait(timeout=30)
    finally:
        try:  # the orphaned Dask workers of the killed batch (its own process group)
            os.killpg(batch.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        batch.stderr.close()
    assert batch.returncode == -signal.SIGKILL
    finished_first = finished_students(url, "practica3")
    assert 3 <= len(finished_first) < 12, "kill the batch midway"

    monkeypatch.setenv(CALLS_ENV, str(second_calls))
    summary = autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)

    assert summary.skipped == sorted(finished_first)
    assert finished_students(url, "practica3") == everyone
    first, second = invocations(first_calls), invocations(second_calls)
    # the rerun graded each unfinished submission once and no finished one
    assert {s: len(v) for s, v in second.items()} == {s: 1 for s in everyone - finished_first}
    # every recorded grade comes from exactly one completed call: the first run's or the rerun's
    stored = load_results(url, "practica3")
    for student in everyone:
        recorded = stored[student].result.checks[0].details["invocation"]
        source = first if student in finished_first else second
        assert recorded in source.get(student, []), student
    with Gradebook(url) as gradebook:
        assert len(gradebook.find_assignment("practica3").submissions) == 12
        for sub in subs:
            graded = gradebook.find_submission("practica3", sub.student)
            score = graded.score - (graded.late_submission_penalty or 0)
            assert score == pytest.approx(expected_score(config, sub, course))


def test_a_cluster_started_apart_grades_everyone_once_though_a_worker_is_killed(course, config, monkeypatch):
    """`dask scheduler` and two `dask worker` processes started on their own, as dask-jobqueue (SLURM) or a
    Kubernetes operator starts them, each declaring one (pretend) GPU as a resource; `--scheduler` grades
    on them, each worker with its own scoring server. One worker is killed (SIGKILL) mid-batch: its job
    runs again on the other, and every student is recorded once."""
    from distributed import Client

    url = f"sqlite:///{course / 'gradebook.db'}"
    out, subs = make_submissions(course, config, 8)
    (course / "scorers").mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),  # as pytest imports it
           CALLS_ENV: str(course / "calls"), SLEEP_ENV: "1.5",
           SCORERS_ENV: str(course / "scorers")}
    dask, scheduler_file = str(Path(sys.executable).parent / "dask"), course / "scheduler.json"
    started = []

    def start(*args: str, **extra_env: str) -> subprocess.Popen:
        with open(course / f"dask-{len(started)}.log", "wb") as log:
            process = subprocess.Popen([dask, *args], env={**env, **extra_env}, cwd=course, start_new_session=True,
                                       stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    def logs() -> str:
        return "\n".join(path.read_text(errors="replace")[-1500:] for path in sorted(course.glob("dask-*.log")))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
              str(scheduler_file))
        workers = {gpu: start("worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--no-nanny",
                              "--no-dashboard", "--resources", "GPU_SLOT=1", "--name", f"gpu{gpu}",
                              "--local-directory", str(course / f"worker{gpu}"),
                              CUDA_VISIBLE_DEVICES=gpu) for gpu in ("0", "1")}
        deadline = time.monotonic() + 120
        while not scheduler_file.is_file():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)

        killed = threading.Event()

        def kill_worker_0_once_it_has_graded() -> None:
            # Two calls ended there: the first one's result reached the scheduler (a call's result is sent
            # after its file is written, 1.5 s before the second ends); the second one's may not.
            while sum(p.read_text() == "0" for p in (course / "calls").iterdir()) < 2:
                if time.monotonic() > deadline + 120:
                    return
                time.sleep(0.05)
            workers["0"].kill()  # it has taken its next job by now (each takes 1.5 s)
            killed.set()

        killer = threading.Thread(target=kill_worker_0_once_it_has_graded)
        killer.start()
        monkeypatch.setenv(CALLS_ENV, str(course / "calls"))
        summary = autograde(config, out, db_url=url, workers=1, scheduler=address, grade_fn=fake_grade_noting_scorer,
                            progress=False)
        killer.join()
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert killed.is_set() and workers["0"].returncode == -signal.SIGKILL  # killed while the batch ran
    everyone = {s.student for s in subs}
    assert summary.errored == [] and set(summary.passed) == everyone and "GPU" in summary.device, logs()
    assert finished_students(url, "practica3") == everyone
    stored = load_results(url, "practica3")
    calls = invocations(course / "calls")
    for student in everyone:  # each recorded grade comes from one completed call
        assert stored[student].result.checks[0].details["invocation"] in calls[student]
    assert {stored[s].result.execution.device for s in everyone} == {"0", "1"}
    scorers = {p.read_text() for p in (course / "scorers").iterdir()}
    assert len(scorers) == 2 and "none" not in scorers  # one scoring server per worker


def test_gpu_slots_give_each_job_one_device(course, config, monkeypatch):
    """Two (pretend) GPUs: workers own a GPU_SLOT each and pass their own device to grade_fn."""
    monkeypatch.setenv(CALLS_ENV, str(course / "calls"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    url = f"sqlite:///{course / 'gradebook.db'}"
    out, subs = make_submissions(course, config, 6)
    summary = autograde(config, out, db_url=url, workers=4, jobs_per_gpu=1, grade_fn=fake_grade, progress=False)
    assert summary.device.startswith("GPU 0,1") and len(summary.passed) == 6
    devices = {p.read_text() for p in (course / "calls").iterdir()}
    assert devices <= {"0", "1"} and devices
    stored = load_results(url, "practica3")
    assert {stored[s.student].result.execution.device for s in subs} == devices


def test_threads_per_job_reaches_every_job_only_when_asked(course, config, monkeypatch):
    (course / "threads").mkdir()
    monkeypatch.setenv(THREADS_ENV, str(course / "threads"))
    url = f"sqlite:///{course / 'gradebook.db'}"
    out, _ = make_submissions(course, config, 3)
    autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False)
    assert {p.read_text() for p in (course / "threads").iterdir()} == {"-"}  # no limit unless asked
    for path in (course / "threads").iterdir():
        path.unlink()
    autograde(config, out, db_url=url, workers=2, grade_fn=fake_grade, progress=False, force=True, threads_per_job=1)
    assert {p.read_text() for p in (course / "threads").iterdir()} == {"1"}
    assert thread_caps(3)["TF_NUM_INTRAOP_THREADS"] == "3" and thread_caps(3)["OPENBLAS_NUM_THREADS"] == "3"


def test_a_rerun_reuses_only_results_whose_notebook_grader_and_assignment_are_unchanged(course, config, monkeypatch):
    monkeypatch.setenv(CALLS_ENV, str(course / "calls"))
    url = f"sqlite:///{course / 'gradebook.db'}"
    out, subs = make_submissions(course, config, 3)

    def graded_now(**options) -> list[str]:
        before = {student: len(calls) for student, calls in invocations(course / "calls").items()}
        summary = autograde(options.pop("config", config), out, db_url=url, workers=2, grade_fn=fake_grade,
                            progress=False, **options)
        after = invocations(course / "calls")
        graded = sorted(student for student, calls in after.items() if len(calls) > before.get(student, 0))
        assert sorted(summary.skipped) == sorted({s.student for s in subs} - set(graded))
        return graded

    assert graded_now() == ["s00", "s01", "s02"]
    assert graded_now() == []                                 # nothing changed: every result is reused
    write_notebook(subs[1].notebook, "fraction = 0.5")        # a student's notebook changed (a re-collect)
    assert graded_now() == ["s01"]
    assert graded_now(force=True) == ["s00", "s01", "s02"]    # --force: graded again all the same
    checks = dict(config.checks)                              # the instructor changed the assignment
    checks["ej1_normas"] = checks["ej1_normas"].model_copy(update={"title": "Normas (revisadas)"})
    assert graded_now(config=config.model_copy(update={"checks": checks})) == ["s00", "s01", "s02"]
    assert graded_now() == ["s00", "s01", "s02"]              # and back: the stored hashes are of the other one


def test_gpu_detection(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert detect_gpus() == ["2", "3"]
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert detect_gpus() == []
    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n"
               "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2)\n"
               "  MIG 3g.20gb     Device  0: (UUID: MIG-aaa)\n"
               "  MIG 3g.20gb     Device  1: (UUID: MIG-bbb)\n")
    assert parse_nvidia_smi(listing) == ["0", "MIG-aaa", "MIG-bbb"]
    assert parse_nvidia_smi("") == []


@pytest.mark.slow
def test_real_pipeline_batch(tmp_path, light_config, released):
    """The production grade_fn (grader.pipeline.grade_submission) on three light CNN-only notebooks."""
    from nbgrader.api import Gradebook

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import submissions as build
    finally:
        sys.path.remove(str(ROOT / "tests"))
    cnn_only = {grade_id: None for grade_id in ("ej1_cnn_entrenamiento", "ej1_hog", "ej1_svm", "ej1_mejora_modelo",
                                                "ej1_mejora_entrenamiento", "ej2_modelo", "ej2_entrenamiento",
                                                "ej2_evaluacion", "ej2_figura")}
    notebooks = {"buena": build.fill(released[0], cnn_only),
                 "mala": build.fill(released[0], {**cnn_only, "ej1_cnn_modelo": build.cnn_cell(padding2="same")}),
                 "rota": build.fill(released[0], {**cnn_only, "ej1_cnn_modelo": "raise ValueError('me rindo')"})}
    out = tmp_path / "entregas"
    subs = [Submission(student, student, build.write(nb, out / student / "practica3.ipynb"), None)
            for student, nb in notebooks.items()]
    write_submissions(out, "practica3", subs)
    shutil.copy(released[1].removeprefix("sqlite:///"), tmp_path / "gradebook.db")  # the release's cells
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"

    summary = autograde(light_config, out, db_url=url, workers=2, sandbox=shutil.which("bwrap") is not None,
                        progress=False)
    assert summary.errored == [] and set(summary.outcomes) == set(notebooks)  # cell errors: graded, not errored
    assert summary.scores["buena"] > summary.scores["mala"] > summary.scores["rota"] >= 0
    stored = load_results(url, "practica3")
    with Gradebook(url) as gradebook:
        for student, score in summary.scores.items():
            assert gradebook.find_submission("practica3", student).score == pytest.approx(score)
            architecture = gradebook.find_grade("ej1_arquitectura", "practica3", "practica3", student)
            assert architecture.score == pytest.approx(
                next(c.points for c in stored[student].result.checks if c.name == "ej1_arquitectura"))
    # The same notebook graded alone (no Dask, no gradebook) scores exactly what the batch gave it.
    from grader.pipeline import grade_submission

    alone = grade_submission(subs[1].notebook, light_config, student="mala", workdir=tmp_path / "alone",
                             sandbox=shutil.which("bwrap") is not None, db_url=url)
    assert alone.score == summary.scores["mala"]
    assert [(c.name, c.points) for c in alone.checks] == [(c.name, c.points) for c in stored["mala"].result.checks]


# Looks at what an earlier notebook could have left to a later one, then leaves all of it: every
# notebook is both the probe and the polluter, whatever order the worker takes them in.
PROBE_AND_POLLUTE = """\
import os, numpy
left = [p for p in ("left.txt", "/tmp/left.txt", "/dev/shm/left.txt") if os.path.exists(p)]
print("PROBE", left, os.environ.get("LEFT_BY"), "LEFT_BY" in globals(), numpy.mean([1, 3]), os.umask(0o022) == 0o077)
print("CWD", os.getcwd())
for path in ("left.txt", "/tmp/left.txt", "/dev/shm/left.txt"):
    open(path, "w").write("x")
os.environ["LEFT_BY"] = "x"; LEFT_BY = 1; numpy.mean = lambda *a, **k: 42; os.umask(0o077)
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="a kernel's /tmp is its own only in the sandbox")
def test_kernels_started_ahead_serve_one_notebook_each_and_show_it_nothing_of_the_last(tmp_path, light_config,
                                                                                        released):
    """One worker: while it grades a notebook it starts the next one's kernel. The second notebook still
    meets a fresh process in a sandbox and folder of its own: no file (its folder, /tmp, /dev/shm),
    environment variable, global, patched module or umask of the notebook before it (each notebook
    probes, then pollutes: whichever the worker takes second is the proof)."""
    from tests import submissions as build

    notebooks = {f"alumno{i}": build.fill(released[0], {"ej1_cnn_entrenamiento": None, "ej1_hog": PROBE_AND_POLLUTE,
                                                        "ej1_svm": None, "ej1_mejora_modelo": None,
                                                        "ej1_mejora_entrenamiento": None, "ej2_modelo": None,
                                                        "ej2_entrenamiento": None, "ej2_evaluacion": None,
                                                        "ej2_figura": None})
                 for i in range(2)}
    out = tmp_path / "entregas"
    write_submissions(out, "practica3", [Submission(name, name, build.write(nb, out / name / "practica3.ipynb"), None)
                                         for name, nb in notebooks.items()])
    shutil.copy(released[1].removeprefix("sqlite:///"), tmp_path / "gradebook.db")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    summary = autograde(light_config, out, db_url=url, workers=1, sandbox=True, progress=False, kernels_ahead=True)
    assert summary.errored == [] and set(summary.outcomes) == set(notebooks), summary.messages
    stored = load_results(url, "practica3")
    ahead = [name for name in notebooks if stored[name].result.execution.kernel_started_ahead]
    assert len(ahead) == 1  # the first job's kernel starts with it; the second's was ready when it came
    folders = set()
    for name in notebooks:
        executed = Path(stored[name].result.execution.executed_notebook).read_text(encoding="utf-8")
        assert "PROBE [] None False 2.0 False" in executed, (name, executed[-3000:])
        folders.add(re.search(r"CWD (\S+?)\\n", executed).group(1))
    assert len(folders) == 2  # a folder of its own each
    work = tmp_path / "work"
    assert not (work / ".next-kernels").exists()  # the kernel started for a third notebook is gone
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith(".")) == sorted(notebooks)


def test_batch_refuses_to_run_unsandboxed_without_being_told(course, config, monkeypatch):
    """bubblewrap unusable (here: not on PATH) -> a clear error before anything runs; --no-sandbox runs."""
    import grader.sandbox as sandbox_module
    from grader.errors import GraderError

    out, _ = make_submissions(course, config, 2)
    monkeypatch.setenv("PATH", str(course / "no-bin"))
    sandbox_module.sandbox_status.cache_clear()
    try:
        with pytest.raises(GraderError, match="no sandbox for the students' code: .*--no-sandbox"):
            autograde(config, out, db_url=f"sqlite:///{course / 'gradebook.db'}", workers=1, grade_fn=fake_grade,
                      progress=False)
        assert finished_students(f"sqlite:///{course / 'gradebook.db'}", "practica3") == set()
    finally:
        sandbox_module.sandbox_status.cache_clear()


@pytest.mark.parametrize("lang, words", [
    ("es", ["Corrección de practica3", "Entregas con fallos o errores", "Estudiante", "Motivo", "con fallos",
            "error del corrector"]),
    ("en", ["Grading of practica3", "Submissions with failures or errors", "Student", "Reason", "with failures",
            "grader error"])])
def test_the_console_summary_speaks_the_assignments_language(lang, words):
    from rich.console import Console

    summary = BatchSummary(assignment="practica3", total=2, outcomes={"s00": FAILED, "s01": ERRORED},
                           scores={"s00": 0.0, "s01": 0.0}, messages={"s00": "no ejecuta", "s01": "boom"})
    console = Console(record=True, width=200)
    print_summary(summary, console, lang)
    text = console.export_text()
    assert all(word in text for word in words), text
