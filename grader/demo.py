"""``grader demo``: the whole instructor workflow on the bundled example submissions.

release -> collect (a PRADO zip) -> autograde (embedded Dask cluster) -> exports -> feedback.
Everything goes under one folder, started afresh each run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.instructor import PROJECT_ROOT

EXAMPLES_ZIP = PROJECT_ROOT / "examples" / "practica3_prado.zip"


def run_demo(out: Path, *, workers: int = 2, log=print) -> Path:
    from grader.batch import autograde
    from grader.collect import collect
    from grader.config import load_assignment
    from grader.export_grades import export_all
    from grader.release import release_assignment
    from grader.report import write_feedback
    from grader.sandbox import sandbox_status

    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    config = load_assignment("practica3")
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    released = release_assignment(config, out / "release", db_url)
    log(f"1/5 release: {released.notebook}")
    submissions = collect(EXAMPLES_ZIP, config, out / "submissions")
    log(f"2/5 collect: {len(submissions)} submissions from {EXAMPLES_ZIP.name}")
    usable, reason = sandbox_status()
    if not usable:
        log(f"warning: no sandbox ({reason}); the bundled examples are trusted, so they run without one")
    autograde(config, out / "submissions", db_url=db_url, workers=workers, sandbox=usable)
    log("3/5 autograde: done")
    exports = export_all(db_url, config, out / "grades")
    log(f"4/5 exports: {exports['moodle_csv']}, {exports['plain_csv']}")
    run = write_feedback("practica3", out / "grades" / "results", out / "feedback", log=lambda line: None)
    log(f"5/5 feedback: {run.index}")
    return run.index
