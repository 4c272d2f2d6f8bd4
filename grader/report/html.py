"""The report pages' Jinja2 environment (autoescape on, strict undefined) and their atomic writes."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from grader.report.text import TEMPLATES_DIR

_ENVIRONMENT: Environment | None = None


def environment() -> Environment:
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        _ENVIRONMENT = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                   keep_trailing_newline=True)
    return _ENVIRONMENT


def write_text_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
