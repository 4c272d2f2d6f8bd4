"""Bad submissions never crash the grader: each becomes a result with a clear message."""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.errors import InvalidSubmissionError
from grader.pipeline import grade_submission, read_submission, scan_input_calls
from grader.records import CheckStatus, ExecutionStatus
from grader.i18n import render


@pytest.mark.parametrize("content, expected", [
    (b"hola, esto no es un notebook", "not a notebook (invalid JSON at line 1"),
    (b'{"cells": [', "invalid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    (b'{"metadata": {}}', "JSON but not a Jupyter notebook"),
    (json.dumps(nbformat.v4.new_notebook()).encode(), "the notebook has no code to run"),
])
def test_unreadable_submissions_are_named(tmp_path, content, expected):
    path = tmp_path / "entrega.ipynb"
    path.write_bytes(content)
    with pytest.raises(InvalidSubmissionError) as error:
        read_submission(path)
    english, spanish = str(error.value), render(error.value.text, "es")
    assert expected in english and english.startswith("entrega.ipynb: ")
    assert spanish.startswith("entrega.ipynb: ") and spanish != english  # rendered again in the student's language
    assert str(tmp_path) not in english + spanish  # the instructor's folders are not the student's business


def test_nbformat_3_is_converted_and_noted(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [], "metadata": {}}],
        "metadata": {}}]}
    path = tmp_path / "viejo.ipynb"
    path.write_text(json.dumps(v3), encoding="utf-8")
    nb, notes = read_submission(path)
    assert nb.nbformat == 4 and nb.cells[0].source == "x = 1"
    assert [render(note, "en") for note in notes] == ["nbformat 3 converted to nbformat 4"]


def test_outputs_are_dropped_before_execution(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1_000_000)]
    path = tmp_path / "grande.ipynb"
    nbformat.write(nb, path)
    read, _ = read_submission(path)
    assert read.cells[0].outputs == []


def test_input_calls_are_found_by_parsing_not_by_comments():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# no uses input() aquí\nx = 1"),
        nbformat.v4.new_code_cell("%matplotlib inline\nn = int(input('n? '))"),
        nbformat.v4.new_code_cell("print('input(')"),
    ])
    assert scan_input_calls(nb) == [2]


def test_invalid_notebook_gets_a_result_for_every_check(tmp_path, practica3):
    path = tmp_path / "roto.ipynb"
    path.write_text("{", encoding="utf-8")
    result = grade_submission(path, practica3, student="roto", workdir=tmp_path / "work")
    assert result.execution.status is ExecutionStatus.INVALID_NOTEBOOK
    assert result.score == 0 and result.max_score == 6.5
    automatic = [c for c in result.checks if c.status is not CheckStatus.MANUAL]
    assert len(automatic) == len(practica3.checks)
    assert all(c.status is CheckStatus.ERROR and "JSON no válido" in c.message for c in automatic)  # course's language
    english = result.rendered("en", practica3.folder)
    assert "invalid JSON" in english.execution.message and all("invalid JSON" in c.message for c in english.checks
                                                                if c.status is not CheckStatus.MANUAL)
    assert json.loads((tmp_path / "work" / "result.json").read_text())["score"] == 0


def test_grade_command_prints_a_table_and_writes_the_result(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    path = tmp_path / "vacio.ipynb"
    path.write_text(json.dumps(nbformat.v4.new_notebook()), encoding="utf-8")
    outcome = CliRunner().invoke(main, ["grade", str(path), "--assignment", "practica3", "--out",
                                        str(tmp_path / "out"), "--no-report"])
    assert outcome.exit_code == 0, outcome.output
    assert "practica3 — vacio: 0 / 6.5" in outcome.output and "ej1_arquitectura" in outcome.output
    assert json.loads((tmp_path / "out" / "vacio" / "result.json").read_text())["max_score"] == 6.5


def test_unknown_assignment_is_one_line_and_exit_2(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    outcome = CliRunner().invoke(main, ["grade", str(tmp_path / "x.ipynb"), "--assignment", "nope"])
    assert outcome.exit_code == 2
    assert outcome.output.startswith("error: ") and outcome.output.count("\n") == 1
