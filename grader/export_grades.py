"""Grade exports from the gradebook: Moodle/PRADO worksheet CSV, a plain CSV, one JSON per student.

Totals come from nbgrader (automatic checks + manual parts graded in the formgrader, with any manual
override of an automatic cell), minus the late penalty, never below 0.

Moodle: the assignment's "Subir hoja de calificaciones" (offline grading worksheet, assignfeedback_offline)
finds its columns by their translated names and requires three: "Identificador" (``Participante<id>``,
the participant id from the download's folder names; Moodle strips the translated word "Participante"
and looks the number up), "Calificación" and "Última modificación (calificación)" (a grade changed in
Moodle after that time is not overwritten unless "Ignorar fecha de última modificación" is ticked).
``lang="en"`` writes the English names for an English Moodle. Only students whose grade is complete
(no manual part still waiting in the formgrader) are written, unless ``include_incomplete``.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.collect import render_problems
from grader.config import AssignmentConfig
from grader.gradebook import FINISHED, load_results, notebook_name, open_gradebook
from grader.i18n import Message, msg
from grader.records import GradeResult, write_json_atomic

MOODLE_COLUMNS = {
    # identifier, full name, grade, last modified (grade), participant prefix (Moodle's 'hiddenuser' string)
    "es": ("Identificador", "Nombre completo", "Calificación", "Última modificación (calificación)", "Participante"),
    "en": ("Identifier", "Full name", "Grade", "Last modified (grade)", "Participant "),
}
# The feedback comments plugin's column (assignfeedback_comments 'pluginname'): Moodle imports it as the
# student's feedback comment when that plugin is enabled in the assignment.
MOODLE_FEEDBACK_COLUMN = {"es": "Comentarios de retroalimentación", "en": "Feedback comments"}


@dataclass
class GradeRow:
    student: str
    display_name: str
    participant_id: str | None
    status: str                      # collect's submission status (ok, late, too_late, ...)
    state: str                       # finished / error
    score: float                     # automatic score after the late penalty (GradeResult.score)
    max_score: float                 # automatic maximum
    checks: dict[str, float] = field(default_factory=dict)
    manual: dict[str, float | None] = field(default_factory=dict)   # None: not graded yet
    late_days: int = 0
    late_penalty: float = 0.0
    total: float | None = None       # nbgrader total - late penalty; None when there is no nbgrader grade
    total_max: float = 0.0
    needs_manual_grade: bool = False
    comments: dict[str, str] = field(default_factory=dict)  # cell -> the formgrader's comment, in cell order
    problems: list[str] = field(default_factory=list)
    result: GradeResult | None = None

    @property
    def complete(self) -> bool:
        return self.state == FINISHED and self.total is not None and not self.needs_manual_grade


def grade_rows(db_url: str, config: AssignmentConfig) -> list[GradeRow]:
    """One row per student with a stored result, joining our result JSON with nbgrader's totals."""
    from nbgrader.api import MissingEntry

    stored = load_results(db_url, config.name)
    rows = []
    with open_gradebook(db_url) as gradebook:
        notebook = notebook_name(config)
        for student in sorted(stored):
            item = stored[student]
            submission = item.submission or {}
            row = GradeRow(
                student=student, display_name=submission.get("display_name") or student,
                participant_id=submission.get("participant_id"), status=submission.get("status", ""),
                state=item.state, score=item.result.score, max_score=item.result.max_score,
                checks={c.name: c.points for c in item.result.checks if c.name in config.checks},
                late_days=int(submission.get("late_days", 0)), late_penalty=item.result.late_penalty,
                total_max=config.total_points, result=item.result,
                problems=render_problems(submission.get("problems"), config.language))
            try:
                graded = gradebook.find_submission(config.name, student)
            except MissingEntry:
                graded = None
            if graded is not None:
                penalty = graded.late_submission_penalty or 0.0
                row.total = round(max(graded.score - penalty, 0.0), 4)
                row.needs_manual_grade = bool(graded.needs_manual_grade)
                for part in config.manual.values():
                    try:
                        grade = gradebook.find_grade(part.grade_id, notebook, config.name, student)
                    except MissingEntry:
                        row.manual[part.grade_id] = None
                        continue
                    row.manual[part.grade_id] = None if grade.needs_manual_grade else grade.score
                row.comments = _comments(gradebook, config, student)
            rows.append(row)
    return rows


