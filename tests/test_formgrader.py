"""Manual grading in nbgrader's real formgrader, on the course tree ``grader autograde`` writes.

One tiny submission (the released Práctica 3 with its informe cells written and no code that trains
anything) goes through the real pipeline (``grader.pipeline.grade_submission`` on a Dask worker) into a
real gradebook; then a real ``jupyter server`` with nbgrader's formgrader extension (started by
``grader.formgrader.start_formgrader``, what ``grader formgrader`` runs) shows the submission, takes a
manual grade and a comment through its REST API, and ``grader``'s exports show both.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDENT, NAME, PARTICIPANT = "123456", "Ana García López", "123456"
INFORME = "Mi informe del ejercicio 1: la CNN gana a SVM+HOG porque aprende sus propios filtros."


def _submission_notebook(released_nb):
    """The release with the informe written and every code cell that would import or train emptied."""
    import copy

    nb = copy.deepcopy(released_nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "ej1_informe":
            cell.source = INFORME
        elif meta.get("grade_id") == "ej2_informe":
            cell.source = "Mi informe del ejercicio 2."
        elif cell.cell_type == "code" and not meta.get("locked"):
            cell.source = "respuesta = 42"
    return nb


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory, practica3, released):
    import nbformat

    from grader.batch import autograde
    from grader.collect import Submission, write_submissions

    course = tmp_path_factory.mktemp("curso")
    shutil.copy(released[1].removeprefix("sqlite:///"), course / "gradebook.db")  # the release's cells
    notebook = course / "entregas" / STUDENT / "practica3.ipynb"
    notebook.parent.mkdir(parents=True)
    nbformat.write(_submission_notebook(released[0]), notebook)
    submitted_at = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)
    write_submissions(course / "entregas", "practica3",
                      [Submission(STUDENT, NAME, notebook, submitted_at, participant_id=PARTICIPANT)])
    summary = autograde(practica3, course / "entregas", db_url=f"sqlite:///{course / 'gradebook.db'}", workers=1,
                        sandbox=shutil.which("bwrap") is not None, progress=False)
    assert summary.errored == [] and STUDENT in summary.outcomes, summary.messages
    return course


def test_the_batch_writes_nbgraders_course_tree(graded_course):
    import nbformat
    from nbgrader.utils import parse_utc

    submitted = graded_course / "submitted" / STUDENT / "practica3"
    assert (submitted / "practica3.ipynb").read_bytes() == (graded_course / "entregas" / STUDENT / "practica3.ipynb").read_bytes()
    assert parse_utc((submitted / "timestamp.txt").read_text()) == datetime(2026, 3, 1, 10, 15)
    autograded = nbformat.read(graded_course / "autograded" / STUDENT / "practica3" / "practica3.ipynb", as_version=4)
    ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in autograded.cells}
    assert INFORME in ids["ej1_informe"].source and ids["ej1_informe"].metadata.nbgrader["points"] == 2.0
    assert ids["ej1_arquitectura"].metadata.nbgrader["locked"] and ids["ej1_arquitectura"].outputs  # restored, ran
    reports = list((graded_course / "feedback" / STUDENT / "practica3").glob("*.html"))
    assert len(reports) == 1 and "ej1_arquitectura" in reports[0].read_text(encoding="utf-8")


def _call(server, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base + path.lstrip("/"), data=data, method=method,
                                     headers={**server.headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.status, reply.read().decode("utf-8")


def test_manual_grade_in_the_real_formgrader_reaches_the_exports(graded_course, practica3, tmp_path):
    from nbgrader.api import Gradebook

    from grader.export_grades import export_all
    from grader.formgrader import start_formgrader

    url = f"sqlite:///{graded_course / 'gradebook.db'}"
    before = {row.student: row for row in export_all(url, practica3, tmp_path / "before")["rows"]}[STUDENT]
    assert before.needs_manual_grade and before.manual == {"ej1_informe": None, "ej2_informe": None}
    with Gradebook(url) as gradebook:
        submission_id = gradebook.find_submission_notebook("practica3", "practica3", STUDENT).id

    with start_formgrader(graded_course, log_path=tmp_path / "server.log") as server:
        status, page = _call(server, "GET", f"formgrader/submissions/{submission_id}/")
        assert status == 200, page[:500]
        assert "Mi informe del ejercicio 1" in page and "ej1_informe" in page
        _, grades = _call(server, "GET", f"formgrader/api/grades?submission_id={submission_id}")
        grade = {g["name"]: g for g in json.loads(grades)}
        assert grade["ej1_informe"]["needs_manual_grade"] and grade["ej1_informe"]["max_score"] == 2.0
        status, _ = _call(server, "PUT", f"formgrader/api/grade/{grade['ej1_informe']['id']}", {"manual_score": 1.5})
        assert status == 200
        _call(server, "PUT", f"formgrader/api/grade/{grade['ej2_informe']['id']}", {"manual_score": 1.0})
        _, comments = _call(server, "GET", f"formgrader/api/comments?submission_id={submission_id}")
        comment = {c["name"]: c for c in json.loads(comments)}["ej1_informe"]
        status, _ = _call(server, "PUT", f"formgrader/api/comment/{comment['id']}",
                          {"manual_comment": "Buen análisis; falta comparar tiempos."})
        assert status == 200
    assert server.process.poll() is not None  # torn down

    exports = export_all(url, practica3, tmp_path / "after")
    after = {row.student: row for row in exports["rows"]}[STUDENT]
    assert after.manual == {"ej1_informe": 1.5, "ej2_informe": 1.0} and not after.needs_manual_grade
    assert after.total == pytest.approx(before.total + 2.5)
    assert after.comments == {"ej1_informe": "Buen análisis; falta comparar tiempos."}
    with open(exports["moodle_csv"], encoding="utf-8", newline="") as handle:
        moodle = list(csv.DictReader(handle))
    assert len(moodle) == 1 and moodle[0]["Identificador"] == f"Participante{PARTICIPANT}"
    assert float(moodle[0]["Calificación"]) == pytest.approx(round(after.total, 2))
    assert "Buen análisis; falta comparar tiempos." in moodle[0]["Comentarios de retroalimentación"]
    with open(exports["plain_csv"], encoding="utf-8-sig", newline="") as handle:
        plain = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(plain[STUDENT]["ej1_informe"]) == 1.5 and float(plain[STUDENT]["total"]) == pytest.approx(after.total)

    # `grader export` with the worksheet downloaded from Moodle (Spanish) and the course's reports
    from click.testing import CliRunner

    from grader.cli import main

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import moodle_download as moodle
    finally:
        sys.path.remove(str(ROOT / "tests"))
    sheet = tmp_path / "hoja.csv"
    sheet.write_bytes(moodle.worksheet_csv([moodle.Row(int(PARTICIPANT), NAME, datetime(2026, 3, 1, 11, 15)),
                                            moodle.Row(7, "Otra Persona", None)], lang="es"))
    run = CliRunner().invoke(main, ["export", "practica3", "--course", str(graded_course), "--worksheet", str(sheet),
                                    "--out", str(tmp_path / "cli")])
    assert run.exit_code == 0, run.output
    filled = list(csv.DictReader(open(tmp_path / "cli" / "moodle.csv", encoding="utf-8", newline="")))
    assert [r["Identificador"] for r in filled] == [f"Participante{PARTICIPANT}", "Participante7"]
    assert filled[0]["Calificación"] == f"{after.total:.2f}".replace(".", ",") and filled[1]["Calificación"] == ""
    assert "Buen análisis; falta comparar tiempos." in filled[0]["Comentarios de retroalimentación"]
    import zipfile

    with zipfile.ZipFile(tmp_path / "cli" / "moodle_feedback.zip") as archive:
        assert archive.namelist() == [f"{NAME}_{PARTICIPANT}_assignsubmission_file/informe_practica3.html"]
