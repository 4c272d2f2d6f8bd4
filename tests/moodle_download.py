"""Build Moodle "Download all submissions" zips and grading worksheets by Moodle's own rules.

Test fixtures for ``grader collect``, made from (full name, participant id, plugin, files) records by
applying the naming code of Moodle itself, not by reusing the grader's parser:

* ``clean_filename``/``clean_path``: lib/moodlelib.php, ``clean_filename()`` is
  ``clean_param($s, PARAM_FILE)``: drop control characters and ``& < > " ` | ' : \\ /``; ``.`` and
  ``..`` become empty. ``PARAM_PATH`` turns ``\\`` into ``/``, cleans each segment with
  ``PARAM_FILE`` and collapses ``//`` and ``/./``.
* ``entry_name``: Moodle 4.1+, mod/assign/classes/downloader.php (``get_student_prefix()``,
  ``load_submissionplugin_filelist()``)::

      prefix = clean_filename(str_replace('_', ' ', $fullname) . '_' . $uniqueid)
      folders: clean_param(clean_filename($prefix . '_' . $subtype . '_' . $type) . $file->get_filepath()
                           . $zipfilename, PARAM_PATH)          # other plugins: . '/' . $zipfilename
      flat:    clean_filename($prefix . '_' . $subtype . '_' . $type . '_' . $zipfilename)

  ``$fullname`` is get_string('participant', 'mod_assign') under blind marking; a team submission
  uses the group name and ``'_' . $groupid`` (no id for students in no group, named
  get_string('defaultteam')). Moodle 3.1-4.0 (mod/assign/locallib.php, ``download_submissions()``)
  added ``'_'`` to the folder name (``..._assignsubmission_file_/``) and, for teams, wrote one folder
  per member named ``'<group>-<full name>_<uniqueid>'``.
* ``worksheet_csv``: the grading worksheet (mod/assign/gradingtable.php, downloaded by
  mod/assign/feedback/offline): headers from the language strings, identifier
  ``get_string('hiddenuser') . uniqueid``, times by ``userdate()`` with langconfig's
  ``strftimedaydatetime``.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

# get_string() values used by the downloader and the grading table: mod/assign/lang/en/assign.php,
# lang/en/moodle.php, lang/en/langconfig.php, and the same identifiers in the AMOS 'es' language pack.
STRINGS = {
    "en": {"participant": "Participant", "hiddenuser": "Participant ", "defaultteam": "Default group",
           "recordid": "Identifier", "fullname": "Full name", "email": "Email address", "status": "Status",
           "submissionteam": "Group", "grade": "Grade", "maxgrade": "Maximum grade",
           "gradecanbechanged": "Grade can be changed", "lastmodifiedsubmission": "Last modified (submission)",
           "lastmodifiedgrade": "Last modified (grade)", "feedback": "Feedback comments",
           "submitted": "Submitted for grading", "nosubmission": "No submission", "yes": "Yes"},
    "es": {"participant": "Participante", "hiddenuser": "Participante", "defaultteam": "Grupo predeterminado",
           "recordid": "Identificador", "fullname": "Nombre completo", "email": "Dirección de correo",
           "status": "Estado", "submissionteam": "Grupo", "grade": "Calificación", "maxgrade": "Calificación máxima",
           "gradecanbechanged": "La calificación puede ser cambiada",
           "lastmodifiedsubmission": "Última modificación (entrega)",
           "lastmodifiedgrade": "Última modificación (calificación)",
           "feedback": "Comentarios de retroalimentación", "submitted": "Enviado para calificar",
           "nosubmission": "Sin entrega", "yes": "Sí"},
}
_DAYS = {"en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
         "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]}
_MONTHS = {"en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December"],
           "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                  "octubre", "noviembre", "diciembre"]}


def clean_filename(text: str) -> str:
    """moodlelib.php: clean_param($text, PARAM_FILE) (NUL bytes are dropped by fix_utf8)."""
    text = re.sub(r"[\x00-\x1f\x7f]|[&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def clean_path(text: str) -> str:
    """moodlelib.php: clean_param($text, PARAM_PATH)."""
    crumbs = text.replace("\\", "/").split("/")
    crumbs = [c if (c == "." and i == 0) else clean_filename(c) for i, c in enumerate(crumbs)]
    path = re.sub(r"//+", "/", "/".join(crumbs))
    return re.sub(r"/(\./)+", "/", path)


@dataclass
class Record:
    """What one submission plugin holds for one student (or team): ``files`` maps the path in Moodle's
    file area ("practica3.ipynb", "sub/dir/x.ipynb") to the bytes."""

    fullname: str                       # a person, or a group name for team submissions
    uniqueid: int | None                # participant id (assign_user_mapping), or group id; None: no group
    files: dict[str, bytes | str] = field(default_factory=dict)
    plugin: str = "file"                # "file", "onlinetext", ...


def student_prefix(fullname: str, uniqueid: int | None) -> str:
    """get_student_prefix(): same formula for people, 'Participant' and groups (4.1+)."""
    suffix = "" if uniqueid is None else f"_{uniqueid}"
    return clean_filename(fullname.replace("_", " ") + suffix)


def entry_names(record: Record, *, version: str = "4.1", folders: bool = True) -> dict[str, bytes]:
    """zip member name -> bytes for one record, as the downloader of ``version`` ("4.1" or "3.1") names them."""
    prefix = student_prefix(record.fullname, record.uniqueid)
    plugin_prefix = f"{prefix}_assignsubmission_{record.plugin}"
    out: dict[str, bytes] = {}
    for path, data in record.files.items():
        data = data.encode() if isinstance(data, str) else data
        pure = PurePosixPath(path)
        filename = pure.name
        if folders:
            folder = clean_filename(plugin_prefix + ("_" if version == "3.1" else ""))
            if record.plugin == "file":
                filepath = "/" if str(pure.parent) == "." else f"/{pure.parent}/"
                name = clean_path(folder + filepath + filename)
            else:
                name = clean_path(folder + "/" + filename)
        else:  # get_files() with exportfullpath = false: keyed by file name only, later ones win
            name = clean_filename(f"{plugin_prefix}_{filename}")
        out[name] = data
    return out


class _FlaglessInfo(zipfile.ZipInfo):
    """A member whose UTF-8 name is written without the zip UTF-8 flag, as PHP's ZipArchive does."""

    def _encodeFilenameFlags(self):  # noqa: N802 (zipfile's name)
        return self.filename.encode("utf-8"), self.flag_bits


