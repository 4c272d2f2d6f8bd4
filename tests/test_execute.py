"""The execute stage with real kernels (and real bubblewrap where marked): no mocks.

Notebooks here are tiny (no TensorFlow): each run costs a kernel start, about 2 s.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import nbformat
import psutil
import pytest

from grader.config import Limits
from grader.execute import ExecutedNotebook, execute_notebook, start_kernel_ahead
from grader.records import ExecutionStatus
from grader.sandbox import SandboxPolicy, sandbox_status

USABLE, WHY_NOT = sandbox_status()
needs_bwrap = pytest.mark.skipif(not USABLE, reason=WHY_NOT)
MODES = [pytest.param(True, id="sandboxed", marks=needs_bwrap), pytest.param(False, id="unsandboxed")]


def notebook(*sources: str, markdown_first: bool = True) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# Práctica")] if markdown_first else []
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.v4.new_notebook(cells=cells)


def run(tmp_path: Path, nb: nbformat.NotebookNode, *, sandboxed: bool, preamble=(), epilogue=(),
        env=None, **limits) -> ExecutedNotebook:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    settings = Limits(**{"cell_timeout_s": 60, "total_timeout_s": 120, "memory_mb": 2048,
                         "processes": 128, "output_bytes": 20_000, **limits})
    policy = SandboxPolicy(scratch=scratch, limits=settings) if sandboxed else None
    return execute_notebook(nb, workdir=scratch, limits=settings, preamble=list(preamble),
                            epilogue=list(epilogue), sandbox=policy, env=env, lang="en")


def texts(cells) -> str:
    parts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            if "data" in output:
                parts.append(json.dumps(output["data"]))
            if "ename" in output:
                parts.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(parts)


def leftovers(result: ExecutedNotebook) -> list[int]:
    """Processes of the kernel's tree still running after execute_notebook returned."""
    alive = []
    for pid, created in result.process_ids.items():
        try:
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@needs_bwrap
def test_a_normal_notebook_completes_with_preamble_and_epilogue(tmp_path):
    nb = notebook("x = SEED * 2\nprint('x =', x)",
                  "import os\nprint('device', os.environ.get('CUDA_VISIBLE_DEVICES'))")
    original = json.dumps(nb)
    result = run(tmp_path, nb, sandboxed=True, preamble=["SEED = 21"],
                 epilogue=["import json, pathlib\npathlib.Path('exported.json').write_text(json.dumps({'x': x}))"],
                 env={"CUDA_VISIBLE_DEVICES": "0"})
    record = result.record
    assert record.status is ExecutionStatus.COMPLETED, record.message
    assert record.sandboxed and record.device == "gpu:0" and record.cells_executed == 2
    assert record.first_error is None and record.errors == []
    assert record.wall_seconds > 0 and record.peak_memory_mb and record.peak_memory_mb > 10
    # The grader's cells ran in the same kernel but are not in the student's notebook.
    assert len(result.notebook.cells) == 3
    assert "x = 42" in texts(result.notebook.cells) and "device 0" in texts(result.notebook.cells)
    assert "SEED = 21" not in json.dumps(result.notebook.cells)
    assert [c.get("execution_count") for c in result.notebook.cells] == [None, 1, 2]
    assert len(result.harness_cells) == 2 and result.harness_errors == []
    scratch = tmp_path / "scratch"
    assert json.loads((scratch / "exported.json").read_text()) == {"x": 42}
    assert sorted(p.name for p in scratch.iterdir()) == ["exported.json"]  # no caches in the scratch folder
    assert json.dumps(nb) == original  # the input notebook is left alone
    assert leftovers(result) == []


def test_a_cell_error_is_recorded_and_later_cells_and_the_epilogue_still_run(tmp_path):
    nb = notebook("print('one')", "1/0", "print('three')", "name = input('name?')")
    result = run(tmp_path, nb, sandboxed=False,
                 epilogue=["print('epilogue ran')", "raise RuntimeError('grader bug')"])
    record = result.record
    assert record.status is ExecutionStatus.CELL_ERROR
    assert not record.sandboxed and record.device == "cpu"
    assert record.cells_executed == 4
    assert [(e.cell_index, e.ename) for e in record.errors] == [(2, "ZeroDivisionError"),
                                                               (4, "StdinNotImplementedError")]
    first = record.first_error
    assert first == record.errors[0] and first.cell_id == nb.cells[2].id
    assert first.evalue == "division by zero" and "1/0" in first.traceback and "\x1b" not in first.traceback
    assert "cell 3" in record.message.lower() and "ZeroDivisionError" in record.message
    assert "three" in texts(result.notebook.cells)
    # The grader's own error is kept apart from the student's.
    assert [(e.cell_id, e.ename) for e in result.harness_errors] == [("epilogue-1", "RuntimeError")]
    assert "epilogue ran" in texts(result.harness_cells)
    assert leftovers(result) == []


