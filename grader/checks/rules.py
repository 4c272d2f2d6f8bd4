"""The seed's submission rules ("Normas de entrega") as a check over facts the grader gathered:
the notebook runs start to end without errors and without asking for input, writes nothing to
disk, and is the only file submitted.

"Nothing to disk" means anywhere the notebook can write (:mod:`grader.workspace`): its folder
(``~/.keras``, ``~/.cache`` and ``~/.config`` included), ``/tmp``, ``/dev/shm`` and the kernel's
runtime folder, files of every kind, links and empty folders alike; only what the programs the
kernel runs write on their own (IPython's profile, matplotlib's and fontconfig's caches in /tmp,
the grader's own export) is left out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader.i18n import joined, msg
from grader.checks.outcome import CheckOutcome

_NO_MODULE = re.compile(r"No module named '([^']+)'")


def missing_module(ename: str, evalue: str) -> str | None:
    """The top-level module a cell's ``ModuleNotFoundError`` names ('xgboost' for 'xgboost.sklearn'),
    or None for any other error."""
    found = _NO_MODULE.search(evalue) if ename == "ModuleNotFoundError" else None
    return found[1].split(".")[0] if found else None


@dataclass(frozen=True)
class SubmissionFacts:
    """Gathered by the pipeline: the execution record, a scan of the sources, the places the notebook
    could write to (``written_files``: :func:`grader.workspace.written_files`, as the student's code
    names them, at most :data:`grader.workspace.LISTED`)."""

    cells_with_errors: int = 0  # besides the cells named in missing_modules and timed_out_cells
    input_cells: list[int] = field(default_factory=list)  # 1-based cell positions calling input()
    written_files: list[str] = field(default_factory=list)
    extra_files: list[str] = field(default_factory=list)
    missing_modules: list[dict] = field(default_factory=list)  # {"module", "cell"}: imports the kernel lacks
    allowed_modules: list[str] = field(default_factory=list)  # [environment] allowed of the assignment
    timed_out_cells: list[str] = field(default_factory=list)  # cells stopped by the per-cell time limit
    cell_timeout_s: int = 0
    # per contract object: the accuracy a cell evaluating it printed (claims.printed_accuracy)
    printed_accuracy: dict[str, dict] = field(default_factory=dict)


def check_rules(facts: SubmissionFacts) -> CheckOutcome:
    violations = []
    if facts.input_cells:
        violations.append({"rule": "no_input", "message_text": msg("rule_input",
                                                                   cell=", ".join(map(str, facts.input_cells)))})
    for missing in facts.missing_modules:
        violations.append({"rule": "allowed_modules", "message_text": msg(
            "rule_module", module=missing["module"], cell=missing["cell"], allowed=", ".join(facts.allowed_modules))})
    if facts.timed_out_cells:
        violations.append({"rule": "time_limit", "message_text": msg(
            "rule_timeout", cells=", ".join(facts.timed_out_cells), seconds=facts.cell_timeout_s)})
    if facts.cells_with_errors:
        violations.append({"rule": "runs_clean", "message_text": msg("rule_errors", n=facts.cells_with_errors)})
    if facts.written_files:
        shown = ", ".join(facts.written_files[:5]) + (" …" if len(facts.written_files) > 5 else "")
        violations.append({"rule": "no_disk_writes", "message_text": msg("rule_writes", files=shown)})
    if facts.extra_files:
        violations.append({"rule": "only_notebook", "message_text": msg("rule_extra_files",
                                                                        files=", ".join(facts.extra_files))})
    if not violations:
        return CheckOutcome(1.0, msg("rules_ok"), {"violations": []})
    return CheckOutcome(0.0, joined([v["message_text"] for v in violations], " | "), {"violations": violations})
