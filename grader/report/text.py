"""What every report page shares: its catalogue (the ``report.*`` keys and the locale's number style),
its constants (Content-Security-Policy, templates) and small helpers over results."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.i18n import LANGUAGES, catalogue, format_number, msg
from grader.records import CheckResult, CheckStatus, ExecutionStatus

if TYPE_CHECKING:
    from grader.config import AssignmentConfig


TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


#: No script, no load other than inline data: images and inline CSS (a srcdoc iframe inherits it).
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           "base-uri 'none'; form-action 'none'")

TRACEBACK_MAX_LINES = 40
SLOWEST_SHOWN = 10

_EXEC_KEYS = {
    ExecutionStatus.COMPLETED: "exec_completed",
    ExecutionStatus.CELL_ERROR: "exec_cell_error",
    ExecutionStatus.TIMEOUT: "exec_timeout",
    ExecutionStatus.KERNEL_DIED: "exec_kernel_died",
    ExecutionStatus.OUTPUT_LIMIT: "exec_output_limit",
    ExecutionStatus.INVALID_NOTEBOOK: "exec_invalid_notebook",
}


class Catalogue:
    """One language's messages (``t("report_title")``, ``t("threshold", zero=.., full=..)``) and number style."""

    prefix = "report."

    def __init__(self, lang: str = "es") -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGUAGES)}")
        self.lang = lang
        self._catalogue = catalogue(lang)

    def __call__(self, key: str, **values: Any) -> str:
        return self._catalogue.render(msg(self.prefix + key, **values))

    def plural(self, key: str, count: int, **values: Any) -> str:
        """The language's plural form of ``key`` for ``count`` (the catalogue's ``{n}``)."""
        return self(key, n=count, **values)

    def num(self, value: Any, digits: int = 2, *, strip: bool = False) -> str:
        """12345.5 -> '12.345,50' (es) or '12,345.50' (en) (:func:`grader.i18n.format_number`); ``strip``
        drops trailing zeros."""
        number = finite(value)
        return "—" if number is None else format_number(number, self.lang, digits, strip=strip)

    def points(self, value: Any) -> str:
        return self.num(value, 2, strip=True)

    def integer(self, value: Any) -> str:
        return self.num(value, 0)

    def pct(self, fraction: Any, digits: int = 2) -> str:
        number = finite(fraction)
        if number is None:
            return "—"
        return f"{self.num(number * 100, digits)} %" if self.lang == "es" else f"{self.num(number * 100, digits)}%"

    def seconds(self, value: Any) -> str:
        number = finite(value)
        if number is None:
            return "—"
        if number < 60:
            return self("seconds", value=self.num(number, 1))
        minutes, seconds = divmod(int(round(number)), 60)
        return self("minutes_seconds", minutes=minutes, seconds=seconds)

    def status(self, status: CheckStatus) -> str:
        return self(f"status_{CheckStatus(status).value}")

    def execution(self, status: ExecutionStatus) -> str:
        return self(_EXEC_KEYS[ExecutionStatus(status)])


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------
# Small helpers shared by the pages and the Gradescope JSON
# --------------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def report_stem(student: str) -> str:
    """The file name (without suffix) of a student's report: the id, with anything odd replaced."""
    stem = _UNSAFE_NAME.sub("_", student).strip("._") or "student"
    return stem[:120]


def _title(config: AssignmentConfig, key: str, default: str, lang: str | None) -> str:
    """The assignment catalogue's ``key`` in ``lang`` (titles translated there), else ``default`` (the
    title assignment.toml gives in the assignment's own language)."""
    if lang is None:
        return default
    book = catalogue(lang, config.folder)
    return book.text(key) if key in book.keys else default


def assignment_title(config: AssignmentConfig, lang: str | None = None) -> str:
    return _title(config, "title", config.title, lang)


def part_title(config: AssignmentConfig, name: str, lang: str | None = None) -> str:
    """The title of check or manual part ``name`` (its name when the configuration has none)."""
    part = config.checks.get(name) or config.manual.get(name)
    return _title(config, f"title.{name}", part.title, lang) if part is not None else name


def check_title(check: CheckResult, config: AssignmentConfig | None, lang: str | None = None) -> str:
    return part_title(config, check.name, lang) if config is not None else check.name


def trim_traceback(text: str, max_lines: int = TRACEBACK_MAX_LINES) -> str:
    lines = _ANSI.sub("", text or "").rstrip().splitlines()
    if len(lines) > max_lines:
        lines = ["…", *lines[-max_lines:]]
    return "\n".join(lines)


def automatic_checks(checks: Iterable[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.status is not CheckStatus.MANUAL]


def public_hints(check: CheckResult) -> list[str]:
    """The short lines of a check's details worth repeating in plain text (mismatches, rules)."""
    details = check.details or {}
    lines = [str(m.get("message", "")) for m in dicts(details.get("mismatches")) if m.get("message")]
    lines += [str(v.get("message", "")) for v in dicts(details.get("violations")) if v.get("message")]
    return lines


def dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def assignment_folder(config: AssignmentConfig | None) -> Path | None:
    """The assignment's folder, whose catalogues have its own messages (none without a configuration)."""
    return config.folder if config is not None else None
