"""Where the instructor's checkout keeps what students never get.

The installable package is ``grader`` plus each assignment's ``public/`` folder (what students' own
checks need); reference solutions, hidden tests and assignment sources live beside it in the course
repository, one folder per assignment in each of the folders below. Instructor commands find them
from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader.errors import GraderError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DIR = PROJECT_ROOT / "assignments"
HIDDEN_TESTS_DIR = PROJECT_ROOT / "autograde_tests"
REFERENCE_DIR = PROJECT_ROOT / "reference_solutions"


def require_checkout() -> Path:
    """Make ``reference_solutions`` importable; fail clearly outside a course checkout."""
    if not (REFERENCE_DIR / "__init__.py").is_file():
        raise GraderError(f"{REFERENCE_DIR}: not found; this command needs the course repository "
                          "(git clone it and \"pip install -e '.[instructor]'\" there), not the student package")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return PROJECT_ROOT
