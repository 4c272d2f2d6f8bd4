"""Every place a graded notebook can write to counts, and a batch leaves only what the instructor needs.

Real files, real bubblewrap sandboxes and real kernels (no TensorFlow: each run is a kernel start, a
few seconds), a real Dask batch into a real gradebook; no mocks. The limits are small (2000 files,
64 MB) so that a notebook that tries to create a million files or a 10 GB sparse file is stopped in
about a second, with the same code paths as the defaults.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from grader.checks.rules import SubmissionFacts, check_rules
from grader.config import Limits
from grader.execute import ExecutedNotebook, execute_notebook
from grader.records import ExecutionStatus
from grader.sandbox import SandboxPolicy, tmpfs_mb, wrap_command
from grader.i18n import render
from grader.workspace import (
    ARTIFACTS,
    HOME_NOISE,
    MAX_DEPTH,
    Place,
    measure,
    prune_workdir,
    regular_files_copy,
    written_files,
)
from tests.test_sandbox import needs_bwrap

GB = 2**30
SMALL = {"cell_timeout_s": 60, "total_timeout_s": 120, "memory_mb": 2048, "processes": 128}


def run(tmp_path: Path, *sources: str, lang: str = "es", **limits) -> ExecutedNotebook:
    scratch, runtime = tmp_path / "scratch", tmp_path / "runtime"
    scratch.mkdir(exist_ok=True)
    runtime.mkdir(exist_ok=True)
    settings = Limits(**{**SMALL, **limits})
    policy = SandboxPolicy(scratch=scratch, limits=settings, runtime_dir=runtime)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return execute_notebook(nb, workdir=scratch, limits=settings, sandbox=policy, lang=lang)


def outputs(result: ExecutedNotebook) -> str:
    return "\n".join(o.get("text", "") + o.get("ename", "") for cell in result.notebook.cells for o in cell.outputs)


def allocated(folder: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


# ---------------------------------------------------------------------------------- measuring, copying

def test_every_kind_of_entry_counts_once_at_the_larger_of_its_sizes(tmp_path):
    root = tmp_path / "home"
    (root / ARTIFACTS).mkdir(parents=True)
    (root / ARTIFACTS / "cnn_model.keras").write_bytes(b"k" * 100)   # the grader's export: counted, not listed
    with open(root / "disperso.bin", "wb") as sparse:
        sparse.truncate(10 * GB)                                     # takes nothing, counts 10 GB
    (root / "datos.bin").write_bytes(b"d" * 2**20)
    os.link(root / "datos.bin", root / "enlace_duro.bin")           # the same inode: counted once
    os.symlink("/", root / "raiz")                                   # a link: counted, never followed
    os.mkfifo(root / "tuberia")
    (root / "vacia").mkdir()
    (root / "llena").mkdir()
    for i in range(3):
        (root / "llena" / f"{i}.txt").write_text("x")

    usage = measure([Place(root, "", HOME_NOISE)])
    assert usage.over is None and usage.files == 11  # the hard link is the same inode
    assert 10 * GB + 2**20 <= usage.bytes < 10 * GB + 2**20 + 2**16
    assert sorted(usage.written) == ["datos.bin", "disperso.bin", "enlace_duro.bin", "llena/0.txt", "llena/1.txt",
                                     "llena/2.txt", "raiz", "tuberia", "vacia/"]
    assert measure([Place(root, "", HOME_NOISE)], max_files=4).over == "files"
    assert measure([Place(root, "", HOME_NOISE)], max_bytes=GB).over == "disk"

    deep = tmp_path / "profunda"
    deep.mkdir()
    os.makedirs(deep / "/".join(["d"] * (MAX_DEPTH + 2)))
    assert measure([Place(deep, "", ())]).over == "unmeasured"  # too deep to measure: as bad as too big


def test_sparse_artifacts_are_copied_as_sparse_files_and_links_not_at_all(tmp_path):
    exported, scored = tmp_path / "exportado", tmp_path / "copia"
    exported.mkdir()
    with open(exported / "cnn_model.keras", "wb") as model:
        model.write(b"PK\x03\x04")
        model.seek(5 * GB)
        model.write(b"medio")
        model.truncate(10 * GB)
    (exported / "manifest.json").write_text('{"cnn_model": {"status": "exported"}}')
    os.symlink("/etc/passwd", exported / "fuga.json")
    (exported / "carpeta").mkdir()

    regular_files_copy(exported, scored)

    assert sorted(p.name for p in scored.iterdir()) == ["cnn_model.keras", "manifest.json"]
    copy = scored / "cnn_model.keras"
    assert copy.stat().st_size == 10 * GB
    assert copy.stat().st_blocks * 512 <= 2**20  # not 10 GB of zeros on the host
    with open(copy, "rb") as model:
        assert model.read(4) == b"PK\x03\x04"
        model.seek(5 * GB)
        assert model.read(5) == b"medio"
        model.seek(3 * GB)
        assert model.read(8) == bytes(8)
    assert (scored / "manifest.json").read_text() == (exported / "manifest.json").read_text()


def test_tmp_and_dev_shm_are_capped_inside_the_disk_quota(tmp_path):
    assert tmpfs_mb(Limits()) == 256                                # the default: one file's size, 256 MB each
    small = Limits(disk_mb=64, file_size_mb=16)
    assert tmpfs_mb(small) == 32                                    # both together fit in the quota
    args = wrap_command(["true"], SandboxPolicy(scratch=tmp_path, limits=small))
    if "--size" in args:
        sized = [args[i + 3] for i, arg in enumerate(args) if arg == "--size"]
        assert sized == ["/dev/shm", "/tmp"] and args.count(str(32 * 2**20)) == 2


def test_a_pruned_work_folder_keeps_only_what_the_instructor_needs(tmp_path):
    work = tmp_path / "alumna"
    for folder in ("scratch/sin_permiso", "runtime/grader-kernel-x", "job/tests", "inputs", ".heldout/answers",
                   "artifacts"):
        (work / folder).mkdir(parents=True)
    (work / "result.json").write_text("{}")
    (work / "executed.ipynb").write_text("{}")
    (work / "predictions.json").write_text(json.dumps({"cnn_model": {"input": "mnist", "labels": "mnist_labels",
                                                                     "predicted": [1, 2]}}))
    (work / ".heldout" / "answers" / "mnist_labels.npy").write_bytes(b"labels")
    for name in ("cnn_model.keras", "cnn_history.history.json", "cnn_model.summary.json", "hog.features.npy",
                 "manifest.json"):
        (work / "artifacts" / name).write_bytes(b"a")
    with open(work / "scratch" / "disperso.bin", "wb") as sparse:
        sparse.truncate(10 * GB)
    for i in range(500):
        (work / "scratch" / "sin_permiso" / f"{i}").touch()
    (work / "scratch" / "sin_permiso").chmod(0)                   # the student's code can do that
    (work / "job" / "tests" / "test_practica3.py").write_text("secret")

    prune_workdir(work)

    left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert left == ["artifacts", "artifacts/cnn_history.history.json",
                    "artifacts/cnn_model.keras", "executed.ipynb", "predictions.json", "result.json"]


# ---------------------------------------------------------------------------------- in the sandbox

@needs_bwrap
@pytest.mark.parametrize("path", ["disperso.bin", "/tmp/disperso.bin"])
def test_a_10_gb_sparse_file_counts_at_its_apparent_size_and_the_notebook_is_stopped(tmp_path, path):
    """The per-file limit let it through (16 GB): it takes 4 KB, but the quota counts 10 GB."""
    started = time.monotonic()
    result = run(tmp_path, f"with open({path!r}, 'wb') as f:\n    f.truncate(10 * 2**30)\nimport time\n"
                 "time.sleep(60)", "print('nunca')", file_size_mb=16384, disk_mb=64)
    record = result.record
    assert record.status is ExecutionStatus.KERNEL_DIED
    assert "escribió más de 64 MB en disco durante la celda 1" in record.message
    assert "tamaño aparente" in record.message and "Solución: no guardes ficheros en disco" in record.message
    assert [e.ename for e in record.errors] == ["DiskLimit"] and "nunca" not in outputs(result)
    assert time.monotonic() - started < 30 and result.disk["bytes"] >= 10 * GB
    seen = written_files(tmp_path / "scratch", result.written_elsewhere)
    assert seen == [path]                                           # and the rules see it wherever it was


@needs_bwrap
def test_a_10_gb_sparse_file_over_the_file_size_limit_is_refused_and_the_notebook_goes_on(tmp_path):
    result = run(tmp_path, "with open('disperso.bin', 'wb') as f:\n    f.truncate(10 * 2**30)", "print('sigue')")
    record = result.record
    assert record.status is ExecutionStatus.CELL_ERROR and "sigue" in outputs(result)
    assert "OSError: [Errno 27] File too large" in record.message
    assert ("Una celda intentó escribir un fichero de más de 256 MB, el límite por fichero, y la escritura falló. "
            "Solución: no guardes ficheros en disco") in record.message
    assert (tmp_path / "scratch" / "disperso.bin").stat().st_size == 0


@needs_bwrap
@pytest.mark.parametrize("folder, lang", [("vacios", "es"), ("/tmp/vacios", "es"), ("/dev/shm/vacios", "en")])
def test_a_million_empty_files_stop_at_the_file_limit(tmp_path, folder, lang):
    started = time.monotonic()
    result = run(tmp_path, f"import os\nos.makedirs({folder!r})\nfor i in range(10**6):\n"
                 f"    open(f'{folder}/{{i}}', 'w').close()", "print('nunca')", lang=lang, max_files=2000)
    record = result.record
    assert record.status is ExecutionStatus.KERNEL_DIED
    assert [e.ename for e in record.errors] == ["FileLimit"] and "nunca" not in outputs(result)
    if lang == "es":
        assert ("El notebook creó más de 2000 ficheros, carpetas o enlaces durante la celda 1" in record.message
                and "Solución: no guardes ficheros en disco" in record.message)
    else:
        assert ("The notebook created more than 2,000 files, folders or links during cell 1" in record.message
                and "Fix: do not save files to disk" in record.message)
    assert time.monotonic() - started < 30
    assert 2000 < result.disk["files"] < 10**6                    # stopped long before a million
    if not folder.startswith("/"):
        assert len(os.listdir(tmp_path / "scratch" / folder)) < 200_000
    assert written_files(tmp_path / "scratch", result.written_elsewhere)[0].startswith(folder)


@needs_bwrap
def test_the_rules_see_writes_wherever_the_student_can_write(tmp_path):
    """~/.keras, ~/.cache, ~/.config, /tmp, /dev/shm, the kernel's runtime folder, links and empty folders
    all count; the caches matplotlib and IPython keep (in /tmp) do not."""
    result = run(tmp_path, """\
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.savefig("/dev/null", format="png")
home = os.path.expanduser("~")
for folder in (".keras", ".cache", ".config", "figuras"):
    os.makedirs(os.path.join(home, folder), exist_ok=True)
