"""Collect submissions into one flat folder: ``<out>/<student>/<assignment>.ipynb`` + ``submissions.json``.

Two sources are understood:

* a Moodle/PRADO "Descargar todas las entregas" zip (or that zip already extracted into a folder), in
  every layout Moodle writes (the rules are Moodle's own, see ``_MOODLE_ENTRY``): one folder per
  student and plugin, ``Nombre Apellidos_12345_assignsubmission_file/`` (Moodle 4.1+) or
  ``..._assignsubmission_file_/`` (before 4.1), sub-folders kept; or, with "download as folders"
  off, flat files ``Nombre Apellidos_12345_assignsubmission_file_<notebook>.ipynb``. The number is the
  participant id Moodle uses in its grading worksheet ("Participante12345") and is the student's
  key; the name may be in any script, or the localised word "Participante" (blind marking), or a
  group name (team submissions, whose number is then the group id). Entries of other submission
  plugins (``..._assignsubmission_onlinetext/onlinetext.html``) are reported, not graded. The zip
  carries no submission time, so late submissions are only detected when the grading worksheet of
  the same assignment (``worksheet``: its "Identificador"/"Identifier" and "Última modificación
  (entrega)"/"Last modified (submission)" columns; UTF-8 or Windows-1252) is given. A damaged
  member (bad CRC, cut-off data, a password) costs only its student.
* an nbgrader course tree ``submitted/<student>/<assignment>/`` with nbgrader's ``timestamp.txt``
  (parsed as nbgrader parses it; a malformed one becomes a problem message instead of nbgrader's
  crash, see NOTES.md).

Rules ("Normas de entrega": only the notebook is handed in): exactly one ``.ipynb`` per student.
None -> status ``missing_notebook``; several -> none is picked (``multiple_notebooks``); any other
file is reported as a problem and the notebook is still graded. The late policy comes from
``config.late``: ``penalty_per_day`` per started day after the deadline; later than
``max_days_late`` days -> ``too_late`` (graded 0).

Nothing from the zip is extracted by name: notebooks are read from their entries and written to a
path built here from the sanitised student id, so no entry (``../x``, ``/etc/x``, symlinks) can
write outside ``out_dir``; such entries are refused and reported.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import math
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any


from grader.config import AssignmentConfig, ConfigError
from grader.errors import GraderError
from grader.i18n import Message, json_ready, msg, render
from grader.records import write_json_atomic

log = logging.getLogger(__name__)

SUBMISSIONS_FILE = "submissions.json"

# Submission.status values; only the first two are run through the grading pipeline.
OK = "ok"
LATE = "late"
TOO_LATE = "too_late"
MISSING_NOTEBOOK = "missing_notebook"
MULTIPLE_NOTEBOOKS = "multiple_notebooks"
INVALID_NOTEBOOK = "invalid_notebook"   # over the size limit or unreadable in the archive
GRADABLE = frozenset({OK, LATE})

# The first path component of an entry in Moodle's "Download all submissions" zip. Moodle 4.1+
# (mod/assign/classes/downloader.php, get_student_prefix() and load_submissionplugin_filelist()):
#   prefix  = clean_filename(str_replace('_', ' ', <full name | get_string('participant') | group name>)
#                            . '_' . <uniqueid | group id>)      (a team without a group: no '_<id>')
#   folders = clean_param(clean_filename(prefix . '_assignsubmission_' . <plugin>) . <filepath> . <filename>,
#                         PARAM_PATH)                             (other plugins: . '/' . <filename>)
#   flat    = clean_filename(prefix . '_assignsubmission_' . <plugin> . '_' . <filename>)
# Moodle 3.1-4.0 (mod/assign/locallib.php, download_submissions()) wrote the folder as
# clean_filename(prefix . '_assignsubmission_' . <plugin> . '_'), and prefixed team members' names with
# '<group name>-'. clean_filename() keeps letters of every script and drops control characters and
# & < > " ` | ' : \ / (lib/moodlelib.php, PARAM_FILE). The name never holds '_' in Moodle's own output;
# it is allowed here so that zips from patched sites (username prefixes) still parse.
_MOODLE_ENTRY = re.compile(r"^(?P<name>.*?)(?:_(?P<id>\d+))?_assignsubmission_(?P<rest>.+)$", re.DOTALL)
_PLUGIN = re.compile(r"^[a-z][a-z0-9_]*$")
# Submission plugins of a standard Moodle; only used to split flat names of plugins other than 'file'.
_KNOWN_PLUGINS = ("onlinetext", "comments", "file")
# get_string('participant', 'mod_assign') in the languages PRADO users download in (lang/en and the
# AMOS 'es' pack): the name in every folder of a blind-marked assignment.
_PARTICIPANT_WORDS = frozenset({"participant", "participante"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
# Files that operating systems and Jupyter add on their own: reported, but never taken as the notebook.
_NOISE_PARTS = ("__MACOSX", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Submission:
    """One student's hand-in after validation; ``notebook`` is the copy under ``out_dir``.

    ``problems`` are messages (stored as their key form, rendered where they are read, in the
    assignment's language); a ``submissions.json`` written before messages had plain sentences, which
    read back as they are (``render`` returns a string unchanged)."""

    student: str
    display_name: str
    notebook: Path | None
    submitted_at: datetime | None
    extra_files: tuple[str, ...] = ()
    problems: tuple[Message | str, ...] = ()
    late_days: int = 0
    late_penalty: float = 0.0
    status: str = OK
    participant_id: str | None = None   # Moodle's participant id (grading worksheet "Identificador")
    original_name: str | None = None    # the notebook's name as handed in

    @property
    def gradable(self) -> bool:
        return self.status in GRADABLE and self.notebook is not None

    def to_dict(self, base: Path | None = None) -> dict[str, Any]:
        notebook = None
        if self.notebook is not None:
            notebook = str(_relative(self.notebook, base)) if base is not None else str(self.notebook)
        return {
            "student": self.student, "display_name": self.display_name, "participant_id": self.participant_id,
            "notebook": notebook, "original_name": self.original_name,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "extra_files": list(self.extra_files), "problems": json_ready(list(self.problems)),
            "late_days": self.late_days, "late_penalty": self.late_penalty, "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> Submission:
        notebook = data.get("notebook")
        if notebook is not None:
            notebook = Path(notebook)
            if base is not None and not notebook.is_absolute():
                notebook = base / notebook
        submitted_at = datetime.fromisoformat(data["submitted_at"]) if data.get("submitted_at") else None
        return cls(student=data["student"], display_name=data.get("display_name") or data["student"],
                   notebook=notebook, submitted_at=submitted_at,
                   extra_files=tuple(data.get("extra_files", ())),
                   problems=tuple(problem_of(p) for p in data.get("problems", ())),
                   late_days=int(data.get("late_days", 0)), late_penalty=float(data.get("late_penalty", 0.0)),
                   status=data.get("status", OK), participant_id=data.get("participant_id"),
                   original_name=data.get("original_name"))


def problem_of(data: Message | dict[str, Any] | str) -> Message | str:
    """A problem as stored: a message, its key form, or a sentence (written before problems were messages)."""
    if isinstance(data, Message):
        return data
    return Message.from_dict(data) if isinstance(data, dict) else str(data)


def render_problems(problems: Any, lang: str) -> list[str]:
    """The sentences of ``problems`` (messages, their key forms or sentences) in ``lang``."""
    return [render(problem_of(p), lang) for p in problems or ()]


def _relative(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return path


# ----------------------------------------------------------------------------------------- raw files

@dataclass
class _File:
    """One file a student handed in, not yet read."""

    path: str                          # relative to the student's submission folder, "/"-separated
    size: int
    read: Callable[[int], bytes]       # read at most n bytes


@dataclass
class _Raw:
    student: str
    display_name: str
    participant_id: str | None = None
    files: list[_File] = field(default_factory=list)
    submitted_at: datetime | None = None
    problems: list[Message] = field(default_factory=list)
    other_plugins: dict[str, list[str]] = field(default_factory=dict)  # Moodle plugin -> its entries
    folder_name: str | None = None       # the name part of Moodle's folder, as Moodle cleaned it


class _Unreadable(Exception):
    """A handed-in file whose bytes cannot be read back (damaged or encrypted zip member); ``reason``
    completes "El notebook 'x' ..." (``collect.unreadable_notebook``)."""

    def __init__(self, reason: Message) -> None:
        super().__init__(reason.key)
        self.reason = reason


def _unsafe_reason(name: str) -> Message | None:
    """Why an archive member name must not be used as a path (None when it is harmless)."""
    if "\x00" in name:
        return msg("collect.null_character")
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return msg("collect.absolute_path")
    if ".." in PurePosixPath(normalised).parts:
        return msg("collect.leaves_folder")
    return None


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: PHP's ZipArchive (Moodle) writes UTF-8 names without the UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name)


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[int], bytes]:
    """Reads a member; damage is raised as _Unreadable with a one-line reason, never a traceback. The
    CRC is checked by zipfile when the read reaches the end of the member, so callers read it whole."""
    def read(limit: int) -> bytes:
        if info.flag_bits & 0x1:
            raise _Unreadable(msg("collect.encrypted"))
        try:
            with archive.open(info) as handle:
                return handle.read(limit)
        except zipfile.BadZipFile as exc:
            if "CRC" in str(exc):
                raise _Unreadable(msg("collect.bad_crc")) from None
            raise _Unreadable(msg("collect.damaged_member", error=str(exc))) from None
        except (EOFError, zlib.error) as exc:
            raise _Unreadable(msg("collect.truncated_member", error=str(exc))) from None
        except NotImplementedError as exc:
            raise _Unreadable(msg("collect.unknown_compression", error=str(exc))) from None
        except (RuntimeError, ValueError, OSError) as exc:
            raise _Unreadable(msg("collect.zip_unreadable", error=str(exc))) from None
    return read


def _file_reader(path: Path) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            with path.open("rb") as handle:
                return handle.read(limit)
        except OSError as exc:
            raise _Unreadable(msg("collect.file_unreadable", error=str(exc.strerror or exc))) from None
    return read


def _prado_members(source: Path, archive: zipfile.ZipFile | None) -> Iterator[tuple[str, int, Callable, Message | None]]:
    """(name, size, reader, refusal reason) of every file in a PRADO zip or extracted folder."""
    if archive is not None:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = _zip_name(info)
            reason = _unsafe_reason(name)
            if reason is None and stat.S_ISLNK(info.external_attr >> 16):
                reason = msg("collect.symlink")
            yield name, info.file_size, _zip_reader(archive, info), reason
        return
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            yield path.relative_to(source).as_posix(), 0, _file_reader(path), msg("collect.symlink")
        elif path.is_file():
            name = unicodedata.normalize("NFC", path.relative_to(source).as_posix())
            yield name, path.stat().st_size, _file_reader(path), None


def _parse_moodle_entry(parts: list[str]) -> tuple[str, str | None, str, str, str] | None:
    """(name, id or None, plugin, path among that plugin's files, layout code) of a Moodle download entry
    split on '/', or None when it is not one (see _MOODLE_ENTRY for Moodle's rules)."""
    match = _MOODLE_ENTRY.match(parts[0])
    if match is None:
        return None
    rest = match["rest"]
    if len(parts) > 1:  # "download as folders": <prefix>_assignsubmission_<plugin>[_]/<filepath><filename>
        if rest.endswith("_"):
            plugin, layout = rest[:-1], "folders_before_moodle_4.1"
        else:
            plugin, layout = rest, "folders_moodle_4.1"
        path = "/".join(parts[1:])
    else:  # flat: <prefix>_assignsubmission_<plugin>_<filename>
        plugin = next((p for p in _KNOWN_PLUGINS if rest.startswith(p + "_")), rest.partition("_")[0])
        path, layout = rest[len(plugin) + 1:], "files_without_folders"
    if not _PLUGIN.match(plugin):
        return None
    return " ".join(match["name"].split()), match["id"], plugin, path, layout


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[A-Za-z0-9]+", ascii_text))[:60]


def _moodle_key(name: str, participant: str | None) -> str:
    """The student key of a Moodle folder: its number; a folder without one (the team of students in no
    group, named get_string('defaultteam')) gets a key from its name."""
    return participant if participant is not None else f"sin-id-{_slug(name) or 'x'}"


def _new_moodle_raw(name: str, participant: str | None) -> _Raw:
    if participant is None:
        key = _moodle_key(name, None)
        raw = _Raw(student=key, display_name=name or key, folder_name=name)
        raw.problems.append(msg("collect.no_participant_id", folder=name))
        return raw
    display = f"{name} {participant}" if name.casefold() in _PARTICIPANT_WORDS else (name or participant)
    return _Raw(student=participant, participant_id=participant, display_name=display, folder_name=name)


def _read_prado(source: Path, archive: zipfile.ZipFile | None, ignored: list[dict[str, Any]],
                layouts: set[str] | None = None) -> list[_Raw]:
    raws: dict[str, _Raw] = {}
    for name, size, reader, reason in _prado_members(source, archive):
        parts = name.replace("\\", "/").split("/")
        parsed = _parse_moodle_entry(parts)
        if parsed is None:
            ignored.append({"entry": name, "reason": reason or msg("collect.not_a_submission")})
            continue
        folder_name, participant, plugin, relative, layout = parsed
        if layouts is not None:
            layouts.add(layout)
        raw = raws.get(_moodle_key(folder_name, participant))
        if raw is None:
            raw = _new_moodle_raw(folder_name, participant)
            raws[raw.student] = raw
        if plugin != "file":
            raw.other_plugins.setdefault(plugin, []).append(relative or parts[0])
            continue  # online text, comments...: not files handed in; reported, not graded
        if reason is not None:
            raw.problems.append(msg("collect.refused_file", name=name, reason=reason))
            ignored.append({"entry": name, "reason": reason})
            continue
        if relative:
            raw.files.append(_File(relative, size, reader))
    return list(raws.values())


def _read_nbgrader(submitted: Path, assignment: str, ignored: list[dict[str, Any]]) -> list[_Raw]:
    raws = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        folder = student_dir / assignment
        if not folder.is_dir():
            continue
        raw = _Raw(student=student_dir.name, display_name=student_dir.name)
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raw.problems.append(msg("collect.refused_file", name=relative, reason=msg("collect.symlink")))
                ignored.append({"entry": str(path), "reason": msg("collect.symlink")})
            elif path.is_file() and relative != "timestamp.txt":
                raw.files.append(_File(relative, path.stat().st_size, _file_reader(path)))
        stamp = folder / "timestamp.txt"
        if stamp.is_file():
            text = stamp.read_text(encoding="utf-8", errors="replace").strip()
            raw.submitted_at = _parse_nbgrader_timestamp(text)
            if raw.submitted_at is None:
                raw.problems.append(msg("collect.bad_timestamp", value=repr(text[:60])))
        raws.append(raw)
    return raws


def _parse_nbgrader_timestamp(text: str) -> datetime | None:
    """nbgrader's own parser (naive times are UTC, as in nbgrader); None when it cannot be read."""
    from nbgrader.utils import parse_utc

    if not text:
        return None
    try:
        parsed = parse_utc(text)
    except (ValueError, OverflowError, TypeError, AttributeError):
        return None
    return parsed.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------------------- grading worksheet

_MONTHS = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
}
_ES_DATE = re.compile(r"(\d{1,2}) de (\w+) de (\d{4}),? (\d{1,2}):(\d{2})(?::(\d{2}))?", re.IGNORECASE)
_EN_DATE = re.compile(r"(\d{1,2}) (\w+),? (\d{4}),? (\d{1,2}):(\d{2})(?::(\d{2}))? ?([AP]M)?", re.IGNORECASE)


def parse_moodle_time(text: str, tz: timezone | Any) -> datetime | None:
    """A time as Moodle prints it in a worksheet ("lunes, 9 de junio de 2025, 23:59", "Monday, 9 June
    2025, 11:59 PM") or ISO 8601. Times without an offset are in ``tz``. Raises ValueError if unreadable.

    Moodle writes userdate(), i.e. langconfig's strftimedaydatetime: '%A, %d de %B de %Y, %H:%M' in 'es',
    '%A, %d %B %Y, %I:%M %p' in 'en' (day and 12-hour without a leading zero)."""
    text = " ".join(text.split())  # also no-break spaces (U+00A0, U+202F), which str.split() splits on
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None:
        for pattern in (_ES_DATE, _EN_DATE):
            match = pattern.search(text)
            if match and match[2].lower() in _MONTHS:
                hour = int(match[4])
                if pattern is _EN_DATE and match[7]:
                    hour = hour % 12 + (12 if match[7].upper() == "PM" else 0)
                parsed = datetime(int(match[3]), _MONTHS[match[2].lower()], int(match[1]), hour, int(match[5]),
                                  int(match[6] or 0))
                break
    if parsed is None:
        raise ValueError(f"unreadable date {text!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


# Column headers of the grading worksheet ("Descargar hoja de calificaciones"; mod/assign/gradingtable.php with
# mod/assign/feedback/offline): Moodle writes them in the downloading user's language. English from
# mod/assign/lang/en/assign.php and lang/en/moodle.php, Spanish from the 'es' language pack (AMOS):
#   'recordid'               Identifier                  Identificador
#   'fullname' (core)        Full name                   Nombre completo
#   'submissionteam'         Group                       Grupo              (team submissions only)
#   'lastmodifiedsubmission' Last modified (submission)  Última modificación (entrega)
# The identifier is get_string('hiddenuser') . uniqueid: "Participant 12345" / "Participante12345".
_WORKSHEET_COLUMNS = {
    "id": ("identifier", "identificador"),
    "group": ("group", "grupo"),
    "time": ("last modified (submission)", "última modificación (entrega)"),
    # what grader export fills in: 'grade', 'fullname' (core) and assignfeedback_comments' 'pluginname'
    "grade": ("grade", "calificación"),
    "name": ("full name", "nombre completo"),
    "feedback": ("feedback comments", "comentarios de retroalimentación"),
}


@dataclass
class WorksheetTable:
    """Moodle's grading worksheet as read: its rows (header first) and where each known column is."""
    path: Path
    rows: list[list[str]]
    columns: dict[str, int | None]

    @property
    def header(self) -> list[str]:
        return self.rows[0]


def read_worksheet_table(path: Path) -> WorksheetTable:
    """The worksheet's cells in any of the encodings and delimiters it comes in, and its known columns
    (``id``, ``time``, ``group``, ``grade``, ``name``, ``feedback``; None when absent) in either language."""
    path = Path(path)
    try:
        text = _decode_worksheet(path.read_bytes())
    except OSError as exc:
        raise GraderError(f"{path}: cannot read the worksheet ({exc.strerror or exc}); fix: give the CSV "
                          "Moodle downloads with 'Descargar hoja de calificaciones'") from None
    first_line = text.split("\n", 1)[0]
    # Moodle writes commas; Excel in a Spanish locale saves the same sheet with semicolons.
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        raise GraderError(f"{path}: empty worksheet; fix: download 'Descargar hoja de calificaciones' again")
    header = [_normalise_header(h) for h in rows[0]]
    columns = {key: next((header.index(n) for n in names if n in header), None)
               for key, names in _WORKSHEET_COLUMNS.items()}
    return WorksheetTable(path, rows, columns)


@dataclass
class _WorksheetRow:
    participant_id: str
    group: str | None
    submitted_at: datetime | None
    problem: Message | None


def _decode_worksheet(data: bytes) -> str:
    """Moodle writes UTF-8 (its CSV export may start with a BOM); a sheet saved again by Excel on
    Windows is Windows-1252 (or UTF-16 for "Unicode text")."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _normalise_header(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).replace("\ufeff", "").split()).casefold()


def _read_worksheet_rows(path: Path, tz: Any) -> tuple[list[_WorksheetRow], bool]:
    """Every row of Moodle's grading worksheet, and whether it has the team column."""
    table = read_worksheet_table(path)
    path, rows = table.path, table.rows
    id_col, time_col, group_col = table.columns["id"], table.columns["time"], table.columns["group"]
    if id_col is None or time_col is None:
        found = ", ".join(repr(h) for h in rows[0][:8]) or "none"
        raise GraderError(f"{path}: no 'Identificador'/'Identifier' and 'Última modificación (entrega)'/'Last "
                          f"modified (submission)' columns (found {found}); fix: use the grading worksheet Moodle "
                          "downloads for this assignment ('Descargar hoja de calificaciones'), as a CSV file")
    result = []
    for row in rows[1:]:
        if len(row) <= max(id_col, time_col):
            continue
        match = re.search(r"(\d+)\s*$", row[id_col])
        if not match:
            continue
        group = " ".join(row[group_col].split()) if group_col is not None and group_col < len(row) else None
        value = " ".join(row[time_col].split())
        submitted_at, problem = None, None
        if value not in ("", "-"):
            try:
                submitted_at = parse_moodle_time(value, tz)
            except ValueError:
                problem = msg("collect.bad_worksheet_date", value=repr(value))
        result.append(_WorksheetRow(match[1], group, submitted_at, problem))
    return result, group_col is not None


def read_worksheet(path: Path, tz: Any = timezone.utc) -> dict[str, tuple[datetime | None, Message | None]]:
    """participant id -> (submission time or None, problem message or None) from Moodle's grading worksheet."""
    rows, _ = _read_worksheet_rows(path, tz)
    return {row.participant_id: (row.submitted_at, row.problem) for row in rows}


def _moodle_clean_name(text: str) -> str:
    """A name as it appears in Moodle's download folders (clean_filename of the name with '_' made ' '),
    compared without case."""
    cleaned = re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", unicodedata.normalize("NFC", text).replace("_", " "))
    return " ".join(cleaned.split()).casefold()


def _apply_worksheet(raws: list[_Raw], worksheet: Path, tz: Any) -> None:
    """Submission times from the worksheet. A team submission's folder carries the group id, not a
    participant id: with a team column, a folder named after a group takes its members' time and
    keeps no participant id (its grade cannot be exported to one participant)."""
    rows, has_groups = _read_worksheet_rows(worksheet, tz)
    by_id = {row.participant_id: row for row in rows}
    by_group: dict[str, list[_WorksheetRow]] = {}
    if has_groups:
        for row in rows:
            if row.group:
                by_group.setdefault(_moodle_clean_name(row.group), []).append(row)
    for raw in raws:
        members = by_group.get(_moodle_clean_name(raw.folder_name or "")) if raw.folder_name else None
        if members:
            times = [m.submitted_at for m in members if m.submitted_at is not None]
            raw.submitted_at = max(times) if times else None
            for problem in (m.problem for m in members if m.problem):
                if problem not in raw.problems:  # one unreadable date shared by the team: said once
                    raw.problems.append(problem)
            ids = ", ".join(m.participant_id for m in members)
            raw.problems.append(msg("collect.team_submission", group=members[0].group, ids=ids))
            raw.participant_id = None
        elif raw.participant_id in by_id:
            row = by_id[raw.participant_id]
            raw.submitted_at = row.submitted_at
            if row.problem:
                raw.problems.append(row.problem)


# ------------------------------------------------------------------------------------ late policy

def deadline_of(config: AssignmentConfig) -> datetime | None:
    if not config.late.deadline:
        return None
    deadline = datetime.fromisoformat(config.late.deadline)
    if deadline.tzinfo is None:
        raise ConfigError(f"late.deadline {config.late.deadline!r} has no UTC offset; fix: write it like "
                          "2025-06-09T23:59:00+02:00")
    return deadline


def late_assessment(config: AssignmentConfig, submitted_at: datetime | None) -> tuple[int, float, bool]:
    """(started days late, penalty points, too late to be graded) of a submission time."""
    deadline = deadline_of(config)
    if deadline is None or submitted_at is None or submitted_at <= deadline:
        return 0, 0.0, False
    days = math.ceil((submitted_at - deadline) / timedelta(days=1))
    if days > config.late.max_days_late:
        return days, 0.0, True
    return days, round(days * config.late.penalty_per_day, 4), False


# ----------------------------------------------------------------------------------------- collect

def _is_noise(path: str) -> bool:
    parts = path.split("/")
    return any(p in _NOISE_PARTS for p in parts) or parts[-1].startswith("._")


def _safe_student_id(student: str) -> bool:
    return bool(_SAFE_ID.match(student)) and student not in (".", "..")


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _validate(raw: _Raw, config: AssignmentConfig, out_dir: Path) -> Submission:
    problems: list[Message] = list(raw.problems)
    notebooks = [f for f in raw.files if f.path.lower().endswith(".ipynb") and not _is_noise(f.path)]
    extra = [f.path for f in raw.files if f not in notebooks]
    for name in extra:
        problems.append(msg("collect.extra_file", name=name))
    for plugin, entries in sorted(raw.other_plugins.items()):  # online text, ...: reported, never graded
        shown: Message | str = ", ".join(f"'{e}'" for e in entries[:3])
        if len(entries) > 3:
            shown = msg("collect.more_entries", entries=shown, more=len(entries) - 3)
        problems.append(msg("collect.other_plugin", plugin=plugin, entries=shown))
    target = out_dir / raw.student / f"{config.name}.ipynb"
    notebook_path: Path | None = None
    original = None
    if not notebooks:
        status = MISSING_NOTEBOOK
        problems.append(msg("collect.no_notebook"))
    elif len(notebooks) > 1:
        status = MULTIPLE_NOTEBOOKS
        names = ", ".join(f"'{f.path}'" for f in notebooks)
        problems.append(msg("collect.several_notebooks", count=len(notebooks), names=names))
    else:
        status = OK
        original = notebooks[0].path
        limit = config.limits.file_size_mb * 1024 * 1024
        try:
            data = notebooks[0].read(limit + 1) if notebooks[0].size <= limit else b""
        except _Unreadable as exc:  # a damaged or encrypted zip member: only this student is affected
            status, data = INVALID_NOTEBOOK, None
            problems.append(msg("collect.unreadable_notebook", name=original, reason=exc.reason))
        if data is not None and (notebooks[0].size > limit or len(data) > limit):
            status = INVALID_NOTEBOOK
            problems.append(msg("collect.notebook_too_large", name=original, size_mb=config.limits.file_size_mb))
        elif data is not None:
            _write_bytes_atomic(target, data)
            notebook_path = target
    if notebook_path is None and target.exists():
        target.unlink()  # a stale copy from an earlier collection must not be graded

    late_days, penalty, too_late = late_assessment(config, raw.submitted_at)
    if status == OK and too_late:
        status = TOO_LATE
        problems.append(msg("collect.too_late", n=late_days, most=config.late.max_days_late))
    elif status == OK and late_days:
        status = LATE
        problems.append(msg("collect.late", n=late_days, points=_points(penalty)))
    if status not in GRADABLE:
        penalty = 0.0
    return Submission(student=raw.student, display_name=raw.display_name, notebook=notebook_path,
                      submitted_at=raw.submitted_at, extra_files=tuple(extra), problems=tuple(problems),
                      late_days=late_days, late_penalty=penalty, status=status,
                      participant_id=raw.participant_id, original_name=original)


def _points(value: float) -> Message:
    """``value`` points, as a message: "1 punto", "0,5 puntos" (only exactly 1 takes the singular)."""
    return msg("collect.points", n=1 if value == 1 else 2, points=value)


def collect(source: Path, config: AssignmentConfig, out_dir: Path, *, worksheet: Path | None = None) -> list[Submission]:
    """Validate every submission in ``source`` and copy each notebook to ``out_dir/<student>/<assignment>.ipynb``.

    ``source``: a PRADO/Moodle "download all submissions" zip or its extracted folder, or an nbgrader
    course folder (or its ``submitted/`` folder). ``worksheet``: Moodle's grading worksheet CSV for the
    same assignment, the only place PRADO submission times come from. Writes ``out_dir/submissions.json``.
    """
    source, out_dir = Path(source), Path(out_dir)
    if not source.exists():
        raise GraderError(f"{source}: no such file or folder; fix: give the submissions zip or the nbgrader course folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    ignored: list[dict[str, Any]] = []
    layouts: set[str] = set()
    with contextlib.ExitStack() as stack:
        if source.is_file():
            try:
                archive = stack.enter_context(zipfile.ZipFile(source))
            except OSError as exc:
                raise GraderError(f"{source}: cannot open the submissions ({exc.strerror or exc}); fix: check the "
                                  "file's permissions, or download it again") from None
            except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
                raise GraderError(_not_a_zip(source, exc)) from None
            kind, raws = "prado_zip", _read_prado(source, archive, ignored, layouts)
        elif (source / "submitted").is_dir():
            kind, raws = "nbgrader", _read_nbgrader(source / "submitted", config.name, ignored)
        elif any(_MOODLE_ENTRY.match(p.name) for p in source.iterdir()):
            kind, raws = "prado_folder", _read_prado(source, None, ignored, layouts)
        else:
            kind, raws = "nbgrader", _read_nbgrader(source, config.name, ignored)
        submissions = _finish(raws, kind, source, config, out_dir, ignored, worksheet)
    for entry in ignored:  # the reason in the assignment's language, and its key form
        reason = entry["reason"]
        entry.update(reason=render(reason, config.language), text=reason.to_dict())
        log.warning("ignored %r: %s", entry["entry"], entry["reason"])
    extra: dict[str, Any] = {"layouts": sorted(layouts)} if layouts else {}
    write_submissions(out_dir, config.name, submissions, source=str(source), kind=kind, ignored=ignored, **extra)
    return submissions


def _not_a_zip(source: Path, exc: BaseException) -> str:
    """One line naming the file, what it is instead of a zip, and the fix."""
    try:
        with source.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        head = b""
    fix = ("fix: in Moodle/PRADO open the assignment, 'Ver todas las entregas' -> 'Descargar todas las entregas', "
           "and give that .zip (or the folder it extracts to)")
    if not head:
        what = "the file is empty"
    elif head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<"):
        what = "it is a web page, not a zip (an expired Moodle session or an error page saved instead of the download)"
    elif head.startswith(b"Rar!"):
        what = "it is a RAR archive"
    elif head.startswith(b"7z\xbc\xaf\x27\x1c"):
        what = "it is a 7-Zip archive"
    elif head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        what = "it is a compressed tar/gzip/bzip2/xz file"
    elif head.startswith(b"PK"):
        what = f"the zip is cut off or damaged ({exc}); the download was probably interrupted"
    else:
        what = f"it is not a zip file ({exc})"
    return f"{source}: cannot read the submissions: {what}; {fix}"


def _finish(raws: list[_Raw], kind: str, source: Path, config: AssignmentConfig, out_dir: Path,
            ignored: list[dict[str, Any]], worksheet: Path | None) -> list[Submission]:
    """Submission times from the worksheet, then one validated Submission per safely named student."""
    if worksheet is not None:
        deadline = deadline_of(config)
        _apply_worksheet(raws, worksheet, deadline.tzinfo if deadline else timezone.utc)
    elif kind.startswith("prado") and deadline_of(config) is not None:
        log.warning("%s: a PRADO download carries no submission times; pass the grading worksheet "
                    "(--worksheet) to apply the late policy", source)

    submissions = []
    for raw in sorted(raws, key=lambda r: r.student):
        if not _safe_student_id(raw.student):
            ignored.append({"entry": raw.student, "reason": msg("collect.bad_student_id")})
            continue
        submissions.append(_validate(raw, config, out_dir))
    return submissions


def write_submissions(out_dir: Path, assignment: str, submissions: list[Submission], **extra: Any) -> Path:
    data = {"assignment": assignment, "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **extra, "submissions": [s.to_dict(base=out_dir) for s in submissions]}
    return write_json_atomic(out_dir / SUBMISSIONS_FILE, data)


def load_submissions(submissions_dir: Path, assignment: str | None = None) -> list[Submission]:
    """The submissions ``collect`` wrote; without ``submissions.json``, every ``<student>/<assignment>.ipynb``."""
    submissions_dir = Path(submissions_dir)
    index = submissions_dir / SUBMISSIONS_FILE
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        if assignment is not None and data.get("assignment") not in (None, assignment):
            raise GraderError(f"{index}: collected for {data.get('assignment')!r}, not {assignment!r}; "
                              "fix: point --submissions at this assignment's folder")
        return [Submission.from_dict(s, base=submissions_dir) for s in data["submissions"]]
    if assignment is None or not submissions_dir.is_dir():
        raise GraderError(f"{index}: missing; fix: run 'grader collect' first")
    found = sorted(submissions_dir.glob(f"*/{assignment}.ipynb"))
    if not found:
        raise GraderError(f"{submissions_dir}: neither {SUBMISSIONS_FILE} nor */{assignment}.ipynb; "
                          "fix: run 'grader collect' first")
    return [Submission(student=p.parent.name, display_name=p.parent.name, notebook=p, submitted_at=None)
            for p in found if _safe_student_id(p.parent.name)]


__all__ = ["Submission", "collect", "problem_of", "render_problems", "load_submissions", "write_submissions", "late_assessment", "read_worksheet",
           "parse_moodle_time", "GRADABLE", "OK", "LATE", "TOO_LATE",
           "MISSING_NOTEBOOK", "MULTIPLE_NOTEBOOKS", "INVALID_NOTEBOOK"]
