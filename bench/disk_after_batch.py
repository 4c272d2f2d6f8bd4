"""What a batch leaves on the host's disk: ``grader release`` + ``grader autograde`` end to end (Dask,
sandbox) on N one-cell submissions, a quarter of them hostile to the disk (a 10 GB sparse file, a
million empty files, 200 MB written to /tmp), then every file under the batch's ``work/`` folder.

Each student's work folder must hold only what the instructor needs (``result.json``,
``executed.ipynb``, and artifacts only where a submission exported some); nothing of a student's
scratch, runtime folder or held-out copies may be left, and the whole ``work/`` tree must be small.

    GRADER_DATA_DIR=../shared/datasets .venv/bin/python -m bench.disk_after_batch --n 20 \
        --out bench/results/cpu/disk_after_batch.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

from bench.common import ASSIGNMENT, BIN, NOTEBOOK, environment
from grader.datasets import DATA_DIR_ENV

KINDS = {
    "normal": "print('hola')",
    "sparse_10gb": "with open('disperso.bin', 'wb') as f:\n    f.truncate(10 * 2**30)",
    "million_files": "import os\nos.makedirs('/tmp/v')\nfor i in range(10**6):\n    open(f'/tmp/v/{i}', 'w').close()",
    "tmp_200mb": "with open('/tmp/grande.bin', 'wb') as f:\n    f.write(b'x' * 200 * 2**20)",
}


def _kind(index: int) -> str:
    return ("normal", "normal", "sparse_10gb", "normal", "million_files", "normal", "tmp_200mb", "normal")[index % 8]


def _allocated(path: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in path.rglob("*"))


def _grader(*args: str, cwd: Path) -> float:
    """The command line run in ``cwd``, with a relative $GRADER_DATA_DIR taken from this folder, not that one."""
    env = dict(os.environ)
    if env.get(DATA_DIR_ENV):
        env[DATA_DIR_ENV] = os.pathsep.join(str(Path(p).resolve()) for p in env[DATA_DIR_ENV].split(os.pathsep) if p)
    started = time.perf_counter()
    subprocess.run([str(BIN / "grader"), *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def measure(n: int, folder: Path) -> dict:
    course = folder / "curso"
    submissions = course / "entregas"
    kinds = {f"alumno{i:02d}": _kind(i) for i in range(n)}
    for student, kind in kinds.items():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KINDS[kind])])
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / NOTEBOOK)
    release_s = _grader("release", ASSIGNMENT, "--out", "release", "--db", "gradebook.db", cwd=course)
    autograde_s = _grader("autograde", ASSIGNMENT, "--submissions", "entregas", "--db", "gradebook.db", cwd=course)
    work = course / "work"
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*") if not p.is_dir())
    kept = Counter(Path(name).name for name in files)
    per_student = {student: sorted(str(p.relative_to(work / student)) for p in (work / student).rglob("*")
                                   if not p.is_dir()) for student in kinds}
    first = {kind: next(s for s, k in kinds.items() if k == kind) for kind in KINDS if kind in kinds.values()}
    results = {student: json.loads((work / student / "result.json").read_text(encoding="utf-8"))
               for student in kinds}
    return {
        "submissions": n,
        "kinds": dict(Counter(kinds.values())),
        "release_s": release_s,
        "autograde_s": autograde_s,
        "work_files": len(files),
        "work_kept_names": dict(kept),
        "work_entries_outside_students": sorted(p.name for p in work.iterdir() if p.name not in kinds),
        "work_apparent_bytes": sum(p.lstat().st_size for p in work.rglob("*")),
        "work_allocated_bytes": _allocated(work),
        "course_allocated_bytes": _allocated(course),
        "per_kind_files": {kind: per_student[first[kind]] for kind in first},
        "per_kind_execution": {kind: results[first[kind]]["execution"]["message"] for kind in first},
        "per_kind_rules": {kind: next(c["message"] for c in results[first[kind]]["checks"] if c["name"] == "ej1_normas")
                           for kind in first},
        "every_student_has_a_result": all(r["execution"]["status"] for r in results.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="disk-after-batch-") as folder:
        measurement = measure(args.n, Path(folder))
    result = {"benchmark": "disk_after_batch", "environment": environment("bench.disk_after_batch", argv),
              "measurement": measurement}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(measurement, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
