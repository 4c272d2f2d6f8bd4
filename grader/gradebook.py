"""Durable results in nbgrader's own gradebook (``nbgrader.api.Gradebook``; SQLite by default, any
SQLAlchemy URL such as ``postgresql://user@host/course`` works the same).

Mapping onto nbgrader's model:

* assignment ``config.name``, notebook ``Path(config.source_notebook).stem`` (``<assignment>``).
* every automatic check is a *grade cell whose grade_id is the check's name*;
  every manual part is the markdown grade cell ``manual.<part>.grade_id``. The release step stores the
  notebook's own grade cells with nbgrader's SaveCells; checks without a cell in the notebook (the
  hidden ones) get a GradeCell row created here (:func:`ensure_structure`), so nbgrader's totals and
  max scores include them. Caveat: nbgrader's SaveCells refuses to change the cells of a notebook that
  has submissions, so run the release (``grader release``) before the first ``grader autograde`` and
  call :func:`ensure_structure` after SaveCells.
* a check's points go to ``Grade.auto_score`` (``needs_manual_grade = False``); manual parts are left to
  nbgrader's formgrader. A check flagged ``needs_review`` (graded from figures the grader could not
  verify, or refused as inconsistent) keeps its automatic points with ``needs_manual_grade = True``, so
  the formgrader lists it for the instructor, until a manual score is given. A late penalty goes to
  ``SubmittedNotebook.late_submission_penalty``, as nbgrader's LateSubmissionPlugin does: nbgrader's
  ``score`` is before the penalty and ``score - late_submission_penalty`` equals ``GradeResult.score``
  (when no manual grade is set).

Besides nbgrader's tables, one side table ``grader_results`` holds our full result JSON per
(assignment, student) and its ``state``: ``finished`` (the result is final; a rerun skips it) or
``error`` (the grader itself failed; a rerun grades it again). The grades, the JSON and the state are
written in one transaction, so a result is either entirely in the database or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (Column, DateTime, Float, MetaData, String, Table, Text, create_engine, delete, inspect,
                        insert, select, text)

from grader.config import AssignmentConfig
from grader.errors import GraderError
from grader.records import CheckStatus, GradeResult

log = logging.getLogger(__name__)

FINISHED = "finished"
ERROR = "error"

_metadata = MetaData()
results_table = Table(
    "grader_results", _metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("score", Float),
    Column("max_score", Float),
    Column("late_penalty", Float),
    Column("result_json", Text, nullable=False),
    Column("submission_json", Text),
    Column("grader_version", String(32)),
    Column("recorded_at", DateTime, nullable=False),
    # grader.content_hash.submission_hash of what the result was computed from: a rerun reuses it only then
    Column("content_hash", String(64)),
)
# Columns added after the table's first version: a gradebook made before them gets them on opening.
_ADDED_COLUMNS = {"content_hash": "VARCHAR(64)"}


def _add_missing_columns(engine) -> None:
    present = {column["name"] for column in inspect(engine).get_columns(results_table.name)}
    with engine.begin() as connection:
        for name, sql_type in _ADDED_COLUMNS.items():
            if name not in present:
                connection.execute(text(f"ALTER TABLE {results_table.name} ADD COLUMN {name} {sql_type}"))


@dataclass(frozen=True)
class StoredResult:
    student: str
    state: str
    result: GradeResult
    submission: dict[str, Any] | None
    recorded_at: datetime


def notebook_name(config: AssignmentConfig) -> str:
    """nbgrader's name for the assignment's notebook: the file name without ``.ipynb``."""
    return Path(config.source_notebook).stem


def default_db_url(submissions_dir: Path) -> str:
    """``sqlite:///<submissions_dir>/../gradebook.db``: the gradebook of the course root holding
    ``submissions_dir`` (or a release's ``--out``), see :class:`grader.course.CourseRoot`."""
    from grader.course import CourseRoot

    return CourseRoot.of_submissions(submissions_dir).db_url


def _ensure_alembic_on_path() -> None:
    # A new gradebook runs the ``alembic`` command; it is in the venv's bin, which may not be on PATH
    # when the interpreter was started by its full path (.venv/bin/python, a Dask worker, cron).
    if shutil.which("alembic") is None:
        bindir = Path(sys.executable).parent
        if (bindir / "alembic").exists():
            os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def printable_url(db_url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # not even parseable: show it as given
        return db_url


def open_gradebook(db_url: str, course_id: str = "default_course"):
    """nbgrader's Gradebook at ``db_url`` (created if new), or a one-line GraderError naming the URL
    (password hidden) and the fix."""
    from nbgrader.api import Gradebook

    _ensure_alembic_on_path()
    try:
        if db_url.startswith("sqlite:///"):
            Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        gradebook = Gradebook(db_url, course_id=course_id)
        _metadata.create_all(gradebook.engine)
        _add_missing_columns(gradebook.engine)
    except Exception as exc:  # SQLAlchemy errors, a missing driver, an unreadable file, no alembic
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(reason) > 160:
            reason = reason[:157] + "..."
        fix = ("install alembic in this environment (nbgrader runs its executable to create a gradebook)"
               if isinstance(exc, FileNotFoundError) and "alembic" in str(exc) else
               "pass a SQLite file path in a writable folder, or another --db"
               if db_url.startswith("sqlite") else
               "check the URL (e.g. postgresql://user@host/course), that the server is up and that its "
               "SQLAlchemy driver is installed, or pass a SQLite file path to --db")
        raise GraderError(f"gradebook {printable_url(db_url)}: cannot be opened ({type(exc).__name__}: "
                          f"{reason}); fix: {fix}") from None
    return gradebook


def _utc_naive(moment: datetime | str | None) -> datetime | None:
    """nbgrader stores times as naive UTC."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _split_name(display_name: str | None) -> tuple[str | None, str | None]:
    """(first, last) for nbgrader's Student row. Spanish names usually end in two surnames; a display
    heuristic only (identity is the student id)."""
    tokens = (display_name or "").split()
    if len(tokens) >= 3:
        return " ".join(tokens[:-2]), " ".join(tokens[-2:])
    if len(tokens) == 2:
        return tokens[0], tokens[1]
    return (tokens[0] if tokens else None), None


def ensure_structure(gradebook, config: AssignmentConfig) -> None:
    """Assignment, notebook and one grade cell per check and manual part, created where missing."""
    from nbgrader.api import MissingEntry

    from grader.collect import deadline_of

    try:
        gradebook.find_assignment(config.name)
    except MissingEntry:
        gradebook.add_assignment(config.name, duedate=_utc_naive(deadline_of(config)))
    notebook = notebook_name(config)
    try:
        gradebook.find_notebook(notebook, config.name)
    except MissingEntry:
        gradebook.add_notebook(notebook, config.name)
    wanted = [(name, check.points, "code") for name, check in config.checks.items()]
    wanted += [(part.grade_id, part.points, "markdown") for part in config.manual.values()]
    for name, points, cell_type in wanted:
        try:
            cell = gradebook.find_grade_cell(name, notebook, config.name)
        except MissingEntry:
            gradebook.add_grade_cell(name, notebook, config.name, max_score=float(points), cell_type=cell_type)
        else:
            if abs(cell.max_score - float(points)) > 1e-9:
                log.warning("grade cell %s/%s has max_score %s in the gradebook but %s in assignment.toml",
                            notebook, name, cell.max_score, points)


class GradebookRecorder:
    """One open gradebook for many results (a batch records each result as it arrives)."""

    def __init__(self, db_url: str, config: AssignmentConfig, *, course_id: str = "default_course"):
        self.db_url = db_url
        self.config = config
        self.gradebook = open_gradebook(db_url, course_id)
        ensure_structure(self.gradebook, config)

    def __enter__(self) -> GradebookRecorder:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self.gradebook.close()

    def record(self, result: GradeResult, *, submission: Any = None, finished: bool = True,
               manual_zero: bool = False, content_hash: str | None = None) -> None:
        """Write one result in a single transaction.

        ``submission``: the collect.Submission (names, time, status). ``finished=False`` stores an error
        result (the grader failed) without touching the nbgrader grades, so a rerun grades it again.
        ``manual_zero``: the submission cannot be graded at all (too late, no notebook): the manual parts
        get 0 too and are not left waiting in the formgrader. ``content_hash``: what the result was computed
        from (:func:`grader.content_hash.submission_hash`), for a rerun to reuse it.
        """
        if result.assignment != self.config.name:
            raise ValueError(f"result for {result.assignment!r} recorded into {self.config.name!r}")
        session = self.gradebook.db
        try:
            if finished:
                self._write_grades(session, result, submission, manual_zero)
            self._write_side_row(session, result, submission, FINISHED if finished else ERROR, content_hash)
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def _write_grades(self, session, result: GradeResult, submission: Any, manual_zero: bool) -> None:
        from nbgrader.api import (Assignment, Comment, Grade, GradeCell, Notebook, Student, SubmittedAssignment,
                                  SubmittedNotebook)

        assignment = session.query(Assignment).filter(Assignment.name == self.config.name).one()
        notebook = session.query(Notebook).filter(Notebook.assignment_id == assignment.id,
                                                  Notebook.name == notebook_name(self.config)).one()
        student = session.get(Student, result.student)
        if student is None:
            first, last = _split_name(getattr(submission, "display_name", None))
            student = Student(id=result.student, first_name=first, last_name=last)
            session.add(student)
        submitted = (session.query(SubmittedAssignment)
                     .filter(SubmittedAssignment.assignment_id == assignment.id,
                             SubmittedAssignment.student_id == result.student).one_or_none())
        if submitted is None:
            submitted = SubmittedAssignment(assignment=assignment, student=student)
            session.add(submitted)
            for other in assignment.notebooks:  # mirror the whole assignment, as Gradebook.add_submission does
                if other.id == notebook.id:
                    continue
                other_nb = SubmittedNotebook(notebook=other, assignment=submitted)
                session.add(other_nb)
                session.add_all([Grade(cell_id=cell.id, notebook=other_nb)
                                 for cell in other.grade_cells + other.task_cells])
                session.add_all([Comment(cell_id=cell.id, notebook=other_nb)
                                 for cell in other.solution_cells + other.task_cells])
        submitted_at = getattr(submission, "submitted_at", None)
        if submitted_at is not None:
            submitted.timestamp = _utc_naive(submitted_at)

        sub_nb = (session.query(SubmittedNotebook)
                  .filter(SubmittedNotebook.assignment_id == submitted.id,
                          SubmittedNotebook.notebook_id == notebook.id).one_or_none()) if submitted.id else None
        if sub_nb is None:
            sub_nb = SubmittedNotebook(notebook=notebook, assignment=submitted)
            session.add(sub_nb)
        sub_nb.late_submission_penalty = float(result.late_penalty) if result.late_penalty else None
        session.flush()

        # every grade/task cell has a Grade and every solution/task cell a Comment, as nbgrader's
        # add_submission makes them (cells added since an earlier record included)
        commented = {cell_id for (cell_id,) in session.query(Comment.cell_id).filter(Comment.notebook_id == sub_nb.id)}
        session.add_all([Comment(cell_id=cell.id, notebook=sub_nb)
                         for cell in notebook.solution_cells + notebook.task_cells if cell.id not in commented])
        grades = {grade.cell_id: grade for grade in session.query(Grade).filter(Grade.notebook_id == sub_nb.id)}

        def grade_for(cell) -> Grade:
            grade = grades.get(cell.id)
            if grade is None:
                grade = grades[cell.id] = Grade(cell_id=cell.id, notebook=sub_nb)
                session.add(grade)
            return grade

        cells = {cell.name: cell for cell in notebook.grade_cells}
        for cell in notebook.grade_cells + notebook.task_cells:
            grade_for(cell)
        for check in result.checks:
            if check.status is CheckStatus.MANUAL:
                continue
            cell = cells.get(check.name)
            if cell is None:  # a check the configuration does not list: give it a cell of its own
                cell = cells[check.name] = GradeCell(name=check.name, notebook=notebook,
                                                     max_score=float(check.max_points), cell_type="code")
                session.add(cell)
                session.flush()
            grade = grade_for(cell)
            grade.auto_score = float(check.points)
            # A check graded from what the grader could not verify keeps its points and waits for the
            # instructor in the formgrader; a score the instructor already gave it is left as it is.
            grade.needs_manual_grade = bool(check.needs_review) and grade.manual_score is None
        if manual_zero:
            for part in self.config.manual.values():
                cell = cells.get(part.grade_id)
                if cell is not None:
                    grade = grade_for(cell)
                    if grade.manual_score is None:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = False

    def _write_side_row(self, session, result: GradeResult, submission: Any, state: str,
                        content_hash: str | None = None) -> None:
        key = (results_table.c.assignment == result.assignment) & (results_table.c.student == result.student)
        session.execute(delete(results_table).where(key))
        submission_json = None
        if submission is not None:
            submission_json = json.dumps(submission.to_dict() if hasattr(submission, "to_dict") else submission,
                                         ensure_ascii=False, default=str)
        session.execute(insert(results_table).values(
            assignment=result.assignment, student=result.student, state=state, score=result.score,
            max_score=result.max_score, late_penalty=result.late_penalty,
            result_json=json.dumps(result.to_dict(), ensure_ascii=False), submission_json=submission_json,
            grader_version=result.grader_version, recorded_at=datetime.now(timezone.utc).replace(tzinfo=None),
            content_hash=content_hash))


def record_result(db_url: str, config: AssignmentConfig, result: GradeResult, *, submission: Any = None,
                  finished: bool = True, manual_zero: bool = False, content_hash: str | None = None) -> None:
    """Record one result (see :meth:`GradebookRecorder.record`)."""
    with GradebookRecorder(db_url, config) as recorder:
        recorder.record(result, submission=submission, finished=finished, manual_zero=manual_zero,
                        content_hash=content_hash)


@contextmanager
def _engine(db_url: str) -> Iterator[Any]:
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).exists():
        yield None
        return
    engine = create_engine(db_url)
    try:
        yield engine if inspect(engine).has_table(results_table.name) else None
    finally:
        engine.dispose()


def finished_students(db_url: str, assignment: str) -> set[str]:
    """Students whose result for ``assignment`` is final (a rerun skips them)."""
    with _engine(db_url) as engine:
        if engine is None:
            return set()
        with engine.connect() as connection:
            rows = connection.execute(select(results_table.c.student).where(
                (results_table.c.assignment == assignment) & (results_table.c.state == FINISHED)))
            return {row[0] for row in rows}


def finished_hashes(db_url: str, assignment: str) -> dict[str, str | None]:
    """Student -> the content hash of their finished result for ``assignment`` (None: recorded without one)."""
    with _engine(db_url) as engine:
        if engine is None:
            return {}
        if "content_hash" not in {column["name"] for column in inspect(engine).get_columns(results_table.name)}:
            return dict.fromkeys(finished_students(db_url, assignment))
        with engine.connect() as connection:
            rows = connection.execute(select(results_table.c.student, results_table.c.content_hash).where(
                (results_table.c.assignment == assignment) & (results_table.c.state == FINISHED)))
            return {row[0]: row[1] for row in rows}


def load_results(db_url: str, assignment: str) -> dict[str, StoredResult]:
    """Every stored result of ``assignment`` (finished and errored), by student."""
    with _engine(db_url) as engine:
        if engine is None:
            return {}
        with engine.connect() as connection:
            rows = connection.execute(select(results_table).where(results_table.c.assignment == assignment))
            return {row.student: StoredResult(
                student=row.student, state=row.state, result=GradeResult.from_dict(json.loads(row.result_json)),
                submission=json.loads(row.submission_json) if row.submission_json else None,
                recorded_at=row.recorded_at) for row in rows}


__all__ = ["record_result", "finished_students", "finished_hashes", "load_results", "GradebookRecorder", "StoredResult",
           "ensure_structure", "open_gradebook", "printable_url", "notebook_name", "default_db_url", "FINISHED", "ERROR"]
