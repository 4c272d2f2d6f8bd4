"""The README's commands as a new user runs them: a fresh clone, data where a user keeps it,
relative paths, another working folder. No fixture of ours stands between the command and the user.

Slow (a fresh virtual environment, real notebooks), but CI runs them: they are the front door.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests import submissions
from tests.conftest import COURSE_DATA

ROOT = Path(__file__).resolve().parent.parent
GRADER = Path(sys.executable).with_name("grader")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (COURSE_DATA / "mnist.npz").is_file(), reason="no offline MNIST copy to provide"),
]


def user_env(**overrides: str) -> dict[str, str]:
    """The environment of a user's shell: none of the test run's own data settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_DATA_DIR", "KERAS_HOME", "PYTEST_ADDOPTS")}
    env.update(GRADER_OFFLINE="1", **overrides)  # no network here: a download attempt must not hang
    return env


def copy_datasets(target: Path) -> Path:
    """The two datasets laid out as Keras' own downloads leave them in its cache."""
    target.mkdir(parents=True)
    shutil.copyfile(COURSE_DATA / "mnist.npz", target / "mnist.npz")
    shutil.copytree(COURSE_DATA / "fashion-mnist", target / "fashion-mnist")
    return target


def result(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check(result_data: dict, name: str) -> dict:
    return next(c for c in result_data["checks"] if c["name"] == name)


def test_make_demo_in_a_fresh_clone_with_data_in_the_keras_cache(tmp_path):
    """`git clone` + `make demo`, verbatim, with MNIST/Fashion-MNIST only in Keras' cache."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    keras_home = tmp_path / "keras-home"
    copy_datasets(keras_home / "datasets")

    run = subprocess.run(["make", "demo"], cwd=clone, env=user_env(KERAS_HOME=str(keras_home)),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    first = next(line for line in lines if line.startswith("sandbox:"))
    assert lines.index(first) < next(i for i, line in enumerate(lines) if line.startswith("1/6"))
    assert any(line.startswith("data: mnist from Keras cache") for line in lines), run.stdout[:2000]

    demo = clone / "demo" / "practica3"  # the demo grades both assignments' example downloads, each in its folder
    results = demo / "grades" / "results"
    complete = result(results / "10001.json")
    assert complete["execution"]["status"] == "completed", complete["execution"]["message"]
    assert all(c["status"] == "passed" for c in complete["checks"] if c["name"] in ("ej1_arquitectura", "ej1_parametros",
                                                                                    "ej1_normas", "ej2_autoencoder"))
    assert check(complete, "ej2_denoising")["points"] > 0  # Fashion-MNIST reached the kernel and the scorer

    padding = result(results / "10002.json")
    assert "padding='valid'" in check(padding, "ej1_arquitectura")["message"]
    asks_input = result(results / "10003.json")
    assert "input()" in check(asks_input, "ej1_normas")["message"]
    cut_off = result(results / "10004.json")
    assert cut_off["execution"]["status"] == "invalid_notebook"
    assert "JSON no válido" in cut_off["execution"]["message"]  # in the course's language, like every message
    identity = result(results / "10005.json")
    assert "igual a la entrada" in check(identity, "ej2_autoencoder")["message"]
    assert "pesos_modelo.h5" in check(identity, "ej1_normas")["message"]
    for path in results.glob("*.json"):  # the failure this test was written for: data not found in the kernel
        assert "URL fetch failure" not in path.read_text(encoding="utf-8")
    assert (demo / "feedback" / "index.html").is_file()
    assert (demo / "similarity" / "similarity.html").is_file()
    # nbgrader's course tree, where the formgrader finds what to grade by hand
    assert (demo / "autograded" / "10001" / "practica3" / "practica3.ipynb").is_file()

    results2 = clone / "demo" / "practica2" / "grades" / "results"
    reference = result(results2 / "10001.json")  # lightly trained: only the two MLPs' accuracies fall short
    assert reference["execution"]["status"] == "completed", reference["execution"]["message"]
    assert [c["name"] for c in reference["checks"] if c["status"] not in ("passed", "manual")] == [
        "ej5_precision", "ej6_precision"]
    slope = result(results2 / "10002.json")
    assert "debe ser 0,2" in check(slope, "ej1_funciones")["message"]
    assert "register_keras_serializable" in check(slope, "ej2_modelo")["message"]
    linear = result(results2 / "10003.json")
    assert check(linear, "ej4_relu")["points"] == 0.0 and check(linear, "ej7_regresion")["points"] == 0.0
    assert (clone / "demo" / "practica2" / "feedback" / "index.html").is_file()


@pytest.fixture(scope="module")
def light_submission(tmp_path_factory) -> Path:
    """A student's light notebook (seconds of training), filled in the released notebook."""
    from grader.config import load_assignment
    from grader.release import release_assignment

    folder = tmp_path_factory.mktemp("light")
    released = release_assignment(load_assignment("practica3"), folder / "release", f"sqlite:///{folder / 'gb.db'}")
    path = folder / "alumno.ipynb"
    nbformat.write(submissions.fill(nbformat.read(released.notebook, as_version=4)), path)
    return path


def assert_graded(run: subprocess.CompletedProcess, result_path: Path) -> None:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    graded = result(result_path)
    assert graded["execution"]["status"] == "completed", graded["execution"]["message"]
    assert check(graded, "ej2_denoising")["points"] > 0
    assert Path(graded["execution"]["executed_notebook"]).is_file()


def test_release_and_collect_with_relative_arguments_from_the_checkout_root(tmp_path):
    """From the checkout root, every path relative: the release and the collected submissions land in
    the folder the arguments name, never in the checkout. (Grading with relative arguments is the
    next test, from another folder; one graded run is enough for the paths.)"""
    rel = Path(os.path.relpath(tmp_path, ROOT))
    env = user_env()
    release = subprocess.run([str(GRADER), "release", "practica3", "--out", str(rel / "release"),
                              "--db", str(rel / "gradebook.db")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    assert (tmp_path / "release" / "practica3" / "practica3.ipynb").is_file()
    assert (tmp_path / "gradebook.db").is_file()
    collect = subprocess.run([str(GRADER), "collect", "practica3", "examples/practica3_prado.zip",
                              "--out", str(rel / "entregas")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert collect.returncode == 0, collect.stderr
    assert len(json.loads((tmp_path / "entregas" / "submissions.json").read_text(encoding="utf-8"))) >= 5
    assert not (ROOT / "entregas").exists() and not (ROOT / "release").exists()


def test_readme_commands_verbatim_from_another_folder(tmp_path, light_submission):
    """In a course folder outside the checkout: `grader release practica3`, then
    `grader grade alumno.ipynb --assignment practica3`, as the README writes them; data relative."""
    copy_datasets(tmp_path / "data")
    course = tmp_path / "curso"
    course.mkdir()
    shutil.copyfile(light_submission, course / "alumno.ipynb")
    env = user_env(GRADER_DATA_DIR="../data")
    release = subprocess.run([str(GRADER), "release", "practica3"], cwd=course, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    assert (course / "release" / "practica3" / "practica3.ipynb").is_file()
    run = subprocess.run([str(GRADER), "grade", "alumno.ipynb", "--assignment", "practica3"],
                         cwd=course, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert_graded(run, course / "grading" / "alumno" / "result.json")
