"""The kernel's process tree, seen from the host: every process it started (also those that left the
tree), their peak memory, the memory watchdog, and killing them all."""

from __future__ import annotations

import contextlib
import logging
import os
import signal

import psutil

log = logging.getLogger(__name__)

KILL_WAIT_S = 5.0  # how long to wait for killed processes to disappear


class ProcessTree:
    """The kernel's process tree, seen from the host: peak memory, pids, the memory watchdog."""

    def __init__(self, root_pid: int, memory_limit_mb: int, on_overflow) -> None:
        self.root_pid = root_pid
        self.seen: dict[int, float] = {}  # pid -> create_time
        self.peak_bytes = 0
        self.limit_bytes = memory_limit_mb * 1024 * 1024
        self.on_overflow = on_overflow
        self.overflowed = False
        try:
            self.pgid: int | None = os.getpgid(root_pid)
        except OSError:
            self.pgid = None

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        try:
            root = psutil.Process(self.root_pid)
            for process in [root, *root.children(recursive=True)]:
                found[process.pid] = process
        except psutil.Error:
            pass
        for pid, created in list(self.seen.items()):
            if pid in found:
                continue
            try:
                process = psutil.Process(pid)
                if abs(process.create_time() - created) < 0.01:
                    found[pid] = process
            except psutil.Error:
                pass
        return list(found.values())

    def sample(self) -> None:
        total = 0
        processes = self.processes()
        for process in processes:
            try:
                self.seen.setdefault(process.pid, process.create_time())
                total += process.memory_info().rss
            except psutil.Error:
                pass
        if total > self.limit_bytes and not self.overflowed:
            total = self._proportional(processes)  # shared pages (fork) counted once
            if total > self.limit_bytes:
                self.overflowed = True
                self.on_overflow()
        self.peak_bytes = max(self.peak_bytes, total)

    @staticmethod
    def _proportional(processes: list[psutil.Process]) -> int:
        """Sum of proportional set sizes: pages shared after a fork count once in all."""
        total = 0
        for process in processes:
            try:
                with open(f"/proc/{process.pid}/smaps_rollup", encoding="ascii") as rollup:
                    line = next(ln for ln in rollup if ln.startswith("Pss:"))
                total += int(line.split()[1]) * 1024
            except (OSError, StopIteration, ValueError):
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
        return total

    def kill(self, process_group: bool) -> None:
        """SIGKILL the whole tree (the sandbox's pid namespace dies with its first process)."""
        for _ in range(5):
            processes = self.processes()
            if process_group and self.pgid:
                with contextlib.suppress(OSError):
                    os.killpg(self.pgid, signal.SIGKILL)
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    self.seen.setdefault(process.pid, process.create_time())
                    process.kill()
            _, alive = psutil.wait_procs(processes, timeout=KILL_WAIT_S)
            if not alive and not [p for p in self.processes() if is_running(p)]:
                return
        log.warning("processes of kernel %s still alive after SIGKILL", self.root_pid)


def is_running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