@pytest.mark.parametrize("sandboxed", MODES)
def test_an_endless_cell_times_out_is_interrupted_and_the_notebook_goes_on(tmp_path, sandboxed):
    nb = notebook("print('before')", "while True:\n    pass", "print('after')")
    result = run(tmp_path, nb, sandboxed=sandboxed, epilogue=["print('epilogue ran')"], cell_timeout_s=2)
    record = result.record
    assert record.status is ExecutionStatus.TIMEOUT, record.message
    assert "cell 3" in record.message.lower() and "interrupted" in record.message
    assert record.first_error.cell_index == 2 and record.first_error.ename == "CellTimeout"
    assert "KeyboardInterrupt" in record.first_error.traceback
    assert "after" in texts(result.notebook.cells) and "epilogue ran" in texts(result.harness_cells)
    assert leftovers(result) == []


def test_a_kernel_started_ahead_runs_the_notebook_it_is_given_as_a_fresh_one_would(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = Limits(cell_timeout_s=60, total_timeout_s=120, memory_mb=2048)
    ahead = start_kernel_ahead(workdir=scratch, limits=limits, preamble=["import os\nPREPARED = os.getpid()"],
                               epilogue=["print('epilogue ran')"], sandbox=None, lang="en")
    cells = []
    result = ahead.execute(notebook("print('pid', PREPARED == __import__('os').getpid())", "1 / 0", "print('after')"),
                           on_cell=lambda i, n, src: cells.append(i))
    record = result.record
    assert record.kernel_started_ahead and record.status is ExecutionStatus.CELL_ERROR, record.message
    assert record.first_error.cell_index == 2 and record.first_error.ename == "ZeroDivisionError"
    assert "pid True" in texts(result.notebook.cells) and "after" in texts(result.notebook.cells)
    assert "epilogue ran" in texts(result.harness_cells) and cells == [1, 2, 3]  # positions: a markdown cell first
    assert leftovers(result) == []


def test_a_kernel_started_ahead_whose_preamble_failed_runs_nothing_and_one_never_used_is_closed(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    limits = Limits(cell_timeout_s=60, total_timeout_s=120, memory_mb=2048)
    broken = start_kernel_ahead(workdir=tmp_path / "a", limits=limits, preamble=["raise RuntimeError('no')"],
                                sandbox=None)
    assert broken.execute(notebook("open('ran.txt', 'w').write('x')")) is None  # the caller starts a fresh one
    assert not (tmp_path / "a" / "ran.txt").exists()
    unused = start_kernel_ahead(workdir=tmp_path / "b", limits=limits, preamble=["import os"], sandbox=None)
    unused.close()
    assert not unused._thread.is_alive()


def test_a_cell_that_swallows_one_interrupt_is_stopped_by_the_next_and_the_notebook_goes_on(tmp_path):
    swallows_one = ("import time\ntry:\n    while True:\n        time.sleep(0.01)\nexcept KeyboardInterrupt:\n"
                    "    print('swallowed')\nwhile True:\n    time.sleep(0.01)")
    result = run(tmp_path, notebook(swallows_one, "print('after')"), sandboxed=False, cell_timeout_s=2)
    record = result.record
    assert record.status is ExecutionStatus.TIMEOUT, record.message
    assert "interrupted" in record.message and "did not stop" not in record.message
    assert "swallowed" in texts(result.notebook.cells) and "after" in texts(result.notebook.cells)
    assert leftovers(result) == []


@needs_bwrap
def test_a_cell_that_ignores_the_interrupt_gets_the_kernel_killed(tmp_path):
    nb = notebook("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                  "print('never')")
    result = run(tmp_path, nb, sandboxed=True, epilogue=["print('epilogue ran')"], cell_timeout_s=2)
    record = result.record
    assert record.status is ExecutionStatus.TIMEOUT
    assert "cell 2" in record.message.lower() and "did not stop" in record.message
    assert "never" not in texts(result.notebook.cells)
    assert "epilogue ran" not in texts(result.harness_cells)  # the kernel is dead: no epilogue
    assert leftovers(result) == []


@pytest.mark.parametrize("sandboxed", MODES)
def test_os_exit_is_a_dead_kernel_named_by_its_cell(tmp_path, sandboxed):
    nb = notebook("print('start')", "import os\nos._exit(1)", "print('never')")
    result = run(tmp_path, nb, sandboxed=sandboxed, epilogue=["print('epilogue ran')"])
    record = result.record
    assert record.status is ExecutionStatus.KERNEL_DIED
    assert "cell 3" in record.message.lower() and "died" in record.message
    assert record.first_error.ename == "KernelDied" and record.first_error.cell_index == 2
    assert record.cells_executed == 1
    assert "never" not in texts(result.notebook.cells)
    assert "epilogue ran" not in texts(result.harness_cells)
    assert leftovers(result) == []


def test_sys_exit_is_only_an_error_in_its_cell(tmp_path):
    result = run(tmp_path, notebook("import sys\nsys.exit(3)", "print('kernel alive')", markdown_first=False),
                 sandboxed=False)
    assert result.record.status is ExecutionStatus.CELL_ERROR
    assert result.record.first_error.ename == "SystemExit"
    assert "kernel alive" in texts(result.notebook.cells)


def test_output_on_stderr_is_not_a_failure(tmp_path):
    nb = notebook("import sys, os, warnings\nprint('log line', file=sys.stderr)\n"
                  "warnings.warn('deprecated')\nos.write(2, b'C-level log\\n')\nprint('done')")
    result = run(tmp_path, nb, sandboxed=False, env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.record.status is ExecutionStatus.COMPLETED, result.record.message
    assert result.record.device == "cpu"
    streams = {o.name for o in result.notebook.cells[1].outputs if o.output_type == "stream"}
    assert streams == {"stdout", "stderr"}


@needs_bwrap
def test_ten_megabytes_of_output_are_cut_and_the_notebook_keeps_running(tmp_path):
    nb = notebook("print('x' * 10_000_000)", "for i in range(2000):\n    print(i)",
                  "print('still running'); done = True")
    result = run(tmp_path, nb, sandboxed=True, output_bytes=10_000,
                 epilogue=["print('epilogue sees', done)"])
    record = result.record
    assert record.status is ExecutionStatus.OUTPUT_LIMIT and "10,000" in record.message
    assert record.cells_executed == 3
    assert len(nbformat.writes(result.notebook)) < 10_000 + 5_000  # outputs cut, notices and cells kept
    assert "output truncated" in texts(result.notebook.cells)
    assert "epilogue sees True" in texts(result.harness_cells)


def test_a_progress_bar_counts_as_its_last_line(tmp_path):
    nb = notebook("for i in range(3000):\n    print(f'\\rstep {i:5d}', end='')\nprint()")
    result = run(tmp_path, nb, sandboxed=False, output_bytes=2_000)
    assert result.record.status is ExecutionStatus.COMPLETED, result.record.message
    assert texts(result.notebook.cells).strip() == "step  2999"


@pytest.mark.parametrize("sandboxed", MODES)
def test_the_total_timeout_kills_the_kernel_and_its_subprocess(tmp_path, sandboxed):
    marker = f"{random.randint(1000, 9999)}.{random.randint(100, 999)}"
    nb = notebook(f"import subprocess\np = subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
                  "print('started')\np.wait()", "print('never')")
    result = run(tmp_path, nb, sandboxed=sandboxed, epilogue=["print('epilogue ran')"],
                 cell_timeout_s=60, total_timeout_s=6)
    record = result.record
    assert record.status is ExecutionStatus.TIMEOUT
    assert "total time limit of 6 s" in record.message and "cell 2" in record.message
    assert "started" in texts(result.notebook.cells) and "never" not in texts(result.notebook.cells)
    assert "epilogue ran" not in texts(result.harness_cells)
    sleeping = [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]
    assert sleeping == []
    assert leftovers(result) == []


def test_a_sandbox_policy_must_match_the_run(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = Limits()
    other = SandboxPolicy(scratch=tmp_path, limits=limits)
    with pytest.raises(ValueError, match="scratch"):
        execute_notebook(notebook("1"), workdir=scratch, limits=limits, sandbox=other)
    stricter = SandboxPolicy(scratch=scratch, limits=Limits(memory_mb=1024))
    with pytest.raises(ValueError, match="limits"):
        execute_notebook(notebook("1"), workdir=scratch, limits=limits, sandbox=stricter)
