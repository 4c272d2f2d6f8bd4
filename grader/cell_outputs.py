"""What a notebook's cells print, kept as Jupyter shows it and within bounds.

ANSI codes come out, streams are merged with carriage returns and backspaces applied (a Keras progress
bar counts as its final line), tracebacks are trimmed to their last lines, and :class:`BoundedClient`
(nbclient's client) counts every output against an :class:`OutputBudget`: past it, text is cut and
further outputs are dropped with one notice per cell; errors are always kept, trimmed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

ERROR_OUTPUT_CHARS = 20_000   # an error output kept in the notebook (traceback trimmed to this)
TRACEBACK_LINES = 40          # CellError.traceback: the last lines
TRACEBACK_CHARS = 6_000

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_BACKSPACE = re.compile(r"[^\n]\x08")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def trim_traceback(lines: Iterable[str], max_lines: int = TRACEBACK_LINES,
                   max_chars: int = TRACEBACK_CHARS) -> str:
    """ANSI codes out, and only the last lines (the ones that say what went wrong)."""
    text = strip_ansi("\n".join(lines)).rstrip()
    kept = text.splitlines()
    cut = len(kept) > max_lines
    kept = kept[-max_lines:]
    text = "\n".join(kept)
    if len(text) > max_chars:
        text, cut = text[-max_chars:], True
    return ("...\n" if cut else "") + text


def collapse_stream(text: str) -> str:
    """Apply backspaces and carriage returns as Jupyter shows a stream: on each line, what comes
    after the last carriage return that is not the line's end (linear time: no regex backtracking
    over a long line)."""
    if "\x08" in text:
        previous = None
        while previous != text:
            previous, text = text, _BACKSPACE.sub("", text)
    if "\r" not in text:
        return text
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if "\r" in line:
            body = line.rstrip("\r")
            lines[number] = body.rpartition("\r")[2] + line[len(body):]
    return "\n".join(lines)


def append_stream(old: str, new: str) -> str:
    cut = old.rfind("\n") + 1  # only the last, unfinished line of ``old`` can change
    return old[:cut] + collapse_stream(old[cut:] + new)


def output_size(output: NotebookNode) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    return len(json.dumps(output, ensure_ascii=False, default=str))


class OutputBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.exceeded = False

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


class BoundedClient(NotebookClient):
    """nbclient with bounded outputs: streams merged as they come, the rest counted."""

    def begin_cell(self, budget: OutputBudget) -> None:
        self.budget = budget
        self.cell_used = 0
        self.cell_notice = False
        self.error_content: dict[str, Any] | None = None

    def _notice(self, outs: list[NotebookNode]) -> None:
        if not self.cell_notice:
            self.cell_notice = True
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[grader: output truncated; the notebook's outputs exceeded "
                     f"{self.budget.limit} characters]\n"))

    def _spend(self, amount: int) -> None:
        self.budget.used += amount
        self.cell_used += amount

    def clear_output(self, outs: list[NotebookNode], msg: dict[str, Any], cell_index: int) -> None:
        super().clear_output(outs, msg, cell_index)
        if not msg["content"].get("wait") and not self.output_hook_stack[msg["parent_header"].get("msg_id")]:
            self._spend(-self.cell_used)
            self.cell_notice = False

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        if self.output_hook_stack[msg["parent_header"].get("msg_id")]:
            return super().output(outs, msg, display_id, cell_index)
        if self.clear_before_next_output:  # a delayed clear_output(wait=True) happens now
            self._spend(-self.cell_used)
            self.cell_notice = False
        msg_type, content = msg["msg_type"], msg["content"]
        if msg_type == "stream":
            return self._stream(outs, content.get("name", "stdout"), content.get("text", ""))
        if msg_type == "error":
            return self._error(outs, msg, display_id, cell_index)
        try:
            candidate = nbformat.v4.output_from_msg(msg)
        except ValueError:
            return None
        size = output_size(candidate)
        if size > self.budget.left:
            self.budget.exceeded = True
            if self.clear_before_next_output:
                outs[:] = []
                self.clear_before_next_output = False
            self._notice(outs)
            return None
        self._spend(size)
        return super().output(outs, msg, display_id, cell_index)

    def _stream(self, outs: list[NotebookNode], name: str, text: str) -> NotebookNode | None:
        if self.budget.exceeded and not self.budget.left:
            self._notice(outs)  # nothing more is kept: no work on the text either
            return None
        if self.clear_before_next_output:
            outs[:] = []
            self.clear_display_id_mapping(self.current_cell_index)
            self.clear_before_next_output = False
        last = outs[-1] if outs else None
        merge = (last is not None and last.get("output_type") == "stream" and last.get("name") == name
                 and not self.cell_notice)
        old = last["text"] if merge else ""
        new = append_stream(old, text)
        grow = len(new) - len(old)
        if grow > self.budget.left:
            self.budget.exceeded = True
            new = new[:len(old) + self.budget.left]
            grow = len(new) - len(old)
        if grow or (merge and new != old):
            self._spend(grow)
            if merge:
                last["text"] = new
            elif new:
                outs.append(nbformat.v4.new_output("stream", name=name, text=new))
        if self.budget.exceeded:
            self._notice(outs)
        return outs[-1] if outs else None

    def _error(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        out = super().output(outs, msg, display_id, cell_index)  # always kept, but trimmed
        if out is not None:
            frames = list(out.get("traceback", []))
            while len(frames) > 2 and sum(len(f) for f in frames) > ERROR_OUTPUT_CHARS:
                frames.pop(1)
            if sum(len(f) for f in frames) > ERROR_OUTPUT_CHARS:
                frames = [f[-ERROR_OUTPUT_CHARS // max(len(frames), 1):] for f in frames]
            out["traceback"] = frames
            out["evalue"] = str(out.get("evalue", ""))[:ERROR_OUTPUT_CHARS]
        return out

    def process_message(self, msg: dict[str, Any], cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        self.current_cell_index = cell_index
        return super().process_message(msg, cell, cell_index)
