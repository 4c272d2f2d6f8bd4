"""A GradeResult in Gradescope's results JSON schema."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from grader.records import CheckStatus, ExecutionStatus, GradeResult
from grader.report.text import (
    Catalogue,
    assignment_folder,
    automatic_checks,
    check_title,
    finite,
    public_hints,
    trim_traceback,
)

if TYPE_CHECKING:
    from grader.config import AssignmentConfig


def gradescope_json(result: GradeResult, lang: str = "es", *,
                    config: AssignmentConfig | None = None) -> dict[str, Any]:
    """A GradeResult in Gradescope's ``results.json`` schema (pure: no file, no figure).

    One test per automatic check (manual parts are left to the instructor): ``status`` is
    ``passed`` only at full points; a hidden check is shown ``after_published`` and its output is
    its message only. The top-level ``score`` is the total after the late penalty.
    """
    result = result.rendered(lang, assignment_folder(config))
    t = Catalogue(lang)
    tests = []
    for number, check in enumerate(automatic_checks(result.checks), start=1):
        lines = [check.message] if check.message else []
        if check.needs_review:
            lines.append(t("gs_review", reason=check.review or "-"))
        if check.hidden:
            lines.append(t("gs_hidden"))
        else:
            lines += [f"- {hint}" for hint in public_hints(check)]
        tests.append({
            "name": check_title(check, config, lang),
            "number": str(number),
            "score": float(check.points),
            "max_score": float(check.max_points),
            "status": "passed" if check.status is CheckStatus.PASSED else "failed",
            "output": "\n".join(lines),
            "visibility": "after_published" if check.hidden else "visible",
            "tags": [check.name],
        })
    execution = result.execution
    output = [t("gs_score", score=t.points(result.score), max_score=t.points(result.max_score))]
    if result.late_penalty:
        output.append(t("late_penalty", points=t.points(result.late_penalty)))
    output.append(t("gs_execution", status=t.execution(execution.status), message=execution.message).strip())
    if execution.first_error is not None:
        error = execution.first_error
        output.append(t("gs_first_error", cell=error.cell_index + 1, ename=error.ename, evalue=error.evalue))
        if error.traceback:
            output.append(trim_traceback(error.traceback, 15))
    return {
        "score": float(result.score),
        "execution_time": int(math.ceil(finite(execution.wall_seconds) or 0.0)),
        "output": "\n".join(output),
        "output_format": "text",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "assignment": result.assignment,
            "max_score": float(result.max_score),
            "late_penalty": float(result.late_penalty),
            "execution_status": ExecutionStatus(execution.status).value,
            "graded_at": result.graded_at,
            "grader_version": result.grader_version,
        },
    }
