"""The sandbox, for real: bubblewrap around a real kernel, each limit tried by a notebook that breaks it."""

from __future__ import annotations

import json
import secrets
import socket
import sys
from pathlib import Path

import nbformat
import pytest

import grader.sandbox as sandbox_module
from grader.config import Limits
from grader.execute import ExecutedNotebook, execute_notebook
from grader.instructor import HIDDEN_TESTS_DIR, PROJECT_ROOT, REFERENCE_DIR
from grader.records import ExecutionStatus
from grader.sandbox import (
    SandboxError,
    SandboxPolicy,
    SandboxUnavailable,
    grader_package_dir,
    sandbox_status,
    wrap_command,
)
from tests.test_execute import leftovers

USABLE, WHY_NOT = sandbox_status()
needs_bwrap = pytest.mark.skipif(not USABLE, reason=WHY_NOT)


def run(tmp_path: Path, *sources: str, ro_binds=(), hidden=(), **limits) -> ExecutedNotebook:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    settings = Limits(**{"cell_timeout_s": 60, "total_timeout_s": 120, "memory_mb": 2048,
                         "processes": 128, **limits})
    policy = SandboxPolicy(scratch=scratch, limits=settings, ro_binds=tuple(ro_binds), hidden=tuple(hidden))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return execute_notebook(nb, workdir=scratch, limits=settings, sandbox=policy)


def texts(result: ExecutedNotebook) -> str:
    return "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) + o.get("ename", "") + o.get("evalue", "")
                     for cell in result.notebook.cells for o in cell.outputs)


def test_sandbox_status_answers_with_a_reason():
    usable, reason = sandbox_status()
    assert isinstance(usable, bool) and reason
    assert sandbox_status() == (usable, reason)  # asked once per process


