"""Run an untrusted command (the student's kernel) inside bubblewrap, with resource limits.

What the sandboxed process sees (:func:`wrap_command`):

- a fresh root (tmpfs) holding only read-only system folders (``/usr``, ``/bin``, ``/lib*``, a few
  files of ``/etc``), the Python installation (``sys.base_prefix``), the virtual environment
  (``sys.prefix``) and the ``grader`` package folder, each bound read-only at its own path. Never
  the course checkout around ``grader``: it holds the hidden tests and the reference solutions
  (:class:`SandboxError` for any bind of a folder that contains them);
- the caller's read-only binds (data sets, held-out inputs), at their own paths;
- the scratch folder, read-write: the only writable place that outlives the command, also ``HOME``
  and the working directory; a private ``/tmp`` and ``/dev/shm`` (tmpfs, RAM outside the memory
  limits: each capped at :func:`tmpfs_mb`); the optional ``runtime_dir`` (the kernel's connection
  file and ipc sockets), read-write. Everything else, the sandbox's own root included, is read-only.
  The execute stage counts all four writable places together against ``limits.disk_mb`` and
  ``limits.max_files`` (:mod:`grader.workspace`);
- new user, pid, network, ipc, uts (and cgroup where possible) namespaces: no network at all (only
  a loopback of its own), no other process visible, uid/gid 1000 and no capabilities inside, no
  nested user namespaces, its own session, SIGKILLed when its parent goes away.

Resource limits are set by a tiny launcher that runs *inside* the namespaces, just before it
``exec``\\ s the real command, so that they bind an unprivileged user:

- memory: ``RLIMIT_AS`` = ``limits.memory_mb`` for each process (``RLIMIT_DATA`` with ``gpu=True``:
  CUDA reserves address ranges far larger than any sane ``RLIMIT_AS``). The execute stage adds a
  watchdog over the whole process tree (:mod:`grader.execute`);
- processes: ``RLIMIT_NPROC`` = ``limits.processes`` (threads count too), counted per user
  namespace, so a fork bomb stops there and other sandboxes are not affected;
- file size: ``RLIMIT_FSIZE`` = ``limits.file_size_mb`` (a bigger write fails with ``EFBIG``);
- CPU time: ``RLIMIT_CPU`` = ``limits.total_timeout_s`` times the usable CPUs plus a minute: a
  backstop only, the wall-clock limits of the execute stage are the real ones;
- no core dumps.

Root: the kernel exempts a process whose user is root *outside* the sandbox from ``RLIMIT_NPROC``
(bwrap run by root maps the sandbox's uid to root), so a grader running as root first drops to an
unprivileged host uid (``host_uid``, default 65534 "nobody") in a small pre-launcher. That
pre-launcher, still root, hands the scratch and runtime folders to that uid and, in a private mount
namespace of its own, makes bind sources below folders that uid may not enter (``/root`` is 0700,
and pyenv lives there) reachable by mounting a tmpfs over such a folder with only the needed paths
bound back. Nothing changes on the host.

Availability: :func:`sandbox_status` tries the real thing once per process. When it says no, the
execute stage refuses to run sandboxed (:class:`SandboxUnavailable`); running without a sandbox is
the caller's explicit choice (``sandbox=None``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.config import Limits
from grader.datasets import DEBIAN_DATASETS
from grader.errors import GraderError

SANDBOX_UID = 1000          # the uid and gid the code sees inside the sandbox
SANDBOX_GID = 1000
HOST_UID_WHEN_ROOT = 65534  # "nobody": what the sandbox runs as on the host when the grader is root
HOSTNAME = "sandbox"
TMP_MIN_MB = 64

# System folders bound read-only (or recreated as the same symlink, on merged-/usr systems).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few files of /etc that programs need (dynamic loader, users, time zone, fonts for matplotlib).
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
    "/etc/host.conf", "/etc/hosts", "/etc/fonts", "/etc/mime.types", "/etc/os-release",
)
GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")

# (No "{word}" in these snippets: jupyter_client fills such templates in a kernel's command line.)
# Runs inside the sandbox: set the limits, then become the real command. Standard library only,
# started with -I -S so that nothing from the environment or site-packages runs first.
_LIMITS_LAUNCHER = """\
import json, os, resource, sys
for name, (soft, hard) in json.loads(sys.argv[1]).items():
    try:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    except (ValueError, OSError) as exc:
        sys.stderr.write("grader sandbox: cannot set %s: %s\\n" % (name, exc))
        sys.exit(126)
