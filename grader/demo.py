"""``grader demo``: the whole instructor workflow on the bundled example submissions.

release -> collect (a PRADO zip) -> autograde (embedded Dask cluster) -> exports -> feedback -> similarity.
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
    from grader.datasets import describe_source
    from grader.export_grades import export_all
    from grader.release import release_assignment
    from grader.report import write_feedback
    from grader.sandbox import sandbox_status
    from grader.similarity import similarity_report

    out = Path(out).resolve()
    usable, reason = sandbox_status()
    if usable:
        log("sandbox: each notebook runs in its own bubblewrap sandbox")
    else:
        log(f"sandbox: none ({reason}); the bundled examples are trusted, so they run unsandboxed. "
            "Student submissions need it: apt-get install bubblewrap")
    for dataset in ("mnist", "fashion_mnist"):
        log(f"data: {dataset} from {describe_source(dataset)}")
    if out.exists():
        shutil.rmtree(out)
    config = load_assignment("practica3")
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    released = release_assignment(config, out / "release", db_url)
    log(f"1/6 release: {released.notebook}")
    submissions = collect(EXAMPLES_ZIP, config, out / "submissions")
    log(f"2/6 collect: {len(submissions)} submissions from {EXAMPLES_ZIP.name}")
    autograde(config, out / "submissions", db_url=db_url, workers=workers, sandbox=usable)
    log("3/6 autograde: done")
    exports = export_all(db_url, config, out / "grades")
    log(f"4/6 exports: {exports['moodle_csv']}, {exports['plain_csv']}")
    run = write_feedback("practica3", out / "grades" / "results", out / "feedback", log=lambda line: None)
    log(f"5/6 feedback: {run.index}")
    similar = similarity_report(config, out / "submissions", release=released.notebook)
    log(f"6/6 similarity: {similar.html_path}")
    return run.index
