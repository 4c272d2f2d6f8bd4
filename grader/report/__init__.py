"""Feedback reports students can learn from, and a class summary for the instructor.

``write_report`` turns one :class:`~grader.records.GradeResult` into ``<student>.html`` (one
self-contained page: CSS inline, figures as base64 PNG data URIs, no script, no external URL) and
``<student>.json`` (Gradescope's results schema, :func:`gradescope_json`). ``write_class_summary``
writes ``index.html`` over a whole class. The ``grader feedback`` command drives both.

Everything a student wrote (error messages, layer names, the executed notebook) reaches the page
through Jinja2 with autoescape on. The executed notebook's HTML is the one piece that must stay
markup: it is cleaned (no script, no event handler, no external resource) and shown inside a
sandboxed ``<iframe srcdoc>``, and every page carries a Content-Security-Policy that blocks scripts
and any load that is not an inline ``data:`` image, so a notebook can neither run code in the
report nor restyle it. Every sentence and label comes from the engine's catalogue (``report.*`` keys,
:mod:`grader.i18n`).
"""

from grader.report.feedback import FeedbackRun, write_feedback
from grader.report.gradescope import gradescope_json
from grader.report.notebook import render_notebook_fragment, sanitize_fragment
from grader.report.pages import render_report, write_report
from grader.report.summary import write_class_summary
from grader.report.text import (
           CONTENT_SECURITY_POLICY,
           Catalogue,
           check_title,
           report_stem,
           trim_traceback,
)

__all__ = ["CONTENT_SECURITY_POLICY", "Catalogue", "FeedbackRun", "check_title", "gradescope_json",
           "render_notebook_fragment", "render_report", "report_stem", "sanitize_fragment", "trim_traceback",
           "write_class_summary", "write_feedback", "write_report"]
