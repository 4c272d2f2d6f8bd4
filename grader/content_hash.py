"""What a grade depends on, as content hashes, so that a rerun reuses a finished result only when
nothing it was computed from has changed.

A submission's hash covers its notebook and extra files (bytes), what collect decided about it (status,
late days and penalty), and everything the grader brings: its own code and catalogues, the assignment's
configuration, hidden tests, reference metrics (the thresholds) and public files (specs, messages).
Datasets are left out: they are named and seeded by the configuration, and do not change under a course.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader import __version__
from grader.config import AssignmentConfig

GRADER_DIR = Path(__file__).resolve().parent
_SKIPPED_PARTS = {"__pycache__"}


def _add_file(digest, path: Path, label: str) -> None:
    digest.update(f"\0{label}\0".encode())
    digest.update(path.read_bytes() if path.is_file() else b"\0missing")


def _add_tree(digest, folder: Path, label: str) -> None:
    """Every file under ``folder`` (names and bytes, in a fixed order), or its absence."""
    if not folder.is_dir():
        digest.update(f"\0{label}\0missing".encode())
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIPPED_PARTS & set(p.parts)):
        _add_file(digest, path, f"{label}/{path.relative_to(folder).as_posix()}")


def grading_inputs_hash(config: AssignmentConfig) -> str:
    """The grader's and the assignment's side of every grade of ``config``'s submissions."""
    digest = hashlib.sha256(f"grader {__version__}".encode())
    _add_tree(digest, GRADER_DIR, "grader")
    digest.update(config.model_dump_json().encode())
    _add_tree(digest, config.hidden_tests_dir, "hidden tests")
    _add_file(digest, config.metrics_path, "metrics")
    _add_tree(digest, config.folder / "public", "public")
    return digest.hexdigest()


def submission_hash(submission, inputs_hash: str) -> str:
    """One submission's hash (a :class:`grader.collect.Submission`) under ``inputs_hash``."""
    digest = hashlib.sha256(inputs_hash.encode())
    digest.update(f"\0{submission.status}\0{submission.late_days}\0{submission.late_penalty}".encode())
    notebook = submission.notebook
    if notebook is not None:
        _add_file(digest, Path(notebook), "notebook")
        for name in sorted(submission.extra_files):
            _add_file(digest, Path(notebook).parent / name, f"extra/{name}")
    return digest.hexdigest()
