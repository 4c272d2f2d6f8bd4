"""Releasing Práctica 3 with nbgrader's own preprocessors: real nbgrader, real SQLite gradebook, real files."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import IncludeHeaderFooter, InstantiateTests

from grader.cli import main
from grader.config import load_assignment
from grader.datasets import probe_sources
from grader.errors import GraderError
from grader.release import (RELEASE_PREPROCESSORS, release_assignment, resolve_db_url,
                            restore_locked_cells)

PUBLIC_CALLS = ('check("ej1_arquitectura", cnn_model)', 'check("ej1_parametros", cnn_model)',
                'check("ej2_autoencoder", denoiser)')
SOLUTION_CELLS = ("ej1_cnn_modelo", "ej1_cnn_entrenamiento", "ej1_hog", "ej1_svm", "ej1_mejora_modelo",
                  "ej1_mejora_entrenamiento", "ej2_modelo", "ej2_entrenamiento", "ej2_evaluacion", "ej2_figura")
HIDDEN_CELLS = ("ej1_precision_cnn", "ej1_svm_hog", "ej1_mejora", "ej2_denoising")

needs_data = pytest.mark.skipif(
    not all(any(p.found for p in probe_sources(name)) for name in ("mnist", "fashion_mnist")),
    reason="MNIST/Fashion-MNIST not found locally; set GRADER_DATA_DIR")


@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")


@pytest.fixture(scope="module")
def source(config):
    return nbformat.read(config.source_path, as_version=4)


@pytest.fixture(scope="module")
def released(config, tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    result = release_assignment(config, course / "release")
    return result, result.notebook.read_text(encoding="utf-8")


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _region_lines(nb, begin: str, end: str) -> set[str]:
    inside, lines = False, set()
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                lines.add(line.strip())
    return lines


def _secret_lines(nb) -> set[str]:
    """Lines only the instructor has: in solution/hidden regions or model answers, nowhere else."""
    secret = _region_lines(nb, "BEGIN SOLUTION", "END SOLUTION") | _region_lines(nb, "BEGIN HIDDEN TESTS",
                                                                                  "END HIDDEN TESTS")
    for cell in nb.cells:
        if cell.cell_type == "markdown" and nbgrader_utils.is_solution(cell):
            secret |= {line.strip() for line in cell.source.splitlines()}
    public = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown" and nbgrader_utils.is_solution(cell):
            continue
        public |= {line.strip() for line in re.sub(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?### END \1", "",
                                                    cell.source, flags=re.S).splitlines()}
    return {line for line in secret - public if len(line) > 12}


def test_release_pipeline_is_nbgraders_generate_assignment_list():
    theirs = GenerateAssignment.class_traits()["preprocessors"].default()
    assert list(RELEASE_PREPROCESSORS) == [p for p in theirs if p not in (IncludeHeaderFooter, InstantiateTests)]


def test_released_notebook_has_no_solution_and_no_hidden_test(released, source):
    _, text = released
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "MARK SCHEME", "reference_solutions"):
        assert marker not in text
    assert not re.search(r"hidden\s*=\s*True", text)
    for distinctive in ("Conv2D(16, 5", "Conv2DTranspose(32", "SVC(kernel=", "RandomRotation(0.04)",
                        "peak_signal_noise_ratio(c, i", "40.100", "converge mejor que el MSE"):
        assert distinctive not in text
    secrets = _secret_lines(source)
    assert len(secrets) > 60  # the check below really looks at the solutions
    leaked = [line for line in secrets if line in text]
    assert leaked == []


def test_released_notebook_keeps_public_checks_and_spanish_stubs(released):
    result, _ = released
    nb = nbformat.read(result.notebook, as_version=4)
    for call in PUBLIC_CALLS:
        assert any(call in cell.source for cell in nb.cells)
    for grade_id in SOLUTION_CELLS:
        assert "# ESCRIBE AQUÍ TU CÓDIGO\n" in _cell(nb, grade_id).source
        assert "raise NotImplementedError()" in _cell(nb, grade_id).source
    for grade_id in ("ej1_informe", "ej2_informe"):
        assert _cell(nb, grade_id).source == "ESCRIBE AQUÍ TU RESPUESTA"
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    nbformat.validate(nb)


def test_graded_cells_are_locked_with_checksums(released, config):
    result, _ = released
    nb = nbformat.read(result.notebook, as_version=4)
    graded = [c for c in nb.cells if nbgrader_utils.is_grade(c) or nbgrader_utils.is_solution(c)
              or nbgrader_utils.is_locked(c)]
    assert len(graded) == 20
    for cell in graded:
        meta = cell.metadata.nbgrader
        assert cell.metadata["deletable"] is False
        assert meta["checksum"] == nbgrader_utils.compute_checksum(cell)
        if nbgrader_utils.is_locked(cell):
            assert cell.metadata["editable"] is False
    tests = {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in graded
             if nbgrader_utils.is_grade(c) and c.cell_type == "code"}
    assert tests == {name: check.points for name, check in config.checks.items() if name != "ej1_normas"}
    assert result.grade_cells == {**tests, "ej1_informe": 2.0, "ej2_informe": 1.5}
    assert result.total_points == pytest.approx(config.total_points - config.checks["ej1_normas"].points)
    assert set(result.locked_cells) == {"normas", *tests}


def test_gradebook_lists_assignment_notebook_and_grade_cells(released, config):
    result, _ = released
    assert result.db_url == f"sqlite:///{result.notebook.parent.parent.parent / 'gradebook.db'}"
    with Gradebook(result.db_url) as gb:
        assignment = gb.find_assignment("practica3")
        assert [n.name for n in assignment.notebooks] == ["practica3"]
        assert assignment.duedate.isoformat() == "2025-06-09T21:59:00"  # nbgrader keeps naive UTC
        notebook = gb.find_notebook("practica3", "practica3")
        expected = {name: check.points for name, check in config.checks.items()}
        expected |= {part.grade_id: part.points for part in config.manual.values()}
        assert {c.name: c.max_score for c in notebook.grade_cells} == expected
        assert notebook.max_score == pytest.approx(config.total_points) == pytest.approx(10.0)
        assert {c.name for c in notebook.solution_cells} == {*SOLUTION_CELLS, "ej1_informe", "ej2_informe"}
        # the gradebook keeps the hidden tests (for nbgrader autograde); the student never sees them
        hidden = gb.find_source_cell("ej1_precision_cnn", "practica3", "practica3")
        assert 'check("ej1_precision_cnn", cnn_model, hidden=True)' in hidden.source


def test_release_twice_updates_in_place(released, config):
    result, text = released
    again = release_assignment(config, result.notebook.parent.parent)
    assert again.notebook.read_text(encoding="utf-8") == text
    with Gradebook(result.db_url) as gb:
        assert len(gb.find_notebook("practica3", "practica3").grade_cells) == 10


def test_unedited_submission_is_left_alone(released, config):
    result, _ = released
    nb = nbformat.read(result.notebook, as_version=4)
    _cell(nb, "ej1_cnn_modelo").source = "cnn_model = build_my_cnn()"  # the student's own work stays
    restored, edited = restore_locked_cells(nb, config, result.db_url)
    assert edited == []
    assert restored == nb


def test_edited_and_deleted_locked_cells_are_restored(released, config):
    result, _ = released
    original = nbformat.read(result.notebook, as_version=4)
    submission = copy.deepcopy(original)
    _cell(submission, "ej1_arquitectura").source = "pass  # el alumno se salta la comprobación"
    _cell(submission, "ej2_autoencoder").metadata.nbgrader["points"] = 5.0
    _cell(submission, "ej1_svm_hog").source += "\nsvm_hog = None"
    _cell(submission, "ej1_cnn_modelo").source = "cnn_model = build_my_cnn()"
    submission.cells = [c for c in submission.cells if c.get("id") not in ("ej1_parametros", "normas")]

    restored, edited = restore_locked_cells(submission, config, result.db_url)

    assert edited == ["normas", "ej1_arquitectura", "ej1_parametros", "ej1_svm_hog", "ej2_autoencoder"]
    assert [c.id for c in restored.cells] == [c.id for c in original.cells]
    for grade_id in ("ej1_arquitectura", "ej1_svm_hog"):
        assert _cell(restored, grade_id).source == _cell(original, grade_id).source
    assert _cell(restored, "ej2_autoencoder").metadata.nbgrader["points"] == 0.5
    assert _cell(restored, "ej1_parametros").source.endswith(_cell(original, "ej1_parametros").source)
    assert "faltaba en la entrega" in _cell(restored, "ej1_parametros").source
    assert _cell(restored, "ej1_cnn_modelo").source == "cnn_model = build_my_cnn()"
    assert not any(re.search(r"hidden\s*=\s*True", c.source) for c in restored.cells)
    nbformat.validate(restored)
    assert _cell(submission, "ej1_arquitectura").source.startswith("pass")  # the input is not modified

    for_nbgrader, edited_again = restore_locked_cells(submission, config, result.db_url, include_hidden_tests=True)
    assert edited_again == edited
    assert 'check("ej1_precision_cnn", cnn_model, hidden=True)' in _cell(for_nbgrader, "ej1_precision_cnn").source


def test_damaged_cell_metadata_is_repaired_from_the_release(released, config):
    """A released cell (known by its cell id) whose nbgrader metadata lost its grade_id gets the released
    metadata back instead of nbgrader rejecting the whole notebook (tests/test_damaged_notebooks.py)."""
    result, _ = released
    original = nbformat.read(result.notebook, as_version=4)
    submission = copy.deepcopy(original)
    del _cell(submission, "ej1_arquitectura").metadata.nbgrader["grade_id"]
    restored, edited = restore_locked_cells(submission, config, result.db_url)
    assert edited == [] and [c.id for c in restored.cells] == [c.id for c in original.cells]
    assert _cell(restored, "ej1_arquitectura").metadata.nbgrader == _cell(original, "ej1_arquitectura").metadata.nbgrader


def test_missing_source_notebook_is_one_line_error(config, tmp_path):
    broken = config.model_copy(update={"source_notebook": "source/no_existe.ipynb"})
    with pytest.raises(GraderError) as error:
        release_assignment(broken, tmp_path / "release")
    message = str(error.value)
    assert "no_existe.ipynb" in message and "fix:" in message and "\n" not in message
    assert not (tmp_path / "gradebook.db").exists()


@pytest.mark.parametrize("url", ["nosuchdialect://host/db", "sqlite:///{tmp}/not_a_database.db"])
def test_unopenable_database_is_one_line_error(config, tmp_path, url):
    (tmp_path / "not_a_database.db").write_text("esto no es una base de datos SQLite\n" * 100)
    url = url.format(tmp=tmp_path)
    with pytest.raises(GraderError) as error:
        release_assignment(config, tmp_path / "release", url)
    message = str(error.value)
    assert url in message and "fix:" in message and "\n" not in message
    assert not (tmp_path / "release" / "practica3").exists()


def test_points_must_match_the_configuration(config, tmp_path):
    checks = dict(config.checks)
    checks["ej1_arquitectura"] = checks["ej1_arquitectura"].model_copy(update={"points": 2.0})
    with pytest.raises(GraderError, match="ej1_arquitectura.*worth 1 points.*says 2"):
        release_assignment(config.model_copy(update={"checks": checks}), tmp_path / "release")


def test_database_argument_accepts_a_file_path(tmp_path):
    assert resolve_db_url(tmp_path / "gb.db", tmp_path) == f"sqlite:///{tmp_path / 'gb.db'}"
    assert resolve_db_url("postgresql://u@h/course", tmp_path) == "postgresql://u@h/course"
    assert resolve_db_url(None, tmp_path / "course" / "release") == f"sqlite:///{tmp_path / 'course' / 'gradebook.db'}"


def test_cli_release(tmp_path):
    runner = CliRunner()
    out = tmp_path / "curso" / "release"
    ok = runner.invoke(main, ["release", "practica3", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert (out / "practica3" / "practica3.ipynb").is_file()
    assert (tmp_path / "curso" / "gradebook.db").is_file()
    assert "practica3.ipynb" in ok.output

    bad = runner.invoke(main, ["release", "practica3", "--out", str(out), "--db", "nosuchdialect://x"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: ") and bad.output.count("\n") == 1


def _execute(nb, workdir: Path, allow_errors: bool, timeout: int):
    """Run ``nb`` in a real kernel, in ``workdir``, after the grader's own preamble (offline datasets,
    seeds, deterministic ops), so that a run here is the run the grader makes."""
    preamble = new_code_cell("from grader.kernel_setup import prepare_kernel\nprepare_kernel(seed=42)")
    preamble.id = "preambulo"
    nb.cells.insert(0, preamble)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _text(nb, grade_id: str) -> str:
    return "".join(out.get("text", "") for out in _cell(nb, grade_id).outputs)


def _errors(nb) -> dict[str, str]:
    return {cell.get("id"): f"{out.ename}: {out.evalue}" for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.output_type == "error"}


@needs_data
@pytest.mark.slow
def test_released_notebook_runs_to_the_end_and_stubs_fail_cleanly(released, tmp_path):
    result, _ = released
    nb = _execute(nbformat.read(result.notebook, as_version=4), tmp_path, allow_errors=True, timeout=300)
    errors = _errors(nb)
    assert not any("SyntaxError" in e for e in errors.values())
    assert "preambulo" not in errors and "preparacion" not in errors and "datos" not in errors
    assert "ej2_ruido" not in errors
    for grade_id in SOLUTION_CELLS:
        assert errors.get(grade_id, "").startswith("NotImplementedError"), (grade_id, errors.get(grade_id))
    for grade_id in ("ej1_arquitectura", "ej1_parametros", "ej2_autoencoder"):  # nothing to check yet
        assert errors[grade_id].startswith("NameError"), errors[grade_id]
    assert not any(grade_id in errors for grade_id in HIDDEN_CELLS)  # only a comment is left
    assert list(tmp_path.iterdir()) == []


REDUCED_TRAIN_IMAGES = 6_000


@pytest.fixture
def reduced_training_split(tmp_path_factory, monkeypatch):
    """The course datasets with a tenth of each training split (the test splits whole, so the held-out
    sets are drawn as always), as ``<name>.npz`` in a folder the kernel is pointed at."""
    import numpy as np

    from grader import datasets

    folder = tmp_path_factory.mktemp("reduced-data")
    for name in ("mnist", "fashion_mnist"):
        data = datasets.load(name)
        keep = np.sort(np.random.default_rng(0).permutation(len(data.x_train))[:REDUCED_TRAIN_IMAGES])
        np.savez(folder / f"{name}.npz", x_train=data.x_train[keep], y_train=data.y_train[keep],
                 x_test=data.x_test, y_test=data.y_test)
    monkeypatch.setenv("GRADER_DATA_DIR", str(folder))  # the kernel inherits it
    return folder


@needs_data
@pytest.mark.slow
def test_source_notebook_runs_on_a_reduced_training_split(config, tmp_path, reduced_training_split):
    """Every solution cell of the instructor's notebook runs, the public checks pass and each hidden
    check scores its object through nbgrader's in-kernel path. Trained on a tenth of the data, a
    thresholded check may fall short of full marks, which nbgrader sees as the cell's AssertionError
    with the check's own sentence; ``--reference-training`` runs it in full."""
    nb = _execute(nbformat.read(config.source_path, as_version=4), tmp_path, allow_errors=True, timeout=900)
    errors = _errors(nb)
    assert set(errors) <= set(HIDDEN_CELLS), errors
    for grade_id in ("ej1_arquitectura", "ej1_parametros", "ej2_autoencoder"):
        assert f"✔ {grade_id}: 100%" in _text(nb, grade_id), _text(nb, grade_id)
    for grade_id in HIDDEN_CELLS:
        if grade_id in errors:  # e.g. "ej1_precision_cnn: precisión 0,9288 (puntuación completa desde 0,9755, ...)"
            assert re.match(rf"AssertionError: {grade_id}: .*\d,\d+", errors[grade_id]), errors[grade_id]
        else:
            assert f"✔ {grade_id}" in _text(nb, grade_id), _text(nb, grade_id)
    assert list(tmp_path.iterdir()) == []  # "no escribir nada en el disco"


@needs_data
@pytest.mark.slow
@pytest.mark.reference_training
@pytest.mark.timeout(2400)  # 8-13 minutes on 2 idle cores; much more when they are shared
def test_source_notebook_trains_in_full_and_passes_every_test(config, tmp_path):
    """The instructor's solution trains for real and passes every check cell."""
    start = time.perf_counter()
    nb = _execute(nbformat.read(config.source_path, as_version=4), tmp_path, allow_errors=False, timeout=1800)
    assert _errors(nb) == {}
    for grade_id in ("ej1_arquitectura", "ej1_parametros", "ej2_autoencoder", *HIDDEN_CELLS):
        assert f"✔ {grade_id}" in _text(nb, grade_id), _text(nb, grade_id)
    assert list(tmp_path.iterdir()) == []  # "no escribir nada en el disco"
    print(f"source notebook executed in {time.perf_counter() - start:.0f} s")
