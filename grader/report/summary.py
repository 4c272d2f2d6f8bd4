"""The class summary page for the instructor."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.records import CheckStatus, ExecutionStatus, GradeResult
from grader.report.figures import figure_view, histogram_figure
from grader.report.html import environment, write_text_atomic
from grader.report.text import (
    CONTENT_SECURITY_POLICY,
    Catalogue,
    SLOWEST_SHOWN,
    assignment_folder,
    assignment_title,
    automatic_checks,
    check_title,
    finite,
    report_stem,
)

if TYPE_CHECKING:
    from grader.config import AssignmentConfig


def _check_order(results: list[GradeResult], config: AssignmentConfig | None) -> list[str]:
    names: list[str] = list(config.checks) if config is not None else []
    for result in results:
        for check in automatic_checks(result.checks):
            if check.name not in names:
                names.append(check.name)
    return names


def _summary_check_rows(results: list[GradeResult], config: AssignmentConfig | None,
                        t: Catalogue) -> list[dict[str, Any]]:
    rows = []
    for name in _check_order(results, config):
        found = [c for r in results for c in automatic_checks(r.checks) if c.name == name]
        if not found:
            continue
        counts = {status: sum(1 for c in found if c.status is status) for status in
                  (CheckStatus.PASSED, CheckStatus.PARTIAL, CheckStatus.FAILED, CheckStatus.ERROR)}
        rate = counts[CheckStatus.PASSED] / len(found)
        rows.append({
            "name": name, "title": check_title(found[0], config, t.lang), "hidden": found[0].hidden,
            "submissions": len(found), "passed": counts[CheckStatus.PASSED], "partial": counts[CheckStatus.PARTIAL],
            "failed": counts[CheckStatus.FAILED], "error": counts[CheckStatus.ERROR],
            "rate": t.pct(rate, 0), "rate_width": f"{rate * 100:.1f}",
            "mean_points": t.points(statistics.fmean(c.points for c in found)),
            "max_points": t.points(found[0].max_points),
        })
    return rows


def _summary_flag_rows(results: list[GradeResult], report_links: dict[str, str], config: AssignmentConfig | None,
                       t: Catalogue) -> list[dict[str, Any]]:
    """One row per flag a check carries: the notebook's own claim beyond what was measured, a gap
    between the test images the student had and the held-out ones, or a review the points wait for."""
    rows = []
    for result in results:
        for check in automatic_checks(result.checks):
            claim, gap = check.details.get("claim") or {}, check.details.get("test_split") or {}
            flags = [("claim", claim.get("claimed"), claim.get("measured")) if claim.get("flag") else None,
                     ("test_split", gap.get("seen"), gap.get("secret")) if gap.get("flag") else None]
            flags = [f for f in flags if f is not None]
            if check.needs_review and not flags:
                flags.append(("review", None, None))
            for kind, claimed, measured in flags:
                rows.append({"student": result.student, "href": report_links.get(result.student), "kind": kind,
                             "check": check.name, "title": check_title(check, config, t.lang), "flag": t(f"flag_{kind}"),
                             "claimed": t.num(claimed, 4) if claimed is not None else "",
                             "measured": t.num(measured, 4) if measured is not None else "",
                             "message": check.review if kind == "review" and check.review else check.message})
    return rows


def write_class_summary(results: list[GradeResult], out_dir: Path, *, report_links: dict[str, str] | None = None,
                        lang: str = "es", config: AssignmentConfig | None = None) -> Path:
    """Write ``<out_dir>/index.html``: score histogram, pass rate per check, flags to review, problems,
    slowest, all reports.

    ``report_links`` maps a student to the href of their report; by default a report is linked when
    ``<out_dir>/<student>.html`` exists.
    """
    results = [result.rendered(lang, assignment_folder(config)) for result in results]
    t = Catalogue(lang)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if report_links is None:
        report_links = {r.student: f"{report_stem(r.student)}.html" for r in results
                        if (out_dir / f"{report_stem(r.student)}.html").is_file()}
    ordered = sorted(results, key=lambda r: r.student)
    scores = [r.score for r in ordered]
    max_score = max((r.max_score for r in ordered), default=0.0)

    def student_row(result: GradeResult) -> dict[str, Any]:
        execution = result.execution
        first = execution.first_error
        errored = [c.name for c in result.checks if c.status is CheckStatus.ERROR]
        return {
            "student": result.student, "href": report_links.get(result.student),
            "score": t.points(result.score), "max_score": t.points(result.max_score),
            "execution_ok": execution.status is ExecutionStatus.COMPLETED,
            "execution": t.execution(execution.status), "execution_status": ExecutionStatus(execution.status).value,
            "message": execution.message,
            "first_error": (f"{t('first_error_heading', cell=first.cell_index + 1)}: {first.ename}: {first.evalue}"
                            if first is not None else ""),
            "error_checks": t("error_checks", names=", ".join(errored)) if errored else "",
            "wall": t.seconds(execution.wall_seconds),
            "memory": (t("megabytes", value=t.num(execution.peak_memory_mb, 0))
                       if finite(execution.peak_memory_mb) is not None else t("unknown")),
            "device": execution.device or t("unknown"),
        }

    problems = [student_row(r) for r in ordered
                if r.execution.status is not ExecutionStatus.COMPLETED
                or any(c.status is CheckStatus.ERROR for c in r.checks)]
    slowest = [student_row(r) for r in sorted(ordered, key=lambda r: -(finite(r.execution.wall_seconds) or 0.0))
               [:SLOWEST_SHOWN]]
    stats = None
    if scores:
        stats = [
            {"label": t("summary_submissions"), "value": str(len(scores))},
            {"label": t("summary_mean"), "value": f"{t.points(statistics.fmean(scores))} / {t.points(max_score)}"},
            {"label": t("summary_median"), "value": f"{t.points(statistics.median(scores))} / {t.points(max_score)}"},
            {"label": t("summary_full_marks"),
             "value": str(sum(1 for r in ordered if r.max_score > 0 and r.score >= r.max_score))},
        ]
        waiting = sum(1 for r in ordered if r.needs_review)
        if waiting:
            stats.append({"label": t("summary_review"), "value": str(waiting)})
    histogram = (figure_view("figure", t("histogram_heading"), t("histogram_alt"), t, histogram_figure, scores, max_score)
                 if scores else None)
    assignments = sorted({r.assignment for r in ordered})
    page = environment().get_template("summary.html.j2").render(
        t=t, lang=lang, csp=CONTENT_SECURITY_POLICY,
        title=t("summary_title"),
        assignment_title=assignment_title(config, lang) if config is not None else ", ".join(assignments),
        stats=stats, histogram=histogram, check_rows=_summary_check_rows(ordered, config, t),
        flags=_summary_flag_rows(ordered, report_links, config, t),
        problems=problems, slowest=slowest, students=[student_row(r) for r in ordered],
        version=ordered[0].grader_version if ordered else "",
    )
    path = out_dir / "index.html"
    write_text_atomic(path, page)
    return path
