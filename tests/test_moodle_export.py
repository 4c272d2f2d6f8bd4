"""Moodle import: the instructor's own grading worksheet filled in, and the feedback files zip.

Fixtures come from Moodle's own rules (tests/moodle_download.py: the worksheet as gradingtable.php
writes it, names as downloader.php builds them); the zip is checked with a port of Moodle's matcher,
``assignfeedback_file_zip_importer::is_valid_filename_for_import`` (mod/assign/feedback/file/importziplib.php).
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grader.export_grades import GradeRow, fill_moodle_worksheet, write_feedback_zip
from grader.i18n import render

sys.path.insert(0, str(Path(__file__).resolve().parent))
import moodle_download as moodle  # noqa: E402

sys.path.pop(0)

WHEN = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)
PEOPLE = [moodle.Row(123456, "Ana García López", WHEN), moodle.Row(234567, "José_Luis Peña O'Neil", WHEN),
          moodle.Row(345678, "Sin Entrega Nadie", None)]


def _row(student: str, participant: str | None, name: str, total: float | None, *, pending: bool = False,
         comments: dict[str, str] | None = None) -> GradeRow:
    return GradeRow(student=student, display_name=name, participant_id=participant, status="ok", state="finished",
                    score=total or 0.0, max_score=6.5, total=total, total_max=10.0, needs_manual_grade=pending,
                    comments=comments or {})


ROWS = [_row("123456", "123456", "Ana García López", 7.5, comments={"ej1_informe": "Buen análisis & <claro>."}),
        _row("234567", "234567", "José Luis Peña ONeil", 4.25, pending=True),
        _row("999999", "999999", "No Está En Moodle", 5.0)]


def moodle_accepts(entry: str, participants: set[int], plugins=(("assignsubmission", "file"),
                                                                   ("assignfeedback", "file"))) -> tuple[int, str] | None:
    """importziplib.php's is_valid_filename_for_import: (participant id, feedback file name) or None."""
    if entry.endswith("/") or entry.rsplit("/", 1)[-1].startswith((".", "~")):
        return None
    parts = ("/" + entry).split("/")
    while parts:
        part = parts.pop(0)
        info = part.split("_", 4)
        if len(info) < 4 or not info[1].isdigit() or int(info[1]) not in participants:
            continue
        if (info[2], info[3]) not in plugins:
            continue
        parts.insert(0, info[4] if len(info) == 5 else "")
        return int(info[1]), "/".join(parts)
    return None


def _read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_worksheet_is_filled_in_its_own_headers_and_language(tmp_path, lang):
    sheet = tmp_path / "hoja.csv"
    sheet.write_bytes(moodle.worksheet_csv(PEOPLE, lang=lang, bom=True))
    out, left_out, unmatched = fill_moodle_worksheet(ROWS, sheet, tmp_path / "moodle.csv")
    original, filled = _read(sheet), _read(out)
    original[0][0] = original[0][0].lstrip("\ufeff")
    strings = moodle.STRINGS[lang]
    assert filled[0] == original[0]                                # its headers, its language, its order
    assert [line[0] for line in filled] == [line[0] for line in original]
    by_id = {line[0]: dict(zip(filled[0], line)) for line in filled[1:]}
    ana = by_id[f"{strings['hiddenuser']}123456"]
    assert ana[strings["grade"]] == "7,50"                         # the sheet writes "10,00": its separator
    assert ana[strings["feedback"]] == "<p>ej1_informe: Buen análisis &amp; &lt;claro&gt;.</p>"
    assert ana[strings["lastmodifiedgrade"]] == "-" and ana[strings["fullname"]] == "Ana García López"
    jose = by_id[f"{strings['hiddenuser']}234567"]
    assert jose[strings["grade"]] == "" and render(left_out["234567"], "es").startswith("faltan partes")  # manual part pending
    assert render(left_out["999999"], "es") == "no está en la hoja de calificaciones de Moodle"
    assert render(left_out["999999"], "en") == "not in the Moodle grading worksheet"
    assert unmatched == [f"{strings['hiddenuser']}345678"]
    # every other cell is as Moodle wrote it
    for before, after in zip(original[1:], filled[1:]):
        changed = {i for i, (a, b) in enumerate(zip(before, after)) if a != b}
        assert changed <= {original[0].index(strings["grade"]), original[0].index(strings["feedback"])}


def test_a_semicolon_sheet_saved_by_excel_is_written_back_as_moodle_reads_it(tmp_path):
    sheet = tmp_path / "hoja.csv"
    sheet.write_bytes(moodle.worksheet_csv(PEOPLE, lang="es", encoding="cp1252", delimiter=";"))
    out, _, _ = fill_moodle_worksheet(ROWS, sheet, tmp_path / "moodle.csv")
    filled = _read(out)                                              # UTF-8, commas
    assert filled[0][2] == "Dirección de correo" and filled[1][filled[0].index("Calificación")] == "7,50"


def test_the_feedback_zip_is_what_moodles_importer_matches(tmp_path):
    reports = {}
    for row in ROWS:
        reports[row.student] = tmp_path / f"{row.student}.html"
        reports[row.student].write_text(f"<html>informe de {row.student}</html>", encoding="utf-8")
    names = {str(p.uniqueid): p.fullname for p in PEOPLE}           # the worksheet's full names
    path, left_out = write_feedback_zip([*ROWS, _row("sin-id", None, "Sin Id", 3.0)], tmp_path / "fb.zip", reports,
                                        names=names, file_name="informe_practica3.html")
    participants = {p.uniqueid for p in PEOPLE}
    with zipfile.ZipFile(path) as archive:
        entries = archive.namelist()
        matched = {moodle_accepts(entry, participants): archive.read(entry).decode() for entry in entries}
    # Moodle >= 4.1 folders have no trailing "_": the name comes back as "/<file>" (pathinfo: dirname "/",
    # the feedback file lands at the root of the student's feedback files)
    assert matched == {(123456, "/informe_practica3.html"): "<html>informe de 123456</html>",
                       (234567, "/informe_practica3.html"): "<html>informe de 234567</html>",
                       None: "<html>informe de 999999</html>"}      # not a participant: Moodle skips it
    # the folder is the one Moodle's own download gives that student (downloader.php, 4.1+)
    jose = moodle.Record("José_Luis Peña O'Neil", 234567, {"practica3.ipynb": b"{}"})
    folder = next(iter(moodle.entry_names(jose))).split("/")[0]
    assert f"{folder}/informe_practica3.html" in entries
    assert {student: render(why, "es") for student, why in left_out.items()} == {
        "sin-id": "sin identificador de participante de Moodle"}
