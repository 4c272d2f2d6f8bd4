"""The student's side as a student meets it: `grader check NOTEBOOK` run as a real subprocess of the
CLI (exit status, --json, the notebook's own settings, no bubblewrap), and what `grader release`
writes into the notebook for it (the `grader` metadata block, the install lines).

The notebooks are the lightest that exercise each path: untrained models (no training, no data),
a division by zero, a print; each `grader check` run costs one kernel start with Keras (seconds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.config import ConfigError, ReleaseSettings, check_install_requirement, load_config
from grader.errors import GraderError
from grader.metadata import (INSTALL_TOKENS, KEY, laptop_requirement, read_settings, release_metadata)
from grader.sandbox import sandbox_status
from tests import submissions as s

GRADER = Path(sys.executable).with_name("grader")
# Installed by the 'instructor' extra only: `grader check` imports none of them, in the CLI's process or
# in the kernel (the students' install does not have them; tests/test_student_install.py).
INSTRUCTOR_ONLY = ("nbgrader", "dask", "distributed", "jupyter_server", "sqlalchemy", "alembic", "skops",
                   "sklearn", "skimage", "matplotlib", "pytest")
# Keras itself imports scikit-learn and matplotlib in the kernel where they are installed (they are
# not in the students' install, where it does not).
KERNEL_INSTRUCTOR_ONLY = tuple(m for m in INSTRUCTOR_ONLY if m not in ("sklearn", "matplotlib"))
PREFACE = "import keras\nfrom keras import layers\nSEED = 0"
# The last cell runs what the epilogue of `grader check` runs, then lists the instructor-only modules loaded.
KERNEL_IMPORTS = f"""\
import os, sys
from grader.selfcheck import export_public_outcomes
export_public_outcomes(dict(globals()), os.devnull)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {KERNEL_INSTRUCTOR_ONLY!r})
assert not loaded, f"instructor-only modules in the kernel: {{loaded}}"
"""


def notebook(path: Path, *sources: str, grader: dict | None = None) -> Path:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    if grader is not None:
        nb.metadata[KEY] = grader
    nbformat.write(nb, path)
    return path


def run_check(notebook_path: Path, *options: str, env: dict | None = None,
              importtime: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-X", "importtime", str(GRADER)] if importtime else [str(GRADER)]
    return subprocess.run([*command, "check", str(notebook_path), "--out", str(notebook_path.parent / "out"),
                           *options], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)


def parsed(run: subprocess.CompletedProcess) -> dict:
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout[-2000:] + run.stderr[-2000:]  # one JSON object, nothing else
    return json.loads(lines[0])


def statuses(result: dict) -> dict[str, str]:
    return {check["name"]: check["status"] for check in result["checks"]}


@pytest.fixture(scope="module")
def metadata(practica3):
    return release_metadata(practica3)


def test_passing_notebook_exits_0_with_the_result_as_json_and_no_instructor_module(tmp_path, metadata):
    path = notebook(tmp_path / "alumno.ipynb", PREFACE, s.cnn_cell(), s.denoiser_cell(), KERNEL_IMPORTS,
                    grader=metadata)
    run = run_check(path, "--json", importtime=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = parsed(run)
    assert result["passed"] is True and result["exit_status"] == 0
    assert result["assignment"] == "practica3" and result["student"] == "alumno"
    assert statuses(result) == {"ej1_arquitectura": "passed", "ej1_parametros": "passed", "ej2_autoencoder": "passed"}
    assert result["execution"]["status"] == "completed", result["execution"]["message"]
    assert result["execution"]["sandboxed"] is sandbox_status()[0]
    if sandbox_status()[0]:
        assert result["notes"] == []
    else:
        assert len(result["notes"]) == 1 and result["notes"][0].startswith("sin sandbox")
    assert Path(result["report"]).is_file() and Path(result["execution"]["executed_notebook"]).is_file()
    imported = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "grader.selfcheck" in imported and "grader.execute" in imported  # the listing is real
    assert sorted(m for m in imported if m.split(".")[0] in INSTRUCTOR_ONLY) == []


def test_failing_public_check_exits_1_and_a_notebook_without_metadata_says_so(tmp_path):
    path = notebook(tmp_path / "alumno.ipynb", PREFACE, s.cnn_cell(padding2="same"), s.denoiser_cell())
    unknown = run_check(path)  # this package ships two assignments: which one is it?
    assert unknown.returncode == 2 and "this package has 2 (practica2, practica3)" in unknown.stderr
    assert f"fix: grader check {path} --assignment NAME" in unknown.stderr
    run = run_check(path, "--assignment", "practica3")  # the table, for a person
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "aviso: este notebook no trae los datos del corrector" in run.stdout
    assert "✘ ej1_parametros: 0 / 1" in run.stdout and "✔ ej2_autoencoder: 1 / 1" in run.stdout
    assert "completed: Todas las celdas se ejecutaron sin errores." in run.stdout


def test_cell_error_exits_1_and_without_bubblewrap_it_runs_unsandboxed_with_one_line(tmp_path, metadata):
    path = notebook(tmp_path / "alumno.ipynb", "x = 1", "x / 0", grader=metadata)
    no_bwrap = tmp_path / "bin"  # PATH without bwrap: a student's laptop
    no_bwrap.mkdir()
    run = run_check(path, "--json", env={"PATH": str(no_bwrap)})
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    result = parsed(run)
    assert result["passed"] is False and result["exit_status"] == 1
    assert result["execution"]["status"] == "cell_error"
    assert result["execution"]["first_error"]["ename"] == "ZeroDivisionError"
    assert result["execution"]["sandboxed"] is False
    assert result["notes"] == ["sin sandbox (bubblewrap no está instalado): como es tu propio código, se ejecuta "
                               "sin aislar"]
    assert run.stderr.count("note: sin sandbox") == 1
    assert set(statuses(result).values()) == {"error"}  # cnn_model and denoiser were never defined


def test_the_notebooks_own_limits_and_language_are_used(tmp_path, metadata):
    """output_bytes=2000 (the default is 2,000,000) stops a notebook that prints 20,000 characters."""
    limits = {**metadata["limits"], "output_bytes": 2000, "limit_of_a_newer_release": 1}
    path = notebook(tmp_path / "student.ipynb", "print('x' * 20_000)",
                    grader={**metadata, "language": "en", "limits": limits})
    run = run_check(path, "--json")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    result = parsed(run)
    assert result["execution"]["status"] == "output_limit", result["execution"]["message"]
    assert "The outputs exceeded 2,000 characters" in result["execution"]["message"]  # in English, as set


@pytest.mark.parametrize("content", ["{not json", json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                                "nbformat_minor": 5})],
                         ids=["broken-json", "no-code"])
def test_invalid_notebook_exits_2(tmp_path, content):
    path = tmp_path / "alumno.ipynb"
    path.write_text(content, encoding="utf-8")
    run = run_check(path, "--json")
    assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-3000:]
    result = parsed(run)
    assert result["execution"]["status"] == "invalid_notebook" and result["passed"] is False
    assert result["exit_status"] == 2


def test_notebook_of_an_assignment_this_package_lacks_exits_2_with_the_update_command(tmp_path, metadata):
    path = notebook(tmp_path / "alumno.ipynb", "x = 1", grader={**metadata, "assignment": "practica9"})
    run = run_check(path)
    assert run.returncode == 2
    assert "practica9" in run.stderr and f'pip install --upgrade "{metadata["install"]}"' in run.stderr


def test_check_help_documents_the_exit_status_and_json():
    run = subprocess.run([str(GRADER), "check", "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    for text in ("Exit status:", "0  every cell ran and every public check passed", "1  a public check failed",
                 "2  NOTEBOOK is not a valid notebook", "--json"):
        assert text in run.stdout


def test_read_settings_defaults_and_notes():
    absent = read_settings({}, fallback_assignment="practica3")
    assert (absent.assignment, absent.language, absent.from_metadata) == ("practica3", "es", False)
    assert absent.limits.cell_timeout_s == 600 and "no trae los datos del corrector" in absent.notes[0]
    assert read_settings({}).assignment is None  # no fallback: grader check says how to name it
    damaged = read_settings({KEY: {"assignment": "practica3", "language": "fr", "limits": {"memory_mb": -1}}},
                            lang="en")
    assert damaged.language == "en" and damaged.limits.memory_mb == 8192  # the default
    assert len(damaged.notes) == 1 and "limits.memory_mb" in damaged.notes[0]
    newer = read_settings({KEY: {"assignment": "practica3", "language": "es",
                                 "limits": {"cell_timeout_s": 5, "a_newer_limit": 1}}})
    assert newer.notes == [] and newer.limits.cell_timeout_s == 5


# --- what `grader release` writes for the student's side ----------------------------------------------

def test_release_writes_the_grader_block_and_the_install_lines(released, practica3):
    nb, _ = released
    assert nb.metadata[KEY] == release_metadata(practica3)
    assert nb.metadata[KEY]["limits"]["cell_timeout_s"] == practica3.limits.cell_timeout_s == 900
    assert nb.metadata[KEY]["install"] == practica3.release.install
    text = "\n".join(cell.source for cell in nb.cells)
    assert not any(token in text for token in INSTALL_TOKENS)
    cells = {cell.get("id"): cell for cell in nb.cells}
    assert f'%pip install -q "{practica3.release.install}"' in cells["instalacion"].source
    assert f'pip install "{laptop_requirement(practica3.release.install)}"' in cells["preparacion_texto"].source
    assert list(cells).index("instalacion") < list(cells).index("preparacion")  # installed before the imports
    assert "instálalo como indique el" not in text


def test_release_without_an_install_key_is_refused(practica3, tmp_path):
    from grader.release import release_assignment

    config = practica3.model_copy(update={"release": ReleaseSettings()})
    with pytest.raises(GraderError, match=r"has no \[release\] install; fix: add \[release\] install = "):
        release_assignment(config, tmp_path / "release", f"sqlite:///{tmp_path / 'gb.db'}")
    assert not (tmp_path / "gb.db").exists()  # refused before touching the gradebook


@pytest.mark.parametrize("value, error", [
    ("keras-course-grader", "neither where nor which version"),
    ("other-package @ git+https://example.org/course.git", "not 'keras-course-grader'"),
    ("keras-course-grader[tensorflow] @ git+https://example.org/course.git", "no [extras]"),
    ("keras-course-grader @ git+ssh://git@example.org/course.git", "students install over https"),
    ("keras-course-grader @ git+https://example.org/<org>/course.git", "a placeholder left in?"),
    ("keras-course-grader @ https://example.org/${TOKEN}/course.zip", "brace, '<', '$'"),
])
def test_install_key_is_validated(tmp_path, practica3, value, error):
    text = (practica3.folder / "assignment.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^install = .*$", f"install = {json.dumps(value)}", text)
    (tmp_path / "assignment.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'release\.install'") as caught:
        load_config(tmp_path / "assignment.toml")
    assert error in str(caught.value)


def test_install_requirements_are_normalised_and_get_the_laptop_extras():
    assert check_install_requirement("keras_course_grader@git+https://example.org/c.git@v1") == \
        "keras-course-grader @ git+https://example.org/c.git@v1"
    assert laptop_requirement("keras-course-grader @ git+https://example.org/c.git@v1") == \
        "keras-course-grader[notebook,tensorflow] @ git+https://example.org/c.git@v1"
    assert laptop_requirement("keras-course-grader==0.1.0") == "keras-course-grader[notebook,tensorflow]==0.1.0"

