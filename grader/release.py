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
  ``missing_cell_transform``; see :func:`restore_locked_cells`).

After ``SaveCells``, :func:`grader.gradebook.ensure_structure` adds the grade rows of the checks that
have no cell in the notebook (``ej1_normas``), so the gradebook's maximum score is the assignment's.

Layout (nbgrader's course-folder convention): ``grader release practica3 --out DIR`` writes the
student notebook to ``DIR/practica3/practica3.ipynb`` and, unless ``--db`` names another database,
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
from nbformat import NotebookNode
from nbgrader import utils as nbgrader_utils
from nbgrader.api import MissingEntry
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
from grader.config import AssignmentConfig
from grader.errors import GraderError, InvalidSubmissionError

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
    with gradebook.open_gradebook(db_url) as gb:  # checks without a cell (ej1_normas) get their grade cell rows
        gradebook.ensure_structure(gb, config)

    leaks = _find_leaks(nb)
    if leaks:
        raise GraderError(f"{config.source_path}: the student notebook would still contain {leaks[0]}"
                          f"{f' and {len(leaks) - 1} more' if len(leaks) > 1 else ''}; fix: put it inside "
                          "a solution or hidden-test region of a graded cell")
    _write_atomic(nb, target)
    locked = [_nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_utils.is_locked(c)]
    log.info("released %s to %s (gradebook %s)", config.name, target, gradebook.printable_url(db_url))
    return ReleaseResult(config.name, target, db_url, graded_cells(nb), locked)


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


def restore_locked_cells(nb: NotebookNode, config: AssignmentConfig, db_url: str, *,
                         include_hidden_tests: bool = False) -> tuple[NotebookNode, list[str]]:
    """Put back the graded/locked cells a student edited or deleted, from the gradebook at ``db_url``.

    Returns a restored copy (``nb`` is not modified) and the grade_ids that had been edited or
    deleted, in cell order. Cell types, lock flags and points of graded cells are restored too.
    By default each restored cell is the *released* version (hidden tests removed again): the
    student's kernel must never see hidden tests. ``include_hidden_tests=True`` gives what
    ``nbgrader autograde`` executes (the hidden tests back in their cells).
    """
    db_url = resolve_db_url(db_url, DEFAULT_OUT_DIR)
    with gradebook.open_gradebook(db_url) as gb:
        try:
            gb.find_notebook(notebook_id(config), config.name)
        except MissingEntry:
            raise GraderError(f"gradebook {gradebook.printable_url(db_url)}: no notebook '{notebook_id(config)}' of "
                              f"assignment '{config.name}'; fix: run 'grader release {config.name} --db "
                              f"{gradebook.printable_url(db_url)}' first") from None

    cfg = Config()
    cfg.OverwriteCells.missing_cell_notification = STUBS.get(config.language, STUBS["en"])["missing"]
    try:
        submitted = _fingerprints(nb)
        restored, _ = _run(RESTORE_PREPROCESSORS, copy.deepcopy(nb), _resources(config, db_url), cfg,
                           _nbgrader_restore_log)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError,
            SchemaMismatchError) as exc:  # nbgrader's ValidationError is a ValueError
        raise InvalidSubmissionError(f"submission of {config.name}: its nbgrader cell metadata is damaged "
                                     f"({type(exc).__name__}: {str(exc).strip()[:160]}); fix: start again from the "
                                     "released notebook and copy the answers over") from None
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
