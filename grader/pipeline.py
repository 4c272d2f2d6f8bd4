"""Grade one submission end to end: read -> restore locked cells -> execute -> export -> score -> result.

:func:`grade_submission` never raises for a bad submission: an unreadable notebook, a kernel that
dies, a model that cannot be loaded all end in a :class:`~grader.records.GradeResult` whose checks
explain what happened. It raises only for the grader's own problems (no data, bad configuration,
no sandbox when one is required), with a one-line message.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from grader import __version__
from grader.checks.rules import SubmissionFacts
from grader.config import AssignmentConfig
from grader.datasets import probe_sources
from grader.errors import GraderError, InvalidSubmissionError
from grader.heldout import build_heldout
from grader.records import (CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult,
                            write_json_atomic)
from grader.scoring import ScoringServer

ARTIFACTS = ".grader-artifacts"
# Folders programs create in HOME on their own; anything else new in the scratch folder was written
# by the student's code and breaks the "write nothing to disk" rule.
HOME_NOISE = (ARTIFACTS, ".keras", ".cache", ".config", ".ipython", ".local", ".jupyter", ".nv",
              ".matplotlib", "__pycache__", ".python_history")
INPUT_CALL = re.compile(r"(?<![\w.])input\s*\(")


def read_submission(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook as nbformat 4 with outputs cleared, plus notes on what was fixed on the way."""
    notes: list[str] = []
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidSubmissionError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSubmissionError(f"{path}: not UTF-8 text (byte {exc.start}): save it again from "
                                     "Jupyter or Colab as .ipynb") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmissionError(f"{path}: not a notebook (invalid JSON at line {exc.lineno}, column "
                                     f"{exc.colno}): download it again with File > Download .ipynb") from None
    except (ValueError, RecursionError) as exc:  # absurdly nested JSON, integers beyond Python's limit
        raise InvalidSubmissionError(f"{path}: not a notebook ({type(exc).__name__} while reading its JSON): "
                                     "download it again with File > Download .ipynb") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise InvalidSubmissionError(f"{path}: JSON but not a Jupyter notebook (no cells)")
    version = data.get("nbformat")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many types for malformed structures
        raise InvalidSubmissionError(f"{path}: malformed notebook ({type(exc).__name__}: {exc})"[:400]) from None
    if version != 4:
        notes.append(f"nbformat {version} converted to nbformat 4")
    if not [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]:
        raise InvalidSubmissionError(f"{path}: the notebook has no code to run")
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
    """Cells that failed, not counting graded test cells: a failing test costs its own points."""
    return sum(1 for error in record.errors
               if not (0 <= error.cell_index < len(nb.cells) and _is_test_cell(nb.cells[error.cell_index])))


def written_files(scratch: Path) -> list[str]:
    found = []
    for path in sorted(scratch.rglob("*")):
        relative = path.relative_to(scratch)
        if relative.parts[0] in HOME_NOISE or not path.is_file():
            continue
        found.append(str(relative))
    return found


def _data_roots() -> list[Path]:
    """The local folders holding the course datasets (bound read-only into the sandbox)."""
    roots = []
    for name in ("mnist", "fashion_mnist"):
        found = next((p for p in probe_sources(name) if p.found), None)
        if found is not None:
            roots.append(found.path if found.path.is_dir() else found.path.parent)
    return roots


def _kernel_cells(config: AssignmentConfig, paths: dict[str, Path]) -> tuple[list[str], list[str]]:
    preamble = [f"from grader.kernel_setup import prepare_kernel\nprepare_kernel(seed={config.heldout.seed})"]
    epilogue = [
        "from grader.export import export_artifacts as __grader_export\n"
        f"__grader_export(globals(), {str(paths['artifacts'])!r}, {str(paths['inputs'])!r}, "
        f"{dict(config.contract)!r}, {dict(config.inputs)!r})"
    ]
    return preamble, epilogue


def _invalid_result(student: str, config: AssignmentConfig, reason: str) -> GradeResult:
    execution = ExecutionRecord(ExecutionStatus.INVALID_NOTEBOOK, reason)
    checks = [CheckResult(name, 0.0, check.points, CheckStatus.ERROR, reason, hidden=check.hidden)
              for name, check in config.checks.items()]
    return _result(student, config, checks, execution, {})


def _manual_parts(config: AssignmentConfig) -> list[CheckResult]:
    return [CheckResult(name, 0.0, part.points, CheckStatus.MANUAL, part.title, hidden=False)
            for name, part in config.manual.items()]


def _result(student, config, checks, execution, timing, late_penalty: float = 0.0) -> GradeResult:
    return GradeResult(student=student, assignment=config.name, checks=checks + _manual_parts(config),
                       execution=execution, graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       grader_version=__version__, late_penalty=late_penalty, timing=timing)


