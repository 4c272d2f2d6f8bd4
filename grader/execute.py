"""Execute stage: run a student's notebook in a fresh kernel (sandboxed), and say what happened.

:func:`execute_notebook` runs the grader's ``preamble`` cells, then the student's cells, then the
grader's ``epilogue`` cells (which export artifacts from the kernel's namespace), all in one fresh
IPython kernel of this virtual environment, started through jupyter_client with the ``ipc``
transport (connection file and sockets in a private runtime folder that the sandbox can see: the
kernel has no network) and driven by nbclient, one cell at a time.

Rules (what the :class:`~grader.records.ExecutionRecord` says):

- A cell that raises is recorded (:class:`~grader.records.CellError`: the cell's position in the
  student's notebook, 0-based over all cells, its id, the exception, the traceback without ANSI
  colours, trimmed) and the later cells and the epilogue still run, as nbgrader does. Output on
  stderr is not an error (TensorFlow logs there).
- A cell running longer than ``limits.cell_timeout_s`` (the grader's preamble, which runs no student
  code, is held to the total limit only) is interrupted (SIGINT inside the kernel,
  sent by an ``interrupt_request`` message, which also reaches the kernel's process group, and sent
  again every few seconds); when it stops within ``INTERRUPT_GRACE_S`` the notebook goes on with the
  next cell; when it does not, the kernel
  and every process it started are killed. Past ``limits.total_timeout_s`` (counted from the
  kernel's start), everything is killed. Either way the status is ``TIMEOUT`` and names the cell.
- The kernel process ending on its own (``os._exit``, a crash, ``exit()``, a signal) or the kernel's
  processes together holding more than ``limits.memory_mb`` (a watchdog samples the process tree;
  each process is also held to it by ``RLIMIT_AS`` in the sandbox) gives ``KERNEL_DIED``. After a
  kill or a death nothing else runs, not even the epilogue. (``sys.exit()`` in a cell is just a
  ``SystemExit`` error that IPython catches: the kernel lives on.)
- Disk: with each sample, every place the kernel can write to (its folder, its runtime folder and,
  sandboxed, its /tmp and /dev/shm) is measured together (:mod:`grader.workspace`: files of every
  kind, folders and links, each at the larger of its apparent and allocated size). More than
  ``limits.disk_mb`` or more than ``limits.max_files`` entries kills the kernel and every process
  it started: ``KERNEL_DIED``, with a message that names the limit and the fix. A cell whose write
  was refused (a file over ``limits.file_size_mb``, a full /tmp or /dev/shm) is a plain cell error,
  and the message says which limit refused it.
- Output size: the outputs kept in the notebook are counted (characters of stream text and of
  the JSON of rich outputs, after carriage returns and backspaces are applied as Jupyter does, so a
  Keras progress bar counts as its final line). Beyond ``limits.output_bytes`` for all the student's
  cells together, text is cut and further outputs are dropped with a one-line notice per cell;
  errors are always kept (trimmed). The notebook *keeps running* so that it can still be graded; the
  status is ``OUTPUT_LIMIT`` unless something worse happened.
- Status when several things happen: TIMEOUT or KERNEL_DIED (whichever ended the run; a cell that
  was interrupted and recovered counts as TIMEOUT), then CELL_ERROR, then OUTPUT_LIMIT, else
  COMPLETED. ``message`` lists every one of them.
- Preamble and epilogue cells are the grader's: their exceptions go to
  :attr:`ExecutedNotebook.harness_errors`, not to the student's record, and they are not in the
  returned notebook. A timeout or kernel death during them still sets the status (named as such).

What cells print is bounded by :mod:`grader.cell_outputs`; the kernel's processes are watched and
killed by :mod:`grader.process_tree`.

On return the kernel is shut down and every process of its tree is gone (the sandbox's pid
namespace dies with it; without a sandbox, the kernel's process group and every process seen in
its tree are killed), in every case, exceptions included.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from traitlets import Instance

from grader.cell_outputs import BoundedClient, OutputBudget, strip_ansi, trim_traceback
from grader.config import Limits
from grader.process_tree import ProcessTree
from grader.i18n import Message, capitalized, joined, msg, render
from grader.records import CellError, ExecutionRecord, ExecutionStatus
from grader.sandbox import SandboxPolicy, SandboxUnavailable, sandbox_status, tmpfs_mb, wrap_command
from grader.workspace import MAX_DEPTH, Place, Usage, close_places, kernel_places, measure, open_sandbox_places

log = logging.getLogger(__name__)
# nbclient logs a dead kernel or a timeout as an ERROR; here they are expected outcomes, reported
# in the ExecutionRecord.
logging.getLogger(f"{__name__}.nbclient").setLevel(logging.CRITICAL)

INTERRUPT_GRACE_S = 10.0      # after the first interrupt, how long a cell has to stop before the kill
INTERRUPT_REPEAT_S = 2.0      # and how often the interrupt is sent again meanwhile
SAMPLE_INTERVAL_S = 0.25      # process-tree sampling (peak memory, memory watchdog, pids)
HARNESS_OUTPUT_CHARS = 1_000_000  # outputs kept from the grader's own cells
KERNEL_LOG_TAIL = 1_500
KERNEL_NAME = "grader-python3"
# CellError.ename of the errors the grader records itself (the cell did not raise them).
SYNTHETIC_ERRORS = frozenset({"CellTimeout", "TotalTimeout", "KernelDied", "MemoryLimit", "DiskLimit",
                              "FileLimit"})
DISK_CHECK_EVERY = 1          # samples between two measurements of the writable places (grader.workspace)
LAST_LOOK_FILES = 4           # the look after the kernel ended walks at most this many times max_files
# What a failed write says in a cell's error (OSError's "[Errno N] ..."): a file over RLIMIT_FSIZE, a
# full tmpfs (/tmp, /dev/shm).
_WRITE_ERRORS = {"file_size": re.compile(r"\[Errno 27\]|File too large"),
                 "no_space": re.compile(r"\[Errno 28\]|No space left on device")}
_NEVER_TAG = "\x00grader-never-skip"  # nbclient skips cells with this tag: no student can use it

# Passed on from the grader's environment to the kernel when set (everything else is left out).
# Paths are not among them: the kernel runs in another folder, so callers pass them made absolute.
PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
              "TF_FORCE_GPU_ALLOW_GROWTH", "XLA_FLAGS", "KERAS_BACKEND", "OMP_NUM_THREADS",
              "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LD_LIBRARY_PATH", "TZ",
              "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION")


@dataclass
class ExecutedNotebook:
    """What :func:`execute_notebook` returns.

    ``notebook``: the student's cells only, with their outputs (bounded).
    ``harness_cells``: the grader's preamble and epilogue cells as they ran (outputs capped).
    ``harness_errors``: exceptions raised in those cells (``cell_index`` counts within the preamble
    or the epilogue; ``cell_id`` is ``preamble-<n>`` or ``epilogue-<n>``).
    ``process_ids``: host pid -> start time (psutil ``create_time``) of every process seen in the
    kernel's process tree; all of them are gone on return.
    ``written_elsewhere``: what the student's code left outside its folder, in /tmp, /dev/shm and the
    runtime folder, as it names it, at the last look before the kernel ended (those places go with
    it); the folder itself is still there to be looked at (:func:`grader.workspace.written_files`).
    ``disk``: the last measurement of all the writable places together, ``{"bytes", "files"}``.
    """

    notebook: NotebookNode
    record: ExecutionRecord
    harness_cells: list[NotebookNode] = field(default_factory=list)
    harness_errors: list[CellError] = field(default_factory=list)
    process_ids: dict[int, float] = field(default_factory=dict)
    written_elsewhere: list[str] = field(default_factory=list)
    disk: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The kernel: its environment, runtime folder and spec


def _device(env: dict[str, str]) -> str:
    value = env.get("CUDA_VISIBLE_DEVICES", "").strip()
    return "cpu" if value in ("", "-1") else f"gpu:{value}"


def _runtime_dir(preferred: Path | None) -> Path:
    """A new private folder for the connection file, the ipc sockets and the kernel's log: inside
    ``preferred`` (the policy's ``runtime_dir``) when its path is short enough for ipc socket names
    (at most 107 bytes), else in the temporary folder, else in /tmp."""
    for base in (preferred, Path(tempfile.gettempdir()), Path("/tmp")):
        if base is not None and base.is_dir() and len(str(base.absolute())) <= 60:
            folder = Path(tempfile.mkdtemp(prefix="grader-kernel-", dir=base.absolute()))
            folder.chmod(0o700)
            return folder
    raise OSError("no folder with a short enough path for the kernel's ipc sockets")


def _kernel_env(workdir: Path, tmp: str, env: dict[str, str] | None) -> dict[str, str]:
    """A small, explicit environment (nothing else of the grader's leaks into the kernel)."""
    venv_bin = str(Path(sys.executable).parent)
    result = {
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(workdir), "TMPDIR": tmp, "USER": "student", "LOGNAME": "student",
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "JUPYTER_PLATFORM_DIRS": "1",
        # Caches and settings go to the temporary folder, so the scratch folder holds only
        # what the student's code wrote.
        "IPYTHONDIR": f"{tmp}/.ipython", "MPLCONFIGDIR": f"{tmp}/.matplotlib",
        "KERAS_HOME": f"{tmp}/.keras", "JUPYTER_RUNTIME_DIR": f"{tmp}/.jupyter",
        "JUPYTER_DATA_DIR": f"{tmp}/.jupyter", "JUPYTER_CONFIG_DIR": f"{tmp}/.jupyter",
        "XDG_CACHE_HOME": f"{tmp}/.cache", "XDG_CONFIG_HOME": f"{tmp}/.config",
        # Fewer glibc malloc arenas: far less reserved address space under RLIMIT_AS.
        "MALLOC_ARENA_MAX": "4",
    }
    result.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    result.update(env or {})
    return result


class _OneKernelSpec(KernelSpecManager):
    """Hands out exactly one kernel spec: this venv's ipykernel, possibly inside bwrap."""

    spec = Instance(KernelSpec)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec

    def find_kernel_specs(self) -> dict[str, str]:
        return {KERNEL_NAME: ""}


def _failed(task: asyncio.Future) -> bool:
    return task.cancelled() or task.exception() is not None


# --------------------------------------------------------------------------------------------
# One run


@dataclass
class _Event:
    kind: str            # "timeout" (interrupted, went on), "cell_kill", "total", "died", "memory", "disk"
    phase: str           # "preamble", "student", "epilogue", "startup"
    index: int           # index within that phase
    cell_id: str | None


class _Run:
    def __init__(self, nb: NotebookNode | None, workdir: Path, limits: Limits, preamble: Sequence[str],
                 epilogue: Sequence[str], sandbox: SandboxPolicy | None, env: dict[str, str] | None,
                 on_cell: Callable[[int, int, str], None] | None = None, lang: str = "es",
                 before_epilogue: Callable[[], None] | None = None):
        self.limits = limits
        self.on_cell = on_cell
        self.before_epilogue = before_epilogue
        self.lang = lang
        self.disk_over: str | None = None  # "disk", "files" or "unmeasured" (grader.workspace.Usage.over)
        self.disk_usage = Usage()
        self.inside: list[Place] = []  # the sandbox's /tmp and /dev/shm, held open once it is up
        self.kernel_ready = False
        # A measurement runs in a thread that a cancelled sampler does not stop: the last look waits for
        # it, and none runs after the places were let go.
        self.disk_lock = threading.Lock()
        self.places_closed = False
        self.workdir = workdir
        self.sandbox = sandbox
        self.pre = [nbformat.v4.new_code_cell(source) for source in preamble]
        self.post = [nbformat.v4.new_code_cell(source) for source in epilogue]
        self.combined = nbformat.v4.new_notebook()  # the one notebook nbclient holds, filled in place
        self._take(nb if nb is not None else nbformat.v4.new_notebook())
        self.started_ahead = False
        self.runtime = _runtime_dir(sandbox.runtime_dir if sandbox is not None else None)
        tmp = "/tmp" if sandbox is not None else str(self.runtime / "tmp")
        (self.runtime / "tmp").mkdir()
        self.env = _kernel_env(workdir, tmp, env)
        self.student_budget = OutputBudget(limits.output_bytes)
        self.harness_budget = OutputBudget(HARNESS_OUTPUT_CHARS)
        self.errors: list[CellError] = []
        self.harness_errors: list[CellError] = []
        self.events: list[_Event] = []
        self.cells_executed = 0
        self.cells_started = 0
        self.startup_failure: str | None = None
        self.tree: ProcessTree | None = None
        self.km: AsyncKernelManager | None = None
        self.client: BoundedClient | None = None
        self.kernel_log = open(self.runtime / "kernel.log", "wb")  # noqa: SIM115 (closed in _cleanup)

    def _take(self, nb: NotebookNode) -> None:
        """The student's notebook, outputs cleared, between the preamble and the epilogue."""
        self.student = copy.deepcopy(nb)
        for cell in self.student.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        for key, value in self.student.items():
            if key != "cells":
                self.combined[key] = copy.deepcopy(value)
        self.combined.cells = [*self.pre, *self.student.cells, *self.post]

    # -- kernel ---------------------------------------------------------------------------

    def _kernel_argv(self) -> list[str]:
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                "--HistoryManager.hist_file=:memory:"]
        if self.sandbox is None:
            return argv
        return wrap_command(argv, replace(self.sandbox, runtime_dir=self.runtime))

    async def _start(self, deadline: float) -> bool:
        spec = KernelSpec(argv=self._kernel_argv(), display_name="Python 3 (grader)",
                          language="python", interrupt_mode="message", env={}, metadata={})
        self.km = AsyncKernelManager(
            kernel_spec_manager=_OneKernelSpec(spec=spec), kernel_name=KERNEL_NAME,
            transport="ipc", ip=str(self.runtime / "k"),
            connection_file=str(self.runtime / "kernel.json"), shutdown_wait_time=1.0)
        self.client = BoundedClient(
            self.combined, km=self.km, timeout=None, allow_errors=True,
            startup_timeout=self.limits.startup_timeout_s, skip_cells_with_tag=_NEVER_TAG,
            iopub_timeout=4, raise_on_iopub_timeout=False, store_widget_state=False,
            log=logging.getLogger(f"{__name__}.nbclient"))
        self.client.on_cell_error = self._on_cell_error
        self.client.begin_cell(self.harness_budget)
        limit = max(min(self.limits.startup_timeout_s, deadline - time.monotonic()), 1)
        try:
            await asyncio.wait_for(self.km.start_kernel(cwd=str(self.workdir), env=self.env,
                                                        stdout=self.kernel_log, stderr=self.kernel_log),
                                   timeout=limit)
            process = self.km.provisioner.process  # type: ignore[union-attr]
            self.tree = ProcessTree(process.pid, self.limits.memory_mb, self._memory_overflow)
            self.sampler = asyncio.ensure_future(self._sample())
            await asyncio.wait_for(self.client.async_start_new_kernel_client(), timeout=limit)
            self.kernel_ready = True  # the sandbox is set up: its /tmp and /dev/shm can be opened
        except Exception as exc:  # noqa: BLE001 (any failure to start is reported, not raised)
            reason = "it did not answer in time" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            self.startup_failure = f"{reason}{self._log_tail()}"
            return False
        return True

    def _log_tail(self) -> str:
        try:
            self.kernel_log.flush()
            data = (self.runtime / "kernel.log").read_bytes()[-KERNEL_LOG_TAIL:]
        except (OSError, AttributeError):
            return ""
        text = strip_ansi(data.decode("utf-8", "replace")).strip()
        return f"; kernel log: {text}" if text else ""

    async def _sample(self) -> None:
        checks = 0
        while True:
            if self.tree is not None:
                self.tree.sample()
            checks += 1
            if checks % DISK_CHECK_EVERY == 0 and self.disk_over is None:
                try:
                    usage = await asyncio.to_thread(self._measure_disk)
                except Exception:  # the memory watchdog must go on whatever a measurement met
                    log.warning("measuring the kernel's writable places failed", exc_info=True)
                    usage = Usage()
                if usage.over is not None:
                    self.disk_over = usage.over
                    self._kill()
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    def _measure_disk(self, last: bool = False) -> Usage:
        """All the places the kernel can write to, together, against ``disk_mb`` and ``max_files``
        (:func:`grader.workspace.measure`): its folder, its runtime folder and, sandboxed, its /tmp and
        /dev/shm (held open from the kernel's start until the cleanup has measured them a last time).
        ``last``: the look after the kernel is gone, for the record and the list of what it wrote: past
        the limits too (a bounded walk still)."""
        with self.disk_lock:
            if self.places_closed:
                return self.disk_usage
            if self.sandbox is not None and not self.inside and self.tree is not None and self.kernel_ready:
                self.inside = open_sandbox_places(self.tree.root_pid)
            places = kernel_places(self.workdir, self.runtime) + self.inside
            if last:
                usage = measure(places, max_files=LAST_LOOK_FILES * self.limits.max_files)
            else:
                usage = measure(places, max_bytes=self.limits.disk_mb * 2**20, max_files=self.limits.max_files)
            self.disk_usage = usage
            if last:
                close_places(self.inside)
                self.inside, self.places_closed = [], True
            return usage

    def _memory_overflow(self) -> None:
        self._kill()

    def _kill(self) -> None:
        if self.tree is not None:
            self.tree.kill(process_group=self.sandbox is None)

    async def _cleanup(self) -> None:
        sampler = getattr(self, "sampler", None)
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(BaseException):
                await sampler
        if self.tree is None and self.km is not None:  # launched, but the start was cut short
            process = getattr(self.km.provisioner, "process", None)
            if process is not None:
                self.tree = ProcessTree(process.pid, self.limits.memory_mb, lambda: None)
        if self.tree is not None:
            with contextlib.suppress(Exception):
                self.tree.sample()
        if self.client is not None and self.client.kc is not None:
            with contextlib.suppress(Exception):
                self.client.kc.stop_channels()
        self._kill()  # the epilogue has written its files: nothing to save, no graceful shutdown
        if self.km is not None:
            with contextlib.suppress(Exception):
                if self.km.has_kernel:
                    await asyncio.wait_for(self.km.shutdown_kernel(now=True), timeout=10)
                else:
                    await self.km.cleanup_resources()
        self._kill()
        with contextlib.suppress(Exception):
            self.kernel_log.close()
        with contextlib.suppress(Exception):  # a last look: everything the notebook left, every process gone
            await asyncio.to_thread(self._measure_disk, True)
        with self.disk_lock:  # when the last look failed
            close_places(self.inside)
            self.inside, self.places_closed = [], True
        shutil.rmtree(self.runtime, ignore_errors=True)

    # -- cells ----------------------------------------------------------------------------

    async def _on_cell_error(self, cell: NotebookNode, cell_index: int, execute_reply: dict) -> None:
        assert self.client is not None
        self.client.error_content = execute_reply.get("content", {})

    def _where(self, position: int) -> tuple[str, int, str | None]:
        cell = self.combined.cells[position]
        n_pre, n_student = len(self.pre), len(self.student.cells)
        if position < n_pre:
            return "preamble", position, f"preamble-{position}"
        if position < n_pre + n_student:
            return "student", position - n_pre, cell.get("id")
        return "epilogue", position - n_pre - n_student, f"epilogue-{position - n_pre - n_student}"

    def _error(self, position: int, ename: str, evalue: str, traceback: Iterable[str]) -> None:
        phase, index, cell_id = self._where(position)
        error = CellError(cell_index=index, cell_id=cell_id, ename=str(ename),
                          evalue=strip_ansi(str(evalue))[:2000], traceback=trim_traceback(traceback))
        (self.errors if phase == "student" else self.harness_errors).append(error)

    def _event(self, kind: str, position: int) -> None:
        phase, index, cell_id = self._where(position)
        self.events.append(_Event(kind, phase, index, cell_id))

    async def _settle(self, task: asyncio.Future) -> None:
        """After a kill: let nbclient notice the dead kernel, or stop waiting for it."""
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(task), timeout=3)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _interrupt(self, task: asyncio.Future, until: float) -> None:
        """Interrupt the running cell, again every few seconds until it stops or ``until``: one
        KeyboardInterrupt can land where it is swallowed (a finalizer, a callback from native code, a
        student's bare ``except``), as a person at the keyboard would press stop twice. An interrupt
        that arrives after the cell ended finds the kernel idle, which ignores it."""
        while not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.km.interrupt_kernel(), timeout=5)
            wait = min(INTERRUPT_REPEAT_S, until - time.monotonic())
            if wait <= 0:
                return
            await asyncio.wait({task}, timeout=wait)

    async def _cells(self, deadline: float, start: int = 0, stop: int | None = None) -> None:
        client = self.client
        assert client is not None and self.km is not None
        n_pre, n_student = len(self.pre), len(self.student.cells)
        cells = self.combined.cells
        for position in range(start, len(cells) if stop is None else stop):
            cell = cells[position]
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            student = n_pre <= position < n_pre + n_student
            if position >= n_pre + n_student and self.before_epilogue is not None:
                self.before_epilogue()  # once, after the student's last cell ran
                self.before_epilogue = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._event("total", position)
                self._error(position, "TotalTimeout", "the notebook's total time was over before "
                            "this cell started", [])
                self._kill()
                return
            if student and self.on_cell is not None:
                self.on_cell(position - n_pre, n_student, cell.source)
            client.begin_cell(self.student_budget if student else self.harness_budget)
            # The preamble (importing TensorFlow) runs no student code and may be slow on a loaded machine:
            # it is held to the total limit only. The export after the student's cells calls the student's
            # objects, so it keeps the per-cell limit.
            preamble = position < n_pre
            limit = remaining if preamble else min(self.limits.cell_timeout_s, remaining)
            count = self.cells_started + 1 if student else None  # the student's own numbering
            self.cells_started += student
            task = asyncio.ensure_future(client.async_execute_cell(cell, position, execution_count=count))
            await asyncio.wait({task}, timeout=limit)
            if not task.done():
                if limit < self.limits.cell_timeout_s or preamble:
                    self._event("total", position)
                    self._error(position, "TotalTimeout", "the notebook ran past its total time "
                                f"limit of {self.limits.total_timeout_s} s during this cell", [])
                    self._kill()
                    await self._settle(task)
                    return
                await self._interrupt(task, min(time.monotonic() + INTERRUPT_GRACE_S, deadline))
                if not task.done():
                    over = time.monotonic() >= deadline
                    self._event("total" if over else "cell_kill", position)
                    self._error(position, "CellTimeout",
                                f"the cell ran longer than {self.limits.cell_timeout_s} s and did "
                                "not stop when interrupted", [])
                    self._kill()
                    await self._settle(task)
                    return
                if not _failed(task):
                    self._event("timeout", position)
                    content = client.error_content or {}
                    self._error(position, "CellTimeout",
                                f"the cell ran longer than {self.limits.cell_timeout_s} s and was "
                                "interrupted", content.get("traceback", []))
                    self.cells_executed += student
                    continue
            if _failed(task):
                memory = self.tree is not None and self.tree.overflowed
                self._event(self.disk_over or ("memory" if memory else "died"), position)
                if self.disk_over == "files":
                    self._error(position, "FileLimit", "the notebook created more than "
                                f"{self.limits.max_files} files, folders or links and was killed", [])
                elif self.disk_over:
                    what = (f"wrote more than {self.limits.disk_mb} MB" if self.disk_over == "disk" else
                            f"created folders the grader cannot measure (over {MAX_DEPTH} levels or unreadable)")
                    self._error(position, "DiskLimit", f"the notebook {what} to its folder, /tmp or /dev/shm "
                                "and was killed", [])
                elif memory:
                    self._error(position, "MemoryLimit", "the kernel's processes used more than "
                                f"{self.limits.memory_mb} MB together and were killed", [])
                else:
                    self._error(position, "KernelDied", "the kernel process ended while this cell "
                                "ran", [])
                self._kill()
                return
            self.cells_executed += student
            if client.error_content is not None:
                content = client.error_content
                self._error(position, content.get("ename", "Error"), content.get("evalue", ""),
                            content.get("traceback", []))

    async def run(self) -> ExecutedNotebook:
        started = time.monotonic()
        deadline = started + self.limits.total_timeout_s
        try:
            if await self._start(deadline):
                await self._cells(deadline)
        finally:
            await self._cleanup()
        return self._result(time.monotonic() - started)

    async def _healthy(self) -> bool:
        """The kernel came up and ran the preamble cleanly, and is still there."""
        if self.startup_failure is not None or self.events or self.harness_errors or self.disk_over:
            return False
        try:
            return self.km is not None and await self.km.is_alive()
        except Exception:  # noqa: BLE001 (a kernel that cannot be asked is not ready)
            return False

    async def run_when_given(self, handover: asyncio.Future) -> ExecutedNotebook | None:
        """Start the kernel and run the preamble now; the student's cells and the epilogue once
        ``handover`` gives ``(nb, on_cell, before_epilogue)``. The total limit counts the preamble and
        not the wait. None (nothing of the student's run) when ``handover`` gives None, or when the kernel
        did not come up cleanly: the caller runs the notebook in a fresh kernel then."""
        started = time.monotonic()
        try:
            if await self._start(started + self.limits.total_timeout_s):
                await self._cells(started + self.limits.total_timeout_s, stop=len(self.pre))
            prepared_s = time.monotonic() - started
            given = await handover
            if given is None or not await self._healthy():
                return None
            nb, self.on_cell, self.before_epilogue = given
            self._take(nb)
            self.started_ahead = True
            resumed = time.monotonic()
            await self._cells(resumed + self.limits.total_timeout_s - prepared_s, start=len(self.pre))
        finally:
            await self._cleanup()
        return self._result(time.monotonic() - resumed)

    # -- result ---------------------------------------------------------------------------

    @staticmethod
    def _say(key: str, **values) -> Message:
        return msg(f"run.{key}", **values)

    def _name(self, event_or_error: _Event | CellError) -> Message:
        """How a student counts: the 1-based position in the notebook, with the cell's id."""
        if isinstance(event_or_error, _Event):
            phase, index, cell_id = event_or_error.phase, event_or_error.index, event_or_error.cell_id
        else:
            phase, index, cell_id = "student", event_or_error.cell_index, event_or_error.cell_id
        if phase != "student":
            return self._say("grader_cell", phase=phase, index=index)
        grade_id = self.student.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade_id")
        named = ", ".join(filter(None, [grade_id, f"id {cell_id}" if cell_id else ""]))
        return self._say("cell_named", number=index + 1, named=named) if named else self._say("cell", number=index + 1)

    def _result(self, wall: float) -> ExecutedNotebook:
        limits, parts = self.limits, []
        status = ExecutionStatus.COMPLETED
        terminal = next((e for e in self.events if e.kind != "timeout"), None)
        interrupted = [e for e in self.events if e.kind == "timeout"]
        if self.startup_failure is not None:
            status = ExecutionStatus.KERNEL_DIED
            parts.append(self._say("no_start", reason=self.startup_failure))
        if terminal is not None:
            where = self._name(terminal)
            if terminal.kind in ("total", "cell_kill"):
                status = ExecutionStatus.TIMEOUT
                seconds = limits.total_timeout_s if terminal.kind == "total" else limits.cell_timeout_s
                remedy = self._say("remedy", seconds=seconds) if terminal.phase == "student" else ""
                parts.append(capitalized(self._say(terminal.kind, seconds=seconds, where=where, remedy=remedy)))
            elif terminal.kind == "memory":
                status = ExecutionStatus.KERNEL_DIED
                parts.append(self._say("memory", mb=limits.memory_mb, where=where))
            elif terminal.kind in ("disk", "files", "unmeasured"):
                status = ExecutionStatus.KERNEL_DIED
                parts.append(self._say(terminal.kind, mb=limits.disk_mb, n=limits.max_files, depth=MAX_DEPTH,
                                       where=where, remedy=self._say("disk_remedy")))
            else:
                status = ExecutionStatus.KERNEL_DIED
                parts.append(self._say("died", where=where))
        if interrupted:
            if status is ExecutionStatus.COMPLETED:
                status = ExecutionStatus.TIMEOUT
            names = joined(list(map(self._name, interrupted[:3])), ", ")
            more = self._say("more", n=len(interrupted) - 3) if len(interrupted) > 3 else None
            students = any(e.phase == "student" for e in interrupted)
            remedy = self._say("remedy", seconds=limits.cell_timeout_s) if students else ""
            parts.append(capitalized(self._say("interrupted", names=joined([names, more], ""), n=len(interrupted),
                                               seconds=limits.cell_timeout_s, remedy=remedy)))
        real_errors = [e for e in self.errors if e.ename not in SYNTHETIC_ERRORS]
        if real_errors:
            if status is ExecutionStatus.COMPLETED:
                status = ExecutionStatus.CELL_ERROR
            first = real_errors[0]
            error = f"{first.ename}: {first.evalue[:200]}"
            parts.append(self._say("errors", n=len(real_errors), where=self._name(first), error=error)
                         if len(real_errors) > 1 else self._say("error", where=self._name(first), error=error))
        for kind, pattern in _WRITE_ERRORS.items():  # a write refused by a limit: say which, and the fix
            if any(pattern.search(f"{e.ename}: {e.evalue}") for e in real_errors):
                mb = limits.file_size_mb if kind == "file_size" else tmpfs_mb(limits)
                parts.append(self._say(kind, mb=mb, remedy=self._say("disk_remedy")))
        if self.student_budget.exceeded:
            if status is ExecutionStatus.COMPLETED:
                status = ExecutionStatus.OUTPUT_LIMIT
            parts.append(self._say("output", chars=limits.output_bytes))
        if status is ExecutionStatus.COMPLETED:
            parts.append(self._say("completed"))
        if self.harness_errors:
            parts.append(self._say("harness", n=len(self.harness_errors)))
            for error in self.harness_errors:
                log.warning("grader cell %s raised %s: %s\n%s", error.cell_id, error.ename,
                            error.evalue, error.traceback)
        peak = self.tree.peak_bytes if self.tree is not None else 0
        text = joined(parts, " ")
        record = ExecutionRecord(
            status=status, message=render(text, self.lang), text=text, wall_seconds=round(wall, 3),
            peak_memory_mb=round(peak / 2**20, 1) if peak else None, device=_device(self.env),
            sandboxed=self.sandbox is not None, cells_executed=self.cells_executed,
            kernel_started_ahead=self.started_ahead,
            first_error=self.errors[0] if self.errors else None, errors=list(self.errors))
        n_pre, n_student = len(self.pre), len(self.student.cells)
        notebook = copy.copy(self.combined)
        notebook.cells = self.combined.cells[n_pre:n_pre + n_student]
        return ExecutedNotebook(
            notebook=notebook, record=record,
            harness_cells=self.combined.cells[:n_pre] + self.combined.cells[n_pre + n_student:],
            harness_errors=list(self.harness_errors),
            process_ids=dict(self.tree.seen) if self.tree is not None else {},
            written_elsewhere=[w for w in self.disk_usage.written if w.startswith("/")],  # not its folder's
            disk={"bytes": self.disk_usage.bytes, "files": self.disk_usage.files})


