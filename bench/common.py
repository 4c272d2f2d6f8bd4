"""What the benchmarks share: the machine's description, the Práctica 3 submissions, the course
folders each system reads, and timed subprocesses.

Submissions are built the way students make them (``tests/submissions.py``): the student release
of Práctica 3 with its solution cells filled in.

- ``light``: the light reference (small subsets, 1 epoch) and defect variants of it, cycled;
- ``full``: the source notebook's own solutions in every solution cell (full data, the full epochs),
  i.e. a real, complete submission.

One folder feeds every system: an nbgrader course (``source/``, ``release/``, ``submitted/<student>/
practica3/practica3.ipynb`` + ``timestamp.txt``, ``gradebook.db`` made by ``nbgrader
generate_assignment``, so the hidden tests are in nbgrader's gradebook as nbgrader puts them).
``grader collect`` reads the same ``submitted/`` tree, and bare execution runs the same files.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
ASSIGNMENT = "practica3"
NOTEBOOK = "practica3.ipynb"
# nbgrader's own timestamp format; before the deadline of assignment.toml (no late penalty).
TIMESTAMP = "2025-06-01 10:00:00.000000 UTC"
CELL_TIMEOUT_S = 900  # assignment.toml's limits.cell_timeout_s, for nbgrader and nbconvert too
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

# Startup file for the kernels of nbgrader and nbconvert: the notebook's data cell calls
# keras.datasets.*.load_data(), which cannot download here; this serves the local copies, as the
# grader's own preamble does (grader.kernel_setup). It imports Keras before the first cell, like ours.
OFFLINE_STARTUP = """\
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from grader.datasets import serve_keras_offline as _serve
_serve(os.environ.get("GRADER_DATA_DIR") or None)
del _serve
"""


# ------------------------------------------------------------------------------------ environment

def data_dir() -> Path | None:
    """$GRADER_DATA_DIR, else the shared copy beside the checkout (as the Makefile does)."""
    if os.environ.get("GRADER_DATA_DIR"):
        return Path(os.environ["GRADER_DATA_DIR"])
    shared = ROOT.parent / "shared" / "datasets"
    return shared if shared.is_dir() else None


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every benchmarked command gets (the same for all systems)."""
    env = dict(os.environ)
    found = data_dir()
    if found is not None:
        env["GRADER_DATA_DIR"] = str(found)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _run_quiet(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout or "").strip()


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def gpus() -> list[dict[str, str]]:
    out = _run_quiet(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    return [dict(zip(("name", "memory", "driver"), (p.strip() for p in line.split(","))))
            for line in out.splitlines() if line.strip()]


def environment(module: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    """Device, versions, command, date and load: what a results file must say about its run.

    ``module`` and ``argv``: the benchmark's module and arguments (default: this process's)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    dirty = _run_quiet(["git", "-C", str(ROOT), "status", "--short", "--untracked-files=no"]).splitlines()
    dists = ("keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "numpy", "scikit-learn", "scikit-image",
             "nbgrader", "nbclient", "nbconvert", "ipykernel", "jupyter-client", "dask", "distributed")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cpus": cpus,
        "memory_gib": _memory_gib(),
        "gpus": gpus(),
        "loadavg": loadavg(),
        "python": platform.python_version(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "versions": {d: v for d in dists if (v := _version(d))},
        "bubblewrap": _run_quiet(["bwrap", "--version"]) or None,
        "git_head": _run_quiet(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or None,
        "git_modified": [line[3:] for line in dirty],
        "command": " ".join([Path(sys.executable).name, "-m", module or _module_name(),
                             *(sys.argv[1:] if argv is None else [str(a) for a in argv])]),
    }


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


# ---------------------------------------------------------------------------------- submissions

def load_config():
    from grader.config import load_assignment

    return load_assignment(ASSIGNMENT)


def release(folder: Path):
    """The student release and its gradebook (grader's own release: nbgrader's preprocessors)."""
    from grader.release import release_assignment

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "gradebook.db"
    result = release_assignment(load_config(), folder / "release", f"sqlite:///{db}")
    return nbformat.read(result.notebook, as_version=4), db


def light_variants() -> list[tuple[str, dict[str, str | None]]]:
    """The light reference and defects of it (each one option of one part), in the order used."""
    from tests import submissions as s

    return [
        ("referencia", {}),
        ("padding-same", {"ej1_cnn_modelo": s.cnn_cell(padding2="same")}),
        ("hog-pixeles", {"ej1_hog": s.hog_cell(raw_pixels=True)}),
        ("sin-denoiser", {"ej2_modelo": s.denoiser_cell(identity=True), "ej2_entrenamiento": None}),
    ]


def source_solutions() -> dict[str, str]:
    """grade_id -> the source notebook's solution cell, markers removed (what a full answer looks like)."""
    source = nbformat.read(load_config().source_path, as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id"):
            answers[meta["grade_id"]] = SOLUTION_MARKERS.sub("", cell.source).strip("\n") + "\n"
    return answers


KINDS = ("light", "full", "tiny")


def tiny_fills() -> dict[str, str]:
    """The light reference trained on 1,000 images (500 for the SVM): for tests of the bench code."""
    from tests import submissions as s

    return {"ej1_cnn_entrenamiento": s.cnn_training_cell(images=1000), "ej1_svm": s.svm_cell(images=500),
            "ej1_mejora_entrenamiento": s.improved_training_cell(images=1000),
            "ej2_entrenamiento": s.denoiser_training_cell(images=1000)}


def build_submissions(released: nbformat.NotebookNode, kind: str, n: int) -> list[tuple[str, nbformat.NotebookNode]]:
    """``n`` (student id, notebook) pairs of the given kind ("light", "full", or "tiny": the light
    variants on less data, to test this code quickly)."""
    from tests import submissions as s

    if n < 1:
        raise ValueError("n must be at least 1")
    if kind == "full":
        answers = source_solutions()
        return [(f"s{i + 1:02d}-completa", s.fill(released, answers)) for i in range(n)]
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: {', '.join(KINDS)}")
    variants = light_variants()
    smaller = tiny_fills() if kind == "tiny" else {}
    return [(f"s{i + 1:02d}-{variants[i % len(variants)][0]}",
             s.fill(released, {**smaller, **variants[i % len(variants)][1]})) for i in range(n)]


# -------------------------------------------------------------------------------- course folders

def write_course(course: Path, submissions: list[tuple[str, nbformat.NotebookNode]]) -> list[Path]:
    """An nbgrader course folder with ``submitted/``; returns the submitted notebooks' paths."""
    config = load_config()
    (course / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    shutil.copy2(config.source_path, course / "source" / ASSIGNMENT / NOTEBOOK)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course.resolve())!r}\n"
        f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
        "c.Execute.interrupt_on_timeout = True\n", encoding="utf-8")
    paths = []
    for student, nb in submissions:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / NOTEBOOK)
        (folder / "timestamp.txt").write_text(TIMESTAMP, encoding="utf-8")
        paths.append(folder / NOTEBOOK)
    return paths


