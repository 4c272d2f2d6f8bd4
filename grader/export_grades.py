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

from grader.config import AssignmentConfig
from grader.gradebook import FINISHED, load_results, notebook_name, open_gradebook
from grader.records import GradeResult, write_json_atomic

MOODLE_COLUMNS = {
    # identifier, full name, grade, last modified (grade), participant prefix (Moodle's 'hiddenuser' string)
    "es": ("Identificador", "Nombre completo", "Calificación", "Última modificación (calificación)", "Participante"),
    "en": ("Identifier", "Full name", "Grade", "Last modified (grade)", "Participant "),
}


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
                total_max=config.total_points, problems=list(submission.get("problems", [])), result=item.result)
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
            rows.append(row)
    return rows


def _write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding=encoding, newline="")
    os.replace(temporary, path)
    return path


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def write_moodle_csv(rows: list[GradeRow], path: Path, *, lang: str = "es", scale_to: float | None = None,
                     total_max: float | None = None, include_incomplete: bool = False) -> tuple[Path, dict[str, str]]:
    """Moodle's grading worksheet format; returns the path and {student: why it was left out}.

    ``scale_to``: the assignment's maximum grade in Moodle when it differs from ``total_max``
    (the assignment's points, 10 for Práctica 3)."""
    identifier, full_name, grade_col, modified_col, prefix = MOODLE_COLUMNS[lang]
    modified = datetime.now(timezone.utc).isoformat(timespec="seconds")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([identifier, full_name, grade_col, modified_col])
    left_out: dict[str, str] = {}
    for row in rows:
        if not row.participant_id:
            left_out[row.student] = "sin identificador de participante de Moodle (no viene de una descarga de PRADO)"
        elif row.state != FINISHED or row.total is None:
            left_out[row.student] = "sin calificación definitiva (error del corrector)"
        elif row.needs_manual_grade and not include_incomplete:
            left_out[row.student] = "faltan partes por calificar a mano en el formgrader"
        else:
            grade = row.total
            if scale_to is not None:
                grade = grade * scale_to / (total_max or row.total_max)
            writer.writerow([f"{prefix}{row.participant_id}", row.display_name, _number(round(grade, 2)), modified])
    return _write_text_atomic(path, buffer.getvalue()), left_out


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
               include_incomplete: bool = False) -> dict[str, Any]:
    """Write ``moodle.csv``, ``grades.csv``, ``results/<student>.json`` and ``gradescope/<student>.json``."""
    out_dir = Path(out_dir)
    lang = lang or config.language
    rows = grade_rows(db_url, config)
    moodle, left_out = write_moodle_csv(rows, out_dir / "moodle.csv", lang=lang, total_max=config.total_points,
                                        include_incomplete=include_incomplete)
    plain = write_plain_csv(rows, out_dir / "grades.csv", config)
    jsons = write_student_jsons(rows, out_dir, lang=lang, config=config)
    return {"moodle_csv": moodle, "plain_csv": plain, "student_jsons": jsons, "moodle_left_out": left_out,
            "rows": rows}


__all__ = ["grade_rows", "write_moodle_csv", "write_plain_csv", "write_student_jsons", "export_all",
           "student_json", "GradeRow", "MOODLE_COLUMNS"]