def _comments(gradebook, config: AssignmentConfig, student: str) -> dict[str, str]:
    """The instructor's comments typed in the formgrader for this student's notebook, in cell order."""
    from nbgrader.api import MissingEntry

    try:
        submitted = gradebook.find_submission_notebook(notebook_name(config), config.name, student)
    except MissingEntry:
        return {}
    order = {cell.name: index for index, cell in enumerate(submitted.notebook.source_cells)}
    comments = sorted((c for c in submitted.comments if (c.manual_comment or "").strip()),
                      key=lambda c: (order.get(c.name, len(order)), c.name))
    return {c.name: c.manual_comment.strip() for c in comments}


def feedback_text(row: GradeRow) -> str:
    """The comments of a row for Moodle's feedback comments column, which holds HTML (the comment
    editor's text): one ``<p><cell>: <comment></p>`` per commented cell."""
    from html import escape

    return "".join(f"<p>{escape(name)}: {escape(text).replace(chr(10), '<br>')}</p>" for name, text in row.comments.items())


def _write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding=encoding, newline="")
    os.replace(temporary, path)
    return path


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def moodle_grade(row: GradeRow, *, scale_to: float | None = None, total_max: float | None = None,
                 include_incomplete: bool = False) -> tuple[float | None, Message | None]:
    """(the grade Moodle gets, rounded to 2 decimals, or None; why it is left out)."""
    if not row.participant_id:
        return None, msg("export.no_participant_id_prado")
    if row.state != FINISHED or row.total is None:
        return None, msg("export.no_final_grade")
    if row.needs_manual_grade and not include_incomplete:
        return None, msg("export.manual_pending")
    grade = row.total
    if scale_to is not None:
        grade = grade * scale_to / (total_max or row.total_max)
    return round(grade, 2), None


def write_moodle_csv(rows: list[GradeRow], path: Path, *, lang: str = "es", scale_to: float | None = None,
                     total_max: float | None = None, include_incomplete: bool = False) -> tuple[Path, dict[str, Message]]:
    """Moodle's grading worksheet format; returns the path and {student: why it was left out}.

    ``scale_to``: the assignment's maximum grade in Moodle when it differs from ``total_max``
    (the assignment's points, 10 for Práctica 3). The formgrader's comments go to the feedback
    comments column. With the worksheet downloaded from Moodle, :func:`fill_moodle_worksheet` writes
    into its own rows and headers instead."""
    identifier, full_name, grade_col, modified_col, prefix = MOODLE_COLUMNS[lang]
    modified = datetime.now(timezone.utc).isoformat(timespec="seconds")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([identifier, full_name, grade_col, modified_col, MOODLE_FEEDBACK_COLUMN[lang]])
    left_out: dict[str, Message] = {}
    for row in rows:
        grade, why = moodle_grade(row, scale_to=scale_to, total_max=total_max, include_incomplete=include_incomplete)
        if grade is None:
            left_out[row.student] = why
        else:
            writer.writerow([f"{prefix}{row.participant_id}", row.display_name, _number(grade), modified,
                             feedback_text(row)])
    return _write_text_atomic(path, buffer.getvalue()), left_out


