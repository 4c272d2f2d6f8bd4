"""``grader collect`` on every layout Moodle's "Download all submissions" writes, built by Moodle's own
naming rules (tests/moodle_download.py), with damaged members and worksheets in both languages."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from grader.collect import (INVALID_NOTEBOOK, LATE, MISSING_NOTEBOOK, MULTIPLE_NOTEBOOKS, OK, TOO_LATE, collect,
                            load_submissions, parse_moodle_time)
from grader.errors import GraderError
from tests.moodle_download import STRINGS, Record, Row, build_zip, clean_filename, entry_names, worksheet_csv
from tests.test_collect import marker_of, said
from tests.test_collect import notebook_bytes as nb

MADRID = timezone(timedelta(hours=2))
ON_TIME = datetime(2025, 6, 9, 22, 0)        # deadline 2025-06-09 23:59 +02:00
TWO_DAYS = datetime(2025, 6, 11, 10, 0)      # 1 day 10 h late: 2 started days
FOUR_DAYS = datetime(2025, 6, 13, 12, 0)     # more than the 3 days allowed


@pytest.fixture
def config(practica3):
    return practica3  # deadline 2025-06-09T23:59+02:00, 1 point/day, 3 days max


LAYOUTS = [pytest.param("4.1", True, id="moodle41-folders"), pytest.param("3.1", True, id="moodle31-folders"),
           pytest.param("4.1", False, id="flat")]




def folder_name(fullname: str) -> str:
    """The name as Moodle's folder shows it (and so as collect reports it)."""
    return " ".join(clean_filename(fullname.replace("_", " ")).split())


CLASS = [  # (full name, participant id, files); names in several scripts and with characters Moodle strips
    ("María José Núñez Peña", 101, {"practica3.ipynb": nb("101")}),
    ("José Álvarez", 102, {"Practica3_Alvarez.ipynb": nb("102"), "figura.png": b"\x89PNG", "datos/pesos.h5": b"HDF"}),
    ("Sin Cuaderno", 103, {"memoria.pdf": b"%PDF"}),
    ("Dos Notebooks", 104, {"a.ipynb": nb("104a"), "b.ipynb": nb("104b")}),
    ("Ελένη Παπαδοπούλου", 105, {"practica3.ipynb": nb("105")}),
    ("Иван Петров", 106, {"practica3.ipynb": nb("106")}),
    ("王小明", 107, {"实践3.ipynb": nb("107")}),
    ("محمد علي", 108, {"practica3.ipynb": nb("108")}),
    ("Seán O'Brien: \"Núñez\" & Co", 109, {"practica3.ipynb": nb("109")}),
    ("Ana_Guion Bajo", 110, {"entregas/final/practica3.ipynb": nb("110")}),
]


def class_records() -> list[Record]:
    records = [Record(name, uid, files) for name, uid, files in CLASS]
    records.append(Record("Sin Cuaderno", 103, {"onlinetext.html": "<p>Ver memoria</p>"}, plugin="onlinetext"))
    records.append(Record("Ελένη Παπαδοπούλου", 105, {"onlinetext.html": "<p>Hola</p>"},
                          plugin="onlinetext"))
    return records