# --------------------------------------------------------------------------------------------
# Public entry point


def _checked(workdir: Path, limits: Limits, sandbox: SandboxPolicy | None) -> Path:
    workdir = Path(workdir).absolute()
    if not workdir.is_dir():
        raise ValueError(f"{workdir}: the working folder does not exist")
    if sandbox is not None:
        if Path(sandbox.scratch).absolute() != workdir:
            raise ValueError(f"the sandbox's scratch folder ({sandbox.scratch}) must be the "
                             f"working folder ({workdir})")
        if sandbox.limits != limits:
            raise ValueError("the sandbox's limits must be the limits the notebook runs under")
        usable, reason = sandbox_status()
        if not usable:
            raise SandboxUnavailable(reason)
    return workdir


def execute_notebook(nb: NotebookNode, *, workdir: Path, limits: Limits, preamble: Sequence[str] = (),
                     epilogue: Sequence[str] = (), sandbox: SandboxPolicy | None,
                     env: dict[str, str] | None = None,
                     on_cell: Callable[[int, int, str], None] | None = None,
                     lang: str = "es", before_epilogue: Callable[[], None] | None = None) -> ExecutedNotebook:
    """Run ``nb`` (a valid nbformat v4 notebook) in a fresh kernel with ``workdir`` as its cwd.

    ``sandbox``: a :class:`~grader.sandbox.SandboxPolicy` whose ``scratch`` is ``workdir`` and whose
    ``limits`` are ``limits``, or ``None`` to run without a sandbox (trusted notebooks only: the
    reference solutions, a student's own self-check). Raises
    :class:`~grader.sandbox.SandboxUnavailable` when a sandbox is asked for and bubblewrap cannot
    provide it. ``env``: extra environment variables for the kernel (the kernel gets a small,
    explicit environment, see :data:`PASSED_ENV`). ``on_cell(index, total, source)`` is called as
    each of the student's code cells starts (progress for ``grader check``). See the module
    docstring for the rules. ``lang``: the language of the record's message ("es" or "en").
    ``before_epilogue()`` is called once the student's cells have run, before the first epilogue cell
    (the pipeline puts the secret held-out inputs where the export reads them).
    """
    workdir = _checked(workdir, limits, sandbox)
    run = _Run(nb, workdir, limits, list(preamble), list(epilogue), sandbox, env, on_cell, lang, before_epilogue)
    return _run_coroutine(run.run)


