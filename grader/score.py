"""Score a submission from its exported artifacts, in a process of its own (``python -m grader.score``).

The hidden tests under ``autograde_tests/<assignment>/`` are ordinary pytest tests, each marked
``@pytest.mark.check("<check name>")``; the check's points and thresholds come from the assignment's
configuration. This module runs them with a plugin that provides the fixtures they use:

- ``artifacts``: the student's exported objects, loaded as data (Keras ``safe_mode``, skops trusted
  types, ``numpy.load(allow_pickle=False)``) — models are re-applied to the held-out inputs here;
- ``answers``: held-out labels and clean images (never seen by the student's kernel);
- ``facts``: the :class:`~grader.checks.rules.SubmissionFacts` the pipeline gathered;
- ``config``, ``specs``, ``lang``, ``bounds`` (a check's (zero_at, full_at) thresholds);
- ``credit``: records a test's :class:`~grader.checks.CheckOutcome` as that check's result.

The process is a small server (:func:`serve`, started by :class:`grader.scoring.ScoringServer`): it
imports once and scores each submission in a fresh fork. Results leave it as JSON lines, never pickle:
the checks, and the class labels each classifier predicted on labelled held-out inputs
(:func:`class_predictions`, kept beside the result for the similarity report).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

from grader.checks import CheckOutcome
from grader.checks.messages import message
from grader.checks.rules import SubmissionFacts
from grader.config import AssignmentConfig
from grader.heldout import load_answers
from grader.metrics import labels_from_scores
from grader.records import CheckResult, CheckStatus

# Modules whose classes (and numpy's ufuncs) a student's estimator may be made of. Functions are never
# trusted: FunctionTransformer(builtins.eval) would run the student's code in the grader.
TRUSTED_SKOPS_MODULES = ("sklearn", "numpy", "scipy.sparse")
BUILTIN_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def trusted_skops_type(name: str) -> bool:
    """A class (or numpy ufunc) defined under one of TRUSTED_SKOPS_MODULES; nothing else."""
    module, _, attribute = name.rpartition(".")
    if not any(module == root or module.startswith(root + ".") for root in TRUSTED_SKOPS_MODULES):
        return False
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(found, (type, np.ufunc))


def unregistered_subclass_archive(path: Path) -> bool:
    """True for a real Keras archive of a subclassed model (which the grader cannot rebuild without
    the student's class); False for a damaged file or a built-in model class that failed to load."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            has_weights = "model.weights.h5" in archive.namelist()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return has_weights and isinstance(config, dict) and config.get("class_name") not in BUILTIN_MODEL_CLASSES


class ObjectUnavailable(Exception):
    """A contract object is missing, invalid or could not be loaded safely; the message says which."""


class Artifacts:
    """Read-only view of what the student's kernel exported, loaded without running its code."""

    def __init__(self, folder: Path, inputs: dict[str, np.ndarray], config: AssignmentConfig, lang: str):
        self.folder, self.inputs, self.config, self.lang = Path(folder), inputs, config, lang
        manifest = self.folder / "manifest.json"
        self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
        self._models: dict[str, object] = {}
        self._outputs: dict[str, tuple[np.ndarray, bool]] = {}  # two checks may read one model's outputs

    def require(self, name: str) -> None:
        entry = self.manifest.get(name)
        if entry is None:
            raise ObjectUnavailable(message(self.lang, "missing_object", name=name,
                                            reason="el notebook no llegó a exportarlo (¿se detuvo antes?)"))
        if entry["status"] != "exported":
            raise ObjectUnavailable(message(self.lang, "missing_object", name=name, reason=entry["reason"]))

    def model(self, name: str):
        """The Keras model loaded with ``safe_mode`` (no Lambda bytecode, no unknown classes)."""
        self.require(name)
        if name not in self._models:
            import keras

            try:
                self._models[name] = keras.saving.load_model(self.folder / f"{name}.keras", safe_mode=True)
            except Exception as exc:  # unknown custom class, Lambda refused by safe_mode, corrupt file
                self._models[name] = exc
        loaded = self._models[name]
        if isinstance(loaded, Exception):
            raise ObjectUnavailable(message(self.lang, "unloadable", name=name, reason=_short(loaded)))
        return loaded

    def model_verified(self, name: str) -> bool:
        """True when the model loads outside the kernel; False for e.g. an unregistered subclass.
        Raises ObjectUnavailable when the kernel exported no model at all, or one with a Lambda layer."""
        self.require(name)
        try:
            self.model(name)
        except ObjectUnavailable as exc:
            # A Lambda layer is refused outright (its bytecode would run in the grader), and so is a file
            # that is no real subclassed-model archive: its summary from the kernel could be forged.
            if "Lambda" in str(exc) or not unregistered_subclass_archive(self.folder / f"{name}.keras"):
                raise
            return False
        return True

    def summary(self, name: str) -> tuple[dict, bool]:
        """(layer summary, verified): recomputed from the loaded model when possible."""
        from grader.probe import summarize

        if self.model_verified(name):
            return summarize(self.model(name)), True
        return json.loads((self.folder / f"{name}.summary.json").read_text(encoding="utf-8")), False

    def outputs(self, name: str) -> tuple[np.ndarray, bool]:
        """(outputs on the held-out inputs, verified): recomputed here from the loaded model when possible."""
        if name not in self._outputs:
            self._outputs[name] = self._compute_outputs(name)
        return self._outputs[name]

    def computed_outputs(self) -> dict[str, np.ndarray]:
        """The outputs the checks asked for so far, by contract name."""
        return {name: outputs for name, (outputs, _) in self._outputs.items()}

    def _compute_outputs(self, name: str) -> tuple[np.ndarray, bool]:
        kind = self.config.contract[name]
        if kind == "keras_model" and self.model_verified(name):
            from grader.export import PREDICT_BATCH, _prepare_for_model

            model = self.model(name)
            images = self.inputs[self.config.inputs[name]]
            return np.asarray(model.predict(_prepare_for_model(model, images), batch_size=PREDICT_BATCH,
                                            verbose=0)), True
        if kind == "sklearn_estimator":
            return self._estimator_outputs(name), True
        self.require(name)
        return self._load_npy(f"{name}.outputs.npy"), False

    def features(self, name: str) -> np.ndarray:
        self.require(name)
        return self._load_npy(f"{name}.features.npy")

    def history(self, name: str) -> dict | None:
        path = self.folder / f"{name}.history.json"
        if self.manifest.get(name, {}).get("status") != "exported" or not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def _estimator_outputs(self, name: str) -> np.ndarray:
        import skops.io

        self.require(name)
        path = self.folder / f"{name}.skops"
        untrusted = [t for t in skops.io.get_untrusted_types(file=path) if not trusted_skops_type(t)]
        if untrusted:
            raise ObjectUnavailable(message(self.lang, "unloadable", name=name,
                                            reason=f"tipos no permitidos: {', '.join(untrusted[:5])}"))
        estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        feature_source = next(n for n, kind in self.config.contract.items() if kind == "function")
        return np.asarray(estimator.predict(self.features(feature_source)))

    def _load_npy(self, filename: str) -> np.ndarray:
        try:
            return np.load(self.folder / filename, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ObjectUnavailable(f"{filename}: {_short(exc)}") from None


def class_predictions(config: AssignmentConfig, outputs: dict[str, np.ndarray],
                      answers: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{name: {"input", "labels", "predicted": [int, ...]}}`` for each object whose outputs are class
    scores or labels, one per item of a held-out set that keeps labels (``labels``: that answer's name)."""
    found = {}
    for name, scores in outputs.items():
        source = config.inputs.get(name)
        held = config.heldout.sets.get(source) if source is not None else None
        labels_name = held.answers.get("labels") if held is not None else None
        labels = answers.get(labels_name) if labels_name is not None else None
        scores = np.asarray(scores)
        if (labels is None or scores.ndim not in (1, 2) or len(scores) != len(labels)
                or scores.dtype.kind not in "biuf" or not np.isfinite(scores).all()):
            continue
        found[name] = {"input": source, "labels": labels_name,
                       "predicted": labels_from_scores(scores).astype("int64").tolist()}
    return found


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


@dataclass(frozen=True)
class ScoringPaths:
    """Where the scoring process reads (each may be bound read-only into its sandbox)."""

    artifacts: Path  # exported by the student's kernel
    inputs: Path     # held-out inputs (the student's kernel saw these)
    answers: Path    # held-out labels and clean images (the student's kernel never saw these)
    job: Path        # from the pipeline: config.json, bounds.json, facts.json, specs.json and tests/ (hidden tests)

    def config(self) -> AssignmentConfig:
        return AssignmentConfig.model_validate_json((self.job / "config.json").read_text(encoding="utf-8"))


class GradingPlugin:
    """pytest plugin: fixtures for hidden tests, and the collection of their outcomes."""

    def __init__(self, config: AssignmentConfig, paths: ScoringPaths, lang: str):
        self.assignment, self.paths, self.language = config, paths, lang
        self.outcomes: dict[str, CheckResult] = {}
        self.tests_for: dict[str, str] = {}

    @cached_property
    def _inputs(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.inputs)

    @pytest.fixture
    def config(self) -> AssignmentConfig:
        return self.assignment

    @pytest.fixture
    def lang(self) -> str:
        return self.language

    @cached_property
    def _artifacts(self) -> Artifacts:
        return Artifacts(self.paths.artifacts, self._inputs, self.assignment, self.language)

    @cached_property
    def _answers(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.answers)

    @pytest.fixture(scope="session")
    def artifacts(self) -> Artifacts:
        return self._artifacts

    @pytest.fixture(scope="session")
    def answers(self) -> dict[str, np.ndarray]:
        return {**self._answers, **self._inputs}

    @pytest.fixture
    def facts(self) -> SubmissionFacts:
        return SubmissionFacts(**json.loads((self.paths.job / "facts.json").read_text(encoding="utf-8")))

    @pytest.fixture
    def specs(self) -> dict[str, dict]:
        """The architecture specs of the assignment's public checks, by contract name."""
        return json.loads((self.paths.job / "specs.json").read_text(encoding="utf-8"))

    @cached_property
    def _bounds(self) -> dict[str, list[float]]:
        return json.loads((self.paths.job / "bounds.json").read_text(encoding="utf-8"))

    @pytest.fixture
    def bounds(self, request) -> tuple[float, float]:
        """(zero_at, full_at) of the check, resolved by the pipeline from the reference metrics."""
        return tuple(self._bounds[_check_name(request.node)])

    @pytest.fixture
    def credit(self, request):
        name = _check_name(request.node)

        def record(outcome: CheckOutcome, **details) -> None:
            check = self.assignment.checks[name]
            text = outcome.message
            if details.get("verified") is False:  # from the kernel's own export: could be forged
                text += " " + message(self.language, "unverified")
            self.outcomes[name] = CheckResult.from_fraction(
                name, check.points, outcome.fraction, text, hidden=check.hidden,
                details={**outcome.details, **details})
            assert outcome.passed, outcome.message

        return record

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            name = _check_name(item)
            if name not in self.assignment.checks:
                raise pytest.UsageError(f"{item.nodeid}: check {name!r} is not in assignment.toml [checks]")
            self.tests_for[name] = item.nodeid

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        name = _check_name(item)
        if report.failed and name not in self.outcomes:
            check = self.assignment.checks[name]
            error = call.excinfo.value if call.excinfo else None
            text = str(error) if isinstance(error, ObjectUnavailable) else (
                f"error al evaluar: {_short(error)}" if error else "error al evaluar")
            self.outcomes[name] = CheckResult(name, 0.0, check.points, CheckStatus.ERROR, text, hidden=check.hidden)

    def predicted_labels(self) -> dict[str, dict]:
        """:func:`class_predictions` of the outputs the checks computed (none when no check read any)."""
        if "_artifacts" not in self.__dict__:
            return {}
        return class_predictions(self.assignment, self._artifacts.computed_outputs(), self._answers)

    def results(self) -> list[CheckResult]:
        """One result per configured check, in the configuration's order."""
        ordered = []
        for name, check in self.assignment.checks.items():
            if name in self.outcomes:
                ordered.append(self.outcomes[name])
            else:
                reason = "ningún test lo evalúa" if name not in self.tests_for else "el test no registró resultado"
                ordered.append(CheckResult(name, 0.0, check.points, CheckStatus.ERROR, reason, hidden=check.hidden))
        return ordered


def _check_name(item) -> str:
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{item.nodeid}: hidden tests need @pytest.mark.check('<check name>')")
    return marker.args[0]


def score(paths: ScoringPaths, lang: str | None = None) -> GradingPlugin:
    """Run the assignment's hidden tests (``paths.job / "tests"``) against one submission's artifacts;
    the returned plugin holds the ``results()`` and the ``predicted_labels()``."""
    config = paths.config()
    plugin = GradingPlugin(config, paths, lang or config.language)
    log = io.StringIO()
    tests = paths.job / "tests"
    args = [str(tests), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--rootdir", str(tests), "-o", "addopts=", "-o", "markers=check: a graded check",
            "--strict-markers", "-W", "ignore::DeprecationWarning"]
    with contextlib.redirect_stdout(log):
        exit_code = pytest.main(args, plugins=[plugin])
    if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"hidden tests of {config.name} could not run "
                           f"(pytest exit {int(exit_code)}):\n{log.getvalue()[-3000:]}")
    return plugin


MAX_REPLY_BYTES = 64 * 2**20


def _preload() -> None:
    """Import everything scoring uses, once, before the first fork (no TensorFlow op runs here:
    its thread pools start with the first op, and a fork must not copy threads)."""
    import _pytest.config

    for plugin in _pytest.config.default_plugins:
        importlib.import_module(f"_pytest.{plugin}")
    for module in ("keras", "skops.io", "sklearn.pipeline", "sklearn.svm", "sklearn.preprocessing",
                   "grader.checks.accuracy", "grader.checks.architecture", "grader.checks.denoising",
                   "grader.checks.rules", "grader.probe", "grader.export"):
        importlib.import_module(module)


def _forbid_tracing() -> None:
    """Not dumpable: no process of the sandbox's uid may ptrace this one or open its /proc/<pid>/fd
    (the host's pipe); forked children inherit it, so one job cannot reach the channel of another."""
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _score_request(request: dict) -> dict:
    """The reply to one request: ``{"checks": [...], "predictions": {...}}``, or ``{"error": "..."}`` when it
    cannot be scored."""
    try:
        paths = ScoringPaths(*(Path(request[key]) for key in ("artifacts", "inputs", "answers", "job")))
        scored = score(paths, request.get("lang"))
        return {"checks": [asdict(r) for r in scored.results()], "predictions": scored.predicted_labels()}
    except BaseException as exc:  # reported to the host, which fails this submission only
        return {"error": _short(exc, 2000)}


def _child_scores(request: dict, reply_fd: int) -> None:
    """In the forked child: score one submission, write the reply to ``reply_fd``, never return."""
    status = 1
    try:
        os.setpgid(0, 0)  # its own process group: whatever it starts dies with it
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # the host's channel is the parent's stdout: C-level prints must not reach it
        reply = _score_request(request)
        with os.fdopen(reply_fd, "wb") as channel:
            channel.write(json.dumps(reply).encode("utf-8"))
        status = 0
    finally:
        os._exit(status)


def _score_in_process(request: dict) -> dict:
    """One job in a fresh interpreter (``python -m grader.score once``): when forking is not safe here,
    or when a forked child crashed (it gets this second chance, in a process that shares nothing)."""
    with tempfile.TemporaryDirectory() as folder:
        reply = Path(folder) / "reply.json"
        completed = subprocess.run([sys.executable, "-m", "grader.score", "once", "--reply", str(reply)],
                                   input=json.dumps(request), text=True, stdout=subprocess.DEVNULL, check=False)
        if reply.is_file():
            return json.loads(reply.read_text(encoding="utf-8"))
    return {"error": f"the scoring process exited with status {completed.returncode} without a reply"}


def _score_in_fork(request: dict) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child_scores(request, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as channel:
        data = channel.read(MAX_REPLY_BYTES + 1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if len(data) > MAX_REPLY_BYTES:
            os.killpg(pid, signal.SIGKILL)  # still writing: it would never exit
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # anything the child left running
    if len(data) > MAX_REPLY_BYTES:
        return {"error": "the scoring child's reply is too large"}
    if os.WIFSIGNALED(status):
        return {"error": f"the scoring child was killed by signal {os.WTERMSIG(status)}",
                "signal": os.WTERMSIG(status)}
    try:
        reply = json.loads(data)
    except ValueError:
        return {"error": f"the scoring child exited with status {os.WEXITSTATUS(status)} without a reply"}
    return reply if isinstance(reply, dict) else {"error": "the scoring child's reply is not an object"}


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
    crashes, the submission is scored in a fresh interpreter instead. Requests: ``{"id", "artifacts",
    "inputs", "answers", "job", "lang"}``; replies: ``{"id", "checks": [...]}`` or ``{"id", "error"}``.
    """
    if fork:
        _preload()
        fork = threading.active_count() == 1
    _forbid_tracing()
    print(json.dumps({"ready": True, "fork": fork}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        reply = _score_in_fork(request) if fork else _score_in_process(request)
        if "signal" in reply:
            reply = _score_in_process(request)
        _wipe(wipe)
        print(json.dumps({"id": request.get("id"), **reply}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The grader's scoring process (started by grader.scoring).")
    parser.add_argument("command", choices=("serve", "once"),
                        help="serve: jobs as JSON lines on stdin; once: one job (JSON on stdin) to --reply")
    parser.add_argument("--wipe", type=Path, action="append", default=[],
                        help="serve: a writable folder to empty after every submission (repeatable)")
    parser.add_argument("--no-fork", dest="fork", action="store_false",
                        help="serve: score every submission in a fresh interpreter")
    parser.add_argument("--reply", type=Path, help="once: where the reply goes")
    options = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if options.command == "once":
        if options.reply is None:
            parser.error("once needs --reply")
        options.reply.write_text(json.dumps(_score_request(json.loads(sys.stdin.read()))), encoding="utf-8")
        return 0
    return serve(options.wipe, options.fork)


if __name__ == "__main__":
    sys.exit(main())
