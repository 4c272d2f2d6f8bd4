"""Grade every collected submission in parallel with Dask, recording each result as soon as it is done.

``autograde`` reads ``<submissions_dir>/submissions.json`` (written by ``grader collect``), records the
submissions that cannot be graded (too late, no notebook, several notebooks) straight away with 0
points, and sends the rest to Dask workers, one ``grade_fn`` call (``grader.pipeline.grade_submission``
by default) per submission. The client records each result in nbgrader's gradebook the moment it
arrives (``as_completed``), in one transaction with its "finished" marker (see grader/gradebook.py).
So a batch killed at any point (even SIGKILL) loses only the submissions in flight: a rerun skips every
finished student and grades each unfinished submission once. A finished result is reused only while
nothing it was computed from has changed (:mod:`grader.content_hash`: the notebook, what collect decided,
the grader's code, the assignment's configuration, hidden tests, metrics and public files); otherwise
the rerun grades that submission again. ``force`` regrades everyone; ``students`` regrades just those.

``grade_fn`` is called as ``grade_fn(notebook, config, student=, workdir=, sandbox=, env=)`` plus
``db_url``, ``late_penalty``, ``extra_files``, ``scorer`` and ``ahead`` when its signature takes them (the
pipeline does: it restores locked cells from the gradebook, applies the "only the notebook" rule, scores
with the worker's long-lived scoring process, see :class:`ScoringServers`, and runs the notebook in the
kernel the worker started for it while grading the one before, see :class:`KernelsAheadPlugin`: by
default on a GPU, where the CPUs are mostly idle while notebooks train; ``kernels_ahead`` True or False
decides instead); the batch sets
``late_penalty`` on the returned result from collect's late policy in any case.

Disk: each job grades in ``<workdir>/<student>/`` and, as it ends (graded or not), removes from it
everything but what the instructor's later steps read (:func:`grader.workspace.prune_workdir`), so the
host holds per student only the result, the executed notebook and the similarity report's evidence;
what the notebook wrote is gone with its scratch folder.

Outcome of a submission in the live counts and the summary:
  passed  - graded, and the notebook ran from start to end (the score is whatever the checks gave);
  failed  - graded, but the notebook did not run cleanly, or could not be graded (too late, no notebook);
  errored - the grader itself failed (``grade_fn`` raised, a worker died): recorded with state "error",
            not finished, so the next run tries it again.

Cluster: by default an embedded ``LocalCluster`` (worker processes, one thread each, ``workers`` of
them). GPUs are found with ``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi -L``; then each worker process owns
one GPU slot (``jobs_per_gpu`` slots per GPU, workers round-robin over the GPUs), advertises the Dask
resource ``GPU_SLOT=1`` and has ``CUDA_VISIBLE_DEVICES=<its GPU>`` in its environment; every job asks
for ``GPU_SLOT=1`` and passes ``env={"CUDA_VISIBLE_DEVICES": <the worker's GPU>}`` to ``grade_fn``.
Without a GPU the jobs run on CPU (``CUDA_VISIBLE_DEVICES=""`` in the kernel) and the batch says so.

Running the workers on a SLURM cluster (dask-jobqueue is not a dependency; install it where you start
the cluster)::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(queue="gpu", cores=4, processes=1, memory="32GB", walltime="04:00:00",
                           job_extra_directives=["--gres=gpu:1"],
                           worker_extra_args=["--resources", "GPU_SLOT=1", "--nthreads", "1"],
                           job_script_prologue=["source /path/to/course/.venv/bin/activate"])
    cluster.scale(jobs=8)
    print(cluster.scheduler_address)        # e.g. tcp://10.0.0.5:8786; keep this process running

    $ grader autograde ASSIGNMENT --submissions entregas/ --scheduler tcp://10.0.0.5:8786

SLURM sets ``CUDA_VISIBLE_DEVICES`` for each job; a worker uses the first device in it. Workers must
see the same paths (course checkout, submissions folder, work folder) on a shared file system. If any
worker advertises ``GPU_SLOT``, jobs require it; otherwise they run wherever Dask puts them. Without
GPUs, leave out ``--gres`` and the ``--resources`` argument.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import socket
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from grader import __version__
from grader.collect import INVALID_NOTEBOOK, MISSING_NOTEBOOK, MULTIPLE_NOTEBOOKS, TOO_LATE, Submission, load_submissions
from grader.config import AssignmentConfig
from grader.content_hash import grading_inputs_hash, submission_hash
from grader.i18n import Message, format_number, msg, render
from grader.course import CourseRoot
from grader.errors import GraderError
from grader.gradebook import GradebookRecorder, finished_hashes, notebook_name
from grader.heldout import HELDOUT_FOLDER, HeldOutFolders, prepare_heldout
from grader.kernels_ahead import NEXT_KERNELS
from grader.records import CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult
from grader.scoring import ScoringServer
from grader.workspace import prune_workdir, remove_tree

log = logging.getLogger(__name__)

GPU_RESOURCE = "GPU_SLOT"
PASSED, FAILED, ERRORED = "passed", "failed", "errored"

GradeFn = Callable[..., GradeResult]


@dataclass
class BatchSummary:
    assignment: str
    total: int                                     # submissions in submissions.json (after --student)
    skipped: list[str] = field(default_factory=list)   # already finished, not regraded
    outcomes: dict[str, str] = field(default_factory=dict)  # student -> passed / failed / errored
    scores: dict[str, float] = field(default_factory=dict)  # student -> score recorded now
    messages: dict[str, str] = field(default_factory=dict)  # student -> why failed / errored
    device: str = "cpu"
    wall_seconds: float = 0.0

    def _with(self, outcome: str) -> list[str]:
        return sorted(s for s, o in self.outcomes.items() if o == outcome)

    @property
    def passed(self) -> list[str]:
        return self._with(PASSED)

    @property
    def failed(self) -> list[str]:
        return self._with(FAILED)

    @property
    def errored(self) -> list[str]:
        return self._with(ERRORED)

    @property
    def graded(self) -> int:
        return len(self.outcomes)


# ------------------------------------------------------------------------------------------- GPUs

def detect_gpus() -> list[str]:
    """Device ids for CUDA_VISIBLE_DEVICES: from that variable if set, else ``nvidia-smi -L``; [] when
    there is no GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        return [] if not ids or ids[0].startswith("-") else ids
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(listing.stdout) if listing.returncode == 0 else []


