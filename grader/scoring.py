"""The grader's side of the scoring stage: a long-lived scoring process, started once and fed jobs.

Scoring a submission (:mod:`grader.score`) needs Keras, scikit-learn, skops and pytest; importing them
takes longer than most of the scoring itself. :class:`ScoringServer` starts ``python -m grader.score_server
serve`` once (sandboxed like the student's kernel, but without the student's scratch folder), and for
each submission copies what it needs into a staging folder the server can read, sends one JSON line
and reads one back. The server scores every submission in a fresh fork of itself (in a fresh
interpreter where forking is not safe) and empties its writable folders in between, so submissions
stay as isolated as with a process each.

A batch keeps one server per Dask worker (``grader.batch.ScoringServers``, a worker plugin); grading a single
notebook launches one for that notebook as the notebook starts (:meth:`ScoringServer.launch`), so its imports
are done by the time the notebook is. Each job is bounded (:class:`~grader.config.Limits`): the server
stops an object past ``object_timeout_s`` and the job shortly before ``total_timeout_s``, and fits its
reply in ``reply_mb``, always answering with a result whose messages name what was stopped or cut. A
server that still does not answer in time is killed and the submission gets a result saying scoring was
stopped; a server that dies or does not start gives a grader error. The next submission starts a fresh
server.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from grader.i18n import msg, render
from grader.config import AssignmentConfig, Limits
from grader.errors import GraderError
from grader.records import CheckResult, CheckStatus

SCORING_INPUTS = ("artifacts", "inputs", "answers", "job")
PREDICTIONS_FILE = "predictions.json"  # beside result.json: grader.score.class_predictions of the submission
LOG_TAIL_LINES = 15
GRACEFUL_EXIT_S = 10
# The server stops a job this much before the host's deadline (at most a tenth of the time), so that it
# answers with the checks scored so far rather than being killed without an answer.
STOP_MARGIN_S = 10


class ScoringTimeout(GraderError):
    """The scoring process did not answer in time (it has been killed)."""


def stopped_results(job: Path, lang: str, seconds: int) -> list[CheckResult]:
    """Every check of the job in ``job`` (its config.json) as stopped after ``seconds``: the result of a
    job whose server had to be killed."""
    config = AssignmentConfig.model_validate_json((Path(job) / "config.json").read_text(encoding="utf-8"))
    text = msg("job_timeout", seconds=seconds)
    return [CheckResult(name, 0.0, check.points, CheckStatus.ERROR, render(text, lang), hidden=check.hidden,
                        text=text) for name, check in config.checks.items()]


def _write_compact_json(path: Path, data: dict) -> None:
    """Atomically, without indentation: thousands of labels per classifier."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, path)


