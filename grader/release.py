"""Release an assignment to students, and put the cells they must not edit back before grading.

Both directions use nbgrader's own preprocessors, run as the lists below (data, not code):

- :data:`RELEASE_PREPROCESSORS` is nbgrader's ``GenerateAssignment`` list in the same order, less
  ``IncludeHeaderFooter`` (no header/footer notebooks) and ``InstantiateTests`` (no ``AUTOTEST``
  cells): lock the graded cells, replace solutions by stubs, clear outputs, compute checksums,
  record every graded/locked/solution cell in nbgrader's gradebook (``SaveCells``), *then* remove the
  hidden tests and marking schemes and compute the checksums again. The gradebook therefore keeps
  the hidden tests (as ``nbgrader autograde`` expects) and the student notebook never has them.
- :data:`RESTORE_PREPROCESSORS` is nbgrader's ``Autograde`` sanitising list less ``ClearOutput``:
  ``OverwriteCells`` compares each graded/locked cell of a submission with the gradebook's copy and
  puts the original back when the student edited it; a deleted one is re-added (built by nbgrader's
  ``missing_cell_transform``; see :func:`restore_locked_cells`). Before it, cells copied from other
  notebooks (unknown ``grade_id``), duplicated or with damaged nbgrader metadata are repaired
  (:func:`repair_nbgrader_metadata`): nbgrader would reject the whole notebook for any of them.

After ``SaveCells``, :func:`grader.gradebook.ensure_structure` adds the grade rows of the checks that
have no cell in the notebook (a hidden rules check), so the gradebook's maximum score is the assignment's.

Layout (nbgrader's course-folder convention): ``grader release ASSIGNMENT --out DIR`` writes the
student notebook to ``DIR/ASSIGNMENT/<notebook>.ipynb`` and, unless ``--db`` names another database,
records the assignment in ``DIR/../gradebook.db`` (SQLite), i.e. ``course/release/`` beside
``course/gradebook.db``. ``--db`` takes any SQLAlchemy URL (``postgresql://user@host/course``) or a
file path (SQLite). Re-releasing updates the gradebook in place; nbgrader refuses to add or remove
graded cells once submissions exist.

Student-facing stubs follow the assignment's language: in Spanish, code solutions become
``# ESCRIBE AQUÍ TU CÓDIGO`` + ``raise NotImplementedError()`` and written answers
``ESCRIBE AQUÍ TU RESPUESTA`` (nbgrader's ``ClearSolutions.code_stub`` / ``text_stub``).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jsonschema import ValidationError as SchemaValidationError
from nbformat import NotebookNode
from nbgrader import utils as nbgrader_utils
from nbgrader.api import MissingEntry
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.nbgraderformat.common import SchemaMismatchError
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    DeduplicateIds,
    LockCells,
    OverwriteCells,
    OverwriteKernelspec,
    SaveCells,
)
from traitlets.config import Config

from grader import gradebook
from grader import metadata as student_metadata
from grader.config import AssignmentConfig
from grader.errors import GraderError, InvalidSubmissionError
from grader.i18n import Message, joined, msg, render

RELEASE_PREPROCESSORS = (
    LockCells,
    ClearSolutions,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    SaveCells,  # records the source cells, hidden tests included, before they are cleared
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,  # again: the student's checksums are those of the cleared cells
    CheckCellMetadata,
)


class DeduplicateGradeIds(DeduplicateIds):
    """nbgrader's DeduplicateIds, except that a duplicate (a copied solution cell) loses its nbgrader
    metadata entirely: the empty dict nbgrader leaves fails its own schema check (SchemaTooOldError)."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


RESTORE_PREPROCESSORS = (
    DeduplicateGradeIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
)

STUBS = {
    "es": {"python": "# ESCRIBE AQUÍ TU CÓDIGO\nraise NotImplementedError()", "text": "ESCRIBE AQUÍ TU RESPUESTA",
           "missing": "Esta celda (id:{cell_id}) faltaba en la entrega; el corrector la ha vuelto a añadir.\n\n"},
    "en": {"python": "# YOUR CODE HERE\nraise NotImplementedError()", "text": "YOUR ANSWER HERE",
           "missing": "This cell (id:{cell_id}) was missing from the submission. It was added back by nbgrader.\n\n"},
}