def parse_nvidia_smi(listing: str) -> list[str]:
    """GPU indices from ``nvidia-smi -L``; a GPU split into MIG instances gives their UUIDs instead."""
    devices: list[str] = []
    for block in re.split(r"(?m)^(?=GPU \d+:)", listing):
        gpu = re.match(r"GPU (\d+):", block)
        if gpu:
            devices.extend(re.findall(r"\(UUID: (MIG-[^)]+)\)", block) or [gpu[1]])
    return devices


def _worker_device(use_gpu: bool) -> str:
    """The device this worker hands to its jobs: the first of its own CUDA_VISIBLE_DEVICES, or none."""
    if not use_gpu:
        return ""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()


# ----------------------------------------------------------------------------------- on a worker

def thread_caps(threads: int) -> dict[str, str]:
    """Environment that keeps a job's math libraries (OpenMP, OpenBLAS, MKL, TensorFlow) to ``threads``
    CPU threads, so that many jobs sharing a machine do not each start a thread per CPU. Off by default:
    the thread count changes the order of floating-point sums, so a notebook's training (and its grade)
    would then depend on how many workers the batch had; with no cap it depends only on the machine."""
    if threads < 1:
        return {}
    value = str(threads)
    return {name: value for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}


class ScoringServers(WorkerPlugin):
    """One :class:`~grader.scoring.ScoringServer` per worker process (and per sandbox setting and
    limits), started with the worker's first submission and closed with the worker: the scoring
    process's imports are paid once per worker instead of once per submission."""

    name = "grader-scoring"

    def __init__(self, env: dict[str, str] | None = None):
        self.env = dict(env or {})

    def setup(self, worker) -> None:
        self.folder = Path(worker.local_directory) / self.name
        self.servers: dict[tuple[str, bool], ScoringServer] = {}

    def server(self, limits, sandboxed: bool) -> ScoringServer:
        key = (limits.model_dump_json(), sandboxed)
        if key not in self.servers:
            self.servers[key] = ScoringServer(self.folder / str(len(self.servers)), limits, sandboxed=sandboxed,
                                              env=self.env)
        return self.servers[key]

    def teardown(self, worker) -> None:
        for server in self.servers.values():
            server.close()


