"""A whole results folder: the ``grader feedback`` command."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.records import GradeResult
from grader.report.pages import write_report
from grader.report.summary import write_class_summary
from grader.report.text import Catalogue


@dataclass
class FeedbackRun:
    reports: list[Path] = field(default_factory=list)
    index: Path | None = None
    skipped: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped


def _executed_notebook_path(result: GradeResult, results_dir: Path) -> Path | None:
    recorded = result.execution.executed_notebook
    if not recorded:
        return None
    path = Path(recorded)
    for candidate in ([path] if path.is_absolute() else [results_dir / path, path]):
        if candidate.is_file():
            return candidate
    return None


def write_feedback(assignment: str | Path, results_dir: Path, out_dir: Path | None = None, *,
                   lang: str | None = None, show_hidden_details: bool = False,
                   log: Callable[[str], Any] = print, warn: Callable[[str], Any] = print) -> FeedbackRun:
    """Reports for every ``*.json`` GradeResult in ``results_dir``, and the class summary.

    A file that is not a readable grade result of this assignment is named in one ``warn`` line and
    skipped; the others are still written (``FeedbackRun.ok`` is then False).
    """
    from grader.config import load_assignment

    config = load_assignment(assignment)
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / "feedback"
    if out_dir.resolve() == results_dir.resolve():
        raise GraderError(f"{out_dir}: the reports' .json files would overwrite the grade results there; "
                          "fix: pass another --out folder")
    lang = lang or config.language
    Catalogue(lang)  # an unknown language fails before anything is written
    files = sorted(p for p in results_dir.glob("*.json") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GraderError(f"{results_dir}: no *.json grade results there; fix: point --results at the folder "
                          "the grading step wrote its results to")
    run = FeedbackRun()
    results: list[GradeResult] = []
    links: dict[str, str] = {}
    source_of: dict[str, Path] = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            warn(f"skipped {path}: not valid JSON ({exc})")
            run.skipped.append(path)
            continue
        try:
            result = GradeResult.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            warn(f"skipped {path}: not a grade result ({type(exc).__name__}: {exc})")
            run.skipped.append(path)
            continue
        if result.assignment != config.name:
            warn(f"skipped {path}: a result of {result.assignment!r}, not of {config.name!r}")
            run.skipped.append(path)
            continue
        if result.student in source_of:
            warn(f"skipped {path}: a second result for student {result.student!r} (first: {source_of[result.student]})")
            run.skipped.append(path)
            continue
        try:
            html = write_report(result, out_dir, config=config, lang=lang, show_hidden_details=show_hidden_details,
                                executed_notebook=_executed_notebook_path(result, results_dir))
        except Exception as exc:  # noqa: BLE001 - one odd record must not cost the class its reports
            warn(f"skipped {path}: its report could not be written ({type(exc).__name__}: {exc})")
            run.skipped.append(path)
            continue
        source_of[result.student] = path
        links[result.student] = html.name
        results.append(result)
        run.reports.append(html)
    run.index = write_class_summary(results, out_dir, report_links=links, lang=lang, config=config)
    log(f"wrote {len(run.reports)} reports and the class summary {run.index}")
    return run