def regular_files_copy(exported: Path, scored: Path) -> Path:
    """What the scoring process reads: a fresh folder with copies of the regular files the kernel left.

    The student's code controls the export folder: it may be missing (the kernel died), a symlink
    (to a classmate's work), or hold symlinks to files only the scorer can read (held-out labels,
    thresholds). None of that may reach the scorer, so links are never followed.
    """
    scored.mkdir()
    if exported.is_dir() and not exported.is_symlink():
        for entry in exported.iterdir():
            if entry.is_file() and not entry.is_symlink():
                shutil.copyfile(entry, scored / entry.name, follow_symlinks=False)
    return scored


def write_scoring_job(job: Path, config: AssignmentConfig, facts: SubmissionFacts) -> None:
    """Everything the scoring process needs besides the artifacts, in one folder it can read:
    its own copy of the hidden tests, the configuration, resolved thresholds and the facts."""
    shutil.copytree(config.hidden_tests_dir, job / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (job / "config.json").write_text(config.model_dump_json(), encoding="utf-8")
    bounds = {name: config.threshold_bounds(name) for name, check in config.checks.items() if check.threshold}
    write_json_atomic(job / "bounds.json", bounds)
    write_json_atomic(job / "facts.json", asdict(facts))


def grade_submission(notebook: Path, config: AssignmentConfig, *, student: str, workdir: Path,
                     sandbox: bool = True, env: dict[str, str] | None = None, db_url: str | None = None,
                     late_penalty: float = 0.0, extra_files: list[str] | None = None,
                     scorer: ScoringServer | None = None) -> GradeResult:
    """Grade one notebook; write ``workdir/result.json`` and ``workdir/executed.ipynb``; return the result.

    ``scorer``: a running scoring process to reuse (a batch keeps one per worker); without it, one is
    started for this notebook and closed after it. Its sandbox setting must match ``sandbox``."""
    from grader.execute import execute_notebook
    from grader.release import restore_locked_cells

    started = time.perf_counter()
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)  # a re-grade starts clean: nothing from an earlier attempt is reused
    work = {"scratch": workdir / "scratch", "inputs": workdir / "inputs", "answers": workdir / "answers",
            "runtime": workdir / "runtime", "job": workdir / "job"}
    work["artifacts"] = work["scratch"] / ARTIFACTS
    for key in ("scratch", "runtime"):
        work[key].mkdir(parents=True)
    try:
        nb, notes = read_submission(notebook)
        nb, edited = restore_locked_cells(nb, config, db_url)
    except InvalidSubmissionError as exc:
        result = _invalid_result(student, config, str(exc))
        write_json_atomic(workdir / "result.json", result.to_dict())
        return result
    build_heldout(config).write(work["inputs"], work["answers"])
    timing = {"prepare_s": round(time.perf_counter() - started, 2)}

    policy = None
    kernel_env = {"GRADER_DATA_DIR": "", **(env or {})}
    roots = _data_roots()
    if roots:
        kernel_env["GRADER_DATA_DIR"] = str(roots[0])
    gpu = (env or {}).get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1")
    if gpu:  # several jobs share a GPU: each takes memory as it needs it, under either backend
        kernel_env.update({"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"})
    if sandbox:
        from grader.sandbox import SandboxPolicy

        policy = SandboxPolicy(scratch=work["scratch"], limits=config.limits, runtime_dir=work["runtime"],
                               ro_binds=(work["inputs"], *roots), gpu=gpu)
    preamble, epilogue = _kernel_cells(config, work)
    executed = execute_notebook(nb, workdir=work["scratch"], limits=config.limits, preamble=preamble,
                                epilogue=epilogue, sandbox=policy, env=kernel_env, lang=config.language)
    timing["execute_s"] = round(executed.record.wall_seconds, 2)
    record = executed.record
    record.executed_notebook = str(workdir / "executed.ipynb")
    nbformat.write(executed.notebook, record.executed_notebook)
    if notes or edited:
        restored = f"celdas bloqueadas restauradas: {', '.join(edited)}" if edited else ""
        record.message = "; ".join(filter(None, [record.message, *notes, restored]))

    facts = SubmissionFacts(cells_with_errors=errors_outside_tests(nb, record), input_cells=scan_input_calls(nb),
                            written_files=written_files(work["scratch"]), extra_files=list(extra_files or []))
    work["artifacts"] = regular_files_copy(work["artifacts"], workdir / "artifacts")
    write_scoring_job(work["job"], config, facts)
    scoring_started = time.perf_counter()
    if scorer is None:
        with ScoringServer(workdir, config.limits, sandboxed=sandbox) as own_scorer:
            checks = own_scorer.score(work, config.language)
    else:
        if scorer.sandboxed != sandbox:
            raise GraderError("the scoring process's sandbox setting differs from the submission's")
        checks = scorer.score(work, config.language)
    timing["score_s"] = round(time.perf_counter() - scoring_started, 2)
    timing["total_s"] = round(time.perf_counter() - started, 2)
    result = _result(student, config, checks, record, timing, late_penalty)
    write_json_atomic(workdir / "result.json", result.to_dict())
    return result
