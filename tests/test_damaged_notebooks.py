"""Damaged notebooks never crash a command and never leave a student without a result.

Each case goes through the real pipeline (``grade_submission``) against a real release of Práctica 3
and its SQLite gradebook (tests/conftest.py). Cases rejected before execution cost nothing; the
repaired ones run tiny notebooks (no training) without the sandbox, which is not the point here, and
share one scoring process.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc

import nbformat
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from grader.cli import main
from grader.config import Limits
from grader.errors import InvalidSubmissionError
from grader.pipeline import grade_submission, read_submission
from grader.records import CheckStatus, ExecutionStatus
from grader.scoring import ScoringServer


@pytest.fixture(scope="module")
def scorer(practica3, tmp_path_factory):
    with ScoringServer(tmp_path_factory.mktemp("scorer"), practica3.limits, sandboxed=False) as shared:
        yield shared


def _raw_notebook(cells: list[dict]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def _code(source, cell_id: str) -> dict:
    cell = {"cell_type": "code", "id": cell_id, "metadata": {}, "outputs": [], "execution_count": None}
    if source != "ABSENT":
        cell["source"] = source
    return cell


def _grade(path, config, tmp_path, released, **kwargs):
    """grade_submission as a batch calls it; returns the result and result.json as written."""
    result = grade_submission(path, config, student=path.stem, workdir=tmp_path / "work", db_url=released[1],
                              **kwargs)
    written = json.loads((tmp_path / "work" / "result.json").read_text(encoding="utf-8"))
    assert written["student"] == path.stem and written["max_score"] == sum(c.points for c in config.checks.values())
    return result, written


def _assert_rejected(result, written, config, fact: str) -> None:
    """Not executed; every automatic check has zero points and the one-line message."""
    assert written["execution"]["status"] == "invalid_notebook" and written["score"] == 0
    assert fact in result.execution.message and "\n" not in result.execution.message
    automatic = [c for c in result.checks if c.status is not CheckStatus.MANUAL]
    assert [c.name for c in automatic] == list(config.checks)
    assert all(c.status is CheckStatus.ERROR and c.message == result.execution.message for c in automatic)


def _executed_outputs(result) -> str:
    executed = nbformat.read(result.execution.executed_notebook, as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in executed.cells], ensure_ascii=False)


# ---------------------------------------------------------------- 1. a cell's source is not text


@pytest.mark.parametrize("source, fact", [
    (5, "la celda 2 (id b) está dañada (su campo 'source' no es texto sino un número (5))"),
    ({"code": "x = 1"}, "la celda 2 (id b) está dañada (su campo 'source' no es texto sino un objeto JSON)"),
    (["x = ", 1], "no es texto sino una lista con valores que no son líneas de texto"),
])
def test_source_that_is_not_text_is_an_invalid_notebook(tmp_path, practica3, released, source, fact):
    path = tmp_path / "fuente_rara.ipynb"
    path.write_text(json.dumps(_raw_notebook([_code("x = 1", "a"), _code(source, "b")])), encoding="utf-8")
    result, written = _grade(path, practica3, tmp_path, released)
    _assert_rejected(result, written, practica3, fact)
    assert "solución: copia tus respuestas en el notebook publicado" in result.execution.message


def test_null_or_missing_source_runs_as_an_empty_cell(tmp_path, practica3, released, scorer):
    cells = [_code("print('celda antes')", "a"), _code(None, "b"), _code("ABSENT", "c"),
             _code("print('celda después')", "d")]
    path = tmp_path / "sin_source.ipynb"
    path.write_text(json.dumps(_raw_notebook(cells)), encoding="utf-8")
    result, written = _grade(path, practica3, tmp_path, released, sandbox=False, scorer=scorer)

    assert written["execution"]["status"] == "cell_error"  # the re-added public checks find no cnn_model
    assert ("las celdas 2 (id b), 3 (id c) no tenían campo 'source' (ausente o null en el fichero) y se han "
            "tratado como vacías; comprueba que no perdiste código al guardar") in result.execution.message
    outputs = _executed_outputs(result)
    assert "celda antes" in outputs and "celda después" in outputs
    assert {c.name for c in result.checks} == set(practica3.checks) | set(practica3.manual)


# ---------------------------------------------------------------- 2. a UTF-8 byte order mark


def test_utf8_byte_order_mark_is_accepted(tmp_path, practica3, released, scorer):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('leído con BOM')")])
    path = tmp_path / "con_bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(nb).encode("utf-8"))
    result, written = _grade(path, practica3, tmp_path, released, sandbox=False, scorer=scorer)

    assert written["execution"]["status"] == "cell_error"
    assert "UTF-8" not in result.execution.message and "JSON" not in result.execution.message
    assert "leído con BOM" in _executed_outputs(result)


# ---------------------------------------------------------------- 3. too many cells, too much source


def test_limits_are_validated():
    assert Limits().max_cells == 1000 and Limits().max_source_mb == 20
    for bad in ({"max_cells": 0}, {"max_source_mb": -1}, {"max_cells": "muchas"}):
        with pytest.raises(ValidationError):
            Limits(**bad)


@pytest.mark.parametrize("language, fact", [
    ("es", "el notebook tiene 100.000 celdas, más que el límite de 1000, y no se ha ejecutado; solución: borra las "
           "celdas que sobran"),
    ("en", "the notebook has 100,000 cells, more than the limit of 1,000, and was not run; fix: delete the cells"),
])
def test_hundred_thousand_cells_are_rejected_without_running(tmp_path, practica3, released, language, fact):
    config = practica3.model_copy(update={"language": language})
    path = tmp_path / "muchas_celdas.ipynb"
    path.write_text(json.dumps(_raw_notebook([_code(f"x = {i}", f"c{i}") for i in range(100_000)])),
                    encoding="utf-8")
    started = time.perf_counter()
    result, written = _grade(path, config, tmp_path, released)
    assert time.perf_counter() - started < 15
    _assert_rejected(result, written, config, fact)


def test_fifty_megabyte_cell_is_rejected_quickly_and_in_bounded_memory(tmp_path, practica3, released):
    big = "datos = '" + "a" * 50_000_000 + "'"
    path = tmp_path / "celda_enorme.ipynb"
    path.write_text(json.dumps(_raw_notebook([_code("x = 1", "a"), _code(big, "b")])), encoding="utf-8")
    del big
    size = path.stat().st_size

    started = time.perf_counter()
    result, written = _grade(path, practica3, tmp_path, released)
    assert time.perf_counter() - started < 15
    _assert_rejected(result, written, practica3, "el código y el texto de sus celdas ocupan 50,0 MB, más que el "
                                                 "límite de 20 MB, y no se ha ejecutado (la celda 2 (id b) sola "
                                                 "ocupa 50,0 MB)")
    assert "solución: no pegues datos ni imágenes en las celdas" in result.execution.message

    tracemalloc.start()
    try:
        with pytest.raises(InvalidSubmissionError):
            read_submission(path, practica3.limits)
        rejected_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        nb, _ = read_submission(path, Limits(max_source_mb=100))  # an instructor who allows it: still read once
        accepted_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(nb.cells[1].source) == 50_000_010
    assert rejected_peak < 3 * size and accepted_peak < 4 * size, (rejected_peak, accepted_peak, size)


@pytest.mark.parametrize("cells, fact", [
    ([_code("x = 1", f"c{i}") for i in range(1001)], "el notebook tiene 1001 celdas"),
    ([_code("x = 1", "a"), _code(7, "b")], "la celda 2 (id b) está dañada"),
])
def test_grade_command_prints_a_result_for_rejected_notebooks(tmp_path, released, cells, fact):
    path = tmp_path / "danado.ipynb"
    path.write_text(json.dumps(_raw_notebook(cells)), encoding="utf-8")
    outcome = CliRunner().invoke(main, ["grade", str(path), "--assignment", "practica3", "--db", released[1],
                                        "--out", str(tmp_path / "out"), "--no-report", "--no-sandbox"])
    assert outcome.exit_code == 0 and outcome.exception is None, outcome.output
    assert "Traceback" not in outcome.output
    assert "practica3 — danado: 0 / 6.5" in outcome.output and "invalid_notebook" in outcome.output
    assert fact in " ".join(outcome.output.split())  # rich wraps the table
    assert json.loads((tmp_path / "out" / "danado" / "result.json").read_text())["score"] == 0


# ---------------------------------------------------------------- 4. unknown, duplicated, damaged nbgrader metadata


def _by_grade_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_unknown_duplicate_and_damaged_nbgrader_metadata_are_repaired(tmp_path, practica3, released, scorer):
    """The released notebook with its plain code cells (Keras imports, data loading) left out so that it
    runs in seconds; its solution stubs and public checks fail fast."""
    nb = copy.deepcopy(released[0])
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or "nbgrader" in c.metadata]
    # a cell copied from another assignment's notebook: nbgrader would reject the whole notebook
    copied = copy.deepcopy(_by_grade_id(nb, "ej1_cnn_modelo"))
    copied.id, copied.source = "copiada", "print('la celda copiada se ejecuta')"
    copied.metadata.nbgrader["grade_id"] = "practica2_ej3_modelo"
    nb.cells.append(copied)
    # a solution cell duplicated: the released cell keeps the metadata, the copy runs as an ordinary cell
    twice = copy.deepcopy(_by_grade_id(nb, "ej1_hog"))
    twice.id, twice.source = "hog_otra_vez", "print('segunda versión de hog')"
    nb.cells.append(twice)
    # a locked test cell whose points were edited by hand to a non-number
    _by_grade_id(nb, "ej1_arquitectura").metadata.nbgrader["points"] = "abc"
    # a cell of the student's own whose nbgrader metadata is not even an object
    nb.cells.append(nbformat.v4.new_code_cell("print('celda propia')", id="propia", metadata={"nbgrader": "roto"}))
    positions = {cell.id: index + 1 for index, cell in enumerate(nb.cells)}
    path = tmp_path / "metadatos.ipynb"
    nbformat.write(nb, path)

    result, written = _grade(path, practica3, tmp_path, released, sandbox=False, scorer=scorer)

    assert written["execution"]["status"] == "cell_error"  # the solution stubs raise NotImplementedError
    message = result.execution.message
    assert (f"celda {positions['copiada']} (id copiada): grade_id de nbgrader que esta práctica no tiene "
            "('practica2_ej3_modelo'; ¿viene de otro notebook?): se quitaron esos metadatos y su código se "
            "ejecuta como el de cualquier otra celda") in message
    assert (f"celda {positions['hog_otra_vez']} (id hog_otra_vez): grade_id de nbgrader repetido ('ej1_hog', que "
            f"cuenta en la celda {positions['ej1_hog']} (id ej1_hog)): se quitaron esos metadatos") in message
    assert (f"celda {positions['ej1_arquitectura']} (id ej1_arquitectura): metadatos de nbgrader dañados "
            "(points='abc' no es válido): se restauraron los del notebook publicado") in message
    assert (f"celda {positions['propia']} (id propia): metadatos de nbgrader dañados (no son un objeto JSON): se "
            "quitaron y su código se ejecuta como el de cualquier otra celda") in message
    assert "para evitarlo, trabaja sobre el notebook publicado sin copiar celdas de otros notebooks" in message
    assert "\n" not in message

    outputs = _executed_outputs(result)
    assert all(text in outputs for text in ("la celda copiada se ejecuta", "segunda versión de hog", "celda propia"))
    executed = nbformat.read(result.execution.executed_notebook, as_version=4)
    assert _by_grade_id(executed, "ej1_arquitectura").metadata.nbgrader["points"] == 1.0
    assert "nbgrader" not in next(c for c in executed.cells if c.id == "copiada").metadata
    assert [c.name for c in result.checks if c.status is not CheckStatus.MANUAL] == list(practica3.checks)
    assert result.execution.status is ExecutionStatus.CELL_ERROR