@pytest.mark.parametrize("utf8_flag", [False, True], ids=["no-utf8-flag", "utf8-flag"])
@pytest.mark.parametrize("version, folders", LAYOUTS)
def test_every_layout_collects_the_class(tmp_path, config, version, folders, utf8_flag):
    source, out = tmp_path / "descarga.zip", tmp_path / "entregas"
    members = build_zip(source, class_records(), version=version, folders=folders, utf8_flag=utf8_flag)
    if version == "4.1" and folders:
        assert "María José Núñez Peña_101_assignsubmission_file/practica3.ipynb" in members
        assert "Ana Guion Bajo_110_assignsubmission_file/entregas/final/practica3.ipynb" in members
    subs = {s.student: s for s in collect(source, config, out)}

    assert sorted(subs) == [str(uid) for _, uid, _ in CLASS]
    for name, uid, _ in CLASS:
        sub = subs[str(uid)]
        assert (sub.participant_id, sub.display_name) == (str(uid), folder_name(name))
    assert subs["109"].display_name == "Seán OBrien Núñez Co"  # clean_filename drops ' : " &
    for uid in ("101", "105", "106", "107", "108", "109", "110"):
        assert subs[uid].status == OK and marker_of(subs[uid].notebook) == f"marker = {uid!r}", uid
        assert subs[uid].notebook == out / uid / "practica3.ipynb"
    assert subs["107"].original_name == "实践3.ipynb"
    # A file in a sub-folder keeps its path with folders; Moodle's flat download keeps only its name.
    assert subs["110"].original_name == ("entregas/final/practica3.ipynb" if folders else "practica3.ipynb")

    extra = subs["102"]
    assert extra.status == OK and marker_of(extra.notebook) == "marker = '102'"
    assert set(extra.extra_files) == {"figura.png", "datos/pesos.h5" if folders else "pesos.h5"}
    assert len(extra.problems) == 2 and all("solo se entrega el notebook" in p for p in said(extra))

    missing = subs["103"]  # online text is reported, never taken as a handed-in file
    assert missing.status == MISSING_NOTEBOOK and missing.notebook is None and missing.extra_files == ("memoria.pdf",)
    assert any("'onlinetext'" in p and "onlinetext.html" in p for p in said(missing))
    assert any("Moodle submission of type 'onlinetext'" in p for p in said(missing, "en"))
    assert subs["105"].status == OK and any("'onlinetext'" in p for p in said(subs["105"]))
    assert subs["104"].status == MULTIPLE_NOTEBOOKS and subs["104"].notebook is None

    index = json.loads((out / "submissions.json").read_text(encoding="utf-8"))
    expected_layout = {("4.1", True): "folders_moodle_4.1", ("3.1", True): "folders_before_moodle_4.1",
                       ("4.1", False): "files_without_folders"}[(version, folders)]
    assert index["layouts"] == [expected_layout] and index["ignored"] == []
    assert {s.student: s for s in load_submissions(out, "practica3")} == subs


def test_extracted_folder_is_the_same_as_the_zip(tmp_path, config):
    extracted = tmp_path / "descarga"
    for record in class_records():
        for name, data in entry_names(record).items():
            (extracted / name).parent.mkdir(parents=True, exist_ok=True)
            (extracted / name).write_bytes(data)
    subs = {s.student: s for s in collect(extracted, config, tmp_path / "out")}
    assert sorted(subs) == [str(uid) for _, uid, _ in CLASS]
    assert subs["110"].status == OK and subs["110"].original_name == "entregas/final/practica3.ipynb"
    assert subs["107"].display_name == "王小明"


@pytest.mark.parametrize("lang", ["es", "en"])
def test_blind_marking(tmp_path, config, lang):
    word = STRINGS[lang]["participant"]
    source = tmp_path / "anonimo.zip"
    build_zip(source, [Record(word, 5001, {"practica3.ipynb": nb("5001")}),
                       Record(word, 5002, {"practica3.ipynb": nb("5002"), "notas.txt": b"x"})])
    (tmp_path / "hoja.csv").write_bytes(worksheet_csv([Row(5001, word, ON_TIME), Row(5002, word, TWO_DAYS)], lang=lang))
    subs = {s.student: s for s in collect(source, config, tmp_path / "out", worksheet=tmp_path / "hoja.csv")}
    assert sorted(subs) == ["5001", "5002"]
    assert subs["5001"].display_name == f"{word} 5001" and subs["5001"].participant_id == "5001"
    assert subs["5001"].status == OK and marker_of(subs["5001"].notebook) == "marker = '5001'"
    assert (subs["5002"].status, subs["5002"].late_days, subs["5002"].extra_files) == (LATE, 2, ("notas.txt",))


