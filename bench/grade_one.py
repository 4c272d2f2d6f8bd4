"""Grade one notebook with ``grader.pipeline.grade_submission`` in a fresh process; print its timing as JSON.

Run by bench/overhead.py as a subprocess, so that its wall time counts the interpreter's start and the
imports the same way the bare ``jupyter nbconvert --execute`` command's wall time does.

    .venv/bin/python -m bench.grade_one NOTEBOOK --workdir DIR [--db GRADEBOOK] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--db", type=Path, help="gradebook of the release (locked cells are restored from it)")
    parser.add_argument("--student", default="alumno")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the kernel (grade_submission's env), e.g. CUDA_VISIBLE_DEVICES=0")
    options = parser.parse_args(argv)

    from grader.config import load_assignment
    from grader.pipeline import grade_submission

    config = load_assignment("practica3")
    imported = time.perf_counter()
    result = grade_submission(options.notebook, config, student=options.student, workdir=options.workdir,
                              sandbox=options.sandbox, db_url=f"sqlite:///{options.db.resolve()}" if options.db else None,
                              env=dict(item.split("=", 1) for item in options.env) or None)
    done = time.perf_counter()
    print(json.dumps({"timing": result.timing, "score": result.score, "max_score": result.max_score,
                      "status": result.execution.status.value, "sandboxed": result.execution.sandboxed,
                      "device": result.execution.device, "peak_memory_mb": result.execution.peak_memory_mb,
                      "imports_s": round(imported - started, 2), "grade_s": round(done - imported, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
