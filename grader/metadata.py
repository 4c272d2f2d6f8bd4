"""What a released notebook carries for the student's side: its ``grader`` metadata block.

``grader release`` writes it into the student notebook's metadata; ``grader check`` reads it, so a
student's local run uses the notebook's own assignment, language and execution limits::

    "metadata": {"grader": {
        "schema_version": 1,
        "assignment": "<name>",               # assignment.toml: name
        "language": "es",                     # assignment.toml: language
        "limits": {"cell_timeout_s": 900, ...},   # assignment.toml: [limits], every field
        "datasets": ["<dataset>", ...],       # assignment.toml: datasets; fetched before a sandboxed run
        "install": "keras-course-grader @ git+https://...",  # [release] install, when set
    }}

It is information for the student's own run, not a security boundary: the instructor's grading
takes everything from ``assignment.toml`` and never reads it. The release also fills the
``{{grader_install}}`` and ``{{grader_install_laptop}}`` placeholders of the source notebook with
``[release] install`` (see :data:`INSTALL_TOKENS`).

Students' side: this module imports only the standard library, :mod:`grader.config` and
:mod:`grader.datasets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.i18n import msg, render

if TYPE_CHECKING:
    from grader.config import AssignmentConfig, Limits

KEY = "grader"
SCHEMA_VERSION = 1
# Extras a student's own computer needs besides the package: what the course notebooks import
# (scikit-learn, scikit-image, matplotlib) and a TensorFlow build. Colab has them all.
LAPTOP_EXTRAS = ("notebook", "tensorflow")
INSTALL_TOKEN = "{{grader_install}}"
LAPTOP_INSTALL_TOKEN = "{{grader_install_laptop}}"
INSTALL_TOKENS = (INSTALL_TOKEN, LAPTOP_INSTALL_TOKEN)


def laptop_requirement(install: str) -> str:
    """``keras-course-grader @ URL`` -> ``keras-course-grader[notebook,tensorflow] @ URL``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", install)
    name, rest = match.group(1), match.group(2)
    return f"{name}[{','.join(LAPTOP_EXTRAS)}]{' ' if rest.startswith('@') else ''}{rest}"


def release_metadata(config: AssignmentConfig) -> dict[str, Any]:
    """The ``grader`` block ``grader release`` writes into the student notebook."""
    block: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "assignment": config.name,
                             "language": config.language, "limits": config.limits.model_dump(),
                             "datasets": list(config.datasets)}
    if config.release.install:
        block["install"] = config.release.install
    return block


def fill_install(source: str, install: str) -> str:
    return source.replace(LAPTOP_INSTALL_TOKEN, laptop_requirement(install)).replace(INSTALL_TOKEN, install)


@dataclass
class NotebookSettings:
    """What ``grader check`` runs a notebook with, and notes on anything it had to assume."""

    assignment: str | None  # None: the notebook does not say, and there was no fallback
    language: str
    limits: Limits
    datasets: list[str]
    install: str | None = None
    from_metadata: bool = False
    notes: list[str] = field(default_factory=list)


def read_settings(metadata: dict, lang: str | None = None, fallback_assignment: str | None = None) -> NotebookSettings:
    """The settings in a notebook's metadata (``nb.metadata``); defaults, with a note, where absent
    or damaged: the assignment ``fallback_assignment``, every registered dataset. ``lang`` (the
    command line's ``--lang``) wins over the notebook's language."""
    from pydantic import ValidationError

    from grader.config import Limits
    from grader.datasets import REGISTRY

    block = metadata.get(KEY) if isinstance(metadata, dict) else None
    if not isinstance(block, dict):
        language = lang or "es"
        return NotebookSettings(fallback_assignment, language, Limits(), list(REGISTRY),
                                notes=[render(msg("settings.absent", assignment=fallback_assignment), language)])
    notes: list[str] = []
    language = block.get("language")
    if lang is None and language not in ("es", "en"):
        notes.append(f"language: {language!r}")
    language = lang or (language if language in ("es", "en") else "es")
    assignment = block.get("assignment")
    if not isinstance(assignment, str) or not re.fullmatch(r"[a-z0-9_]+", assignment):
        notes.append(f"assignment: {assignment!r}")
        assignment = fallback_assignment
    raw_limits = block.get("limits")
    limits = Limits()
    if isinstance(raw_limits, dict):
        # A newer release may know limits this package does not: those are left out.
        known = {name: value for name, value in raw_limits.items() if name in Limits.model_fields}
        try:
            limits = Limits.model_validate(known)
        except ValidationError as exc:
            first = exc.errors()[0]
            notes.append(f"limits.{'.'.join(map(str, first['loc']))}: {first['msg']}")
    else:
        notes.append(f"limits: {raw_limits!r}"[:80])
    datasets = block.get("datasets")
    if not (isinstance(datasets, list) and all(isinstance(d, str) for d in datasets)):
        datasets = list(REGISTRY)
    datasets = [name for name in datasets if name in REGISTRY]  # a newer release may know more
    install = block.get("install") if isinstance(block.get("install"), str) else None
    return NotebookSettings(assignment, language, limits, datasets, install, True,
                            [render(msg("settings.damaged", reason=reason), language) for reason in notes])
