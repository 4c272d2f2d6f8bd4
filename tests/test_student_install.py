"""The students' install: the package's base dependencies, no extras, in a fresh virtual environment
(its own site-packages only), as `pip install "keras-course-grader @ git+<course repository>"` gives
them. None of the instructor's packages may come along, and what students use must work without them.
Then a TensorFlow build is added (a laptop's '[tensorflow]'; Colab has its own) and `grader check`
runs a notebook there.

Measured on the 2-core machine from a warm pip cache: the venv and the base set 20 s; TensorFlow 16 s
and the `grader check` run 6 s more (that second test is marked slow). From the network: more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import submissions as s
from tests.test_student import INSTRUCTOR_ONLY, PREFACE, notebook

ROOT = Path(__file__).resolve().parent.parent
# Distributions of the 'instructor' extra (and what they pull in): none may be in the students' install.
INSTRUCTOR_DISTRIBUTIONS = ("nbgrader", "dask", "distributed", "jupyter-server", "jupyterlab", "notebook",
                            "sqlalchemy", "alembic", "skops", "scikit-learn", "scikit-image", "matplotlib",
                            "pytest", "tensorflow", "tensorflow-cpu")


def run(*command: str, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def student_venv(tmp_path_factory) -> tuple[Path, Path, dict[str, float]]:
    """(venv, project source copy, seconds per step): the base dependencies only."""
    root = tmp_path_factory.mktemp("student")
    source = root / "src"  # a copy: building leaves build/ and *.egg-info next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in (ROOT / "assignments").iterdir():  # the whole folder: only public/ may be installed
        shutil.copytree(folder, source / "assignments" / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    seconds = {}
    started = time.perf_counter()
    run(sys.executable, "-m", "venv", str(venv))  # no --system-site-packages: its own site-packages only
    run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source))
    seconds["venv + base install"] = time.perf_counter() - started
    print(f"\nstudent venv: base install in {seconds['venv + base install']:.0f} s")
    return venv, source, seconds


def test_base_install_has_no_instructor_package_and_the_student_commands_work(student_venv):
    venv, _, _ = student_venv
    python, grader = venv / "bin" / "python", venv / "bin" / "grader"
    config = run(str(python), "-c", "import sys; print(sys.prefix != sys.base_prefix, "
                                    "any('site-packages' in p and not p.startswith(sys.prefix) for p in sys.path))")
    assert config.stdout.split() == ["True", "False"]  # a venv that sees no other site-packages
    listed = run(str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check")
    installed = {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}
    assert "keras-course-grader" in installed and "keras" in installed
    assert sorted(installed & set(INSTRUCTOR_DISTRIBUTIONS)) == []

    imported = run(str(python), "-c", "from grader import check; import grader.selfcheck, grader.cli, "
                                      "grader.checks.denoising, grader.execute, grader.report, grader.metadata; "
                                      "from grader.public_checks import ASSIGNMENTS_DIR, installed_assignments; "
                                      "print(callable(check), installed_assignments(), "
                                      "sorted(p.name for p in ASSIGNMENTS_DIR.glob('*/*')))",
                   cwd=venv)  # not the checkout: 'python -c' puts the working folder first on sys.path
    public = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/public"))
    assert imported.stdout.strip() == f"True {public} {['public'] * len(public)}"  # public/ only, no source/
    helped = run(str(grader), "check", "--help")
    assert "Exit status:" in helped.stdout and "--json" in helped.stdout

    refused = subprocess.run([str(grader), "release", "practica3"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "needs the instructor's install" in refused.stderr, refused.stderr[-2000:]


@pytest.mark.slow
def test_grader_check_runs_a_notebook_in_the_students_install_with_tensorflow(student_venv, tmp_path):
    venv, source, seconds = student_venv
    started = time.perf_counter()
    run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
        f"{source}[tensorflow]")
    seconds["tensorflow extra"] = time.perf_counter() - started
    kernel_check = ("import sys\nfrom grader.selfcheck import export_public_outcomes\n"
                    "export_public_outcomes(dict(globals()), '/dev/null')\n"
                    f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {INSTRUCTOR_ONLY!r})\n"
                    "assert not loaded, loaded\n")
    path = notebook(tmp_path / "alumno.ipynb", PREFACE, s.cnn_cell(), s.denoiser_cell(), kernel_check)
    started = time.perf_counter()
    # No metadata and a package with two assignments: the student names theirs.
    checked = subprocess.run([str(venv / "bin" / "grader"), "check", str(path), "--out", str(tmp_path / "out"),
                              "--json", "--assignment", "practica3"], capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds["grader check"] = time.perf_counter() - started
    print(f"\nstudent venv: {', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    result = json.loads(checked.stdout)
    assert result["passed"] and result["execution"]["status"] == "completed"
    assert any("no trae los datos del corrector" in note for note in result["notes"])  # no metadata here
