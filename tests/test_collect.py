"""Collecting submissions from a real PRADO/Moodle zip and an nbgrader course tree."""

from __future__ import annotations

import json
import stat
import zipfile
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.config import load_assignment
from grader.collect import (LATE, MISSING_NOTEBOOK, MULTIPLE_NOTEBOOKS, OK, TOO_LATE, collect, late_assessment,
                            load_submissions, parse_moodle_time, render_problems)

FILE = "assignsubmission_file_"
FLAGLESS_NAME = "Íñigo Ibáñez_108".encode()
PLACEHOLDER = b"P" * (len(FLAGLESS_NAME) - 4) + b"_108"


@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")  # deadline 2025-06-09T23:59+02:00, 1 point/day, 3 days max


def said(submission, lang: str = "es") -> list[str]:
    """The submission's problems as the instructor reads them."""
    return render_problems(submission.problems, lang)


def notebook_bytes(marker: str) -> bytes:
    return nbformat.writes(new_notebook(cells=[new_code_cell(f"marker = {marker!r}")])).encode()


def marker_of(path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


def build_prado_zip(path):
    """What PRADO's "Descargar todas las entregas" gives, with every case the rules care about."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"María José Núñez Peña_101_{FILE}/practica3.ipynb", notebook_bytes("101"))
        archive.writestr(f"José Álvarez_102_{FILE}/Practica3_Alvarez.ipynb", notebook_bytes("102"))
        archive.writestr(f"José Álvarez_102_{FILE}/figura.png", b"\x89PNG")
        archive.writestr(f"José Álvarez_102_{FILE}/datos/pesos.h5", b"HDF")
        archive.writestr(f"Sin Cuaderno_103_{FILE}/memoria.pdf", b"%PDF")
        archive.writestr("Sin Cuaderno_103_assignsubmission_onlinetext_/onlinetext.html", "<p>hola</p>")
        archive.writestr(f"Dos Notebooks_104_{FILE}/a.ipynb", notebook_bytes("104a"))
        archive.writestr(f"Dos Notebooks_104_{FILE}/b.ipynb", notebook_bytes("104b"))
        archive.writestr(f"Tarde Uno_105_{FILE}/practica3.ipynb", notebook_bytes("105"))
        archive.writestr(f"Muy Tarde_106_{FILE}/practica3.ipynb", notebook_bytes("106"))
        archive.writestr(f"Atacante_107_{FILE}/practica3.ipynb", notebook_bytes("107"))
        archive.writestr(f"Atacante_107_{FILE}/../../../evil.ipynb", notebook_bytes("evil"))
        link = zipfile.ZipInfo(f"Atacante_107_{FILE}/enlace.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("../fuera.txt", b"x")
        archive.writestr(f"Ana Ruiz_109_{FILE}/practica3.ipynb", notebook_bytes("109"))
        archive.writestr(f"Ana Ruiz_109_{FILE}/.ipynb_checkpoints/practica3-checkpoint.ipynb", notebook_bytes("old"))
        # PHP's ZipArchive (Moodle) stores UTF-8 names without the zip UTF-8 flag; a placeholder of the
        # same byte length is written here and replaced by the raw UTF-8 bytes below.
        archive.writestr(f"{PLACEHOLDER.decode()}_{FILE}/practica3.ipynb", notebook_bytes("108"))
    path.write_bytes(path.read_bytes().replace(PLACEHOLDER, FLAGLESS_NAME))


def write_worksheet(path):
    path.write_text(
        "Identificador,Nombre completo,Estado,Calificación,Última modificación (entrega),Última modificación (calificación)\n"
        "Participante101,María José Núñez Peña,Enviado,,\"lunes, 9 de junio de 2025, 22:00\",-\n"
        "Participante105,Tarde Uno,Enviado,,\"miércoles, 11 de junio de 2025, 10:00\",-\n"
        "Participante106,Muy Tarde,Enviado,,\"viernes, 13 de junio de 2025, 12:00\",-\n"
        "Participante108,Íñigo Ibáñez,Enviado,,\"Monday, 9 June 2025, 11:30 PM\",-\n"
        "Participante109,Ana Ruiz,Enviado,,mañana por la tarde,-\n"
        "Participante110,No Entregó,Sin entrega,,-,-\n", encoding="utf-8-sig")


def test_prado_zip(tmp_path, config):
    source, out, worksheet = tmp_path / "descarga.zip", tmp_path / "entregas", tmp_path / "hoja.csv"
    build_prado_zip(source)
    write_worksheet(worksheet)
    subs = {s.student: s for s in collect(source, config, out, worksheet=worksheet)}
    assert sorted(subs) == ["101", "102", "103", "104", "105", "106", "107", "108", "109"]

    ok = subs["101"]
    assert (ok.status, ok.display_name, ok.participant_id, ok.problems) == (OK, "María José Núñez Peña", "101", ())
    assert ok.notebook == out / "101" / "practica3.ipynb" and marker_of(ok.notebook) == "marker = '101'"
    assert ok.submitted_at == datetime(2025, 6, 9, 22, 0, tzinfo=timezone(timedelta(hours=2)))

    extra = subs["102"]  # extra files are reported; the notebook (any name) is still graded
    assert extra.status == OK and extra.original_name == "Practica3_Alvarez.ipynb"
    assert marker_of(out / "102" / "practica3.ipynb") == "marker = '102'"
    assert set(extra.extra_files) == {"figura.png", "datos/pesos.h5"}
    assert len(extra.problems) == 2 and all("solo se entrega el notebook" in p for p in said(extra))

    assert subs["103"].status == MISSING_NOTEBOOK and subs["103"].notebook is None
    assert subs["103"].extra_files == ("memoria.pdf",)  # the online text is not a handed-in file
    assert not (out / "103").exists()

    two = subs["104"]
    assert two.status == MULTIPLE_NOTEBOOKS and two.notebook is None
    assert any("2 notebooks" in p and "'a.ipynb'" in p for p in said(two))

    late = subs["105"]  # 1 day 10 h late: 2 started days, 1 point each
    assert (late.status, late.late_days, late.late_penalty) == (LATE, 2, 2.0)
    assert late.notebook is not None and said(late) == ["Entrega con 2 días de retraso: se restan 2 puntos."]
    assert said(late, "en") == ["Submission 2 days late: 2 points deducted."]  # the same stored problem
    too_late = subs["106"]  # 3 days 12 h: 4 started days, more than the 3 allowed
    assert (too_late.status, too_late.late_days, too_late.late_penalty) == (TOO_LATE, 4, 0.0)
    assert said(too_late) == ["Entrega fuera de plazo: 4 días de retraso, más de los 3 permitidos; se califica con 0."]

    slip = subs["107"]  # zip slip and symlink entries refused, the real notebook still collected
    assert slip.status == OK and marker_of(slip.notebook) == "marker = '107'"
    assert sum("Se ha rechazado" in p for p in said(slip)) == 2
    assert [p for p in tmp_path.rglob("*") if p.name in ("evil.ipynb", "fuera.txt", "enlace.ipynb")] == []
    assert not any(p.is_symlink() for p in out.rglob("*"))

    flagless = subs["108"]  # UTF-8 name without the zip flag; English worksheet date
    assert flagless.display_name == "Íñigo Ibáñez" and flagless.status == OK

    checkpoint = subs["109"]  # a checkpoint copy is an extra file, not a second notebook
    assert checkpoint.status == OK and marker_of(checkpoint.notebook) == "marker = '109'"
    assert checkpoint.extra_files == (".ipynb_checkpoints/practica3-checkpoint.ipynb",)
    assert checkpoint.submitted_at is None and any("fecha de entrega ilegible" in p for p in said(checkpoint))

    index = json.loads((out / "submissions.json").read_text(encoding="utf-8"))
    assert index["assignment"] == "practica3" and len(index["submissions"]) == 9
    assert {"../fuera.txt"} <= {entry["entry"] for entry in index["ignored"]}
    slipped = next(entry for entry in index["ignored"] if entry["entry"] == "../fuera.txt")
    assert slipped["reason"] == "contiene '..' y saldría de la carpeta de la entrega"
    assert slipped["text"] == {"key": "collect.leaves_folder", "params": {}}
    assert index["submissions"][4]["problems"][0]["key"] == "collect.late"  # stored as the key form
    assert {s.student: s for s in load_submissions(out, "practica3")} == subs


def test_collecting_again_drops_a_stale_notebook(tmp_path, config):
    out = tmp_path / "entregas"
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    with zipfile.ZipFile(first, "w") as archive:
        archive.writestr(f"Ana_1_{FILE}/practica3.ipynb", notebook_bytes("1"))
    with zipfile.ZipFile(second, "w") as archive:
        archive.writestr(f"Ana_1_{FILE}/a.ipynb", notebook_bytes("1"))
        archive.writestr(f"Ana_1_{FILE}/b.ipynb", notebook_bytes("1"))
    collect(first, config, out)
    assert (out / "1" / "practica3.ipynb").is_file()
    [sub] = collect(second, config, out)
    assert sub.status == MULTIPLE_NOTEBOOKS and not (out / "1" / "practica3.ipynb").exists()


def test_oversized_notebook_is_not_copied(tmp_path, config):
    small = config.model_copy(update={"limits": config.limits.model_copy(update={"file_size_mb": 1})})
    source = tmp_path / "big.zip"
    with zipfile.ZipFile(source, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"Ana_1_{FILE}/practica3.ipynb", b" " * (1024 * 1024 + 10))
    [sub] = collect(source, small, tmp_path / "out")
    assert sub.status == "invalid_notebook" and sub.notebook is None and "1 MB" in said(sub)[0]


def test_nbgrader_tree_with_a_malformed_timestamp(tmp_path, config):
    submitted = tmp_path / "curso" / "submitted"
    for student, stamp in [("alice", "2025-06-09 20:00:00.000000 UTC"), ("bob", "ayer por la tarde"),
                           ("carol", "2025-06-11 08:00:00.000000 UTC"), ("dave", None)]:
        folder = submitted / student / "practica3"
        folder.mkdir(parents=True)
        (folder / "practica3.ipynb").write_bytes(notebook_bytes(student))
        if stamp is not None:
            (folder / "timestamp.txt").write_text(stamp + "\n")
    (submitted / "erin" / "practica2").mkdir(parents=True)  # another assignment only: not collected

    subs = {s.student: s for s in collect(tmp_path / "curso", config, tmp_path / "out")}
    assert sorted(subs) == ["alice", "bob", "carol", "dave"]
    assert subs["alice"].status == OK and subs["alice"].submitted_at == datetime(2025, 6, 9, 20, tzinfo=timezone.utc)
    bob = subs["bob"]  # nbgrader crashes here; we grade and say why the late policy was not applied
    assert bob.status == OK and bob.submitted_at is None and bob.notebook is not None
    assert len(bob.problems) == 1 and "timestamp.txt no contiene una fecha válida" in said(bob)[0]
    assert (subs["carol"].status, subs["carol"].late_days, subs["carol"].late_penalty) == (LATE, 2, 2.0)
    assert subs["dave"].status == OK and subs["dave"].submitted_at is None and subs["dave"].problems == ()
    assert marker_of(tmp_path / "out" / "carol" / "practica3.ipynb") == "marker = 'carol'"


def test_late_policy_edges(config):
    deadline = datetime(2025, 6, 9, 23, 59, tzinfo=timezone(timedelta(hours=2)))
    assert late_assessment(config, deadline) == (0, 0.0, False)
    assert late_assessment(config, deadline + timedelta(seconds=1)) == (1, 1.0, False)
    assert late_assessment(config, deadline + timedelta(days=3)) == (3, 3.0, False)
    assert late_assessment(config, deadline + timedelta(days=3, seconds=1)) == (4, 0.0, True)
    assert late_assessment(config, None) == (0, 0.0, False)
    no_late = config.model_copy(update={"late": config.late.model_copy(update={"max_days_late": 0})})
    assert late_assessment(no_late, deadline + timedelta(minutes=1)) == (1, 0.0, True)


def test_moodle_time_formats():
    madrid = timezone(timedelta(hours=2))
    expected = datetime(2025, 6, 9, 23, 5, tzinfo=madrid)
    assert parse_moodle_time("lunes, 9 de junio de 2025, 23:05", madrid) == expected
    assert parse_moodle_time("Monday, 9 June 2025, 11:05 PM", madrid) == expected
    assert parse_moodle_time("2025-06-09T21:05:00+00:00", madrid) == expected
    with pytest.raises(ValueError):
        parse_moodle_time("ayer", madrid)


def test_cli_collect(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    source = tmp_path / "descarga.zip"
    build_prado_zip(source)
    write_worksheet(tmp_path / "hoja.csv")
    outcome = CliRunner().invoke(main, ["collect", "practica3", str(source), "--out", str(tmp_path / "out"),
                                        "--worksheet", str(tmp_path / "hoja.csv")])
    assert outcome.exit_code == 0, outcome.output
    assert "9 entregas" in outcome.output and "fuera de plazo" in outcome.output
    assert (tmp_path / "out" / "submissions.json").is_file()