NBGRADER_FLAGS = ("grade", "solution", "locked", "task")
GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
_METADATA_VALIDATOR = MetadataValidator()  # nbgrader's, for the current schema (v3)

# Nothing of these may reach a student: nbgrader's region markers, our hidden-check calls, and the
# instructor-only package (students do not have it, so importing it would also break the notebook).
LEAK_PATTERNS = (
    re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS|MARK SCHEME)"),
    re.compile(r"hidden\s*=\s*True"),
    re.compile(r"reference_solutions"),
)

DEFAULT_OUT_DIR = Path("release")

log = logging.getLogger(__name__)
# nbgrader's preprocessors report through these loggers. When restoring, OverwriteCells warns about
# every hidden-test cell (the gradebook holds its hidden version), so only errors pass there; what
# the student edited is returned to the caller instead.
_nbgrader_release_log = logging.getLogger(f"{__name__}.nbgrader")
_nbgrader_restore_log = logging.getLogger(f"{__name__}.nbgrader.restore")
_nbgrader_restore_log.setLevel(logging.ERROR)


@dataclass(frozen=True)
class ReleaseResult:
    assignment: str
    notebook: Path  # the student notebook written
    db_url: str
    grade_cells: dict[str, float] = field(default_factory=dict)  # grade_id -> points, in cell order
    locked_cells: list[str] = field(default_factory=list)  # grade_ids restored before grading
    install: str | None = None  # what students install the grader with ([release] install)

    @property
    def total_points(self) -> float:
        return sum(self.grade_cells.values())


def notebook_id(config: AssignmentConfig) -> str:
    """nbgrader's notebook name: the source notebook's file name without ``.ipynb``."""
    return gradebook.notebook_name(config)


def resolve_db_url(db_url: str | os.PathLike | None, out_dir: Path) -> str:
    """A SQLAlchemy URL: the default SQLite file, a URL as given, or a file path made SQLite."""
    if db_url is None:
        return gradebook.default_db_url(out_dir)
    text = os.fspath(db_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _read_source(config: AssignmentConfig) -> NotebookNode:
    source = config.source_path
    if not source.is_file():
        raise GraderError(f"{source}: source notebook not found; fix: create it, or correct source_notebook "
                          f"in {config.folder / 'assignment.toml'}")
    try:
        return nbformat.read(source, as_version=4)
    except Exception as exc:  # JSON or nbformat schema errors
        raise GraderError(f"{source}: not a readable notebook ({type(exc).__name__}); fix: open and save it "
                          "again in Jupyter, or restore it from git") from None


def _nbgrader_meta(cell: NotebookNode) -> dict:
    meta = cell.metadata.get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}  # damaged by hand: treated as no nbgrader cell



def graded_cells(nb: NotebookNode) -> dict[str, float]:
    """grade_id -> points of every nbgrader grade cell (autograded tests and manual answers)."""
    return {_nbgrader_meta(c)["grade_id"]: float(_nbgrader_meta(c)["points"])
            for c in nb.cells if nbgrader_utils.is_grade(c)}


def _check_against_config(nb: NotebookNode, config: AssignmentConfig) -> None:
    """Every grade cell is a check or a manual part of assignment.toml, worth the same points."""
    where, toml = config.source_path, config.folder / "assignment.toml"
    expected = {name: check.points for name, check in config.checks.items()}
    expected.update({part.grade_id: part.points for part in config.manual.values()})
    cells = graded_cells(nb)
    for grade_id, points in cells.items():
        if grade_id not in expected:
            raise GraderError(f"{where}: grade cell '{grade_id}' is not a check or manual part of {toml}; "
                              "fix: rename its grade_id or add it to the configuration")
        if abs(points - expected[grade_id]) > 1e-9:
            raise GraderError(f"{where}: grade cell '{grade_id}' is worth {points:g} points but {toml} says "
                              f"{expected[grade_id]:g}; fix: make them equal")
    needed = [name for name, check in config.checks.items() if not check.hidden]
    needed += [part.grade_id for part in config.manual.values()]
    missing = [grade_id for grade_id in needed if grade_id not in cells]
    if missing:
        raise GraderError(f"{where}: no grade cell for {', '.join(missing)} (public checks and manual parts of "
                          f"{toml} need one); fix: add the cells with those grade_ids")


