"""Keras course grader: release, self-check and batch-autograde notebook assignments.

Students use ``from grader import check`` inside their notebook; instructors use the ``grader`` CLI.
Importing this package is cheap: TensorFlow is imported only by the stages that need it.
"""

from __future__ import annotations

__version__ = "0.1.0"


def check(part: str, obj, **options):
    """Run the public checks of one part of the assignment on a live object and print a table.

    Example: ``check("<part>", model)``, a part of the assignment with a public check. See
    :mod:`grader.selfcheck`.
    """
    from grader.selfcheck import check as run_check

    return run_check(part, obj, **options)


__all__ = ["__version__", "check"]