class KernelsAheadPlugin(WorkerPlugin):
    """Each worker's kernel started ahead for its next submission (:mod:`grader.kernels_ahead`),
    closed unused when the batch ends or the worker does."""

    name = "grader-kernels-ahead"

    def setup(self, worker) -> None:
        from grader.kernels_ahead import KernelsAhead

        self.ahead = KernelsAhead()

    def teardown(self, worker) -> None:
        self.ahead.close()


def _close_kernels_ahead(dask_worker) -> None:
    plugin = dask_worker.plugins.get(KernelsAheadPlugin.name)
    if isinstance(plugin, KernelsAheadPlugin):
        plugin.ahead.close()


def _worker_plugin(name: str):
    from distributed import get_worker

    try:
        return get_worker().plugins.get(name)
    except ValueError:  # not on a Dask worker
        return None


def _worker_scorer(limits, sandboxed: bool) -> ScoringServer | None:
    """This worker's scoring server, when the batch registered :class:`ScoringServers`."""
    plugin = _worker_plugin(ScoringServers.name)
    return plugin.server(limits, sandboxed) if isinstance(plugin, ScoringServers) else None


def _accepted(fn: Callable, extras: dict[str, Any]) -> dict[str, Any]:
    """The optional keyword arguments ``fn`` takes (the pipeline takes db_url, late_penalty, extra_files;
    a minimal grade_fn need not)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return extras
    return {k: v for k, v in extras.items() if k in parameters}


def _grade_task(notebook: str, config_data: dict, folder: str, student: str, workdir: str, sandbox: bool,
                grade_fn: GradeFn | None, use_gpu: bool, extras: dict[str, Any],
                job_env: dict[str, str]) -> dict[str, Any]:
    """Run one grading job on a Dask worker. Returns JSON-able data (never a Python object)."""
    device = _worker_device(use_gpu)
    try:
        config = AssignmentConfig.model_validate({**config_data, "folder": folder})
        if grade_fn is None:
            from grader.pipeline import grade_submission as grade_fn
        work = Path(workdir)
        remove_tree(work)  # left over by a killed run: start clean
        work.mkdir(parents=True)
        ahead = _worker_plugin(KernelsAheadPlugin.name)
        extras = {**extras, "scorer": _worker_scorer(config.limits, sandbox),
                  "ahead": ahead.ahead if isinstance(ahead, KernelsAheadPlugin) else None}
        result = grade_fn(Path(notebook), config, student=student, workdir=work, sandbox=sandbox,
                          env={**job_env, "CUDA_VISIBLE_DEVICES": device}, **_accepted(grade_fn, extras))
        return {"ok": True, "result": result.to_dict(), "device": device or "cpu", "host": socket.gethostname()}
    except Exception as exc:  # the batch goes on; the student gets an error result
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=20),
                "device": device or "cpu", "host": socket.gethostname()}
    finally:
        _prune(Path(workdir))


def _prune(work: Path) -> None:
    """As a job ends: keep only what the instructor needs from its work folder (grader.workspace)."""
    try:
        prune_workdir(work)
    except OSError as exc:  # the result is what matters; a folder left behind is only logged
        log.warning("could not clean %s: %s", work, exc)


# ------------------------------------------------------------------------------- synthetic results

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _zero_result(config: AssignmentConfig, student: str, text: Message, status: CheckStatus,
                 execution_status: ExecutionStatus) -> GradeResult:
    message = render(text, config.language, config.folder)
    checks = [CheckResult(name, 0.0, check.points, status, message, hidden=check.hidden, text=text)
              for name, check in config.checks.items()]
    checks += [CheckResult(part.grade_id, 0.0, part.points, CheckStatus.MANUAL, message, text=text)
               for part in config.manual.values()]
    return GradeResult(student=student, assignment=config.name, checks=checks,
                       execution=ExecutionRecord(status=execution_status, message=message, text=text),
                       graded_at=_now(), grader_version=__version__)


def ungradable_result(config: AssignmentConfig, submission: Submission) -> GradeResult:
    """0 points for a submission that is not run: too late, no notebook, several notebooks, too large."""
    reasons = {
        TOO_LATE: msg("batch.too_late", n=submission.late_days, most=config.late.max_days_late),
        MISSING_NOTEBOOK: msg("batch.missing_notebook"),
        MULTIPLE_NOTEBOOKS: msg("batch.multiple_notebooks"),
        INVALID_NOTEBOOK: msg("batch.invalid_notebook"),
    }
    text = reasons.get(submission.status) or msg("batch.ungradable", status=submission.status)
    status = CheckStatus.FAILED if submission.status == TOO_LATE else CheckStatus.ERROR
    return _zero_result(config, submission.student, text, status, ExecutionStatus.INVALID_NOTEBOOK)


def error_result(config: AssignmentConfig, student: str, error: str, trace: str | None = None) -> GradeResult:
    """The grader failed on this submission: 0 points, stored with state "error" and retried by the next
    run; the traceback goes to the first check's details (the instructor's copy, in the gradebook)."""
    result = _zero_result(config, student, msg("batch.grader_error", error=error), CheckStatus.ERROR,
                          ExecutionStatus.GRADER_ERROR)
    if trace and result.checks:
        result.checks[0].details["traceback"] = trace
    return result


def outcome_of(result: GradeResult) -> str:
    return PASSED if result.execution.status is ExecutionStatus.COMPLETED else FAILED


# ------------------------------------------------------------------------------------- course tree

def write_course_layout(course: CourseRoot, config: AssignmentConfig, submission: Submission, result: GradeResult,
                        *, finished: bool = True) -> str:
    """Write the submission's files into nbgrader's tree under ``course`` (see :func:`autograde`);
    return "" or, when a file cannot be written, a one-line reason (the result is then not finished)."""
    name = notebook_name(config)
    try:
        if submission.notebook is not None and Path(submission.notebook).is_file():
            course.write_submitted(submission.student, config.name, name, Path(submission.notebook),
                                   submission.submitted_at)
        if finished:
            executed = result.execution.executed_notebook
            course.write_autograded(submission.student, config.name, name, Path(executed) if executed else None)
            course.write_feedback(result, config)
    except Exception as exc:  # a full disk, a permission: this student is retried, the batch goes on
        log.warning("course tree of %s: %s", submission.student, exc, exc_info=True)
        return f"no se pudieron escribir los ficheros del curso en {course.root} ({type(exc).__name__}: {exc})"
    return ""


# ------------------------------------------------------------------------------------------ cluster

def _start_cluster(workers: int, gpus: list[str], jobs_per_gpu: int):
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    quiet = logging.ERROR
    if not gpus:
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                            dashboard_address=None, silence_logs=quiet)
    slots = [gpu for _ in range(jobs_per_gpu) for gpu in gpus]  # round robin: each GPU gets jobs_per_gpu
    specs = {i: {"cls": Nanny, "options": {"nthreads": 1, "memory_limit": 0, "silence_logs": quiet,
                                           "resources": {GPU_RESOURCE: 1},
                                           "env": {"CUDA_VISIBLE_DEVICES": slots[i]}}}
             for i in range(min(workers, len(slots)))}
    scheduler = {"cls": Scheduler, "options": {"dashboard": False, "dashboard_address": None, "host": "127.0.0.1"}}
    return SpecCluster(workers=specs, scheduler=scheduler, silence_logs=quiet)


def _cluster_uses_gpu(client) -> bool:
    info = client.scheduler_info()
    return any(GPU_RESOURCE in (w.get("resources") or {}) for w in info.get("workers", {}).values())


# -------------------------------------------------------------------------------------------- batch

def autograde(config: AssignmentConfig, submissions_dir: Path, *, db_url: str, workers: int,
              scheduler: str | None = None, force: bool = False, students: list[str] | None = None,
              jobs_per_gpu: int = 1, sandbox: bool = True, grade_fn: GradeFn | None = None,
              workdir: Path | None = None, console=None, progress: bool = True,
              threads_per_job: int = 0, course: CourseRoot | Path | None = None,
              layout: bool = True, kernels_ahead: bool | None = None) -> BatchSummary:
    """Grade the submissions collected in ``submissions_dir`` into the gradebook at ``db_url``.

    ``workers``: worker processes of the embedded cluster (ignored with ``scheduler``, the address of a
    running Dask scheduler). ``students``: grade only these (even if finished). ``grade_fn``: defaults to
    ``grader.pipeline.grade_submission``; it must be importable on the workers. ``workdir``: per-student
    work folders (default ``<submissions_dir>/../work``); as each job ends, its folder keeps only what the
    instructor needs (:func:`grader.workspace.prune_workdir`: result.json, the executed notebook, and the
    trained models, histories and predictions the similarity report reads), the rest (the scratch folder
    with whatever the notebook wrote, the held-out inputs, the scoring job) is removed.
    ``threads_per_job``: CPU threads for each job's math libraries (:func:`thread_caps`); 0 (default): no
    limit.

    ``course``: the course root (default ``<submissions_dir>/..``, :class:`grader.course.CourseRoot`).
    Before each result is recorded, nbgrader's tree is written under it (``layout=False``: not):
    ``submitted/<student>/<assignment>/<notebook>.ipynb`` (+ ``timestamp.txt``),
    ``autograded/<student>/<assignment>/<notebook>.ipynb`` (the executed notebook: what the formgrader
    shows to grade the manual parts) and ``feedback/<student>/<assignment>/`` (the HTML report). A
    result is recorded only after its files are written, so a killed batch regrades what it lacks.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    started = time.monotonic()
    submissions_dir = Path(submissions_dir).resolve()
    workdir = Path(workdir) if workdir else submissions_dir.parent / "work"
    if course is None:
        course = CourseRoot.of_submissions(submissions_dir)
    elif not isinstance(course, CourseRoot):
        course = CourseRoot(course)
    if workers < 1 or jobs_per_gpu < 1:
        raise GraderError("--workers and --jobs-per-gpu must be at least 1")
    if sandbox:
        from grader.sandbox import sandbox_status

        usable, reason = sandbox_status()
        if not usable:  # refuse before anything runs: students' code never runs unconfined by accident
            raise GraderError(f"no sandbox for the students' code: {reason}; fix: apt-get install bubblewrap, "
                              "or pass --no-sandbox (only for notebooks you trust)")
    if grade_fn is None:
        try:
            from grader.pipeline import grade_submission as grade_fn
        except ImportError as exc:
            raise GraderError(f"the grading pipeline cannot be imported ({exc}); fix: install the grader "
                              "completely (pip install -e .)") from None

    submissions = load_submissions(submissions_dir, config.name)
    by_student = {s.student: s for s in submissions}
    if students:
        unknown = sorted(set(students) - by_student.keys())
        if unknown:
            raise GraderError(f"{submissions_dir}: no submission from {', '.join(unknown)}; fix: check the ids "
                              "in submissions.json")
        selected = [by_student[s] for s in dict.fromkeys(students)]
    else:
        selected = submissions
    summary = BatchSummary(assignment=config.name, total=len(selected))
    inputs_hash = grading_inputs_hash(config)
    hashes = {s.student: submission_hash(s, inputs_hash) for s in selected}
    if not force and not students:  # a finished result is reused while nothing it came from has changed
        done = finished_hashes(db_url, config.name)
        reused = {s.student for s in selected if s.student in done and done[s.student] == hashes[s.student]}
        summary.skipped = sorted(reused)
        selected = [s for s in selected if s.student not in reused]
    gradable = [s for s in selected if s.gradable]

    with GradebookRecorder(db_url, config) as recorder, _progress(console, progress) as bar:
        task = bar.add_task(f"{config.name}", total=len(selected), counts=_counts(summary, config.language))

        def record(submission: Submission, result: GradeResult, outcome: str, message: str = "",
                   finished: bool = True, manual_zero: bool = False) -> None:
            if layout:
                problem = write_course_layout(course, config, submission, result, finished=finished)
                if problem:  # not recorded as finished: the next run grades it again and rewrites the files
                    finished, outcome, message = False, ERRORED, problem
            recorder.record(result, submission=submission, finished=finished, manual_zero=manual_zero,
                            content_hash=hashes[submission.student])
            summary.outcomes[submission.student] = outcome
            summary.scores[submission.student] = result.score
            if message:
                summary.messages[submission.student] = message
            bar.update(task, advance=1, counts=_counts(summary, config.language))

        for submission in selected:
            if not submission.gradable:
                result = ungradable_result(config, submission)
                record(submission, result, FAILED, result.execution.message, manual_zero=True)
        if gradable:
            # Built once, read by every job (a grade_fn that takes no held-out data is not given any).
            takes_heldout = "heldout" in _accepted(grade_fn, {"heldout": None})
            heldout = prepare_heldout(config, workdir / HELDOUT_FOLDER) if takes_heldout else None
            summary.device = _run_on_cluster(config, gradable, record, db_url=db_url, workers=workers,
                                             scheduler=scheduler, threads_per_job=threads_per_job,
                                             jobs_per_gpu=jobs_per_gpu, sandbox=sandbox, grade_fn=grade_fn,
                                             workdir=workdir, console=console, heldout=heldout,
                                             kernels_ahead=kernels_ahead)
            if heldout is not None:  # every job is over: only the answers are read later (similarity)
                remove_tree(heldout.served)
                remove_tree(heldout.inputs)
    summary.wall_seconds = round(time.monotonic() - started, 2)
    if progress:
        print_summary(summary, console, config.language)
    return summary