def _nbgrader_config(config: AssignmentConfig) -> Config:
    stubs = STUBS.get(config.language, STUBS["en"])
    cfg = Config()
    cfg.ClearSolutions.code_stub = {"python": stubs["python"]}
    cfg.ClearSolutions.text_stub = stubs["text"]
    return cfg


def _resources(config: AssignmentConfig, db_url: str) -> dict:
    nb_id = notebook_id(config)
    return {"unique_key": nb_id,
            "nbgrader": {"assignment": config.name, "notebook": nb_id, "student": ".", "db_url": db_url}}


def _run(preprocessors, nb: NotebookNode, resources: dict, cfg: Config, logger: logging.Logger):
    for preprocessor in preprocessors:
        nb, resources = preprocessor(config=cfg, log=logger)(nb, resources)
    return nb, resources


def _find_leaks(nb: NotebookNode) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        for pattern in LEAK_PATTERNS:
            match = pattern.search(cell.source)
            if match:
                found.append(f"cell {index} ({cell.get('id', '?')}): {match.group(0)!r}")
    return found


def _prepare_gradebook(config: AssignmentConfig, db_url: str) -> None:
    """Create or update the assignment, as GenerateAssignment.init_assignment does, with its deadline."""
    details = {}
    if config.late.deadline:
        details["duedate"] = nbgrader_utils.parse_utc(config.late.deadline)
    with gradebook.open_gradebook(db_url) as gb:
        assignment = gb.update_or_create_assignment(config.name, **details)
        # a notebook renamed since the last release: drop the old one unless students submitted it
        stale = [n.name for n in assignment.notebooks if n.name != notebook_id(config)]
        if stale and assignment.submissions:
            raise GraderError(f"gradebook {gradebook.printable_url(db_url)}: assignment '{config.name}' has submissions for "
                              f"notebook(s) {', '.join(stale)}; fix: keep the notebook's name "
                              f"({config.source_notebook}) or release under a new assignment name")
        for name in stale:
            gb.remove_notebook(name, config.name)


def _write_atomic(nb: NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    nbformat.write(nb, temporary)
    os.replace(temporary, path)


def release_assignment(config: AssignmentConfig, out_dir: Path = DEFAULT_OUT_DIR,
                       db_url: str | None = None) -> ReleaseResult:
    """Write the student notebook to ``out_dir/<assignment>/`` and record the assignment in the gradebook.

    ``db_url``: SQLAlchemy URL or SQLite file path; default ``sqlite:///<out_dir>/../gradebook.db``.
    The student notebook keeps the public test cells and no solution, hidden test or model answer.
    """
    out_dir = Path(out_dir)
    nb = _read_source(config)
    _check_against_config(nb, config)
    _fill_install(nb, config)
    target = out_dir / config.name / f"{notebook_id(config)}.ipynb"
    assignment_folder = config.folder.resolve()
    if assignment_folder == target.parent.resolve() or assignment_folder in target.resolve().parents:
        raise GraderError(f"{out_dir}: the release would be written inside the assignment folder "
                          f"{config.folder}; fix: pass another --out")

    out_dir.mkdir(parents=True, exist_ok=True)
    db_url = resolve_db_url(db_url, out_dir)
    _prepare_gradebook(config, db_url)

    try:
        nb, _ = _run(RELEASE_PREPROCESSORS, nb, _resources(config, db_url), _nbgrader_config(config),
                     _nbgrader_release_log)
    except GraderError:
        raise
    except Exception as exc:  # nbgrader's RuntimeError/ValidationError name the problem in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = ("once students have submitted, nbgrader keeps the set of graded cells fixed (the grader's rows "
               "for checks without a cell count too); release under a new assignment name, or remove the "
               "submissions from the gradebook first" if "submissions" in reason else
               "correct the nbgrader cell metadata or the solution/hidden-test markers there")
        raise GraderError(f"{config.source_path}: nbgrader could not release it ({type(exc).__name__}: "
                          f"{reason}); fix: {fix}") from None
    with gradebook.open_gradebook(db_url) as gb:  # checks without a cell get their grade cell rows
        gradebook.ensure_structure(gb, config)

    leaks = _find_leaks(nb)
    if leaks:
        raise GraderError(f"{config.source_path}: the student notebook would still contain {leaks[0]}"
                          f"{f' and {len(leaks) - 1} more' if len(leaks) > 1 else ''}; fix: put it inside "
                          "a solution or hidden-test region of a graded cell")
    nb.metadata[student_metadata.KEY] = student_metadata.release_metadata(config)  # read by 'grader check'
    _write_atomic(nb, target)
    locked = [_nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_utils.is_locked(c)]
    log.info("released %s to %s (gradebook %s)", config.name, target, gradebook.printable_url(db_url))
    return ReleaseResult(config.name, target, db_url, graded_cells(nb), locked, config.release.install)


