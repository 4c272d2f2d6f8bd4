"""``grader demo``: the whole instructor workflow on the bundled example submissions.

release -> collect (a PRADO zip) -> autograde (embedded Dask cluster) -> exports -> feedback -> similarity,
for every assignment that ships an example download: ``examples/<assignment>_prado.zip`` (as PRADO's
"download all submissions" gives it). Everything goes under one folder, started afresh each run:
with one such assignment, straight under it; with several, under ``<folder>/<assignment>/`` each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.instructor import ASSIGNMENTS_DIR, PROJECT_ROOT

EXAMPLES_DIR = PROJECT_ROOT / "examples"
EXAMPLE_SUFFIX = "_prado.zip"


def example_downloads() -> dict[str, Path]:
    """Assignment name -> its bundled example download, for every assignment that has one."""
    found = {}
    for path in sorted(EXAMPLES_DIR.glob(f"*{EXAMPLE_SUFFIX}")):
        name = path.name[: -len(EXAMPLE_SUFFIX)]
        if (ASSIGNMENTS_DIR / name / "assignment.toml").is_file():
            found[name] = path
    return found


def run_demo(out: Path, *, workers: int = 2, log=print) -> list[Path]:
    """Returns each assignment's class summary (``feedback/index.html``)."""
    from grader.config import load_assignment
    from grader.datasets import describe_source
    from grader.errors import GraderError
    from grader.sandbox import sandbox_status

    out = Path(out).resolve()
    downloads = example_downloads()
    if not downloads:
        raise GraderError(f"{EXAMPLES_DIR}: no example download (<assignment>{EXAMPLE_SUFFIX}); fix: run "
                          "examples/build_examples.py")
    configs = [load_assignment(name) for name in downloads]
    usable, reason = sandbox_status()
    if usable:
        log("sandbox: each notebook runs in its own bubblewrap sandbox")
    else:
        log(f"sandbox: none ({reason}); the bundled examples are trusted, so they run unsandboxed. "
            "Student submissions need it: apt-get install bubblewrap")
    for dataset in dict.fromkeys(name for config in configs for name in config.datasets):
        log(f"data: {dataset} from {describe_source(dataset)}")
    if out.exists():
        shutil.rmtree(out)
    if len(configs) == 1:
        return [_demo_one(configs[0], downloads[configs[0].name], out, workers=workers, sandbox=usable, log=log)]
    indexes = []
    for config in configs:
        log(f"{config.name}:")
        indexes.append(_demo_one(config, downloads[config.name], out / config.name, workers=workers,
                                 sandbox=usable, log=log))
    return indexes


def _demo_one(config, download: Path, out: Path, *, workers: int, sandbox: bool, log) -> Path:
    from grader.batch import autograde
    from grader.collect import collect
    from grader.export_grades import export_all
    from grader.release import release_assignment
    from grader.report import write_feedback
    from grader.similarity import similarity_report

    db_url = f"sqlite:///{out / 'gradebook.db'}"
    released = release_assignment(config, out / "release", db_url)
    log(f"1/6 release: {released.notebook}")
    submissions = collect(download, config, out / "submissions")
    log(f"2/6 collect: {len(submissions)} submissions from {download.name}")
    autograde(config, out / "submissions", db_url=db_url, workers=workers, sandbox=sandbox)
    log("3/6 autograde: done")
    exports = export_all(db_url, config, out / "grades")
    log(f"4/6 exports: {exports['moodle_csv']}, {exports['plain_csv']}")
    run = write_feedback(config.name, out / "grades" / "results", out / "feedback", log=lambda line: None)
    log(f"5/6 feedback: {run.index}")
    similar = similarity_report(config, out / "submissions", release=released.notebook)
    log(f"6/6 similarity: {similar.html_path}")
    return run.index
