"""nbgrader's formgrader on a course root, to grade the manual parts (the "informe" cells) by hand.

The formgrader (nbgrader/server_extensions/formgrader) is a Jupyter server extension. It reads
``CourseDirectory.root`` (the course root: ``autograded/<student>/<assignment>/<notebook>.ipynb``, which
``grader autograde`` writes) and ``CourseDirectory.db_url`` (the gradebook), and refuses to work
(HTTP 500) when the course root is not inside the server's ``root_dir``. :func:`start_formgrader` starts
``jupyter server`` on localhost with the extension enabled and both set on its command line, the
server's ``root_dir`` being the course root; the grades and comments typed there go straight into
the gradebook, where ``grader export`` (grader/export_grades.py) reads them.

On JupyterHub the formgrader runs as nbgrader's hub service instead; point it at the same folder
(``c.CourseDirectory.root = "/path/to/course"`` in the service's ``nbgrader_config.py``, and
``c.CourseDirectory.db_url`` if the gradebook is not ``<root>/gradebook.db``).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import CourseRoot
from grader.errors import GraderError

EXTENSION = "nbgrader.server_extensions.formgrader"
COURSE_ID = "default_course"   # the course id grader's gradebook rows carry (grader.gradebook.open_gradebook)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class Formgrader:
    """A running formgrader server (a ``jupyter server`` child process)."""

    process: subprocess.Popen
    base: str                      # http://127.0.0.1:<port>/
    token: str
    course: CourseRoot
    log_path: Path | None = None
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"token {self.token}"}

    @property
    def url(self) -> str:
        """The formgrader's page, with the token (what a browser opens)."""
        return f"{self.base}formgrader?token={self.token}"

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def __enter__(self) -> Formgrader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def server_command(course: CourseRoot, *, port: int, token: str, db_url: str | None = None,
                   host: str = "127.0.0.1") -> list[str]:
    """``jupyter server`` with the formgrader on ``course``: its root_dir is the course root."""
    return [sys.executable, "-m", "jupyter_server", "--no-browser", f"--ServerApp.ip={host}",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={course.root}", f"--ServerApp.jpserver_extensions={{'{EXTENSION}': True}}",
            f"--CourseDirectory.root={course.root}", f"--CourseDirectory.db_url={db_url or course.db_url}",
            f"--CourseDirectory.course_id={COURSE_ID}", *(["--allow-root"] if os.geteuid() == 0 else [])]


def start_formgrader(course: CourseRoot | Path, *, port: int | None = None, token: str | None = None,
                     db_url: str | None = None, log_path: Path | None = None, wait_s: float = 60) -> Formgrader:
    """Start the formgrader on ``course`` and wait until it answers; the caller stops it."""
    course = course if isinstance(course, CourseRoot) else CourseRoot(course)
    if not course.root.is_dir():
        raise GraderError(f"{course.root}: no such course folder; fix: pass the folder holding gradebook.db "
                          "and autograded/ (--course)")
    url = db_url or course.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise GraderError(f"{url.removeprefix('sqlite:///')}: no gradebook; fix: run 'grader autograde' first, or "
                          "pass --course (the folder holding gradebook.db) or --db")
    port = port or free_port()
    token = token or secrets.token_hex(24)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(server_command(course, port=port, token=token, db_url=url), cwd=course.root,
                                   env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        if log_path:
            output.close()
    server = Formgrader(process, f"http://127.0.0.1:{port}/", token, course, log_path)
    deadline = time.monotonic() + wait_s
    while True:
        if process.poll() is not None:
            raise GraderError(f"the formgrader's Jupyter server exited with status {process.returncode} "
                              f"(port {port} taken?); fix: pass another --port"
                              + (f", see {log_path}" if log_path else ""))
        try:
            request = urllib.request.Request(f"{server.base}api/status", headers=server.headers)
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise GraderError(f"the formgrader did not answer within {wait_s:.0f} s")
        time.sleep(0.2)


__all__ = ["Formgrader", "start_formgrader", "server_command", "free_port"]