def fill_moodle_worksheet(rows: list[GradeRow], worksheet: Path, path: Path, *, scale_to: float | None = None,
                          total_max: float | None = None,
                          include_incomplete: bool = False) -> tuple[Path, dict[str, Message], list[str]]:
    """Moodle's own grading worksheet (downloaded by the instructor) with its grade and feedback comments
    cells filled in, in its own headers, language and row order; returns the path, {student: why left out}
    and the sheet's identifiers that have no result here (left as they were).

    The sheet is read as ``grader collect`` reads it (:func:`grader.collect.read_worksheet_table`: any
    language, encoding or delimiter) and written as Moodle's upload reads it: UTF-8, commas. A grade's
    decimal separator is the one the sheet itself uses (``10,00`` in Spanish). Without a feedback
    comments column (the plugin is off in the assignment) the comments are left out."""
    import re

    from grader.collect import read_worksheet_table
    from grader.errors import GraderError

    table = read_worksheet_table(worksheet)
    id_col, grade_col, feedback_col = table.columns["id"], table.columns["grade"], table.columns["feedback"]
    if id_col is None or grade_col is None:
        raise GraderError(f"{worksheet}: no 'Identificador'/'Identifier' and 'Calificación'/'Grade' columns; fix: "
                          "download the grading worksheet again ('Descargar hoja de calificaciones')")
    comma = any(re.fullmatch(r"-?\d+,\d+", cell.strip()) for line in table.rows[1:] for cell in line)
    by_participant = {row.participant_id: row for row in rows if row.participant_id}
    left_out: dict[str, Message] = {}
    unmatched: list[str] = []
    seen: set[str] = set()
    width = len(table.header)
    out = [list(table.header)]
    for line in table.rows[1:]:
        line = list(line) + [""] * (width - len(line))
        match = re.search(r"(\d+)\s*$", line[id_col]) if id_col < len(line) else None
        row = by_participant.get(match[1]) if match else None
        if row is None:
            if match:
                unmatched.append(line[id_col])
        else:
            seen.add(row.participant_id)
            grade, why = moodle_grade(row, scale_to=scale_to, total_max=total_max,
                                      include_incomplete=include_incomplete)
            if grade is None:
                left_out[row.student] = why
            else:
                text = f"{grade:.2f}"
                line[grade_col] = text.replace(".", ",") if comma else text
                if feedback_col is not None and row.comments:
                    line[feedback_col] = feedback_text(row)
        out.append(line)
    for row in rows:
        if row.participant_id and row.participant_id not in seen:
            left_out[row.student] = msg("export.not_in_worksheet")
        elif not row.participant_id:
            left_out.setdefault(row.student, msg("export.no_participant_id"))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(out)
    return _write_text_atomic(path, buffer.getvalue()), left_out, unmatched


def moodle_clean_filename(text: str) -> str:
    """Moodle's ``clean_filename`` (``clean_param(PARAM_FILE)``): control characters and ``& < > " ` | ' : \\ /``
    dropped."""
    import re

    text = re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def moodle_feedback_folder(full_name: str, participant_id: str) -> str:
    """The folder Moodle's "Download all submissions" gives a student (mod/assign/classes/downloader.php,
    4.1+) and that its feedback zip upload (assignfeedback_file importziplib.php) matches: a path part
    whose ``_``-separated fields are full name, participant id, ``assignsubmission``, ``file``. The name's
    own ``_`` become spaces, as Moodle does, or the participant id would not be the second field."""
    return moodle_clean_filename(f"{full_name.replace('_', ' ')}_{participant_id}") + "_assignsubmission_file"


def write_feedback_zip(rows: list[GradeRow], path: Path, reports: dict[str, Path], *,
                       names: dict[str, str] | None = None, file_name: str = "informe.html") -> tuple[Path, dict[str, Message]]:
    """A zip for Moodle's "Upload multiple feedback files in a zip": one HTML report per student at
    ``<Full Name>_<participant id>_assignsubmission_file/<file_name>``. ``reports``: student -> HTML
    report; ``names``: participant id -> full name as in Moodle (the worksheet's), else the row's name.
    Returns the path and {student: why left out}."""
    import zipfile

    left_out: dict[str, Message] = {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            report = reports.get(row.student)
            if not row.participant_id:
                left_out[row.student] = msg("export.no_participant_id")
            elif report is None or not Path(report).is_file():
                left_out[row.student] = msg("export.no_report")
            else:
                name = (names or {}).get(row.participant_id) or row.display_name
                archive.write(report, f"{moodle_feedback_folder(name, row.participant_id)}/{file_name}")
    os.replace(temporary, path)
    return path, left_out


def write_plain_csv(rows: list[GradeRow], path: Path, config: AssignmentConfig) -> Path:
    """student, score, max, per-check points, manual parts, late penalty, status, problems."""
    check_names = list(config.checks)
    manual_ids = [part.grade_id for part in config.manual.values()]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "display_name", "participant_id", "status", "state", "score", "max_score",
                     *check_names, *manual_ids, "late_days", "late_penalty", "total", "total_max",
                     "needs_manual_grade", "problems"])
    for row in rows:
        writer.writerow([row.student, row.display_name, row.participant_id or "", row.status, row.state,
                         _number(row.score), _number(row.max_score),
                         *(_number(row.checks.get(name)) for name in check_names),
                         *(_number(row.manual.get(grade_id)) for grade_id in manual_ids),
                         row.late_days, _number(row.late_penalty), _number(row.total), _number(row.total_max),
                         "yes" if row.needs_manual_grade else "no", " | ".join(row.problems)])
    return _write_text_atomic(path, buffer.getvalue(), encoding="utf-8-sig")  # BOM: Excel reads the accents


