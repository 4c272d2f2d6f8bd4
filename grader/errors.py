"""Errors a user can fix. The CLI prints their message as one line (no traceback) and exits 2."""

from __future__ import annotations

from grader.i18n import Message, render


class GraderError(Exception):
    """Base of the errors whose message names the file, what is wrong and the fix."""


class InvalidSubmissionError(GraderError):
    """A submitted file cannot be read as a notebook. ``text`` says why in any language (its ``str`` is
    the English sentence, for logs); the student reads it in the assignment's."""

    def __init__(self, text: Message):
        super().__init__(render(text, "en"))
        self.text = text