def _run_on_cluster(config: AssignmentConfig, gradable: list[Submission], record: Callable, *, db_url: str, workers: int,
                    scheduler: str | None, threads_per_job: int, jobs_per_gpu: int, sandbox: bool,
                    grade_fn: GradeFn | None, workdir: Path, console, heldout: HeldOutFolders | None = None,
                    kernels_ahead: bool | None = None) -> str:
    from distributed import Client, as_completed

    def say(key: str, **values) -> str:
        return render(msg(key, **values), config.language)

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="60s")
        use_gpu = _cluster_uses_gpu(client)
        device = say("batch.device_cluster_gpu" if use_gpu else "batch.device_cluster_cpu", scheduler=scheduler)
    else:
        gpus = detect_gpus()
        use_gpu = bool(gpus)
        cluster = _start_cluster(workers, gpus, jobs_per_gpu)
        client = Client(cluster)
        if use_gpu:
            n = len(cluster.workers)
            device = say("batch.device_gpu", gpus=",".join(gpus), jobs=jobs_per_gpu, n=n)
        else:
            device = say("batch.device_cpu", n=workers)
    if not use_gpu:
        console.print(f"[yellow]{say('batch.no_gpu')}[/yellow] ({device}).")
    else:
        console.print(say("batch.device", device=device))

    job_env = thread_caps(threads_per_job)
    config_data = config.model_dump(mode="json")
    if kernels_ahead is None:  # where the CPUs wait on a GPU; on a CPU-bound batch the next start slows this job
        kernels_ahead = use_gpu
    try:
        client.register_plugin(ScoringServers(job_env))
        if kernels_ahead:
            client.register_plugin(KernelsAheadPlugin())
        futures = {}
        for submission in gradable:
            future = client.submit(
                _grade_task, str(submission.notebook), config_data, str(config.folder), submission.student,
                str(workdir / submission.student), sandbox, grade_fn, use_gpu,
                {"db_url": db_url, "late_penalty": submission.late_penalty,
                 "extra_files": list(submission.extra_files), "heldout": heldout}, job_env,
                key=f"grade-{config.name}-{submission.student}-{uuid.uuid4().hex[:8]}", pure=False,
                resources={GPU_RESOURCE: 1} if use_gpu else None)
            futures[future] = submission
        for future in as_completed(futures):
            submission = futures.pop(future)
            try:
                payload = future.result()
            except Exception as exc:  # KilledWorker, a lost worker, cancellation
                payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            future.release()
            if payload["ok"]:
                result = GradeResult.from_dict(payload["result"])
                result = replace(result, student=submission.student, assignment=config.name,
                                 late_penalty=submission.late_penalty)
                outcome = outcome_of(result)
                record(submission, result, outcome, "" if outcome == PASSED else result.execution.message)
            else:
                log.debug("grading %s failed: %s\n%s", submission.student, payload["error"],
                          payload.get("traceback", ""))
                if "host" not in payload:  # the worker was lost before its job could clean up after itself
                    _prune(workdir / submission.student)
                result = error_result(config, submission.student, payload["error"], payload.get("traceback"))
                record(submission, result, ERRORED, payload["error"], finished=False)
    finally:
        if kernels_ahead:  # the kernels started for a next submission there is none of
            with contextlib.suppress(Exception):
                client.run(_close_kernels_ahead)
            remove_tree(workdir / NEXT_KERNELS)
        client.close()
        if cluster is not None:
            cluster.close()
    return device


