"""The scoring process (``python -m grader.score_server``): each submission scored in a supervised fork.

The process is a small server (:func:`serve`, started by :class:`grader.scoring.ScoringServer`): it
imports once and scores each submission (:func:`grader.score.score`) in a fresh fork, which it
supervises (:func:`_score_job`): it bounds the time spent on each object and on the job, and the
reply's size; whatever was stopped is named in the message of the check it stopped. Results leave it
as JSON lines, never pickle: the checks, and the class labels each classifier predicted on labelled
held-out inputs (:func:`grader.score.class_predictions`, kept beside the result for the similarity
report).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import artifacts
from grader.artifacts import _progress, _short
from grader.i18n import Message, msg, render
from grader.records import CheckResult, CheckStatus
from grader.reply_bounds import check_budget, fit_check, fit_reply
from grader.score import ScoringPaths, score

SCORING_KEYS = ("artifacts", "inputs", "answers", "job")
GRACEFUL_EXIT_S = 30
MAX_REPLY_BYTES = 64 * 2**20


def _preload() -> None:
    """Import everything scoring uses, once, before the first fork (no TensorFlow op runs here:
    its thread pools start with the first op, and a fork must not copy threads)."""
    import _pytest.config

    for plugin in _pytest.config.default_plugins:
        importlib.import_module(f"_pytest.{plugin}")
    for module in ("keras", "skops.io", "sklearn.pipeline", "sklearn.svm", "sklearn.preprocessing", "h5py",
                   "grader.checks.accuracy", "grader.checks.architecture", "grader.checks.denoising",
                   "grader.checks.rules", "grader.probe", "grader.export"):
        importlib.import_module(module)


def _forbid_tracing() -> None:
    """Not dumpable: no process of the sandbox's uid may ptrace this one or open its /proc/<pid>/fd
    (the host's pipe); forked children inherit it, so one job cannot reach the channel of another."""
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _request_bounds(request: dict) -> tuple[float | None, float | None, int]:
    """(object_timeout_s, time_limit_s, reply_bytes) of a request; None: no such limit."""
    bounds = request.get("bounds") if isinstance(request.get("bounds"), dict) else {}
    object_timeout = float(bounds["object_timeout_s"]) if bounds.get("object_timeout_s") else None
    time_limit = float(bounds["time_limit_s"]) if bounds.get("time_limit_s") else None
    return object_timeout, time_limit, int(bounds.get("reply_bytes") or MAX_REPLY_BYTES)


def _score_request(request: dict) -> dict:
    """The reply to one request: ``{"checks": [...], "predictions": {...}}`` within the request's reply
    bytes, or ``{"error": "..."}`` when it cannot be scored. Each check's result is also sent as an
    event as soon as it is known (see :func:`_watch`)."""
    try:
        _, _, max_bytes = _request_bounds(request)
        paths = ScoringPaths(*(Path(request[key]) for key in SCORING_KEYS))
        lang = request.get("lang") or paths.config().language
        budget: list[int] = []

        def sent(result: CheckResult) -> None:
            if not budget:
                budget.append(check_budget(max_bytes, len(paths.config().checks)))
            _progress({"event": "check", "result": fit_check(asdict(result), budget[0], lang, paths.job)})

        scored = score(paths, lang, stopped=request.get("stopped"), skip=request.get("done") or (), on_result=sent)
        reply = {"checks": [asdict(r) for r in scored.results()], "predictions": scored.predicted_labels()}
        return fit_reply(json.loads(json.dumps(reply, default=str)), max_bytes, lang, paths.job)
    except BaseException as exc:  # reported to the host, which fails this submission only
        return {"error": _short(exc, 2000)}


def _child_scores(request: dict, channel_fd: int) -> None:
    """In the forked child: score one submission, its events and reply to ``channel_fd``; never return."""
    status = 1
    try:
        os.setpgid(0, 0)  # its own process group: whatever it starts dies with it
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # the host's channel is the parent's stdout: C-level prints must not reach it
        artifacts._CHANNEL = os.fdopen(channel_fd, "wb")  # where _progress writes
        _progress({"event": "reply", "reply": _score_request(request)})
        artifacts._CHANNEL.close()
        status = 0
    finally:
        os._exit(status)


@dataclass
class _Attempt:
    """What one scoring child did before it ended or was stopped."""

    reply: dict | None = None                               # its final reply
    checks: dict[str, dict] = field(default_factory=dict)   # the check results it sent, by name
    stopped_object: str | None = None                       # killed: this object ran past its time
    stopped_job: bool = False                               # killed: the job's time was up
    during: str | None = None                               # the object it was on then
    too_large: bool = False                                 # killed: it wrote more than a reply may hold
    signal: int | None = None                               # it died of this signal (not killed by us)
    status: int = 0


def _watch(read_fd: int, deadline: float, object_timeout: float | None, max_bytes: int) -> _Attempt:
    """Read a child's events until its reply or its end; stop reading (the caller kills it) when the
    object it is on has spent ``object_timeout`` seconds, when ``deadline`` passes, or when it writes
    more than a reply may hold. Events: ``start``/``end`` of an object, ``check``, ``reply``."""
    attempt = _Attempt()
    pending = bytearray()
    running: list[tuple[str, float]] = []
    spent: dict[str, float] = {}

    def handle(line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "start":
            running.append((str(event.get("object")), time.monotonic()))
        elif kind == "end":
            for index in range(len(running) - 1, -1, -1):
                if running[index][0] == str(event.get("object")):
                    name, since = running.pop(index)
                    spent[name] = spent.get(name, 0.0) + time.monotonic() - since
                    break
        elif kind == "check" and isinstance(event.get("result"), dict):
            attempt.checks[str(event["result"].get("name"))] = event["result"]
        elif kind == "reply" and isinstance(event.get("reply"), dict):
            attempt.reply = event["reply"]

    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        while attempt.reply is None:
            limit, over = deadline, None
            if object_timeout:
                for name, since in running:
                    ends = since + object_timeout - spent.get(name, 0.0)
                    if ends < limit:
                        limit, over = ends, name
            now = time.monotonic()
            if limit <= now or not selector.select(min(limit - now, 3600.0)):
                if time.monotonic() < limit:
                    continue
                if over is not None:
                    attempt.stopped_object = over
                else:
                    attempt.stopped_job, attempt.during = True, (running[-1][0] if running else None)
                break
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            *lines, rest = chunk.split(b"\n")
            if lines:
                handle(bytes(pending) + lines[0])
                for line in lines[1:]:
                    handle(line)
                pending = bytearray(rest)
            else:
                pending += rest
            if len(pending) > max_bytes + 2**20:
                attempt.too_large = True
                break
    return attempt


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target()


def _attempt(request: dict, fork: bool, deadline: float, object_timeout: float | None, max_bytes: int) -> _Attempt:
    """One scoring child (a fork of this process, or ``python -m grader.score_server once``) for ``request``."""
    read_fd, write_fd = os.pipe()
    if fork:
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child_scores(request, write_fd)
        process = None
    else:
        process = subprocess.Popen([sys.executable, "-m", "grader.score_server", "once", "--channel", str(write_fd)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,),
                                   start_new_session=True)
        pid = process.pid
        with contextlib.suppress(BrokenPipeError, OSError):
            process.stdin.write(json.dumps(request).encode("utf-8"))
            process.stdin.close()
    os.close(write_fd)
    attempt = None
    try:
        attempt = _watch(read_fd, deadline, object_timeout, max_bytes)
    finally:
        os.close(read_fd)
        if attempt is None or attempt.reply is None:
            _kill_group(pid)  # stopped, or still writing: it would never exit
    if process is not None:
        try:
            status = process.wait(timeout=GRACEFUL_EXIT_S)
        except subprocess.TimeoutExpired:  # replied, then hung on its way out
            _kill_group(pid)
            status = process.wait()
        if status < 0:
            attempt.signal = -status
        attempt.status = status
    else:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            attempt.signal = os.WTERMSIG(status)
        attempt.status = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    _kill_group(pid)  # anything the child left running
    if attempt.stopped_object or attempt.stopped_job or attempt.too_large:
        attempt.signal = None  # killed by us, not a crash
    return attempt


def _language(request: dict) -> str:
    """The assignment's language, for a request that names none (the course's, when unreadable)."""
    try:
        return ScoringPaths(*(Path(request[key]) for key in SCORING_KEYS)).config().language
    except Exception:  # noqa: BLE001 (a job that cannot be read is answered with an error later)
        return "es"


def _stopped_reply(request: dict, done: dict[str, dict], text: Message, lang: str) -> dict:
    """The reply of a job that was stopped: the checks it had scored, and ``text`` for the others."""
    try:
        paths = ScoringPaths(*(Path(request[key]) for key in SCORING_KEYS))
        config = paths.config()
        sentence = render(text, lang, paths.job)
    except Exception as exc:  # noqa: BLE001 (the job could not have been scored at all)
        return {"error": f"{text.key} ({_short(exc, 500)})"}
    checks = [done.get(name) or asdict(CheckResult(name, 0.0, check.points, CheckStatus.ERROR, sentence,
                                                   hidden=check.hidden, text=text))
              for name, check in config.checks.items()]
    return {"checks": json.loads(json.dumps(checks, default=str)), "predictions": {}}


def _score_job(request: dict, fork: bool) -> dict:
    """The reply to one request, whatever the submission's objects do. A child that spends more than
    ``object_timeout_s`` on one object is killed, and the job is scored again with that object stopped
    (its checks say so) and the checks already scored kept; a child that crashes gets a second chance in
    a fresh interpreter; past the job's ``time_limit_s`` the checks scored so far are kept and the others
    say that grading was stopped. The reply always fits in the request's ``reply_bytes``."""
    object_timeout, time_limit, max_bytes = _request_bounds(request)
    deadline = time.monotonic() + time_limit if time_limit else math.inf
    lang = request.get("lang") or _language(request)
    stopped: dict[str, int] = {}
    done: dict[str, dict] = {}
    crashed = False
    while True:
        attempt = _attempt({**request, "stopped": stopped, "done": sorted(done)}, fork and not crashed, deadline,
                           object_timeout, max_bytes)
        done.update(attempt.checks)
        if attempt.reply is not None:
            reply = attempt.reply
            if isinstance(reply.get("checks"), list):
                reply = {**reply, "checks": [done.get(c.get("name"), c) if isinstance(c, dict) else c
                                             for c in reply["checks"]]}
            return fit_reply(reply, max_bytes, lang)
        if attempt.stopped_object is not None and attempt.stopped_object not in stopped:
            stopped[attempt.stopped_object] = round(object_timeout or 0)
            continue
        if attempt.signal is not None and not crashed:
            crashed = True  # a crashed child: once more, in a process that shares nothing with this one
            continue
        if attempt.stopped_job:
            key = "job_timeout_object" if attempt.during else "job_timeout"
            bounds = request.get("bounds") if isinstance(request.get("bounds"), dict) else {}
            seconds = bounds.get("total_timeout_s") or round(time_limit or 0)  # the limit as configured
            text = msg(key, seconds=seconds, name=attempt.during)
            return fit_reply(_stopped_reply(request, done, text, lang), max_bytes, lang)
        if attempt.too_large:
            text = msg("reply_too_large", limit=max_bytes // 1024)
            return fit_reply(_stopped_reply(request, done, text, lang), max_bytes, lang)
        if attempt.signal is not None:
            return {"error": f"the scoring child was killed by signal {attempt.signal}", "signal": attempt.signal}
        return {"error": f"the scoring process exited with status {attempt.status} without a reply"}


def _mount_points() -> set[Path]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return {Path(line.split()[4].replace("\\040", " ")) for line in info}


def _wipe(folders: list[Path]) -> None:
    """Empty the writable folders between jobs: nothing one job writes is there for the next. What the
    sandbox binds below them (the venv, the staged jobs, when they live under /tmp) is left alone."""
    mounts = _mount_points()

    def empty(folder: Path) -> None:
        for entry in folder.iterdir():
            if entry in mounts:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if any(mount.is_relative_to(entry) for mount in mounts):
                    empty(entry)  # a folder on the way to a bind: empty around it
                else:
                    shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    for folder in folders:
        if folder.is_dir():
            empty(folder)


def serve(wipe: list[Path], fork: bool = True) -> int:
    """Score one submission per JSON line on stdin, answering one JSON line on stdout.

    Imports are paid once; each submission is scored in a fresh fork of this process, so no state
    (loaded models, Keras' name counters, anything a crafted artifact might do to the loader) passes
    from one submission to the next. ``fork()`` copies only the calling thread, so when the imports
    left other Python threads running (thread pools some libraries start), or when a forked child
    crashes, the submission is scored in a fresh interpreter instead. This process only supervises
    (:func:`_score_job`): it bounds each object's time, the job's time and the reply's size. Requests:
    ``{"id", "artifacts", "inputs", "answers", "job", "lang", "bounds": {"object_timeout_s",
    "time_limit_s", "reply_bytes"}}``; replies: ``{"id", "checks": [...], "predictions"}`` or ``{"id", "error"}``.
    """
    if fork:
        _preload()
        fork = threading.active_count() == 1
    _forbid_tracing()
    print(json.dumps({"ready": True, "fork": fork}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        reply = _score_job(request, fork)
        reply.pop("signal", None)
        _wipe(wipe)
        print(json.dumps({"id": request.get("id"), **reply}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The grader's scoring process (started by grader.scoring).")
    parser.add_argument("command", choices=("serve", "once"),
                        help="serve: jobs as JSON lines on stdin; once: one job (JSON on stdin), its events and "
                             "reply to --channel (and the reply to --reply)")
    parser.add_argument("--wipe", type=Path, action="append", default=[],
                        help="serve: a writable folder to empty after every submission (repeatable)")
    parser.add_argument("--no-fork", dest="fork", action="store_false",
                        help="serve: score every submission in a fresh interpreter")
    parser.add_argument("--channel", type=int, help="once: the file descriptor events and the reply go to")
    parser.add_argument("--reply", type=Path, help="once: a file the reply goes to")
    options = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if options.command == "once":
        if options.reply is None and options.channel is None:
            parser.error("once needs --channel or --reply")
        if options.channel is not None:
            artifacts._CHANNEL = os.fdopen(options.channel, "wb")  # where _progress writes
        reply = _score_request(json.loads(sys.stdin.read()))
        _progress({"event": "reply", "reply": reply})
        if options.reply is not None:
            options.reply.write_text(json.dumps(reply), encoding="utf-8")
        return 0
    return serve(options.wipe, options.fork)


if __name__ == "__main__":
    sys.exit(main())