def test_team_submissions(tmp_path, config):
    """4.1+: one folder per group named after it, with the group id; students in no group share one
    folder named get_string('defaultteam') without an id."""
    default_team = STRINGS["es"]["defaultteam"]
    source = tmp_path / "grupos.zip"
    build_zip(source, [Record("Grupo A", 42, {"practica3.ipynb": nb("A")}),
                       Record("Equipo Ñandú_2", 43, {"practica3.ipynb": nb("B"), "datos.csv": b"1"}),
                       Record(default_team, None, {"practica3.ipynb": nb("sin grupo")})])
    # Participant 42 exists too (in another group) and handed in late: the folder '_42' is the group's.
    (tmp_path / "hoja.csv").write_bytes(worksheet_csv(
        [Row(201, "Ana Ruiz", ON_TIME, "Grupo A"), Row(202, "Luis Gil", ON_TIME, "Grupo A"),
         Row(42, "Eva Sanz", FOUR_DAYS, "Equipo Ñandú_2"), Row(203, "Sin Grupo", TWO_DAYS)], team=True))

    subs = {s.student: s for s in collect(source, config, tmp_path / "out", worksheet=tmp_path / "hoja.csv")}
    assert sorted(subs) == ["42", "43", "sin-id-Grupo-predeterminado"]
    team_a = subs["42"]
    assert (team_a.status, team_a.display_name, team_a.participant_id) == (OK, "Grupo A", None)
    assert team_a.submitted_at == ON_TIME.replace(tzinfo=MADRID)
    assert any("Entrega por grupos" in p and "201, 202" in p for p in said(team_a))
    team_b = subs["43"]  # found by its group name, as Moodle cleaned it ('_' -> ' ')
    assert (team_b.display_name, team_b.status, team_b.late_days) == ("Equipo Ñandú 2", TOO_LATE, 4)
    nobody = subs["sin-id-Grupo-predeterminado"]
    assert nobody.status == OK and nobody.participant_id is None
    assert marker_of(nobody.notebook) == "marker = 'sin grupo'"
    assert any("no lleva número de participante" in p for p in said(nobody))

    # Without a worksheet the groups are still collected, keyed by their group id.
    plain = {s.student: s for s in collect(source, config, tmp_path / "out2")}
    assert sorted(plain) == ["42", "43", "sin-id-Grupo-predeterminado"] and plain["42"].status == OK


def test_team_submissions_before_moodle_41(tmp_path, config):
    """3.1-4.0 wrote one folder per member, '<group>-<full name>_<participant id>_assignsubmission_file_'."""
    source = tmp_path / "grupos31.zip"
    files = {"practica3.ipynb": nb("A")}
    build_zip(source, [Record("Grupo A-Ana Ruiz", 201, files), Record("Grupo A-Luis Gil", 202, files)], version="3.1")
    (tmp_path / "hoja.csv").write_bytes(worksheet_csv(
        [Row(201, "Ana Ruiz", TWO_DAYS, "Grupo A"), Row(202, "Luis Gil", TWO_DAYS, "Grupo A")], team=True))
    subs = {s.student: s for s in collect(source, config, tmp_path / "out", worksheet=tmp_path / "hoja.csv")}
    assert sorted(subs) == ["201", "202"]
    assert all(s.status == LATE and s.late_days == 2 and s.participant_id == s.student for s in subs.values())
    assert subs["201"].display_name == "Grupo A-Ana Ruiz"


