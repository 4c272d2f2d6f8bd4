"""Grade one submission end to end: read -> restore locked cells -> execute -> export -> score -> result.

:func:`grade_submission` never raises for a bad submission: an unreadable notebook, a kernel that
dies, a model that cannot be loaded all end in a :class:`~grader.records.GradeResult` whose checks
explain what happened. It raises only for the grader's own problems (no data, bad configuration,
no sandbox when one is required), with a one-line message.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import shutil
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from grader import __version__
from grader.checks.claims import printed_accuracy
from grader.checks.rules import SubmissionFacts, missing_module
from grader.config import AssignmentConfig, Limits
from grader.datasets import DATA_DIR_ENV
from grader.errors import GraderError, InvalidSubmissionError
from grader.i18n import Message, copy_assignment_catalogues, joined, msg, render
from grader.heldout import HELDOUT_FOLDER, HeldOutFolders, link_inputs, prepare_heldout
from grader.public_checks import ASSIGNMENT_ENV, load_public_checks, public_checks_path
from grader.records import (CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult,
                            write_json_atomic)
from grader.scoring import PREDICTIONS_FILE, ScoringServer
from grader.workspace import ARTIFACTS, regular_files_copy, written_files

if TYPE_CHECKING:
    from grader.kernels_ahead import KernelsAhead

INPUT_CALL = re.compile(r"(?<![\w.])input\s*\(")
# The kernel's global seed (repeatable runs when the student sets none): never the held-out seed,
# which would let the kernel replay the draw of the secret items.
KERNEL_SEED = 12345


def _say(key: str, **values) -> Message:
    return msg(f"read.{key}", **values)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))  # no copy when ASCII


def cell_label(cell, index: int) -> str:
    """How a note names a cell of the submitted file: its 1-based position and, when it has one, its id
    (positions in the executed notebook differ once deleted locked cells are put back)."""
    cell_id = cell.get("id") if isinstance(cell, dict) else None
    return f"{index + 1} (id {cell_id[:40]})" if isinstance(cell_id, str) and cell_id else str(index + 1)


def _kind(value) -> Message:
    """How a message names a JSON value that should have been text."""
    if isinstance(value, bool):
        return _say("boolean", value=str(value).lower())
    if isinstance(value, (int, float)):
        return _say("number", value=repr(value)[:20])
    if isinstance(value, dict):
        return _say("object")
    if isinstance(value, list):
        return _say("list")
    return _say("other", value=type(value).__name__)


def _check_cells(cells: list, path: Path, limits: Limits) -> list[int]:
    """Reject a notebook too big to run or with a cell whose source is not text, before nbformat reads it.

    Returns the indices of cells without a source (missing or null): unambiguous, they are read as empty.
    A source that is a number, an object or a list of non-text is not: the notebook is rejected.
    """
    if len(cells) > limits.max_cells:
        raise InvalidSubmissionError(_say("too_many_cells", path=path.name, count=len(cells), limit=limits.max_cells))
    empty, total, largest = [], 0, (0, 0)
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            what = _say("not_a_cell", kind=_kind(cell))
            raise InvalidSubmissionError(_say("bad_cell", path=path.name, cell=index + 1, what=what))
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmissionError(_say("bad_cell", path=path.name, cell=cell_label(cell, index),
                                              what=_say("bad_type")))
        source = cell.get("source")
        if source is None:
            empty.append(index)
            continue
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            size = sum(_utf8_size(line) for line in source)
        elif isinstance(source, str):
            size = _utf8_size(source)
        else:
            what = _say("bad_source", kind=_kind(source))
            raise InvalidSubmissionError(_say("bad_cell", path=path.name, cell=cell_label(cell, index), what=what))
        total += size
        largest = max(largest, (size, index))
    if total > limits.max_source_mb * 1_000_000:
        raise InvalidSubmissionError(_say("too_much_source", path=path.name, mb=total / 1e6,
                                          cell=cell_label(cells[largest[1]], largest[1]),
                                          cell_mb=largest[0] / 1e6, limit=limits.max_source_mb))
    return empty


def read_submission(path: Path, limits: Limits | None = None) -> tuple[nbformat.NotebookNode, list[Message]]:
    """The notebook as nbformat 4 with outputs cleared, plus notes on what was fixed on the way.

    ``limits``: the assignment's (``max_cells``, ``max_source_mb``); default :class:`Limits`' defaults.
    Messages name the file, never the folder it is in (the student reads them).
    """
    path, limits = Path(path), limits or Limits()
    notes: list[Message] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidSubmissionError(_say("unreadable", path=path.name, reason=exc.strerror or "")) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark (Windows editors write one) is still UTF-8 text
    except UnicodeDecodeError as exc:
        raise InvalidSubmissionError(_say("not_utf8", path=path.name, byte=exc.start)) from None
    del raw
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmissionError(_say("bad_json", path=path.name, line=exc.lineno, column=exc.colno)) from None
    except (ValueError, RecursionError) as exc:  # absurdly nested JSON, integers beyond Python's limit
        raise InvalidSubmissionError(_say("unreadable_json", path=path.name, error=type(exc).__name__)) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise InvalidSubmissionError(_say("no_cells", path=path.name))
    version = data.get("nbformat")
    raw_cells = data.get("cells")
    if isinstance(raw_cells, list):  # nbformat 4: checked before nbformat reads (and validates) all of it
        _check_cells(raw_cells, path, limits)
    del data, raw_cells
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many types for malformed structures
        raise InvalidSubmissionError(_say("malformed", path=path.name,
                                          error=f"{type(exc).__name__}: {exc}"[:300])) from None
    if not isinstance(nb.get("cells"), list):
        raise InvalidSubmissionError(_say("no_cells", path=path.name))
    empty = _check_cells(nb.cells, path, limits)  # again after a conversion from nbformat 3
    for index in empty:
        nb.cells[index]["source"] = ""
    if empty:
        notes.append(_say("no_source", n=len(empty),
                          cells=", ".join(cell_label(nb.cells[index], index) for index in empty)))
    if version != 4:
        notes.append(_say("converted", version=str(version)))
    if not [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]:
        raise InvalidSubmissionError(_say("no_code", path=path.name))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb, notes


def scan_input_calls(nb: nbformat.NotebookNode) -> list[int]:
    """1-based positions (among all cells, as messages count) of code cells that call ``input()``."""
    found = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        try:
            calls = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "input"
                        for node in ast.walk(ast.parse(_python_only(cell.source))))
        except SyntaxError:
            calls = bool(INPUT_CALL.search(cell.source))
        if calls:
            found.append(number)
    return found


def _python_only(source: str) -> str:
    """Drop IPython magics and shell escapes so the rest parses as Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def errors_outside_tests(nb: nbformat.NotebookNode, record: ExecutionRecord) -> int:
    """Cells that failed, not counting graded test cells (a failing test costs its own points), nor the
    cells :func:`execution_facts` names on their own (a missing module, the per-cell time limit)."""
    return sum(1 for error in record.errors
               if not (0 <= error.cell_index < len(nb.cells) and _is_test_cell(nb.cells[error.cell_index]))
               and error.ename != "CellTimeout" and not missing_module(error.ename, error.evalue))