def _fill_install(nb: NotebookNode, config: AssignmentConfig) -> None:
    """Write ``[release] install`` where the source notebook says ``{{grader_install}}`` (the
    requirement) or ``{{grader_install_laptop}}`` (the same with the extras a student's computer needs)."""
    uses = [index for index, cell in enumerate(nb.cells)
            if any(token in cell.source for token in student_metadata.INSTALL_TOKENS)]
    if not uses:
        return
    if not config.release.install:
        raise GraderError(f"{config.source_path}: cell {uses[0]} ({nb.cells[uses[0]].get('id', '?')}) tells "
                          f"students how to install the grader ({student_metadata.INSTALL_TOKEN}) but "
                          f"{config.folder / 'assignment.toml'} has no [release] install; fix: add [release] "
                          f"install = \"keras-course-grader @ git+https://<course repository>@<tag>\"")
    for index in uses:
        nb.cells[index].source = student_metadata.fill_install(nb.cells[index].source, config.release.install)


def _grade_id(cell: NotebookNode) -> str | None:
    meta = _nbgrader_meta(cell)
    if meta.get("grade_id") and (meta.get("grade") or meta.get("solution") or meta.get("locked")):
        return meta["grade_id"]
    return None


def _fingerprint(cell: NotebookNode) -> tuple:
    """What a student must not change: source of locked cells; type, lock and points of all graded cells."""
    meta = _nbgrader_meta(cell)
    source = cell.source if nbgrader_utils.is_locked(cell) else None
    points = meta.get("points")
    try:
        points = None if points is None else float(points)
    except (TypeError, ValueError):  # damaged by hand: compared as it is (and rejected by nbgrader)
        pass
    return cell.cell_type, source, bool(meta.get("locked")), bool(meta.get("grade")), bool(meta.get("solution")), points


def _fingerprints(nb: NotebookNode) -> dict[str, tuple]:
    # duplicated grade_ids: the last one counts, as in nbgrader's DeduplicateIds
    return {grade_id: _fingerprint(cell) for cell in nb.cells if (grade_id := _grade_id(cell))}


def _source_layout(config: AssignmentConfig) -> list[tuple[str | None, str | None]]:
    """(cell id, grade_id) of every cell of the instructor's notebook, in order; [] without it."""
    try:
        source = nbformat.read(config.source_path, as_version=4)
    except Exception:  # grading without the source notebook: fall back to the gradebook's order
        return []
    return [(cell.get("id"), _grade_id(cell)) for cell in source.cells]


