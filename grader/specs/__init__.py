"""Architecture specs per assignment, shipped with the package (derived by ``grader reference specs``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from grader.errors import GraderError

SPECS_DIR = Path(__file__).parent


def spec_path(assignment: str) -> Path:
    return SPECS_DIR / f"{assignment}.json"


@cache
def load_specs(assignment: str) -> dict[str, dict]:
    path = spec_path(assignment)
    if not path.is_file():
        raise GraderError(f"{path}: no architecture specs for {assignment!r}; fix: run 'grader reference specs'")
    return json.loads(path.read_text(encoding="utf-8"))
