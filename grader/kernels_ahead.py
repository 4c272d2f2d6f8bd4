"""A batch worker's next kernel, started while it grades the current submission.

Starting a sandboxed kernel and importing TensorFlow takes seconds that no student cell needs. A
worker therefore starts the *next* submission's kernel (:func:`grader.execute.start_kernel_ahead`) as
soon as the current one begins: by the time the next notebook arrives, its kernel is up and its
preamble has run. The batch does this by default on a GPU only (:func:`grader.batch.autograde`): on CPUs
alone the next kernel's start competes with the notebook running (bench/RESULTS.md, 1c). Each notebook
still gets a fresh process, in a sandbox and a folder of its own that no other notebook used; a kernel
prepared for another setup (another assignment, device or sandbox setting) is closed unused, and one
that did not come up cleanly is never used (:meth:`grader.execute.ReadyKernel.execute` returns None and
the pipeline starts a fresh kernel).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.execute import ReadyKernel

NEXT_KERNELS = ".next-kernels"  # their folders, in the batch's work folder beside the students' ones


@dataclass
class PreparedKernel:
    """A kernel started for a setup (``key``), its folders inside ``folder``."""

    key: str
    folder: Path
    kernel: ReadyKernel

    def discard(self) -> None:
        self.kernel.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class KernelsAhead:
    """At most one prepared kernel, for the next notebook a worker grades."""

    def __init__(self) -> None:
        self._next: PreparedKernel | None = None

    def take(self, key: str) -> PreparedKernel | None:
        """The prepared kernel when it was started for ``key`` (it is the caller's now), else None."""
        prepared, self._next = self._next, None
        if prepared is not None and prepared.key != key:
            prepared.discard()
            return None
        return prepared

    def prepare(self, key: str, root: Path, start: Callable[[Path], ReadyKernel]) -> None:
        """Start the next kernel: ``start(folder)``, with a new empty folder under ``root`` for the kernel's
        own folders. A failure to start is left to the next notebook's own fresh start."""
        if self._next is not None:
            self._next.discard()
            self._next = None
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="next-", dir=root))
        try:
            self._next = PreparedKernel(key, folder, start(folder))
        except Exception:  # noqa: BLE001 (the next notebook starts its own kernel)
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """End the prepared kernel unused (the batch is over)."""
        if self._next is not None:
            self._next.discard()
            self._next = None