def _student_cell(nb: nbformat.NotebookNode, index: int) -> str:
    """A cell as the rules' messages name it: its 1-based position and, when it has one, its grade_id."""
    grade_id = nb.cells[index].metadata.get("nbgrader", {}).get("grade_id") if 0 <= index < len(nb.cells) else None
    return f"{index + 1} ({grade_id})" if grade_id else str(index + 1)


def execution_facts(nb: nbformat.NotebookNode, record: ExecutionRecord, config: AssignmentConfig) -> dict:
    """The rules' facts about how the run went: imports of modules the kernel lacks (one entry per
    module) and cells stopped by the per-cell time limit."""
    modules: dict[str, str] = {}
    for error in record.errors:
        module = missing_module(error.ename, error.evalue)
        if module and not (0 <= error.cell_index < len(nb.cells) and _is_test_cell(nb.cells[error.cell_index])):
            modules.setdefault(module, _student_cell(nb, error.cell_index))
    return {"missing_modules": [{"module": m, "cell": cell} for m, cell in modules.items()],
            "allowed_modules": list(config.environment.allowed),
            "timed_out_cells": [_student_cell(nb, e.cell_index) for e in record.errors if e.ename == "CellTimeout"],
            "cell_timeout_s": config.limits.cell_timeout_s}


