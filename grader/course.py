"""The course root: one folder holding the gradebook and nbgrader's per-step trees, as nbgrader lays it out.

nbgrader's ``CourseDirectory`` (nbgrader/coursedir.py, 0.9.6) puts every step's files at
``<root>/{nbgrader_step}/{student_id}/{assignment_id}`` (``directory_structure``), with the steps named
``submitted``, ``autograded`` and ``feedback`` (``submitted_directory``, ``autograded_directory``,
``feedback_directory``), and its SQLite gradebook at ``<root>/gradebook.db`` (``db_url``). The
formgrader renders ``autograded/<student>/<assignment>/<notebook>.ipynb`` and answers 404 when that file
is missing, whatever the gradebook holds, so the batch writes that tree as it records each result.

Which folder is the course root when none is given (every command asks this module):

* ``grader autograde --submissions SUBS``: ``SUBS/..`` (``grader collect`` writes SUBS inside the course);
* ``grader release --out OUT``: ``OUT/..`` (default ``--out release``: the current folder);
* ``grader grade``: the current folder (where ``grader release`` put the gradebook by default);
* ``grader formgrader --course ROOT``: ROOT (default: the current folder).

The default gradebook is always ``sqlite:///<course root>/gradebook.db``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

GRADEBOOK = "gradebook.db"
SUBMITTED, AUTOGRADED, FEEDBACK = "submitted", "autograded", "feedback"   # nbgrader's default step names
# nbgrader's Exchange.timestamp_format; CourseDirectory.get_existing_timestamp parses it back (parse_utc).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass(frozen=True)
class CourseRoot:
    """An nbgrader course folder (absolute)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    # -- where it is, by command --------------------------------------------------------------
    @classmethod
    def of_submissions(cls, submissions_dir: Path) -> CourseRoot:
        """``grader autograde``: the folder holding the collected submissions' folder."""
        return cls(Path(submissions_dir).resolve().parent)

    @classmethod
    def of_release(cls, out_dir: Path) -> CourseRoot:
        """``grader release --out OUT``: the folder holding OUT."""
        return cls(Path(out_dir).resolve().parent)

    @classmethod
    def here(cls) -> CourseRoot:
        """``grader grade``, ``grader formgrader`` without ``--course``: the current folder."""
        return cls(Path.cwd())

    # -- what is in it --------------------------------------------------------------------------
    @property
    def gradebook(self) -> Path:
        return self.root / GRADEBOOK

    @property
    def db_url(self) -> str:
        """The default gradebook: nbgrader's ``sqlite:///<root>/gradebook.db``."""
        return f"sqlite:///{self.gradebook}"

    def step_dir(self, step: str, student: str, assignment: str) -> Path:
        """nbgrader's ``directory_structure``: ``<root>/<step>/<student>/<assignment>``."""
        for part in (student, assignment):
            if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
                raise ValueError(f"not usable as a folder name: {part!r}")
        return self.root / step / student / assignment

    def submitted(self, student: str, assignment: str) -> Path:
        return self.step_dir(SUBMITTED, student, assignment)

    def autograded(self, student: str, assignment: str) -> Path:
        return self.step_dir(AUTOGRADED, student, assignment)

    def feedback(self, student: str, assignment: str) -> Path:
        return self.step_dir(FEEDBACK, student, assignment)

    # -- writing it ---------------------------------------------------------------------------
    def write_submitted(self, student: str, assignment: str, notebook_name: str, source: Path,
                        submitted_at: datetime | None) -> Path:
        """``submitted/<student>/<assignment>/<notebook>.ipynb`` (a copy of the hand-in) and its
        ``timestamp.txt`` when the submission time is known (none is written otherwise, as nbgrader's
        own ``nbgrader collect`` of a submission without one)."""
        folder = self.submitted(student, assignment)
        target = copy_atomic(Path(source), folder / f"{notebook_name}.ipynb")
        stamp = folder / "timestamp.txt"
        if submitted_at is not None:
            write_text_atomic(stamp, format_timestamp(submitted_at))
        elif stamp.exists():
            stamp.unlink()
        return target

    def write_autograded(self, student: str, assignment: str, notebook_name: str, executed: Path | None) -> Path | None:
        """``autograded/<student>/<assignment>/<notebook>.ipynb``: the executed notebook (locked cells
        restored, nbgrader metadata intact), what the formgrader shows. None (and any earlier copy
        removed) when there is no executed notebook."""
        target = self.autograded(student, assignment) / f"{notebook_name}.ipynb"
        if executed is None or not Path(executed).is_file():
            if target.exists():
                target.unlink()
            return None
        return copy_atomic(Path(executed), target)

    def write_feedback(self, result, config, *, lang: str | None = None) -> Path:
        """``feedback/<student>/<assignment>/``: the student's HTML report (and its Gradescope JSON),
        rendered in a scratch folder and moved in file by file."""
        from grader.report import write_report

        folder = self.feedback(result.student, result.assignment)
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".report-", dir=folder))
        try:
            executed = result.execution.executed_notebook
            html = write_report(result, scratch, config=config, lang=lang or config.language,
                                executed_notebook=Path(executed) if executed and Path(executed).is_file() else None)
            for path in sorted(scratch.iterdir()):
                os.replace(path, folder / path.name)
            return folder / html.name
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def format_timestamp(moment: datetime) -> str:
    """nbgrader's ``timestamp.txt`` text (UTC), e.g. ``2026-03-01 10:15:00.000000 UTC``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def copy_atomic(source: Path, target: Path) -> Path:
    """Copy so that a reader (the formgrader) never sees half a file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target


__all__ = ["CourseRoot", "format_timestamp", "copy_atomic", "write_text_atomic", "GRADEBOOK", "SUBMITTED",
           "AUTOGRADED", "FEEDBACK", "TIMESTAMP_FORMAT"]