class ReadyKernel:
    """A fresh kernel started ahead of its notebook (:func:`start_kernel_ahead`): its sandbox is up and
    its preamble has run (TensorFlow imported) in a thread of its own, and it waits for one notebook.

    :meth:`execute` runs one notebook in it, as :func:`execute_notebook` would; :meth:`close` ends it
    unused. It serves one notebook only: a second student never meets the first one's process."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._outcome: dict[str, Any] = {}
        self._loop_ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="grader-ready-kernel", daemon=True)
        self._thread.start()
        self._loop_ready.wait()

    def _main(self) -> None:
        async def main() -> ExecutedNotebook | None:
            self._loop = asyncio.get_running_loop()
            self._handover: asyncio.Future = self._loop.create_future()
            self._loop_ready.set()
            return await self._run.run_when_given(self._handover)

        try:
            self._outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            self._outcome["error"] = exc
            self._loop_ready.set()

    def _give(self, value) -> None:
        def give() -> None:
            if not self._handover.done():
                self._handover.set_result(value)

        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._loop.call_soon_threadsafe(give)
        self._thread.join()

    def execute(self, nb: NotebookNode, *, on_cell: Callable[[int, int, str], None] | None = None,
                before_epilogue: Callable[[], None] | None = None) -> ExecutedNotebook | None:
        """Run ``nb``'s cells, then the epilogue; None when the kernel did not come up cleanly (nothing
        of ``nb`` ran: run it with :func:`execute_notebook`)."""
        self._give((nb, on_cell, before_epilogue))
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome.get("value")

    def close(self) -> None:
        """End the kernel unused and remove what it left."""
        self._give(None)


def start_kernel_ahead(*, workdir: Path, limits: Limits, preamble: Sequence[str] = (), epilogue: Sequence[str] = (),
                       sandbox: SandboxPolicy | None, env: dict[str, str] | None = None,
                       lang: str = "es") -> ReadyKernel:
    """A kernel for a notebook not known yet, started now with everything :func:`execute_notebook`
    takes but the notebook and its callbacks (``workdir``, its sandbox and environment are the next
    notebook's: a fresh folder)."""
    workdir = _checked(workdir, limits, sandbox)
    return ReadyKernel(_Run(None, workdir, limits, list(preamble), list(epilogue), sandbox, env, lang=lang))


def _run_coroutine(factory):
    """Run an async job here, or in a helper thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="grader-execute")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


__all__ = ["ExecutedNotebook", "ReadyKernel", "execute_notebook", "start_kernel_ahead"]