def _add_missing_cells(nb: NotebookNode, config: AssignmentConfig, db_url: str, transform: OverwriteCells) -> None:
    """Re-add deleted graded and read-only cells from the gradebook, each after the cell before it.

    "Before" is the instructor's notebook order (cell ids survive in students' notebooks), else the
    gradebook's. nbgrader's own ``OverwriteCells.add_missing_cells`` is not used: it raises when the
    cell before a deleted one is a read-only cell (our ``normas``) or when a grade cell has no source
    cell (the grader's rows for checks without a cell). Each cell is still built by nbgrader's
    ``missing_cell_transform``.
    """
    with gradebook.open_gradebook(db_url) as gb:
        row = gb.find_notebook(notebook_id(config), config.name)
        sources = {cell.name: cell for cell in row.source_cells}
        max_scores = {cell.name: cell.max_score for cell in row.grade_cells}
        solutions = {cell.name for cell in row.solution_cells}
    layout = _source_layout(config)
    layout += [(None, name) for name in sources if name not in {g for _, g in layout}]
    present = {grade_id for cell in nb.cells if (grade_id := _grade_id(cell))}
    for position, (_, grade_id) in enumerate(layout):
        source = sources.get(grade_id)
        if source is None or grade_id in present or not (source.locked or grade_id in max_scores):
            continue  # not a recorded cell, present, or a plain solution cell (the code may live elsewhere)
        if grade_id in max_scores:
            cell = nbformat.from_dict(transform.missing_cell_transform(
                source, max_scores[grade_id], is_solution=grade_id in solutions))
        else:  # a read-only cell
            cell = nbformat.from_dict(transform.missing_cell_transform(source, 0.0))
            cell.metadata.nbgrader.grade = False
            del cell.metadata.nbgrader["points"]
        earlier_ids = {cell_id for cell_id, _ in layout[:position] if cell_id}
        earlier_grade_ids = {g for _, g in layout[:position] if g}
        anchor = max((i for i, c in enumerate(nb.cells)
                      if c.get("id") in earlier_ids or _grade_id(c) in earlier_grade_ids), default=-1)
        nb.cells.insert(anchor + 1, cell)
        present.add(grade_id)


def _give_cells_ids(nb: NotebookNode) -> None:
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        return
    used = {cell.get("id") for cell in nb.cells}
    for cell in nb.cells:
        if not cell.get("id"):
            wanted = _grade_id(cell) or ""
            cell["id"] = wanted if wanted and wanted not in used else uuid.uuid4().hex[:8]
            used.add(cell["id"])


def _say(message: str, **values) -> Message:
    return msg(f"repair.{message}", **values)