def student_json(result: GradeResult, lang: str, config: AssignmentConfig | None = None) -> dict[str, Any]:
    """Gradescope's results schema from grader.report when that module is installed, else our result JSON."""
    try:
        from grader.report import gradescope_json
    except ImportError:
        return result.to_dict()
    return gradescope_json(result, lang, config=config)


def write_student_jsons(rows: list[GradeRow], out_dir: Path, *, lang: str = "es",
                        config: AssignmentConfig | None = None) -> dict[str, list[Path]]:
    """``results/<student>.json`` (our GradeResult: what ``grader feedback --results`` reads) and
    ``gradescope/<student>.json`` (Gradescope's results schema)."""
    paths: dict[str, list[Path]] = {"results": [], "gradescope": []}
    for row in rows:
        if row.result is None:
            continue
        paths["results"].append(write_json_atomic(Path(out_dir) / "results" / f"{row.student}.json",
                                                  row.result.to_dict()))
        paths["gradescope"].append(write_json_atomic(Path(out_dir) / "gradescope" / f"{row.student}.json",
                                                     student_json(row.result, lang, config)))
    return paths


def export_all(db_url: str, config: AssignmentConfig, out_dir: Path, *, lang: str | None = None,
               include_incomplete: bool = False, worksheet: Path | None = None,
               course: Any = None) -> dict[str, Any]:
    """Write ``moodle.csv``, ``grades.csv``, ``results/<student>.json`` and ``gradescope/<student>.json``.

    ``worksheet``: Moodle's grading worksheet as downloaded; ``moodle.csv`` is then that sheet with its
    grade and feedback comments cells filled (:func:`fill_moodle_worksheet`). ``course``: the course root
    (:class:`grader.course.CourseRoot`) whose ``feedback/`` reports go into ``moodle_feedback.zip``
    (:func:`write_feedback_zip`), named after the worksheet's full names when it is given."""
    out_dir = Path(out_dir)
    lang = lang or config.language
    rows = grade_rows(db_url, config)
    extra: dict[str, Any] = {}
    names: dict[str, str] = {}
    if worksheet is not None:
        moodle, left_out, unmatched = fill_moodle_worksheet(rows, Path(worksheet), out_dir / "moodle.csv",
                                                            total_max=config.total_points,
                                                            include_incomplete=include_incomplete)
        extra["worksheet_unmatched"] = unmatched
        names = _worksheet_names(Path(worksheet))
    else:
        moodle, left_out = write_moodle_csv(rows, out_dir / "moodle.csv", lang=lang, total_max=config.total_points,
                                            include_incomplete=include_incomplete)
    plain = write_plain_csv(rows, out_dir / "grades.csv", config)
    jsons = write_student_jsons(rows, out_dir, lang=lang, config=config)
    if course is not None:
        from grader.report import report_stem

        reports = {row.student: course.feedback(row.student, config.name) / f"{report_stem(row.student)}.html"
                   for row in rows}
        name = "informe_" if lang == "es" else "feedback_"
        extra["feedback_zip"], extra["feedback_zip_left_out"] = write_feedback_zip(
            rows, out_dir / "moodle_feedback.zip", reports, names=names, file_name=f"{name}{config.name}.html")
    return {"moodle_csv": moodle, "plain_csv": plain, "student_jsons": jsons, "moodle_left_out": left_out,
            "rows": rows, **extra}


def _worksheet_names(worksheet: Path) -> dict[str, str]:
    """participant id -> full name, from Moodle's grading worksheet."""
    import re

    from grader.collect import read_worksheet_table

    table = read_worksheet_table(worksheet)
    id_col, name_col = table.columns["id"], table.columns["name"]
    names = {}
    if id_col is None or name_col is None:
        return names
    for line in table.rows[1:]:
        if max(id_col, name_col) < len(line):
            match = re.search(r"(\d+)\s*$", line[id_col])
            if match and line[name_col].strip():
                names[match[1]] = line[name_col].strip()
    return names


__all__ = ["grade_rows", "write_moodle_csv", "fill_moodle_worksheet", "write_feedback_zip", "moodle_feedback_folder",
           "moodle_grade", "feedback_text", "MOODLE_FEEDBACK_COLUMN", "write_plain_csv", "write_student_jsons", "export_all",
           "student_json", "GradeRow", "MOODLE_COLUMNS"]