def retarget_course(course: Path) -> None:
    """After copying a course folder: point its nbgrader_config.py at the copy."""
    config = course / "nbgrader_config.py"
    text = re.sub(r"c\.CourseDirectory\.root = .*", f"c.CourseDirectory.root = {str(course.resolve())!r}",
                  config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")


def ipython_dir(folder: Path) -> Path:
    """An IPYTHONDIR whose startup file serves the datasets offline (for nbgrader and nbconvert)."""
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-grader-offline.py").write_text(OFFLINE_STARTUP, encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------- running

def run_timed(argv: list[str | Path], *, log: Path, env: dict[str, str], cwd: Path | None = None,
              timeout: float | None = None) -> dict[str, Any]:
    """Run a command to the end; wall seconds, exit status and the load around it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    before = loadavg()
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, env=env,
                                  cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
            rc = done.returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return {"wall_s": round(time.perf_counter() - started, 2), "rc": rc, "load_before": before,
            "load_after": loadavg(), "log": str(log)}


def tail(path: Path | str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def cell_span_s(notebook: Path) -> float | None:
    """Seconds from the first code cell's start to the last one's reply (nbclient's timing metadata)."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return None
    starts, ends = [], []
    for cell in nb.cells:
        timing = cell.metadata.get("execution", {}) if cell.cell_type == "code" else {}
        start = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started")
        end = timing.get("shell.execute_reply")
        if start and end:
            starts.append(datetime.fromisoformat(start))
            ends.append(datetime.fromisoformat(end))
    if not starts:
        return None
    return round((max(ends) - min(starts)).total_seconds(), 2)


def cell_times(notebook: Path) -> list[list]:
    """[code cell number (1-based), seconds, first line] per timed code cell (nbclient's metadata)."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return []
    rows = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        timing = cell.metadata.get("execution", {})
        start = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started")
        end = timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end)
                       - datetime.fromisoformat(start)).total_seconds()
            first = next((line for line in cell.source.splitlines() if line.strip()), "")[:50]
            rows.append([number, round(seconds, 2), first])
    return rows


def summarize(values: list[float]) -> dict[str, float]:
    values = sorted(v for v in values if v is not None)
    if not values:
        return {}
    p95 = values[max(0, math.ceil(0.95 * len(values)) - 1)]  # nearest rank
    return {"n": len(values), "median": round(statistics.median(values), 4), "mean": round(statistics.fmean(values), 4),
            "min": round(values[0], 4), "max": round(values[-1], 4), "p95": round(p95, 4)}


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