open(os.path.join(home, ".keras", "modelo.keras"), "w").write("m")
open(os.path.join(home, ".cache", "pesos.npy"), "w").write("p")
open(os.path.join(home, ".config", "ajustes.json"), "w").write("{}")
open("/tmp/resultados.csv", "w").write("1,2")
open("/dev/shm/matriz.npy", "w").write("3")
os.symlink(os.path.join(home, ".keras", "modelo.keras"), "/tmp/enlace")
runtime = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
open(os.path.join(runtime, "escondido.txt"), "w").write("r")
""")
    assert result.record.status is ExecutionStatus.COMPLETED, result.record.message
    runtime = next(w for w in result.written_elsewhere if w.endswith("/escondido.txt"))
    seen = written_files(tmp_path / "scratch", result.written_elsewhere)
    assert seen == sorted([".cache/pesos.npy", ".config/ajustes.json", ".keras/modelo.keras", "figuras/",
                           "/dev/shm/matriz.npy", "/tmp/enlace", "/tmp/resultados.csv", runtime])
    outcome = check_rules(SubmissionFacts(written_files=seen))
    assert outcome.fraction == 0.0
    assert [v["rule"] for v in outcome.details["violations"]] == ["no_disk_writes"]
    assert render(outcome.message, "es") == ("escribe en disco: .cache/pesos.npy, .config/ajustes.json, .keras/modelo.keras, "
                               "/dev/shm/matriz.npy, /tmp/enlace …")


# ---------------------------------------------------------------------------------- a batch job

TINY = {**SMALL, "cell_timeout_s": 30, "total_timeout_s": 60, "file_size_mb": 16384, "disk_mb": 64,
        "max_files": 2000}
EXPORT = """\
import os
os.makedirs({artifacts!r}, exist_ok=True)
with open(os.path.join({artifacts!r}, "cnn_model.keras"), "wb") as f:  # 32 MB, nearly all a hole
    f.write(b"PK")
    f.truncate(32 * 2**20)