def build_zip(path: Path, records: list[Record], *, version: str = "4.1", folders: bool = True,
              utf8_flag: bool = False, damaged: dict[str, str] | None = None) -> list[str]:
    """Write the download; ``damaged`` maps member names to "crc", "truncated" or "encrypted". Returns
    the member names in the order written."""
    members: dict[str, bytes] = {}
    for record in records:
        members.update(entry_names(record, version=version, folders=folders))
    damaged = damaged or {}
    infos: dict[str, zipfile.ZipInfo] = {}
    originals: dict[str, tuple[int, int]] = {}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = (zipfile.ZipInfo if utf8_flag else _FlaglessInfo)(name, date_time=(2025, 6, 9, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if damaged.get(name) == "truncated":
                # Half of the raw deflate stream, stored; the headers are patched below to say "deflated,
                # this CRC, this size", as in a member whose data was cut off.
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
                stream = compressor.compress(data) + compressor.flush()
                info.compress_type = zipfile.ZIP_STORED
                originals[name] = (zlib.crc32(data), len(data))
                data = stream[: len(stream) // 2]
            archive.writestr(info, data)
            infos[name] = info
    if damaged:
        _patch(path, {infos[n].header_offset: (how, originals.get(n)) for n, how in damaged.items()})
    return list(members)


def _patch(path: Path, targets: dict[int, tuple[str, tuple[int, int] | None]]) -> None:
    """Edit local and central headers in place (offsets from PKWARE's APPNOTE, section 4.3.7 and 4.3.12)."""
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HII", raw, end + 10)
    central, position = {}, start
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, position + 28)
        central[struct.unpack_from("<I", raw, position + 42)[0]] = position
        position += 46 + name_len + extra_len + comment_len
    for local, (how, original) in targets.items():
        cd = central[local]
        if how == "encrypted":
            for offset in (local + 6, cd + 8):
                struct.pack_into("<H", raw, offset, struct.unpack_from("<H", raw, offset)[0] | 0x1)
        elif how == "crc":
            for offset in (local + 14, cd + 16):
                struct.pack_into("<I", raw, offset, struct.unpack_from("<I", raw, offset)[0] ^ 0xFFFFFFFF)
        elif how == "truncated":
            crc, size = original
            for method_at, crc_at, size_at in ((local + 8, local + 14, local + 22), (cd + 10, cd + 16, cd + 24)):
                struct.pack_into("<H", raw, method_at, zipfile.ZIP_DEFLATED)
                struct.pack_into("<I", raw, crc_at, crc)
                struct.pack_into("<I", raw, size_at, size)
        else:
            raise ValueError(how)
    path.write_bytes(bytes(raw))


def userdate(when: datetime, lang: str) -> str:
    """userdate() with langconfig's strftimedaydatetime ('%A, %d %B %Y, %I:%M %p' in en, '%A, %d de %B de
    %Y, %H:%M' in es); userdate() drops the leading zero of %d and of %I."""
    day, month = _DAYS[lang][when.weekday()], _MONTHS[lang][when.month - 1]
    if lang == "es":
        return f"{day}, {when.day} de {month} de {when.year}, {when:%H:%M}"
    hour = when.hour % 12 or 12
    return f"{day}, {when.day} {month} {when.year}, {hour}:{when:%M} {'AM' if when.hour < 12 else 'PM'}"


@dataclass
class Row:
    uniqueid: int
    fullname: str
    submitted_at: datetime | str | None   # a str is written as is (an unreadable date)
    group: str | None = None


def worksheet_csv(rows: list[Row], *, lang: str = "es", team: bool = False, encoding: str = "utf-8",
                  bom: bool = False, delimiter: str = ",") -> bytes:
    """The grading worksheet's columns in gradingtable.php's order (one extra user field, no marking
    workflow), one row per participant."""
    s = STRINGS[lang]
    header = [s["recordid"], s["fullname"], s["email"], s["status"], *([s["submissionteam"]] if team else []),
              s["grade"], s["maxgrade"], s["gradecanbechanged"], s["lastmodifiedsubmission"],
              s["lastmodifiedgrade"], s["feedback"]]
    lines = [header]
    for row in rows:
        when = row.submitted_at
        shown = "-" if when is None else (when if isinstance(when, str) else userdate(when, lang))
        status = s["nosubmission"] if when is None else s["submitted"]
        lines.append([f"{s['hiddenuser']}{row.uniqueid}", row.fullname, f"u{row.uniqueid}@correo.ugr.es", status,
                      *([row.group or ""] if team else []), "", "10,00", s["yes"], shown, "-", ""])

    def quote(value: str) -> str:
        return f'"{value}"' if any(c in value for c in (delimiter, '"', "\n")) else value

    text = "\r\n".join(delimiter.join(quote(v) for v in line) for line in lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