os.execvp(sys.argv[2], sys.argv[2:])
"""

# Runs on the host as root, before bwrap (see the module docstring, "Root").
_ROOT_PRELAUNCHER = """\
import ctypes, json, os, stat, sys
spec, argv = json.loads(sys.argv[1]), sys.argv[2:]
uid, gid = spec["uid"], spec["gid"]
libc = ctypes.CDLL(None, use_errno=True)
def fail(what):
    sys.stderr.write("grader sandbox: %s: %s\\n" % (what, os.strerror(ctypes.get_errno())))
    sys.exit(126)
def closed(folder):
    info = os.stat(folder)
    bit = (stat.S_IXUSR if info.st_uid == uid else stat.S_IXGRP if info.st_gid == gid
           else stat.S_IXOTH)
    return not info.st_mode & bit
for top in spec["chown"]:
    os.lchown(top, uid, gid)
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)
hidden = {}
for source in spec["sources"]:
    parts = source.split("/")[1:]
    for depth in range(1, len(parts)):
        folder = "/" + "/".join(parts[:depth])
        if closed(folder):
            hidden.setdefault(folder, []).append(source)
            break
if hidden:
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        fail("unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
        fail("make / private")
    for folder, sources in hidden.items():
        fds = [(source, os.open(source, os.O_PATH | os.O_CLOEXEC)) for source in sources]
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0x2 | 0x4, b"mode=755,size=1m") != 0:
            fail("tmpfs over " + folder)
        for source, fd in fds:
            os.makedirs(os.path.dirname(source), mode=0o755, exist_ok=True)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(source, mode=0o755, exist_ok=True)
            else:
                open(source, "a").close()
            if libc.mount(b"/proc/self/fd/%d" % fd, source.encode(), None,
                          0x1000 | 0x4000, None) != 0:  # MS_BIND | MS_REC
                fail("bind " + source)
            os.close(fd)
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
os.execvp(argv[0], argv)
"""


class SandboxUnavailable(GraderError):
    """bubblewrap is missing or cannot create the sandbox here (the message says why)."""


class SandboxError(GraderError):
    """A sandbox policy is unsafe or names something that does not exist."""


@dataclass(frozen=True)
class SandboxPolicy:
    """What a sandboxed command may see and use.

    ``scratch``: the only writable folder that outlives the command (also HOME and cwd).
    ``ro_binds``: shown read-only at the same path (their files must be readable by others when
    the grader runs as root: the sandbox runs as ``host_uid`` then).
    ``runtime_dir``: optional small read-write folder for the kernel's connection file and ipc
    sockets, kept apart from ``scratch`` so that the student's folder holds only their files.
    ``host_uid``: the unprivileged host uid the sandbox runs as when the grader is root.
    ``hidden``: folders inside the binds shown empty (those that exist): by default the system's
    dataset folder, which would show the kernel the raw datasets (:mod:`grader.heldout`).
    The network is always off.
    """

    scratch: Path
    limits: Limits
    ro_binds: tuple[Path, ...] = ()
    runtime_dir: Path | None = None
    gpu: bool = False
    host_uid: int = HOST_UID_WHEN_ROOT
    hidden: tuple[Path, ...] = (DEBIAN_DATASETS,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scratch", Path(self.scratch))
        object.__setattr__(self, "ro_binds", tuple(Path(p) for p in self.ro_binds))
        object.__setattr__(self, "hidden", tuple(Path(p) for p in self.hidden))
        if self.runtime_dir is not None:
            object.__setattr__(self, "runtime_dir", Path(self.runtime_dir))

    def rlimits(self) -> dict[str, tuple[int, int]]:
        """The resource limits set inside the sandbox, as ``{"RLIMIT_X": (soft, hard)}``."""
        mib = 1024 * 1024
        memory = self.limits.memory_mb * mib
        file_size = self.limits.file_size_mb * mib
        cpu = cpu_seconds(self.limits)
        return {
            ("RLIMIT_DATA" if self.gpu else "RLIMIT_AS"): (memory, memory),
            "RLIMIT_NPROC": (self.limits.processes, self.limits.processes),
            "RLIMIT_FSIZE": (file_size, file_size),
            "RLIMIT_CPU": (cpu, cpu + 10),
            "RLIMIT_CORE": (0, 0),
        }

    @property
    def drops_root(self) -> bool:
        """True when the grader is root and the sandbox runs as ``host_uid`` instead."""
        return os.geteuid() == 0 and self.host_uid != 0


def tmpfs_mb(limits: Limits) -> int:
    """The size of the sandbox's /tmp, and of its /dev/shm: what one file may take (at least
    ``TMP_MIN_MB``, for the caches programs keep there) but at most half of ``limits.disk_mb``. Both
    count towards that quota, which is sampled; the size is the hard cap between two samples, and
    the sandbox's share of RAM (a tmpfs is outside ``RLIMIT_AS`` and the memory watchdog)."""
    return max(min(max(limits.file_size_mb, TMP_MIN_MB), limits.disk_mb // 2), 1)


def cpu_seconds(limits: Limits) -> int:
    """CPU-time backstop: the whole notebook's wall time on every usable CPU, plus a minute."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return limits.total_timeout_s * max(cpus, 1) + 60


@functools.cache
def _bwrap_help() -> str:
    executable = shutil.which("bwrap")
    if executable is None:
        return ""
    try:
        done = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr


def _supports(option: str) -> bool:
    return f"{option} " in _bwrap_help()


@functools.cache
def sandbox_status() -> tuple[bool, str]:
    """``(True, "bubblewrap <version> works")`` or ``(False, why not and how to fix it)``.

    Runs a real sandbox (``true``) with the options the kernel gets, once per process.
    """
    executable = shutil.which("bwrap")
    if executable is None:
        return False, "bubblewrap (bwrap) is not installed; fix: apt-get install bubblewrap"
    with tempfile.TemporaryDirectory(prefix="grader-sbx-check-") as scratch:
        policy = SandboxPolicy(scratch=Path(scratch), limits=Limits())
        try:
            done = subprocess.run(wrap_command(["true"], policy), capture_output=True, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.SubprocessError, SandboxError) as exc:
            return False, f"bubblewrap could not be started: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        return False, (f"bubblewrap cannot create the sandbox here ({reason}); fix: allow "
                       "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                       "or an AppArmor profile for bwrap) or grade on a machine that allows them")
    version = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
    return True, f"{version or 'bubblewrap'} works"


def grader_package_dir() -> Path:
    """The folder of the ``grader`` package (bound read-only; never the checkout around it)."""
    return Path(__file__).resolve().parent


def _protected_paths() -> list[Path]:
    """Folders no bind may expose by accident (by binding a folder around them): the hidden tests
    and the reference solutions. Binding one of them, or something inside, by name is allowed (the
    scoring process reads the hidden tests)."""
    try:
        from grader.instructor import HIDDEN_TESTS_DIR, REFERENCE_DIR
    except ImportError:  # the student package, without the instructor's folders
        return []
    return [Path(HIDDEN_TESTS_DIR).resolve(), Path(REFERENCE_DIR).resolve()]


def _check_bind(path: Path, what: str) -> Path:
    if not path.is_absolute():
        raise SandboxError(f"{what} {path}: must be an absolute path")
    if not path.exists():
        raise SandboxError(f"{what} {path}: does not exist; fix: create it or drop it from the policy")
    resolved = path.resolve()
    for protected in _protected_paths():
        if resolved in protected.parents:  # a folder around them (the checkout); naming one is deliberate
            raise SandboxError(f"{what} {path}: would also show {protected} to the sandboxed code; "
                               "fix: bind a narrower folder")
    return path


def _same_path(option: str, path: Path) -> list[str]:
    """Bind ``path`` at its own name, and at its resolved name too when a symlink is on the way."""
    args = [option, str(path), str(path)]
    resolved = path.resolve()
    if resolved != path:
        args += [option, str(resolved), str(resolved)]
    return args


def _python_dirs() -> list[Path]:
    dirs: list[Path] = []
    for candidate in (Path(sys.base_prefix), Path(sys.prefix), grader_package_dir()):
        if candidate not in dirs:
            dirs.append(candidate)
    return dirs


def wrap_command(argv: Sequence[str], policy: SandboxPolicy) -> list[str]:
    """The command line that runs ``argv`` in bubblewrap under ``policy`` (see the module docstring).

    Raises :class:`SandboxError` for an unsafe or impossible policy (a bind that would expose the
    hidden tests, a missing folder). Does not check that bwrap works here: :func:`sandbox_status`.
    """
    if not argv:
        raise SandboxError("nothing to run: the command is empty")
    scratch = _check_bind(policy.scratch, "scratch folder")
    binds = [_check_bind(p, "read-only bind") for p in policy.ro_binds]
    runtime = _check_bind(policy.runtime_dir, "runtime folder") if policy.runtime_dir else None

    args = [shutil.which("bwrap") or "bwrap",
            "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", HOSTNAME, "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _supports("--disable-userns"):
        args.append("--disable-userns")  # no nested user namespace to regain capabilities in

    for name in SYSTEM_DIRS:
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ETC_FILES:
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if policy.gpu:
        for device in sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*")) + list(GPU_DEVICES):
            args += ["--dev-bind-try", device, device]
        args += ["--ro-bind-try", "/sys", "/sys"]
    # /dev is a RAM-backed tmpfs the size of half the host's memory, outside RLIMIT_AS and the memory
    # watchdog: cap /dev/shm like /tmp (POSIX shared memory still works) and make the rest read-only.
    sized = ["--size", str(tmpfs_mb(policy.limits) * 1024 * 1024)] if _supports("--size") else []
    args += [*sized, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    args += [*sized, "--tmpfs", "/tmp"]
    # After /tmp: whatever lives below /tmp (a venv, the scratch folder) is bound back on top of it.
    sources: list[Path] = []
    for path in _python_dirs() + binds:
        args += _same_path("--ro-bind", path)
        sources.append(path)
    for path in policy.hidden:
        if path.is_dir():
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]
    for path in ([runtime] if runtime is not None else []) + [scratch]:
        args += _same_path("--bind", path)
        sources.append(path)
    args += ["--remount-ro", "/",  # the sandbox's root tmpfs: nothing writable outside the binds and /tmp
             "--chdir", str(scratch),
             "--unsetenv", "JPY_PARENT_PID",  # the kernel's parent is outside its pid namespace
             "--setenv", "HOME", str(scratch), "--setenv", "TMPDIR", "/tmp",
             "--setenv", "USER", "student", "--setenv", "LOGNAME", "student"]
    args += ["--", sys.executable, "-I", "-S", "-c", _LIMITS_LAUNCHER, json.dumps(policy.rlimits()),
             *argv]
    if not policy.drops_root:
        return args
    spec = {"uid": policy.host_uid, "gid": policy.host_uid,
            "chown": [str(p) for p in ([runtime] if runtime is not None else []) + [scratch]],
            "sources": sorted({str(p) for p in sources} | {str(p.resolve()) for p in sources})}
    return [sys.executable, "-I", "-S", "-c", _ROOT_PRELAUNCHER, json.dumps(spec), *args]


__all__ = ["SandboxError", "SandboxPolicy", "SandboxUnavailable", "cpu_seconds",
           "grader_package_dir", "sandbox_status", "tmpfs_mb", "wrap_command"]