"""


def sandboxed_grade(notebook: Path, config, *, student: str, workdir: Path, sandbox: bool = True, env=None):
    """A real, tiny grading function: the pipeline's folders, the real sandboxed execute stage with small
    limits, an export cell, the artifacts copied for the scorer, the rules over what the notebook wrote."""
    from datetime import datetime, timezone

    from grader.records import CheckResult, GradeResult, write_json_atomic

    workdir = Path(workdir)
    work = {name: workdir / name for name in ("scratch", "runtime", "inputs", "job")}
    for folder in work.values():
        folder.mkdir(parents=True)
    (work["job"] / "hidden_tests.py").write_text("# a copy of the hidden tests")
    (work["inputs"] / "mnist.npy").write_bytes(b"\0" * 2**20)
    limits = config.limits.model_copy(update=TINY)
    policy = SandboxPolicy(scratch=work["scratch"], limits=limits, runtime_dir=work["runtime"],
                           ro_binds=(work["inputs"],)) if sandbox else None
    executed = execute_notebook(nbformat.read(notebook, as_version=4), workdir=work["scratch"], limits=limits,
                                epilogue=[EXPORT.format(artifacts=str(work["scratch"] / ARTIFACTS))],
                                sandbox=policy, env=env)
    record = executed.record
    record.executed_notebook = str(workdir / "executed.ipynb")
    nbformat.write(executed.notebook, record.executed_notebook)
    regular_files_copy(work["scratch"] / ARTIFACTS, workdir / "artifacts")
    rules = check_rules(SubmissionFacts(written_files=written_files(work["scratch"], executed.written_elsewhere)))
    checks = [CheckResult.from_fraction(name, check.points, rules.fraction if name == "ej1_normas" else 0.0,
                                        render(rules.message, "es") if name == "ej1_normas" else "no evaluado en esta prueba",
                                        hidden=check.hidden)
              for name, check in config.checks.items()]
    result = GradeResult(student=student, assignment=config.name, checks=checks, execution=record,
                         graded_at=datetime.now(timezone.utc).isoformat(), grader_version="test")
    write_json_atomic(workdir / "result.json", result.to_dict())
    return result


@needs_bwrap
def test_as_each_batch_job_ends_its_work_folder_keeps_only_what_the_instructor_needs(tmp_path):
    """The batch's job function (what each Dask worker runs, here called in this process: starting Dask and
    a gradebook costs more than the three jobs) grades, then removes everything but the result, the
    executed notebook and the similarity report's evidence; the client's next step still finds the
    executed notebook for the formgrader and writes the student's report."""
    from grader.batch import _grade_task, write_course_layout
    from grader.collect import Submission
    from grader.config import load_assignment
    from grader.course import CourseRoot
    from grader.records import GradeResult

    config = load_assignment("practica3")
    cells = {
        "buena": "print('hola')",
        "disperso": "with open('disperso.bin', 'wb') as f:\n    f.truncate(10 * 2**30)\nimport time\ntime.sleep(60)",
        "vacios": "import os\nos.makedirs('/tmp/v')\nfor i in range(10**6):\n    open(f'/tmp/v/{i}', 'w').close()",
    }
    work, course = tmp_path / "work", CourseRoot(tmp_path)
    results = {}
    for student, code in cells.items():
        path = tmp_path / "entregas" / student / "practica3.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)
        payload = _grade_task(str(path), config.model_dump(mode="json"), str(config.folder), student,
                              str(work / student), True, sandboxed_grade, False, {}, {})
        assert payload["ok"], payload.get("traceback")
        results[student] = GradeResult.from_dict(payload["result"])
        assert write_course_layout(course, config, Submission(student, student, path, None), results[student]) == ""

    assert results["buena"].execution.status is ExecutionStatus.COMPLETED
    normas = {student: next(c for c in result.checks if c.name == "ej1_normas") for student, result in results.items()}
    assert normas["buena"].status.value == "passed"
    assert "escribió más de 64 MB en disco" in results["disperso"].execution.message
    assert "creó más de 2000 ficheros" in results["vacios"].execution.message
    assert normas["disperso"].message.startswith("escribe en disco: disperso.bin")
    assert normas["vacios"].message.startswith("escribe en disco: /tmp/v/")

    left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert left == ["buena", "buena/artifacts", "buena/artifacts/cnn_model.keras", "buena/executed.ipynb",
                    "buena/result.json", "disperso", "disperso/executed.ipynb", "disperso/result.json",
                    "vacios", "vacios/executed.ipynb", "vacios/result.json"]
    assert (work / "buena" / "artifacts" / "cnn_model.keras").stat().st_size == 32 * 2**20
    assert allocated(work) < 2**20                                # the kept model's hole was not filled in
    for student in cells:                                           # what the instructor opens
        assert (tmp_path / "autograded" / student / "practica3" / "practica3.ipynb").is_file()
        assert (tmp_path / "feedback" / student / "practica3" / f"{student}.html").is_file()
