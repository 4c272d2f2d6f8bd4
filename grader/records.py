"""Small typed records passed between the pipeline's stages, and their JSON form.

collect -> Submission; execute -> ExecutionRecord; score -> list[CheckResult]; report <- GradeResult.
Everything that crosses a process boundary is one of these, serialised as JSON (never pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from grader.i18n import Message, joined, render


class CheckStatus(str, Enum):
    PASSED = "passed"      # full points
    PARTIAL = "partial"    # some points (a threshold between zero and full credit)
    FAILED = "failed"      # the check ran and the work is wrong: zero points
    ERROR = "error"        # the check could not run (missing object, unloadable model): zero points
    MANUAL = "manual"      # graded by hand in nbgrader's formgrader; not scored here


class ExecutionStatus(str, Enum):
    COMPLETED = "completed"            # every cell ran without an error
    CELL_ERROR = "cell_error"          # a cell raised; later cells still ran
    TIMEOUT = "timeout"                # a cell or the whole notebook ran past its limit
    KERNEL_DIED = "kernel_died"        # the kernel process ended (os._exit, out of memory, killed)
    OUTPUT_LIMIT = "output_limit"      # the notebook printed more than allowed
    INVALID_NOTEBOOK = "invalid_notebook"  # not a notebook / unreadable: nothing was executed
    GRADER_ERROR = "grader_error"      # the grader itself failed on this submission (see the message)


@dataclass
class CheckResult:
    name: str
    points: float
    max_points: float
    status: CheckStatus
    message: str
    hidden: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    # Graded from something the grader could not verify (e.g. outputs a subclassed model gave inside the
    # student's kernel), or refused as inconsistent: the points stand until the instructor reviews them
    # (nbgrader's needs_manual_grade; a flag in the report). ``review`` says why, in the student's language.
    needs_review: bool = False
    review: str = ""
    # The key forms of ``message`` and of each review reason (grader.i18n): ``message`` and ``review``
    # are their sentences in the language the result was graded in; :meth:`GradeResult.rendered`
    # renders them again in another.
    text: Message | None = None
    review_reasons: list[Message] = field(default_factory=list)

    def flag_for_review(self, reason: Message, lang: str, assignment_dir: Path | None = None) -> None:
        """Mark for review; several reasons are kept, each once."""
        if reason not in self.review_reasons:
            self.review_reasons.append(reason)
        self.needs_review = True
        self.review = render(joined(self.review_reasons), lang, assignment_dir)

    @classmethod
    def from_fraction(cls, name: str, max_points: float, fraction: float, message: str, **extra) -> CheckResult:
        fraction = min(max(float(fraction), 0.0), 1.0)
        status = CheckStatus.PASSED if fraction >= 1.0 else CheckStatus.PARTIAL if fraction > 0 else CheckStatus.FAILED
        return cls(name, round(max_points * fraction, 4), max_points, status, message, **extra)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """The inverse of its JSON form (``asdict``): enums and messages made objects again."""
        return cls(**{**data, "status": CheckStatus(data["status"]),
                      "details": details_from_json(dict(data.get("details") or {})),
                      "text": _message_or_none(data.get("text")),
                      "review_reasons": [Message.from_dict(r) for r in data.get("review_reasons") or []]})

    def rendered(self, lang: str, assignment_dir: Path | None = None) -> CheckResult:
        """A copy with its sentences in ``lang`` (those without a key form are kept as they are)."""
        copy = CheckResult(**{**self.__dict__, "details": _rendered_details(self.details, lang, assignment_dir),
                              "review_reasons": list(self.review_reasons)})
        copy.message = _sentence(self.text, self.message, lang, assignment_dir)
        if self.review_reasons:
            copy.review = _sentence(joined(self.review_reasons), self.review, lang, assignment_dir)
        return copy


TEXT_SUFFIX = "_text"


def _sentence(text: Message | None, stored: str, lang: str, assignment_dir: Path | None) -> str:
    """``text`` rendered in ``lang``; the ``stored`` sentence when there is no key form or the catalogues at
    hand lack one of its keys (a result from another version, an assignment's key without its folder)."""
    if text is None:
        return stored
    try:
        return render(text, lang, assignment_dir)
    except KeyError:
        return stored


def _rendered_details(value: Any, lang: str, assignment_dir: Path | None) -> Any:
    """``value`` with each ``<name>_text`` message of its dicts (at any depth) rendered as ``<name>``."""
    if isinstance(value, list):
        return [_rendered_details(item, lang, assignment_dir) for item in value]
    if not isinstance(value, dict):
        return value
    copy = {key: _rendered_details(item, lang, assignment_dir) for key, item in value.items()}
    for key, item in value.items():
        if key.endswith(TEXT_SUFFIX) and isinstance(item, Message):
            name = key.removesuffix(TEXT_SUFFIX)
            copy[name] = _sentence(item, value.get(name, ""), lang, assignment_dir)
    return copy


def details_from_json(value: Any) -> Any:
    """The inverse of the JSON form: each ``<name>_text`` dict becomes a :class:`Message` again."""
    if isinstance(value, list):
        return [details_from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: Message.from_dict(item) if key.endswith(TEXT_SUFFIX) and isinstance(item, dict)
            else details_from_json(item) for key, item in value.items()}


@dataclass
class CellError:
    cell_index: int  # 0-based position among all the notebook's cells (messages show it 1-based)
    cell_id: str | None
    ename: str
    evalue: str
    traceback: str  # ANSI colour codes stripped, trimmed to the last lines


@dataclass
class ExecutionRecord:
    status: ExecutionStatus
    message: str
    wall_seconds: float = 0.0
    peak_memory_mb: float | None = None
    device: str = "cpu"
    sandboxed: bool = False
    cells_executed: int = 0
    first_error: CellError | None = None
    errors: list[CellError] = field(default_factory=list)
    executed_notebook: str | None = None  # path of the executed copy, with outputs
    kernel_started_ahead: bool = False  # a fresh kernel, started and its preamble run before the notebook came
    text: Message | None = None  # the key form of ``message`` (see CheckResult.text)

    def rendered(self, lang: str, assignment_dir: Path | None = None) -> ExecutionRecord:
        copy = ExecutionRecord(**self.__dict__)
        copy.message = _sentence(self.text, self.message, lang, assignment_dir)
        return copy


@dataclass
class GradeResult:
    student: str
    assignment: str
    checks: list[CheckResult]
    execution: ExecutionRecord
    graded_at: str
    grader_version: str
    late_penalty: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        earned = sum(c.points for c in self.checks if c.status is not CheckStatus.MANUAL)
        return round(max(earned - self.late_penalty, 0.0), 4)

    @property
    def needs_review(self) -> bool:
        """Some automatic check waits for the instructor's review (its points stand until then)."""
        return any(c.needs_review for c in self.checks if c.status is not CheckStatus.MANUAL)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks if c.status is not CheckStatus.MANUAL), 4)

    def rendered(self, lang: str, assignment_dir: Path | None = None) -> GradeResult:
        """A copy whose sentences are in ``lang``: results stored in one language are read in another."""
        return GradeResult(**{**self.__dict__, "checks": [c.rendered(lang, assignment_dir) for c in self.checks],
                              "execution": self.execution.rendered(lang, assignment_dir)})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = self.score
        data["max_score"] = self.max_score
        data["needs_review"] = self.needs_review
        return json.loads(json.dumps(data, default=_enum_value))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeResult:
        execution = dict(data["execution"])
        execution["status"] = ExecutionStatus(execution["status"])
        execution["first_error"] = CellError(**execution["first_error"]) if execution.get("first_error") else None
        execution["errors"] = [CellError(**e) for e in execution.get("errors", [])]
        execution["text"] = _message_or_none(execution.get("text"))
        checks = [CheckResult.from_dict(c) for c in data["checks"]]
        fields = {k: data[k] for k in ("student", "assignment", "graded_at", "grader_version")}
        return cls(checks=checks, execution=ExecutionRecord(**execution),
                   late_penalty=data.get("late_penalty", 0.0), timing=data.get("timing", {}), **fields)


def _message_or_none(data: Any) -> Message | None:
    return Message.from_dict(data) if isinstance(data, dict) else None


def _enum_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON so that a reader never sees half a file, even if this process is killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_enum_value) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path
