"""Errors a user can fix. The CLI prints their message as one line (no traceback) and exits 2."""

from __future__ import annotations


class GraderError(Exception):
    """Base of the errors whose message names the file, what is wrong and the fix."""


class InvalidSubmissionError(GraderError):
    """A submitted file cannot be read as a notebook."""