def printed_claims(executed: nbformat.NotebookNode, names) -> dict[str, dict]:
    """What the student's own cells printed about each of ``names`` when evaluating it (the text of
    streams and plain-text results, as the student saw it)."""
    cells = [(cell.source if cell.cell_type == "code" else "",
              "".join(out.get("text", "") if out.get("output_type") == "stream"
                      else out.get("data", {}).get("text/plain", "") for out in cell.get("outputs", [])))
             for cell in executed.cells]
    return {name: found for name in names if (found := printed_accuracy(cells, name)) is not None}


def _kernel_cells(config: AssignmentConfig, paths: dict[str, Path]) -> tuple[list[str], list[str]]:
    preamble = [f"from grader.kernel_setup import prepare_kernel\nprepare_kernel(seed={KERNEL_SEED})"]
    epilogue = [
        "from grader.export import export_artifacts as __grader_export\n"
        f"__grader_export(globals(), {str(paths['artifacts'])!r}, {str(paths['kernel_inputs'])!r}, "
        f"{dict(config.contract)!r}, {dict(config.inputs)!r}, {config.limits.model_dump()!r})"
    ]
    return preamble, epilogue


def _invalid_result(student: str, config: AssignmentConfig, reason: Message) -> GradeResult:
    sentence = render(reason, config.language, config.folder)
    execution = ExecutionRecord(ExecutionStatus.INVALID_NOTEBOOK, sentence, text=reason)
    checks = [CheckResult(name, 0.0, check.points, CheckStatus.ERROR, sentence, hidden=check.hidden, text=reason)
              for name, check in config.checks.items()]
    return _result(student, config, checks, execution, {})


def _manual_parts(config: AssignmentConfig) -> list[CheckResult]:
    return [CheckResult(name, 0.0, part.points, CheckStatus.MANUAL, part.title, hidden=False,
                        text=msg(f"title.{name}"))  # the assignment's catalogue may translate it
            for name, part in config.manual.items()]


def _result(student, config, checks, execution, timing, late_penalty: float = 0.0) -> GradeResult:
    return GradeResult(student=student, assignment=config.name, checks=checks + _manual_parts(config),
                       execution=execution, graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       grader_version=__version__, late_penalty=late_penalty, timing=timing)


def _public_folder(config: AssignmentConfig) -> tuple[Path, ...]:
    """The assignment's ``public/`` folder, when it has one: the kernel's own check() calls read it."""
    folder = public_checks_path(config.name).parent
    return (folder,) if folder.is_dir() else ()


