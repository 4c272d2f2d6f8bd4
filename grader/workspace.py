"""The places a graded notebook can write to, measured and cleaned from the host.

A sandboxed kernel can write to four places (:mod:`grader.sandbox`): its folder (the scratch folder,
also HOME), the kernel's runtime folder (connection file, ipc sockets, the kernel's log), and two
small private tmpfs, ``/tmp`` and ``/dev/shm``, that exist only inside the sandbox. The grader opens
those two once the kernel is up, through ``/proc/<pid>/root`` of a process inside the sandbox, and
holds them open (:func:`open_sandbox_places`): what the notebook left there can still be measured and
listed after the kernel is gone, and no reused pid can point the grader at another process's files.

:func:`measure` walks them the way ``du`` would, never following a link and never crossing into
another mount (the binds below the sandbox's ``/tmp``): every entry counts, files of every kind,
folders and links alike, each inode once, with the larger of its apparent size and its allocated
size (a 10 GB sparse file counts 10 GB even though it takes 4 KB). It stops as soon as a limit is
passed, so a notebook that creates a million files costs one bounded walk per sample. What the
student's code wrote (everything but what the programs the kernel runs write on their own, the
``*_NOISE`` patterns) is listed too, as the student's code names it: that list feeds the "write
nothing to disk" rule (``ej1_normas``, :func:`written_files`).

The rest of the module is what happens to a submission's work folder afterwards:
:func:`regular_files_copy` (the exported artifacts for the scorer: regular files only, sparse files
copied as sparse files) and :func:`prune_workdir` (a batch keeps only what the instructor's later
steps read).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ARTIFACTS = ".grader-artifacts"   # in the scratch folder: where the grader's export cell writes
MAX_DEPTH = 128                   # deeper folders are not measured: the notebook is stopped instead
LISTED = 50                       # entries listed for the rules (the message shows the first five)

# What programs write on their own, per place (patterns relative to the place: ``*`` within one name,
# a final ``/**`` for a folder and everything below it). Anything else was written by the student's code.
# The home folder: the grader's own export (the export cell empties it first, so nothing the student
# planted there survives) and CUDA's kernel cache on a GPU. Every other program's cache and settings go
# to /tmp (grader.execute sets IPYTHONDIR, MPLCONFIGDIR, KERAS_HOME, XDG_CACHE_HOME, ... there).
HOME_NOISE = (f"{ARTIFACTS}/**", ".nv/**")
TMP_NOISE = (".ipython/**", ".matplotlib/**", ".jupyter/**", ".cache/**", ".config/**",
             ".keras", ".keras/keras.json", ".keras/datasets/**",
             "__autograph_generated_file*.py",  # TensorFlow's autograph, removed when the process exits
             "pymp-*/**")                        # multiprocessing's own folder
# POSIX semaphores and shared memory of multiprocessing, joblib and loky: memory, not files.
SHM_NOISE = ("sem.*", "psm_*", "pym-*", "mp-*", "loky-*", "joblib_memmapping_folder_*/**")
# The kernel's connection file, log and ipc sockets (k-1 ... k-5), and its TMPDIR when unsandboxed.
RUNTIME_NOISE = ("kernel.json", "kernel.log", "k-[0-9]*", "tmp", *(f"tmp/{p}" for p in TMP_NOISE))


@dataclass(frozen=True)
class Place:
    """One writable place: ``root`` is where the grader reads it, ``shown`` how the student's code
    names it ("" for the home folder, whose entries are named relative to it, as the student does)."""

    root: Path
    shown: str
    noise: tuple[str, ...] = ()
    fd: int | None = None  # an open folder to read instead of ``root`` (the sandbox's tmpfs)
    mounts: frozenset[str] = frozenset()  # relative paths of other mounts here (the binds), never walked


@dataclass
class Usage:
    """What :func:`measure` found: bytes (each inode's larger of apparent and allocated size) and
    entries (inodes: files of every kind, folders, links), and which limit was passed first, if any:
    ``"disk"``, ``"files"`` or ``"unmeasured"`` (a folder the grader cannot enter: deeper than
    :data:`MAX_DEPTH`, or unreadable). ``written``: up to :data:`LISTED` entries the student's code
    wrote (files of every kind and empty folders, the latter with a trailing ``/``), as it names them."""

    bytes: int = 0
    files: int = 0
    over: str | None = None
    written: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # places that could not be opened (gone, not there yet)


def _noise_regex(patterns: Iterable[str]) -> re.Pattern | None:
    """One regex for a place's noise patterns (see :data:`HOME_NOISE`); None for none."""
    alternatives = []
    for pattern in patterns:
        tree = pattern.endswith("/**")
        body = pattern[:-3] if tree else pattern
        regex = "/".join(_name_regex(part) for part in body.split("/"))
        alternatives.append(regex + ("(?:/.*)?" if tree else ""))
    return re.compile("(?:" + "|".join(alternatives) + r")\Z", re.DOTALL) if alternatives else None


def _name_regex(part: str) -> str:
    """One name of a pattern: ``*`` and ``?`` stay within the name, a class (``[0-9]``) is kept."""
    out, index = [], 0
    while index < len(part):
        char = part[index]
        if char == "[":
            end = part.index("]", index)
            out.append(part[index:end + 1])
            index = end + 1
            continue
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        index += 1
    return "".join(out)


def _size(info: os.stat_result) -> int:
    return max(info.st_size, info.st_blocks * 512)


def _open_dir(name: str, dir_fd: int | None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


class _Walk:
    def __init__(self, max_bytes: int | None, max_files: int | None, listed: int, until_listed: bool = False):
        self.usage = Usage()
        self.max_bytes, self.max_files, self.listed = max_bytes, max_files, listed
        self.until_listed = until_listed
        self.linked: set[tuple[int, int]] = set()

    def stopped(self) -> bool:
        return self.usage.over is not None or (self.until_listed and len(self.usage.written) >= self.listed)

    def count(self, info: os.stat_result) -> bool:
        """Add one entry; True when a limit is now passed (the walk stops)."""
        if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in self.linked:
                return False
            self.linked.add(key)
        usage = self.usage
        usage.files += 1
        usage.bytes += _size(info)
        if self.max_files is not None and usage.files > self.max_files:
            usage.over = "files"
        elif self.max_bytes is not None and usage.bytes > self.max_bytes:
            usage.over = "disk"
        return usage.over is not None

    def note(self, place: Place, noise: re.Pattern | None, relative: str, folder: bool) -> None:
        if len(self.usage.written) >= self.listed or (noise is not None and noise.match(relative)):
            return
        name = relative + ("/" if folder else "")
        self.usage.written.append(f"{place.shown.rstrip('/')}/{name}" if place.shown else name)

    def place(self, place: Place) -> None:
        try:  # a descriptor of its own (scandir reads from the current offset of the one it is given)
            top = _open_dir(".", place.fd) if place.fd is not None else _open_dir(str(place.root), None)
        except OSError:
            self.usage.missing.append(str(place.root))
            return
        try:
            device = os.fstat(top).st_dev
            self._folder(place, _noise_regex(place.noise), top, "", device, 1)  # stops by setting usage
        finally:
            os.close(top)

    def _folder(self, place: Place, noise, fd: int, prefix: str, device: int, depth: int) -> tuple[bool, bool]:
        """Walk one open folder: (whether the walk must stop, a limit passed; whether it was empty)."""
        try:
            with os.scandir(fd) as listing:
                entries = list(listing)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False, False
            self.usage.over = "unmeasured"
            return True, False
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed since the listing
            folder = stat.S_ISDIR(info.st_mode)
            relative = prefix + entry.name
            if folder and (info.st_dev != device or relative in place.mounts):
                continue  # a mount point (a bind below the sandbox's /tmp, or where one was): not the kernel's
            over = self.count(info)
            if not folder:
                self.note(place, noise, relative, False)
                if over or self.stopped():
                    return True, False
                continue
            if over:
                return True, False
            if depth >= MAX_DEPTH:
                self.usage.over = "unmeasured"
                return True, False
            try:
                child = _open_dir(entry.name, fd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # replaced since the listing: the next sample sees what is there now
                self.usage.over = "unmeasured"
                return True, False
            try:
                if os.fstat(child).st_dev != device:
                    continue
                stop, empty = self._folder(place, noise, child, relative + "/", device, depth + 1)
                if stop:
                    return True, False
                if empty:
                    self.note(place, noise, relative, True)  # an empty folder is written too
                    if self.stopped():
                        return True, False
            finally:
                os.close(child)
        return False, not entries


def measure(places: Sequence[Place], *, max_bytes: int | None = None, max_files: int | None = None,
            listed: int = LISTED, until_listed: bool = False) -> Usage:
    """Bytes and entries in ``places`` together, stopping once ``max_bytes`` or ``max_files`` is passed
    (see :class:`Usage`), or with ``until_listed`` once ``listed`` entries are listed. Links are never
    followed; a place that cannot be opened is skipped (named in ``missing``)."""
    walk = _Walk(max_bytes, max_files, listed, until_listed)
    for place in places:
        walk.place(place)
        if walk.stopped():
            break
    return walk.usage


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            return [int(p) for p in children.read().split()]
    except (OSError, ValueError):  # a kernel without CONFIG_PROC_CHILDREN
        import psutil

        try:
            return [child.pid for child in psutil.Process(pid).children()]
        except psutil.Error:
            return []


def open_sandbox_places(pid: int) -> list[Place]:
    """The sandbox's /tmp and /dev/shm, opened from the host through ``/proc/<child>/root`` of the first
    process inside the sandbox that bubblewrap (``pid``) started; [] while it is not set up.

    The places hold open folders (``Place.fd``): they always name the sandbox's own tmpfs, whatever
    happens to that process (no pid reuse can point them elsewhere), and what they hold can still be
    measured after the kernel died. :func:`close_places` lets them go."""
    host = os.stat("/")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    for child in _children(pid):
        try:
            root = os.open(f"/proc/{child}/root", flags)
        except OSError:
            continue
        places: list[Place] = []
        try:
            info = os.fstat(root)
            if (info.st_dev, info.st_ino) == (host.st_dev, host.st_ino):
                continue  # not pivoted into its new root yet
            mounts = _mount_points(child)
            for name, shown, noise in (("tmp", "/tmp", TMP_NOISE), ("dev/shm", "/dev/shm", SHM_NOISE)):
                fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=root)
                inner = frozenset(m[len(shown) + 1:] for m in mounts if m.startswith(shown + "/"))
                places.append(Place(Path(f"/proc/{child}/root/{name}"), shown, noise, fd, inner))
                if os.fstat(fd).st_dev == info.st_dev:  # not its own tmpfs yet: still being set up
                    raise OSError(errno.EAGAIN, "sandbox not set up")
            return places
        except OSError:
            close_places(places)
        finally:
            os.close(root)
    return []


def _mount_points(pid: int) -> list[str]:
    """The mount points of ``pid``'s mount namespace, as its processes name them (``/proc/pid/mountinfo``).
    Once the sandbox is gone its binds are detached and their mount points look like empty folders of
    its /tmp: these names keep them out of the measurement."""
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        lines = table.read().splitlines()
    octal = re.compile(r"\\([0-7]{3})")
    return [octal.sub(lambda m: chr(int(m[1], 8)), line.split(" ")[4]) for line in lines if line.count(" ") >= 4]


def close_places(places: Iterable[Place]) -> None:
    for place in places:
        if place.fd is not None:
            with contextlib.suppress(OSError):
                os.close(place.fd)


def kernel_places(scratch: Path, runtime: Path) -> list[Place]:
    """The kernel's writable places on the host: its folder (also HOME) and its runtime folder (which
    holds its TMPDIR when it runs without a sandbox). Sandboxed, :func:`open_sandbox_places` adds the
    sandbox's /tmp and /dev/shm."""
    return [Place(Path(scratch), "", HOME_NOISE), Place(Path(runtime), str(runtime), RUNTIME_NOISE)]


def written_files(scratch: Path, elsewhere: Iterable[str] = ()) -> list[str]:
    """What the student's code left in its folder (named relative to it) and, from ``elsewhere``, what
    the execute stage saw it write to /tmp, /dev/shm and the runtime folder; sorted, at most
    :data:`LISTED` entries. What programs write on their own (:data:`HOME_NOISE`) is left out."""
    found = measure([Place(Path(scratch), "", HOME_NOISE)], until_listed=True).written
    return sorted(dict.fromkeys([*found, *elsewhere]))[:LISTED]


# ------------------------------------------------------------------------------------- after the run

def _copy_sparse(source: int, target: int, size: int) -> None:
    """Copy the data of ``source`` into ``target``, leaving its holes holes (SEEK_DATA / SEEK_HOLE)."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole from here to the end
                break
            if exc.errno != errno.EINVAL:
                raise
            start = offset  # no SEEK_DATA on this file system: everything is data
            end = size
        else:
            end = os.lseek(source, start, os.SEEK_HOLE)
        position = start
        while position < end:
            chunk = os.pread(source, min(1 << 20, end - position), position)
            if not chunk:
                break
            os.pwrite(target, chunk, position)
            position += len(chunk)
        offset = end
    os.ftruncate(target, size)


def regular_files_copy(exported: Path, scored: Path) -> Path:
    """What the scoring process reads: a fresh folder with copies of the regular files the kernel left.

    The student's code controls the export folder: it may be missing (the kernel died), a symlink
    (to a classmate's work), or hold symlinks to files only the scorer can read (held-out labels,
    thresholds). None of that may reach the scorer, so links are never followed. A sparse file is
    copied as a sparse file: it takes on the host what it took in the scratch folder, not its
    apparent size.
    """
    scored.mkdir()
    if not exported.is_dir() or exported.is_symlink():
        return scored
    for entry in exported.iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        try:
            source = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(source)
            if not stat.S_ISREG(info.st_mode):
                continue
            target = os.open(scored / entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                _copy_sparse(source, target, info.st_size)
            finally:
                os.close(target)
        finally:
            os.close(source)
    return scored


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, also folders the student's code made unreadable or
    read-only (``chmod 000``; run once the kernel is gone). A missing path is fine."""
    path = Path(path)

    def retry(function, name, _info) -> None:
        parent = os.path.dirname(name)
        for folder in (parent, name):
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(folder).st_mode):
                    os.chmod(folder, 0o700)
        with contextlib.suppress(FileNotFoundError):
            if function in (os.rmdir, os.unlink, os.remove):
                function(name)
            else:
                shutil.rmtree(name, ignore_errors=True)

    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


# What the later steps of a batch read from a student's work folder besides result.json and the
# executed notebook: the similarity report's trained models and training histories (artifacts/) and
# the predicted labels (predictions.json; the labels they refer to are kept once per batch, see
# grader.heldout.answers_folder).
KEPT_FILES = ("result.json", "executed.ipynb", "predictions.json", "*.html")
KEPT_ARTIFACTS = ("*.keras", "*.history.json")


def prune_workdir(workdir: Path) -> None:
    """Keep only what the instructor needs from a graded submission's work folder (:data:`KEPT_FILES`,
    the models and histories of ``artifacts/``) and remove the rest: the scratch folder with whatever
    the notebook wrote, the held-out inputs, the scoring job (a copy of the hidden tests), the runtime
    folder."""
    workdir = Path(workdir)
    if workdir.is_symlink() or not workdir.is_dir():
        return
    for entry in list(workdir.iterdir()):
        name = entry.name
        directory = entry.is_dir() and not entry.is_symlink()
        if not directory and any(Path(name).match(p) for p in KEPT_FILES):
            continue
        if directory and name == "artifacts":
            for inner in list(entry.iterdir()):
                if inner.is_symlink() or not inner.is_file() or not any(inner.match(p) for p in KEPT_ARTIFACTS):
                    remove_tree(inner)
            if not any(entry.iterdir()):
                entry.rmdir()
            continue
        remove_tree(entry)


__all__ = ["ARTIFACTS", "HOME_NOISE", "Place", "Usage", "close_places", "kernel_places", "measure",
           "open_sandbox_places", "prune_workdir", "regular_files_copy", "remove_tree", "written_files"]
