"""What students' own checks need, per assignment: ``assignments/<name>/public/checks.json``.

``grader reference specs NAME`` writes it from the assignment's configuration (its checks with a
``public`` kind) and its reference code (the architecture specs). The package ships every
assignment's ``public/`` folder (``pyproject.toml``), so ``check(...)`` in a notebook and
``grader check`` have it without the reference solutions or the configuration::

    {"assignment": "<name>",
     "parts": {"<check>": {"kind": "architecture" | "parameters" | "image_output", "object": "<contract name>"}},
     "specs": {"<contract name>": <grader.probe.summarize() of the reference model, without layer names>}}

Students' side: standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import GraderError
from grader.i18n import Message, msg, render
from grader.instructor import ASSIGNMENTS_DIR

if TYPE_CHECKING:
    from grader.config import AssignmentConfig

PUBLIC_FILE = "checks.json"
# Set in the kernels the grader runs (grading, 'grader check'): the assignment whose parts check() runs.
ASSIGNMENT_ENV = "GRADER_ASSIGNMENT"


@dataclass(frozen=True)
class PublicPart:
    kind: str    # one of grader.config.PUBLIC_CHECK_KINDS
    object: str  # the contract name of the object the check reads


@dataclass(frozen=True)
class PublicChecks:
    assignment: str
    parts: dict[str, PublicPart]
    specs: dict[str, dict]


def public_checks_path(assignment: str) -> Path:
    return ASSIGNMENTS_DIR / assignment / "public" / PUBLIC_FILE


def installed_assignments() -> list[str]:
    """The assignments whose public checks this installation has, by name."""
    return sorted(path.parent.parent.name for path in ASSIGNMENTS_DIR.glob(f"*/public/{PUBLIC_FILE}"))


@cache
def load_public_checks(assignment: str) -> PublicChecks:
    path = public_checks_path(assignment)
    if not path.is_file():
        raise GraderError(f"{path}: no public checks for assignment {assignment!r}; fix: install the course's "
                          f"grader package that has it (or, in the course checkout, run 'grader reference specs "
                          f"{assignment}')")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return PublicChecks(raw["assignment"], {name: PublicPart(**part) for name, part in raw["parts"].items()},
                        raw["specs"])


class UnknownPart(KeyError):
    """``check(part, ...)`` names a part no installed assignment (or several) has publicly; ``text`` says
    which in any language (its ``str`` is the English sentence)."""

    def __init__(self, text: Message) -> None:
        super().__init__(render(text, "en"))
        self.text = text


def public_checks_of(part: str, assignment: str | None = None) -> PublicChecks:
    """The public checks ``part`` belongs to: of ``assignment``, else of the assignment the kernel was
    started for (``$GRADER_ASSIGNMENT``), else of the one installed assignment that has ``part``."""
    name = assignment or os.environ.get(ASSIGNMENT_ENV)
    candidates = [load_public_checks(name)] if name else [load_public_checks(a) for a in installed_assignments()]
    having = [checks for checks in candidates if part in checks.parts]
    if len(having) == 1:
        return having[0]
    if not having:
        known = ", ".join(p for checks in candidates for p in checks.parts)
        raise UnknownPart(msg("check.unknown_part", part=repr(part), known=known))
    names = [checks.assignment for checks in having]
    raise UnknownPart(msg("check.ambiguous_part", part=repr(part), assignments=", ".join(names),
                          first=repr(names[0])))


def build_public_checks(config: AssignmentConfig, specs: dict[str, dict]) -> dict:
    """The content of ``public/checks.json`` (instructor's side): the configuration's public checks and
    the reference code's architecture specs."""
    parts = {name: {"kind": check.public, "object": check.objects[0]} for name, check in config.public_checks.items()}
    wanted = {part["object"] for part in parts.values() if part["kind"] in ("architecture", "parameters")}
    missing = sorted(wanted - set(specs))
    if missing:
        raise GraderError(f"reference_solutions/{config.name}/specs.py: architecture_specs() has no spec for "
                          f"{missing}, which public checks of {config.name} compare with; fix: add them")
    return {"assignment": config.name, "parts": parts, "specs": specs}
