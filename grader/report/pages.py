"""One student's report page and its Gradescope JSON, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.records import GradeResult, write_json_atomic
from grader.report.gradescope import gradescope_json
from grader.report.html import environment, write_text_atomic
from grader.report.notebook import notebook_view
from grader.report.text import (
    CONTENT_SECURITY_POLICY,
    Catalogue,
    assignment_folder,
    assignment_title,
    part_title,
    report_stem,
)
from grader.report.views import check_view, execution_view

if TYPE_CHECKING:
    from grader.config import AssignmentConfig


def _manual_parts(result: GradeResult, config: AssignmentConfig | None, t: Catalogue) -> dict[str, Any] | None:
    if config is None or not config.manual:
        return None
    parts = [{"title": part_title(config, name, t.lang), "points": t.points(part.points)}
             for name, part in config.manual.items()]
    total = sum(part.points for part in config.manual.values())
    return {"intro": t("manual_pending", points=t.points(total)), "parts": parts}


def render_report(result: GradeResult, *, config: AssignmentConfig | None = None, lang: str = "es",
                  show_hidden_details: bool = False, notebook: dict[str, Any] | None = None) -> str:
    """The report page as a string (``write_report`` adds the files around it)."""
    t = Catalogue(lang)
    result = result.rendered(lang, assignment_folder(config))
    checks = [check_view(check, config, t, show_hidden_details) for check in result.checks]
    return environment().get_template("report.html.j2").render(
        t=t, lang=lang, csp=CONTENT_SECURITY_POLICY,
        title=f"{t('report_title')}: {result.student}",
        assignment_title=assignment_title(config, lang) if config is not None else result.assignment,
        result=result,
        score=t.points(result.score), max_score=t.points(result.max_score),
        score_status=("passed" if result.score >= result.max_score > 0 else
                      "failed" if result.score <= 0 else "partial"),
        late_penalty=t("late_penalty", points=t.points(result.late_penalty)) if result.late_penalty else None,
        manual=_manual_parts(result, config, t),
        checks=checks, execution=execution_view(result, t), notebook=notebook,
    )


def write_report(result: GradeResult, out_dir: Path, *, config: AssignmentConfig | None = None, lang: str = "es",
                 show_hidden_details: bool = False, executed_notebook: Path | None = None) -> Path:
    """Write ``<out_dir>/<student>.html`` and ``<out_dir>/<student>.json`` (Gradescope); return the HTML path.

    Hidden checks show only their message unless ``show_hidden_details``. When ``executed_notebook``
    is given it is rendered below the report (or written to ``<student>.notebook.html`` and linked
    when larger than :data:`NOTEBOOK_EMBED_LIMIT`).
    """
    t = Catalogue(lang)
    result = result.rendered(lang, assignment_folder(config))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result.student)
    notebook = None
    if executed_notebook is not None:
        notebook = notebook_view(Path(executed_notebook), out_dir, stem, t,
                                  f"{t('notebook_heading')}: {result.student}")
    page = render_report(result, config=config, lang=lang, show_hidden_details=show_hidden_details,
                         notebook=notebook)
    html_path = out_dir / f"{stem}.html"
    write_text_atomic(html_path, page)
    write_json_atomic(out_dir / f"{stem}.json", gradescope_json(result, lang, config=config))
    return html_path
