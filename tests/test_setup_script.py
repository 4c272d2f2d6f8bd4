"""`make setup`'s system step (scripts/install-bubblewrap.sh) as users without root meet it: it never
fails the set-up, and where it cannot install bubblewrap it says in one line what that costs and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install-bubblewrap.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                                reason="runs the script as an unprivileged user: needs root and runuser")


@pytest.fixture
def bin_dir():
    """A folder user 'nobody' can reach (pytest's own temporary folders are private to root)."""
    with tempfile.TemporaryDirectory(prefix="grader-setup-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def run_as_nobody(bin_dir: Path, commands: list[str]) -> subprocess.CompletedProcess:
    """The script as user 'nobody' (no root, no sudo) with only ``commands`` on its PATH."""
    for name in ["bash", "id", *commands]:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed here")
        (bin_dir / name).symlink_to(found)
    return subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/env", f"PATH={bin_dir}", "bash", str(SCRIPT)],
                          capture_output=True, text=True, timeout=60)


def test_without_root_on_debian_one_line_names_the_cost_and_the_fix(bin_dir):
    run = run_as_nobody(bin_dir, ["apt-get"])
    assert run.returncode == 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "bubblewrap is missing" in lines[0] and "sandboxed" in lines[0]
    assert lines[0].endswith("fix: sudo apt-get install bubblewrap")


def test_without_apt_the_fix_names_the_package_manager(bin_dir):
    run = run_as_nobody(bin_dir, [])
    assert run.returncode == 0
    assert run.stderr.strip().endswith("fix: install bubblewrap with this system's package manager")


def test_silent_when_bubblewrap_is_there(bin_dir):
    run = run_as_nobody(bin_dir, ["bwrap"])
    assert run.returncode == 0
    assert run.stdout == run.stderr == ""