def _metadata_problem(cell: NotebookNode) -> Message | None:
    """Why nbgrader cannot use a cell's nbgrader metadata as it is; None if it can."""
    meta = cell.metadata["nbgrader"]
    if not isinstance(meta, dict):
        return _say("not_object")
    for key in ("schema_version", "grade", "locked", "solution"):
        if key not in meta:
            return _say("missing", key=key)
    if "grade_id" not in meta and any(meta.get(flag) for flag in NBGRADER_FLAGS):
        return _say("missing", key="grade_id")
    if "points" not in meta and meta.get("grade"):
        return _say("missing", key="points")
    extra = sorted(str(key) for key in meta if key not in _METADATA_VALIDATOR.schema["properties"])
    if extra:
        return _say("unknown_key", key=extra[0][:40])
    valid = {
        "schema_version": lambda v: v == 3 and type(v) is int,
        "grade_id": lambda v: isinstance(v, str) and bool(GRADE_ID.match(v)),
        "points": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        "checksum": lambda v: isinstance(v, str) and len(v) == 32,
        "cell_type": lambda v: v in ("raw", "code", "markdown"),
        **{flag: lambda v: isinstance(v, bool) for flag in NBGRADER_FLAGS},
    }
    for key, is_valid in valid.items():
        if key in meta and not is_valid(meta[key]):
            return _say("invalid", key=key, value=repr(meta[key])[:40])
    try:  # nbgrader's own rules (a grade cell has points, a markdown grade cell is a solution, ...)
        _METADATA_VALIDATOR.validate_cell(cell)
    except (SchemaValidationError, SchemaMismatchError, KeyError, TypeError, ValueError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
        return _say("rejected", reason=reason.strip().splitlines()[0][:120] if reason.strip() else
                    type(exc).__name__)
    return None


def _released_metadata(db_url: str, config: AssignmentConfig) -> dict[str, dict]:
    """grade_id -> the nbgrader metadata the release gave that cell, rebuilt from the gradebook."""
    with gradebook.open_gradebook(db_url) as gb:
        try:
            row = gb.find_notebook(notebook_id(config), config.name)
        except MissingEntry:
            raise GraderError(f"gradebook {gradebook.printable_url(db_url)}: no notebook '{notebook_id(config)}' of "
                              f"assignment '{config.name}'; fix: run 'grader release {config.name} --db "
                              f"{gradebook.printable_url(db_url)}' first") from None
        max_scores = {cell.name: cell.max_score for cell in row.grade_cells}
        solutions = {cell.name for cell in row.solution_cells}
        released = {}
        for source in row.source_cells:
            meta = {"cell_type": source.cell_type, "grade": source.name in max_scores, "grade_id": source.name,
                    "locked": bool(source.locked), "schema_version": 3, "solution": source.name in solutions,
                    "task": False}
            if source.name in max_scores:
                meta["points"] = float(max_scores[source.name])
            if source.checksum:
                meta["checksum"] = source.checksum
            released[source.name] = meta
    return released


def repair_nbgrader_metadata(nb: NotebookNode, config: AssignmentConfig,
                             db_url: str | None) -> tuple[NotebookNode, list[Message]]:
    """A copy of ``nb`` whose nbgrader metadata nbgrader can process, and notes on what was repaired.

    Students copy cells from other notebooks (a ``grade_id`` this release does not know), duplicate
    cells (the same ``grade_id`` twice) or damage the metadata by hand (``points: "abc"``). nbgrader
    then fails the whole notebook: ``OverwriteCells`` drops an unknown ``grade_id`` and
    ``CheckCellMetadata`` raises jsonschema's ``ValidationError`` (not a ``ValueError``) for the cell
    left without one; ``OverwriteCells`` raises ``ValueError`` on ``float("abc")``. Instead, a damaged
    cell whose ``grade_id`` (or, without a usable one, whose cell id) is one of the release's gets the
    released metadata back (``restore_locked_cells`` then puts back its source if it is locked); any
    other cell with unusable or unknown nbgrader metadata loses it and runs as an ordinary cell. Of
    cells sharing a ``grade_id``, the released one (cell id = ``grade_id``) keeps it, else the last
    one (as nbgrader's ``DeduplicateIds``); the others run as ordinary cells.
    """
    from grader.pipeline import cell_label

    db_url = resolve_db_url(db_url, DEFAULT_OUT_DIR)
    released = _released_metadata(db_url, config)
    nb = copy.deepcopy(nb)
    found: dict[str, list[tuple[int, str]]] = {"unknown": [], "duplicate": [], "stripped": [], "rebuilt": []}
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
        if "nbgrader" not in cell.metadata:
            continue
        meta = cell.metadata["nbgrader"]
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        grade_id = grade_id if isinstance(grade_id, str) else None
        claims = isinstance(meta, dict) and (grade_id is not None or any(meta.get(f) for f in NBGRADER_FLAGS))
        problem = _metadata_problem(cell)
        if problem is not None and grade_id is None and isinstance(cell.get("id"), str) and cell["id"] in released:
            grade_id = cell["id"]  # a released cell (the release gives it its grade_id as cell id) damaged in place
        if grade_id in released:
            if problem is not None:
                cell.metadata["nbgrader"] = NotebookNode(copy.deepcopy(released[grade_id]))
                found["rebuilt"].append((index, problem))
            continue
        if problem is None and not any(meta.get(flag) for flag in NBGRADER_FLAGS):
            continue  # an ordinary cell's valid metadata: nbgrader ignores it
        del cell.metadata["nbgrader"]
        if grade_id is not None and claims:
            found["unknown"].append((index, grade_id))
        elif claims or not isinstance(meta, dict):
            found["stripped"].append((index, problem))
    # A grade_id used twice: the released cell keeps it (the release makes its cell id the grade_id),
    # else the last one, as nbgrader's DeduplicateIds does; the others become ordinary cells.
    keeper: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta and any(meta.get(flag) for flag in NBGRADER_FLAGS):
            grade_id = meta["grade_id"]
            if grade_id not in keeper or nb.cells[keeper[grade_id]].get("id") != grade_id:
                keeper[grade_id] = index
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta and any(meta.get(flag) for flag in NBGRADER_FLAGS) and keeper[meta["grade_id"]] != index:
            del cell.metadata["nbgrader"]
            kept = keeper[meta["grade_id"]]
            found["duplicate"].append((index, _say("kept", grade_id=meta["grade_id"][:40],
                                                   cell=cell_label(nb.cells[kept], kept))))

    notes = []
    for kind, cells in found.items():
        if not cells:
            continue
        numbers = ", ".join(cell_label(nb.cells[index], index) for index, _ in cells)
        where = _say("cells", n=len(cells), cells=numbers)
        details = []
        for _, detail in cells:
            if detail not in details:
                details.append(detail)
        if kind == "unknown":
            notes.append(_say(kind, cells=where, ids=", ".join(f"'{d[:40]}'" for d in details[:5])))
        elif kind == "duplicate":
            notes.append(_say(kind, cells=where, ids=joined(details[:5])))
        else:
            notes.append(_say(kind, cells=where, why=joined(details[:3])))
    if notes:
        notes.append(_say("fix"))
        log.warning("%s: nbgrader metadata repaired: %s", config.name, render(joined(notes), "en"))
    return nb, notes


def restore_locked_cells(nb: NotebookNode, config: AssignmentConfig, db_url: str, *,
                         include_hidden_tests: bool = False) -> tuple[NotebookNode, list[str]]:
    """Put back the graded/locked cells a student edited or deleted, from the gradebook at ``db_url``.

    Returns a restored copy (``nb`` is not modified) and the grade_ids that had been edited or
    deleted, in cell order. Cell types, lock flags and points of graded cells are restored too.
    Unknown, duplicated or damaged nbgrader metadata is repaired first (:func:`repair_nbgrader_metadata`).
    By default each restored cell is the *released* version (hidden tests removed again): the
    student's kernel must never see hidden tests. ``include_hidden_tests=True`` gives what
    ``nbgrader autograde`` executes (the hidden tests back in their cells).
    """
    db_url = resolve_db_url(db_url, DEFAULT_OUT_DIR)
    # Also the check that the release is in the gradebook (a one-line GraderError when it is not).
    nb, _ = repair_nbgrader_metadata(nb, config, db_url)  # notes logged; grade_submission reports them
    cfg = Config()
    cfg.OverwriteCells.missing_cell_notification = STUBS.get(config.language, STUBS["en"])["missing"]
    try:
        submitted = _fingerprints(nb)
        restored, _ = _run(RESTORE_PREPROCESSORS, copy.deepcopy(nb), _resources(config, db_url), cfg,
                           _nbgrader_restore_log)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, SchemaMismatchError,
            SchemaValidationError) as exc:  # nbgrader's ValidationError is jsonschema's, not a ValueError
        raise InvalidSubmissionError(_say("damaged", error=f"{type(exc).__name__}: {str(exc).strip()[:160]}")) \
            from None
    _add_missing_cells(restored, config, db_url, OverwriteCells(config=cfg, log=_nbgrader_restore_log))
    _give_cells_ids(restored)  # nbgrader builds a re-added cell without the id nbformat 4.5 requires

    released_view = copy.deepcopy(restored)
    clear_hidden = ClearHiddenTests(log=_nbgrader_restore_log)
    for cell in released_view.cells:
        if nbgrader_utils.is_locked(cell) and _grade_id(cell):
            before = cell.source
            clear_hidden.preprocess_cell(cell, {}, 0)
            if cell.source != before:
                cell.metadata.nbgrader["checksum"] = nbgrader_utils.compute_checksum(cell)

    edited = [grade_id for grade_id, fingerprint in _fingerprints(released_view).items()
              if submitted.get(grade_id) != fingerprint]
    if edited:
        log.warning("%s: restored %d edited or deleted cell(s): %s", config.name, len(edited), ", ".join(edited))
    return (restored if include_hidden_tests else released_view), edited