def write_scoring_job(job: Path, config: AssignmentConfig, facts: SubmissionFacts) -> None:
    """Everything the scoring process needs besides the artifacts, in one folder it can read:
    its own copy of the hidden tests, the configuration, resolved thresholds, the facts and the
    architecture specs of the public checks (``specs.json``)."""
    shutil.copytree(config.hidden_tests_dir, job / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    copy_assignment_catalogues(config.folder, job)
    specs = load_public_checks(config.name).specs if public_checks_path(config.name).is_file() else {}
    write_json_atomic(job / "specs.json", specs)
    (job / "config.json").write_text(config.model_dump_json(), encoding="utf-8")
    bounds = {name: config.threshold_bounds(name) for name, check in config.checks.items() if check.threshold}
    write_json_atomic(job / "bounds.json", bounds)
    write_json_atomic(job / "facts.json", asdict(facts))


def _kernel_setup(config: AssignmentConfig, folders: dict[str, Path], sandbox: bool, env: dict[str, str] | None,
                  heldout: HeldOutFolders) -> dict:
    """What :func:`grader.execute.execute_notebook` takes besides the notebook, for a kernel working in
    ``folders`` (``scratch``, ``kernel_inputs``, ``runtime``, ``artifacts``)."""
    kernel_env = {ASSIGNMENT_ENV: config.name, **(env or {}), DATA_DIR_ENV: str(heldout.served)}
    gpu = (env or {}).get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1")
    if gpu:  # several jobs share a GPU: each takes memory as it needs it, under either backend
        kernel_env.update({"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"})
    policy = None
    if sandbox:
        from grader.sandbox import SandboxPolicy

        policy = SandboxPolicy(scratch=folders["scratch"], limits=config.limits, runtime_dir=folders["runtime"],
                               ro_binds=(folders["kernel_inputs"], heldout.served, *_public_folder(config)), gpu=gpu)
    preamble, epilogue = _kernel_cells(config, folders)
    return {"workdir": folders["scratch"], "limits": config.limits, "preamble": preamble, "epilogue": epilogue,
            "sandbox": policy, "env": kernel_env, "lang": config.language}


KERNEL_FOLDERS = ("scratch", "kernel_inputs", "runtime")  # made for each kernel: its sandbox binds them


def _kernel_folders(folder: Path, make: bool = False) -> dict[str, Path]:
    """A kernel's folders inside ``folder`` (created with ``make``)."""
    scratch = folder / "scratch"
    folders = {"scratch": scratch, "kernel_inputs": folder / "inputs", "runtime": folder / "runtime",
               "artifacts": scratch / ARTIFACTS}
    if make:
        for key in KERNEL_FOLDERS:
            folders[key].mkdir(parents=True)
    return folders


def _execute(nb: nbformat.NotebookNode, config: AssignmentConfig, work: dict[str, Path], sandbox: bool,
             env: dict[str, str] | None, heldout: HeldOutFolders, ahead: KernelsAhead | None):
    """Run the notebook: in the kernel this worker started ahead for this setup, else in a fresh one
    (``work``'s folders); start the next notebook's kernel meanwhile. A kernel started ahead works in its
    own folder, whose ``scratch`` then becomes ``work["scratch"]``."""
    from grader.execute import execute_notebook, start_kernel_ahead
    from grader.kernels_ahead import NEXT_KERNELS

    key = json.dumps([config.model_dump_json(), sandbox, sorted((env or {}).items()), str(heldout.served)])
    prepared = ahead.take(key) if ahead is not None else None
    if ahead is not None:
        ahead.prepare(key, work["scratch"].parent.parent / NEXT_KERNELS, lambda folder: start_kernel_ahead(
            **_kernel_setup(config, _kernel_folders(folder, make=True), sandbox, env, heldout)))
    executed = None
    if prepared is not None:
        folders = _kernel_folders(prepared.folder)
        executed = prepared.kernel.execute(nb, before_epilogue=lambda: link_inputs(heldout.inputs,
                                                                                   folders["kernel_inputs"]))
        if executed is not None:
            shutil.rmtree(work["scratch"])
            shutil.move(folders["scratch"], work["scratch"])
        shutil.rmtree(prepared.folder, ignore_errors=True)
    if executed is None:
        executed = execute_notebook(nb, **_kernel_setup(config, work, sandbox, env, heldout),
                                    before_epilogue=lambda: link_inputs(heldout.inputs, work["kernel_inputs"]))
    return executed


def grade_submission(notebook: Path, config: AssignmentConfig, *, student: str, workdir: Path,
                     sandbox: bool = True, env: dict[str, str] | None = None, db_url: str | None = None,
                     late_penalty: float = 0.0, extra_files: list[str] | None = None,
                     scorer: ScoringServer | None = None, heldout: HeldOutFolders | None = None,
                     ahead: KernelsAhead | None = None) -> GradeResult:
    """Grade one notebook; write ``workdir/result.json`` and ``workdir/executed.ipynb``; return the result.

    ``scorer``: a running scoring process to reuse (a batch keeps one per worker); without it, one is
    started for this notebook and closed after it. Its sandbox setting must match ``sandbox``.
    ``heldout``: the held-out data built once for a batch (:func:`grader.heldout.prepare_heldout`);
    without it, it is built in ``workdir``. The kernel is served the datasets without the secret items
    and sees the secret inputs only once the student's cells have run. ``ahead``: the worker's kernels
    started ahead (:mod:`grader.kernels_ahead`, a batch keeps one per worker), used when it holds one
    for this setup, and given the next notebook's to start."""
    from grader.release import repair_nbgrader_metadata, restore_locked_cells

    started = time.perf_counter()
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)  # a re-grade starts clean: nothing from an earlier attempt is reused
    work = {**_kernel_folders(workdir, make=True), "job": workdir / "job", "predictions": workdir / PREDICTIONS_FILE}
    try:
        nb, notes = read_submission(notebook, config.limits)
        nb, repairs = repair_nbgrader_metadata(nb, config, db_url)
        nb, edited = restore_locked_cells(nb, config, db_url)
        notes += repairs
    except InvalidSubmissionError as exc:
        result = _invalid_result(student, config, exc.text)
        write_json_atomic(workdir / "result.json", result.to_dict())
        return result
    heldout = heldout or prepare_heldout(config, workdir / HELDOUT_FOLDER)
    work["inputs"], work["answers"] = heldout.inputs, heldout.answers  # the scorer's copies
    timing = {"prepare_s": round(time.perf_counter() - started, 2)}

    if scorer is not None and scorer.sandboxed != sandbox:
        raise GraderError("the scoring process's sandbox setting differs from the submission's")
    with contextlib.ExitStack() as own:
        if scorer is None:  # graded alone: the scoring process starts up while the notebook runs
            scorer = own.enter_context(ScoringServer(workdir, config.limits, sandboxed=sandbox)).launch()
        executed = _execute(nb, config, work, sandbox, env, heldout, ahead)
        timing["execute_s"] = round(executed.record.wall_seconds, 2)
        record = executed.record
        record.executed_notebook = str(workdir / "executed.ipynb")
        nbformat.write(executed.notebook, record.executed_notebook)
        if notes or edited:
            restored = _say("restored", cells=", ".join(edited)) if edited else None
            record.text = joined([record.text, *notes, restored])
            record.message = render(record.text, config.language, config.folder)

        facts = SubmissionFacts(cells_with_errors=errors_outside_tests(nb, record), input_cells=scan_input_calls(nb),
                                written_files=written_files(work["scratch"], executed.written_elsewhere),
                                extra_files=list(extra_files or []),
                                printed_accuracy=printed_claims(executed.notebook, config.contract),
                                **execution_facts(nb, record, config))
        work["artifacts"] = regular_files_copy(work["artifacts"], workdir / "artifacts")
        write_scoring_job(work["job"], config, facts)
        scoring_started = time.perf_counter()
        checks = scorer.score(work, config.language)
        timing["score_s"] = round(time.perf_counter() - scoring_started, 2)
    timing["total_s"] = round(time.perf_counter() - started, 2)
    result = _result(student, config, checks, record, timing, late_penalty)
    write_json_atomic(workdir / "result.json", result.to_dict())
    return result