def test_without_bwrap_the_caller_gets_the_reason_and_nothing_runs(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    policy = SandboxPolicy(scratch=scratch, limits=Limits())
    try:
        with monkeypatch.context() as patch:
            patch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
            sandbox_status.cache_clear()
            sandbox_module._bwrap_help.cache_clear()
            usable, reason = sandbox_status()
            assert not usable and "apt-get install bubblewrap" in reason
            with pytest.raises(SandboxUnavailable, match="not installed"):
                execute_notebook(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
                                 workdir=scratch, limits=Limits(), sandbox=policy)
    finally:
        sandbox_status.cache_clear()
        sandbox_module._bwrap_help.cache_clear()
    assert sandbox_status() == (USABLE, WHY_NOT)


def _binds(argv: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for i, arg in enumerate(argv):
        if arg in ("--ro-bind", "--bind", "--dev-bind-try", "--ro-bind-try"):
            found.setdefault(arg, []).append(argv[i + 1])
    return found


def test_the_command_line_binds_python_and_grader_but_never_the_checkout(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    policy = SandboxPolicy(scratch=tmp_path, limits=Limits(), ro_binds=[data])
    argv = wrap_command(["python", "-c", "pass"], policy)
    binds = _binds(argv)
    read_only = set(binds["--ro-bind"])
    assert {sys.base_prefix, sys.prefix, str(grader_package_dir()), str(data)} <= read_only
    assert binds["--bind"] == [str(tmp_path)]  # the only writable bind
    for source in read_only | set(binds["--bind"]):
        assert Path(source) not in (PROJECT_ROOT, PROJECT_ROOT.parent, Path("/"), Path("/root"))
        assert not Path(HIDDEN_TESTS_DIR).is_relative_to(source)
        assert not Path(REFERENCE_DIR).is_relative_to(source)
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--unsetenv") + 1] == "JPY_PARENT_PID"
    assert argv[-3:] == ["python", "-c", "pass"]
    with pytest.raises(SandboxError, match="narrower"):
        wrap_command(["true"], SandboxPolicy(scratch=tmp_path, limits=Limits(), ro_binds=[PROJECT_ROOT]))
    with pytest.raises(SandboxError, match="does not exist"):
        wrap_command(["true"], SandboxPolicy(scratch=tmp_path / "missing", limits=Limits()))


def test_the_limits_come_from_the_assignment():
    limits = Limits(memory_mb=4096, processes=100, file_size_mb=10, total_timeout_s=600)
    rlimits = SandboxPolicy(scratch=Path("/tmp"), limits=limits).rlimits()
    assert rlimits["RLIMIT_AS"] == (4096 * 2**20, 4096 * 2**20)
    assert rlimits["RLIMIT_NPROC"] == (100, 100)
    assert rlimits["RLIMIT_FSIZE"] == (10 * 2**20, 10 * 2**20)
    assert rlimits["RLIMIT_CPU"][0] >= 600 and rlimits["RLIMIT_CORE"] == (0, 0)
    gpu = SandboxPolicy(scratch=Path("/tmp"), limits=limits, gpu=True).rlimits()
    assert "RLIMIT_AS" not in gpu and gpu["RLIMIT_DATA"] == (4096 * 2**20, 4096 * 2**20)


@needs_bwrap
def test_there_is_no_network_not_even_the_hosts_loopback(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        result = run(tmp_path, "import socket\n"
                     f"for address in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
                     "    try:\n"
                     "        socket.create_connection(address, timeout=3)\n"
                     "        print('CONNECTED', address)\n"
                     "    except OSError as exc:\n"
                     "        print('blocked', address, type(exc).__name__)")
    finally:
        server.close()
    output = texts(result)
    assert result.record.status is ExecutionStatus.COMPLETED, result.record.message
    assert "CONNECTED" not in output and output.count("blocked") == 3


@needs_bwrap
def test_files_outside_the_binds_cannot_be_read(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o755)
    canary = secret / "canary.txt"
    content = f"CANARY-{secrets.token_hex(8)}"
    canary.write_text(content)
    canary.chmod(0o644)  # readable by anyone: only the sandbox keeps it away
    data = tmp_path / "data"
    data.mkdir()
    (data / "inputs.txt").write_text("held-out inputs")
    probes = [str(canary), str(PROJECT_ROOT / "pyproject.toml"), str(HIDDEN_TESTS_DIR), str(REFERENCE_DIR),
              "/root/.bash_history", "/etc/shadow"]
    result = run(tmp_path, "import os\n"
                 f"for path in {probes!r}:\n"
                 "    try:\n"
                 "        print(open(path).read() if os.path.isfile(path) else os.listdir(path))\n"
                 "    except OSError as exc:\n"
                 "        print('refused', path, type(exc).__name__)\n"
                 f"print('checkout shows', sorted(os.listdir({str(PROJECT_ROOT)!r})))\n"
                 f"print('inputs', open({str(data / 'inputs.txt')!r}).read())",
                 ro_binds=[data])
    output = texts(result)
    assert content not in output
    assert output.count("refused") == len(probes)
    assert "checkout shows ['.venv', 'grader']" in output
    assert "inputs held-out inputs" in output


@needs_bwrap
def test_a_hidden_folder_inside_a_bind_is_shown_empty(tmp_path):
    """How the system's dataset folder (Debian's /usr/share/datasets, inside the /usr bind) is kept from
    the kernel: the raw test splits would undo the secret held-out part."""
    data = tmp_path / "system"
    (data / "datasets").mkdir(parents=True)
    (data / "datasets" / "t10k-labels-idx1-ubyte.gz").write_text("raw labels")
    (data / "other.txt").write_text("still there")
    result = run(tmp_path, "import os\n"
                 f"print('hidden', os.listdir({str(data / 'datasets')!r}))\n"
                 f"print('other', open({str(data / 'other.txt')!r}).read())",
                 ro_binds=[data], hidden=(data / "datasets", tmp_path / "absent"))
    output = texts(result)
    assert "hidden []" in output and "other still there" in output


@needs_bwrap
def test_only_the_scratch_folder_is_writable(tmp_path):
    name = f"grader-test-{secrets.token_hex(4)}"
    data = tmp_path / "data"
    data.mkdir()
    refused = [str(data / name), str(grader_package_dir() / name), f"{sys.prefix}/{name}", f"/{name}",
               f"/usr/{name}", f"/etc/{name}", f"/{name}/"]
    private = [str(tmp_path / name), f"/tmp/{name}"]  # the sandbox's own /tmp (a small tmpfs)
    result = run(tmp_path, "import os\n"
                 f"for path in {refused + private!r}:\n"
                 "    try:\n"
                 "        os.makedirs(path) if path.endswith('/') else open(path, 'w').write('x')\n"
                 "        print('WROTE', path)\n"
                 "    except OSError as exc:\n"
                 "        print('refused', path, type(exc).__name__)\n"
                 "open('inside.txt', 'w').write('kept')\n"
                 "print('home is cwd', os.path.expanduser('~') == os.getcwd())", ro_binds=[data])
    output = texts(result)
    assert output.count("refused") == len(refused) and output.count("WROTE") == len(private)
    assert "home is cwd True" in output
    assert (tmp_path / "scratch" / "inside.txt").read_text() == "kept"
    for path in refused[:3] + private:  # nothing reached the host outside the scratch folder
        assert not Path(path).exists()
    assert list(data.iterdir()) == []


@needs_bwrap
def test_a_big_file_stops_at_the_file_size_limit(tmp_path):
    result = run(tmp_path, "try:\n    open('big.bin', 'wb').write(b'x' * 3 * 2**20)\n"
                 "except OSError as exc:\n    print('refused errno', exc.errno)", file_size_mb=1)
    assert "refused errno 27" in texts(result)  # EFBIG
    assert (tmp_path / "scratch" / "big.bin").stat().st_size <= 2**20


@needs_bwrap
def test_a_fork_bomb_is_contained(tmp_path):
    result = run(tmp_path,
                 "import os, time\nforks = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
                 "            while True:\n                try:\n                    os.fork()\n"
                 "                except OSError:\n                    time.sleep(0.2)\n"
                 "        forks += 1\nexcept OSError as exc:\n    print('contained', type(exc).__name__)",
                 "print('kernel alive')", processes=64)
    output = texts(result)
    assert "contained BlockingIOError" in output and "kernel alive" in output
    assert len(result.process_ids) <= 64 + 2  # the limit, plus bwrap outside the user namespace
    assert leftovers(result) == []


@needs_bwrap
def test_a_memory_bomb_is_contained(tmp_path):
    result = run(tmp_path, "huge = bytearray(64 * 2**30)",
                 "chunks = []\ntry:\n    while True:\n        chunks.append(bytearray(128 * 2**20))\n"
                 "except MemoryError:\n    print('stopped after', len(chunks))\ndel chunks",
                 "print('kernel alive')", memory_mb=1024)
    record = result.record
    assert record.status is ExecutionStatus.CELL_ERROR and record.first_error.ename == "MemoryError"
    output = texts(result)
    assert "stopped after" in output and "kernel alive" in output
    assert record.peak_memory_mb < 1024 + 64
    assert leftovers(result) == []


@needs_bwrap
@pytest.mark.slow
def test_processes_that_together_pass_the_memory_limit_are_killed(tmp_path):
    result = run(tmp_path, "import subprocess, sys\n"
                 "code = 'import time; b = bytearray(450 * 2**20); time.sleep(60)'\n"
                 "children = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(3)]\n"
                 "[child.wait() for child in children]", "print('never')", memory_mb=1024)
    record = result.record
    assert record.status is ExecutionStatus.KERNEL_DIED and "1024 MB" in record.message
    assert record.first_error.ename == "MemoryLimit"
    assert "never" not in texts(result)
    assert leftovers(result) == []