# -------------------------------------------------------------------------------------------- output

def _counts(summary: BatchSummary, lang: str) -> str:
    passed, failed, errored = (render(msg(f"batch.count_{kind}", n=len(students)), lang) for kind, students in
                               (("passed", summary.passed), ("failed", summary.failed), ("errored", summary.errored)))
    return f"[green]{passed}[/green] · [yellow]{failed}[/yellow] · [red]{errored}[/red]"


def _progress(console, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[counts]}"),
                    console=console, disable=not enabled)


def print_summary(summary: BatchSummary, console, lang: str = "es") -> None:
    """The batch's counts and the submissions that failed or errored, in ``lang`` (the assignment's)."""
    from rich.table import Table

    def say(key: str, **params: Any) -> str:
        return render(msg(f"batch.table_{key}", **params), lang)

    table = Table(title=say("title", assignment=summary.assignment))
    table.add_column("")
    table.add_column(say("submissions"), justify="right")
    scores = [score for student, score in summary.scores.items() if summary.outcomes.get(student) != ERRORED]
    rows = [(say("total"), summary.total), (say("skipped"), len(summary.skipped)),
            (say("graded"), summary.graded), ("  " + say("run_clean"), len(summary.passed)),
            ("  " + say("with_failures"), len(summary.failed)),
            ("  " + say("grader_errors"), len(summary.errored))]
    for label, value in rows:
        table.add_row(label, str(value))
    if scores:
        table.add_row(say("mean"), format_number(sum(scores) / len(scores), lang, 2))
    table.add_row(say("device"), summary.device)
    table.add_row(say("time"), f"{format_number(summary.wall_seconds, lang, 1)} s")
    console.print(table)
    if summary.messages:
        problems = Table(title=say("problems"))
        problems.add_column(say("student"))
        problems.add_column(say("outcome"))
        problems.add_column(say("reason"), overflow="fold")
        labels = {PASSED: say("passed"), FAILED: say("failed"), ERRORED: say("errored")}
        for student in sorted(summary.messages):
            outcome = summary.outcomes.get(student, "")
            problems.add_row(student, labels.get(outcome, outcome), summary.messages[student])
        console.print(problems)


__all__ = ["autograde", "BatchSummary", "detect_gpus", "parse_nvidia_smi", "ungradable_result", "error_result", "outcome_of",
           "GPU_RESOURCE"]