@pytest.mark.parametrize("version, folders", LAYOUTS)
def test_a_damaged_member_costs_only_its_student(tmp_path, config, version, folders):
    source = tmp_path / "danado.zip"
    records = [Record("Ana CRC", 301, {"practica3.ipynb": nb("301") * 20}),
               Record("Bea Cortado", 302, {"practica3.ipynb": nb("302") * 20}),
               Record("Carlos Cifrado", 303, {"practica3.ipynb": nb("303")}),
               Record("Dora Bien", 304, {"practica3.ipynb": nb("304"), "figura.png": b"\x89PNG" * 50})]
    names = {r.uniqueid: list(entry_names(r, version=version, folders=folders)) for r in records}
    damaged = {names[301][0]: "crc", names[302][0]: "truncated", names[303][0]: "encrypted",
               names[304][1]: "crc"}  # a damaged extra file changes nothing: it is never read
    build_zip(source, records, version=version, folders=folders, damaged=damaged)

    subs = {s.student: s for s in collect(source, config, tmp_path / "out")}
    assert sorted(subs) == ["301", "302", "303", "304"]
    for uid, words in (("301", "CRC"), ("302", "CRC"), ("303", "cifrado con contraseña")):
        sub = subs[uid]
        assert sub.status == INVALID_NOTEBOOK and sub.notebook is None, uid
        [problem] = said(sub)
        assert words in problem and "\n" not in problem, problem
        assert "'practica3.ipynb'" in problem and "no se ha corregido" in problem
        assert not (tmp_path / "out" / uid).exists()
    assert subs["304"].status == OK and marker_of(subs["304"].notebook) == "marker = '304'"
    assert subs["304"].extra_files == ("figura.png",)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Su sesi\xc3\xb3n ha caducado</body></html>", "web page"),
    (b"Rar!\x1a\x07\x00" + b"\x00" * 40, "RAR"),
    (None, "cut off"),
    (b"Nombre,Nota\nAna,7\n", "not a zip"),
], ids=["empty", "html", "rar", "truncated", "csv"])
def test_a_file_that_is_not_a_zip_is_one_line(tmp_path, config, content, words):
    source = tmp_path / "descarga.zip"
    if content is None:  # a download cut off halfway: no central directory
        build_zip(source, [Record("Ana", 1, {"practica3.ipynb": nb("1") * 50})])
        content = source.read_bytes()[: source.stat().st_size // 2]
    source.write_bytes(content)
    with pytest.raises(GraderError) as caught:
        collect(source, config, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith(f"{source}: ") and words in message and "fix: " in message and "\n" not in message


def test_cli_reports_a_bad_zip_in_one_line(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    source = tmp_path / "descarga.zip"
    source.write_bytes(b"<html>login</html>")
    outcome = CliRunner().invoke(main, ["collect", "practica3", str(source), "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 2 and "Traceback" not in outcome.output
    [line] = [line for line in outcome.output.splitlines() if line.strip()]
    assert line.startswith("error: ") and str(source) in line


WORKSHEET_CLASS = [("Íñigo Ibáñez", 401, ON_TIME), ("Ana Tardía", 402, TWO_DAYS), ("Muy Tarde", 403, FOUR_DAYS),
                   ("Sin Fecha", 404, None), ("Fecha Rara", 405, "mañana por la tarde")]


@pytest.mark.parametrize("lang, encoding, bom, delimiter", [
    ("es", "utf-8", True, ","), ("es", "utf-8", False, ","), ("es", "cp1252", False, ";"),
    ("en", "utf-8", False, ","), ("en", "cp1252", False, ","), ("es", "utf-16", False, "\t"),
], ids=["es-utf8-bom", "es-utf8", "es-cp1252-excel", "en-utf8", "en-cp1252", "es-utf16-tabs"])
def test_worksheet_encodings_and_languages(tmp_path, config, lang, encoding, bom, delimiter):
    source, sheet = tmp_path / "descarga.zip", tmp_path / "hoja.csv"
    build_zip(source, [Record(name, uid, {"practica3.ipynb": nb(str(uid))}) for name, uid, _ in WORKSHEET_CLASS])
    sheet.write_bytes(worksheet_csv([Row(uid, name, when) for name, uid, when in WORKSHEET_CLASS], lang=lang,
                                    encoding=encoding, bom=bom, delimiter=delimiter))
    subs = {s.student: s for s in collect(source, config, tmp_path / "out", worksheet=sheet)}
    outcome = {uid: (s.status, s.late_days, s.late_penalty) for uid, s in subs.items()}
    assert outcome == {"401": (OK, 0, 0.0), "402": (LATE, 2, 2.0), "403": (TOO_LATE, 4, 0.0), "404": (OK, 0, 0.0),
                       "405": (OK, 0, 0.0)}
    assert subs["401"].submitted_at == ON_TIME.replace(tzinfo=MADRID)
    assert subs["404"].submitted_at is None and subs["404"].problems == ()
    assert [p for p in said(subs["405"]) if "fecha de entrega ilegible" in p]


def test_moodle_times_with_unicode_spaces():
    """ICU-formatted times (and sheets passed through a spreadsheet) can carry no-break spaces."""
    expected = datetime(2025, 6, 9, 23, 5, tzinfo=MADRID)
    assert parse_moodle_time("Monday, 9 June 2025, 11:05\u202fPM", MADRID) == expected
    assert parse_moodle_time("lunes,\u00a09 de junio de 2025, 23:05", MADRID) == expected
    assert parse_moodle_time("Monday, 9 June 2025, 9:05 AM", MADRID) == expected.replace(hour=9)


def test_worksheet_without_its_columns_is_one_line(tmp_path, config):
    source, sheet = tmp_path / "descarga.zip", tmp_path / "notas.csv"
    build_zip(source, [Record("Ana", 1, {"practica3.ipynb": nb("1")})])
    sheet.write_text("Nombre,Apellidos,Nota\nAna,Ruiz,7\n", encoding="utf-8")
    with pytest.raises(GraderError) as caught:
        collect(source, config, tmp_path / "out", worksheet=sheet)
    assert str(sheet) in str(caught.value) and "fix: " in str(caught.value) and "\n" not in str(caught.value)


def test_cli_outcome_lines_for_a_moodle41_download(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    source, sheet = tmp_path / "descarga.zip", tmp_path / "hoja.csv"
    build_zip(source, class_records())
    sheet.write_bytes(worksheet_csv([Row(uid, name, TWO_DAYS if uid == 106 else ON_TIME) for name, uid, _ in CLASS]))
    outcome = CliRunner().invoke(main, ["collect", "practica3", str(source), "--out", str(tmp_path / "out"),
                                        "--worksheet", str(sheet)])
    assert outcome.exit_code == 0, outcome.output
    assert "10 entregas: 1 con retraso, 1 sin notebook (0), 1 con varios notebooks (0), 7 en plazo" in outcome.output
    assert "106 (Иван Петров): Entrega con 2 días de retraso: se restan 2 puntos." in outcome.output


def test_zip_member_names_follow_moodle(tmp_path):
    """The generator itself against names seen in Moodle downloads (downloader.php formula)."""
    record = Record("Ana_María O'Neil", 7, {"sub/dir/x.ipynb": b"{}"})
    assert list(entry_names(record)) == ["Ana María ONeil_7_assignsubmission_file/sub/dir/x.ipynb"]
    assert list(entry_names(record, version="3.1")) == ["Ana María ONeil_7_assignsubmission_file_/sub/dir/x.ipynb"]
    assert list(entry_names(record, folders=False)) == ["Ana María ONeil_7_assignsubmission_file_x.ipynb"]
    text = Record("Ana", 7, {"onlinetext.html": "<p/>"}, plugin="onlinetext")
    assert list(entry_names(text)) == ["Ana_7_assignsubmission_onlinetext/onlinetext.html"]
    source = tmp_path / "a.zip"
    build_zip(source, [Record("Ελένη", 8, {"p.ipynb": b"{}"})], utf8_flag=False)
    [info] = zipfile.ZipFile(source).infolist()
    assert not info.flag_bits & 0x800 and info.filename.encode("cp437").decode("utf-8").startswith("Ελένη_8_")