class ScoringServer:
    """One sandboxed scoring process. ``folder`` holds ``staged/`` (each job's inputs, read-only inside)
    and ``scoring/`` (its HOME and working directory, emptied after every submission)."""

    def __init__(self, folder: Path, limits: Limits, *, sandboxed: bool, env: dict[str, str] | None = None,
                 fork: bool = True):
        self.folder, self.limits, self.sandboxed, self.env = Path(folder), limits, sandboxed, dict(env or {})
        self.fork = fork  # False: a fresh interpreter per submission (no import saved; see grader.score_server.serve)
        self.forking: bool | None = None  # whether the running server forks (it may decide it cannot)
        self.jobs, self.home, self.log = self.folder / "staged", self.folder / "scoring", self.folder / "scoring.log"
        self._process: subprocess.Popen | None = None
        self._jobs_sent = 0
        self._one_job_at_a_time = threading.Lock()  # a worker with several threads shares one server
        self._ready = False  # the running process said it is ready

    def __enter__(self) -> ScoringServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------------------- the process

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "grader.score_server", "serve"] + ([] if self.fork else ["--no-fork"])
        if not self.sandboxed:
            return command  # never --wipe: HOME is the instructor's own
        from grader.sandbox import SandboxPolicy, wrap_command

        command += ["--wipe", str(self.home), "--wipe", "/tmp", "--wipe", "/dev/shm"]
        return wrap_command(command, SandboxPolicy(scratch=self.home, limits=self.limits, ro_binds=(self.jobs,)))

    def launch(self, *, wait: bool = False) -> ScoringServer:
        """Start the process now and return at once: it imports Keras, scikit-learn and pytest while the
        caller does something else (runs the student's notebook); the first :meth:`score` waits until it
        says it is ready. Without it, the first score starts it. ``wait``: return once it is ready (at
        most ``total_timeout_s``)."""
        with self._one_job_at_a_time:
            if self._process is None or self._process.poll() is not None:
                self._spawn()
            if wait and not self._ready:
                self._await_ready(time.monotonic() + self.limits.total_timeout_s)
        return self

    def _spawn(self) -> None:
        for folder in (self.jobs, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}  # on CPU
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=log, env=env, start_new_session=True)
        self._ready = False

    def _await_ready(self, deadline: float) -> None:
        ready = self._read_line(deadline)
        if ready.get("ready") is not True:
            raise self._failure(f"the scoring process did not start (it said {ready!r})")
        self.forking = bool(ready.get("fork"))
        self._ready = True

    def _read_line(self, deadline: float) -> dict:
        """One JSON object from the server; GraderError (and the server killed) on time-out or death."""
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise self._failure(f"no answer from the scoring process within {self.limits.total_timeout_s} s",
                                    ScoringTimeout)
        line = self._process.stdout.readline(self.limits.reply_mb * 2**20 + 2**20)
        if not line:
            raise self._failure(f"the scoring process exited (status {self._process.wait()})")
        try:
            return json.loads(line)
        except ValueError:
            raise self._failure(f"the scoring process answered {line[:200]!r}") from None

    def _failure(self, what: str, kind: type[GraderError] = GraderError) -> GraderError:
        self.close(graceful=False)
        tail = self.log.read_text("utf-8", "replace").strip().splitlines()[-LOG_TAIL_LINES:] if self.log.is_file() else []
        return kind(" / ".join([what, *tail]))

    def close(self, graceful: bool = True) -> None:
        """Stop the server: at the end of its input it exits by itself; what is left after that (a hung
        job) is killed with the whole process tree (bwrap gives the sandbox a session of its own, so
        killing the process group would not reach it), and waited for."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        except psutil.Error:
            tree = []
        with contextlib.suppress(OSError):
            process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=GRACEFUL_EXIT_S if graceful else 0)
        for member in tree:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(tree, timeout=GRACEFUL_EXIT_S)
        process.wait()
        process.stdout.close()

    # ------------------------------------------------------------------------------------ a job

    def _stage(self, work: dict[str, Path]) -> Path:
        """Copies of the job's folders where the server can read them (links stay links: the pipeline
        gives regular files only, and the server never follows a link out of the staging folder)."""
        self._jobs_sent += 1
        stage = self.jobs / str(self._jobs_sent)
        if stage.exists():
            shutil.rmtree(stage)
        for key in SCORING_INPUTS:
            shutil.copytree(work[key], stage / key, symlinks=True)
        return stage

    def score(self, work: dict[str, Path], lang: str) -> list[CheckResult]:
        """The checks of one submission: ``work`` names its artifacts, inputs, answers and job folders, and
        may name a ``predictions`` file, where the classifiers' predicted labels are written as JSON."""
        with self._one_job_at_a_time:
            return self._score(work, lang)

    def _score(self, work: dict[str, Path], lang: str) -> list[CheckResult]:
        deadline = time.monotonic() + self.limits.total_timeout_s
        stage = self._stage(work)
        try:
            if self._process is None or self._process.poll() is not None:
                self._spawn()
            if not self._ready:
                self._await_ready(deadline)
            remaining = deadline - time.monotonic()
            bounds = {"object_timeout_s": self.limits.object_timeout_s, "total_timeout_s": self.limits.total_timeout_s,
                      "time_limit_s": max(remaining - min(STOP_MARGIN_S, remaining / 10), 1.0),
                      "reply_bytes": self.limits.reply_mb * 2**20}
            request = {"id": self._jobs_sent, "lang": lang, "bounds": bounds,
                       **{key: str(stage / key) for key in SCORING_INPUTS}}
            assert self._process is not None and self._process.stdin is not None
            try:
                self._process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
                self._process.stdin.flush()
            except BrokenPipeError:
                raise self._failure("the scoring process exited before the job was sent") from None
            try:
                reply = self._read_line(deadline)
            except ScoringTimeout:  # the job was sent: it gets a result, not a grader error
                return stopped_results(work["job"], lang, self.limits.total_timeout_s)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if reply.get("id") != request["id"]:
            raise self._failure(f"the scoring process answered job {reply.get('id')!r}, not {request['id']}")
        if "error" in reply:
            raise GraderError(f"scoring failed: {reply['error']}")
        if "predictions" in work and isinstance(reply.get("predictions"), dict):
            _write_compact_json(Path(work["predictions"]), reply["predictions"])
        return [CheckResult.from_dict(c) for c in reply["checks"]]

