"""Batch throughput: the same N Práctica 3 submissions graded by each system, side by side.

Systems (``--systems``, comma-separated):

- ``ours``: ``grader collect`` of the course's ``submitted/`` tree, then ``grader autograde --workers K``
  (embedded Dask LocalCluster, bubblewrap sandbox unless ``--no-sandbox``); both commands are timed.
- ``ours-jN``: the same with ``--jobs-per-gpu N --workers N`` (N jobs share the one GPU).
- ``ours-capT``, ``ours-jN-capT``: the same with ``--threads-per-job T`` (each job's math libraries
  limited to T threads).
- ``...-ahead`` or ``...-noahead`` after any of those: the same with ``--kernels-ahead`` (the next
  notebook's kernel started while the worker grades the one before) or ``--no-kernels-ahead``; without
  either, the default (on a GPU only).
- ``nbgrader``: ``nbgrader autograde practica3 --create`` in the equivalent nbgrader course folder
  (gradebook made by ``nbgrader generate_assignment`` from the source notebook: hidden tests included).
- ``nbconvert``: ``jupyter nbconvert --to notebook --execute --allow-errors`` of each notebook, one
  after the other (bare execution: no grading at all).

Each round runs every system once, in an order rotated from round to round, on fresh copies of the
course folder and gradebook, so the figures are taken under the same machine conditions and can be
compared as ratios. Nothing is reused between runs but the submissions themselves.

    .venv/bin/python -m bench.throughput --kind light --n 4 --rounds 2 --out bench/results/throughput_cpu.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    ASSIGNMENT,
    BIN,
    CELL_TIMEOUT_S,
    KINDS,
    NOTEBOOK,
    bench_env,
    build_submissions,
    cell_span_s,
    cell_times,
    environment,
    ipython_dir,
    loadavg,
    release,
    retarget_course,
    run_timed,
    summarize,
    tail,
    write_course,
    write_json,
)

SYSTEMS = ("ours", "nbgrader", "nbconvert")
_OURS = re.compile(r"^ours(?:-j(\d+))?(?:-cap(\d+))?(?:-(ahead|noahead))?$")


def prepare(work: Path, kind: str, n: int, systems: list[str]) -> dict[str, Any]:
    """Release, submissions, the course template (and nbgrader's gradebook when nbgrader runs)."""
    released, db = release(work / "template")
    submissions = build_submissions(released, kind, n)
    course = work / "course"
    notebooks = write_course(course, submissions)
    setup: dict[str, Any] = {"students": [s for s, _ in submissions], "course": str(course),
                             "ours_gradebook": str(db), "notebooks": [str(p) for p in notebooks]}
    if "nbgrader" in systems:
        # nbgrader's own release: its gradebook holds the source cells, hidden tests included.
        # (NOTES.md: generate_assignment once failed on a brand-new course folder and passed when rerun.)
        for attempt in range(2):
            run = run_timed([BIN / "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                            log=work / "logs" / f"generate_assignment-{attempt}.log", env=bench_env(), cwd=course)
            if run["rc"] == 0:
                break
        else:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{tail(run['log'])}")
        setup["nbgrader_generate_s"] = run["wall_s"]
    return setup


def _ours(work: Path, tag: str, setup: dict, workers: int, jobs_per_gpu: int, sandbox: bool,
          env: dict[str, str], threads_per_job: int = 0, kernels_ahead: bool | None = None) -> dict[str, Any]:
    run_dir = work / tag
    run_dir.mkdir(parents=True)
    shutil.copy2(setup["ours_gradebook"], run_dir / "gradebook.db")
    collect = run_timed([BIN / "grader", "collect", ASSIGNMENT, setup["course"], "--out", run_dir / "subs"],
                        log=run_dir / "collect.log", env=env)
    argv = [BIN / "grader", "autograde", ASSIGNMENT, "--submissions", run_dir / "subs",
            "--db", run_dir / "gradebook.db", "--workers", workers, "--jobs-per-gpu", jobs_per_gpu,
            "--export", run_dir / "grades"]
    if not sandbox:
        argv.append("--no-sandbox")
    if threads_per_job:
        argv += ["--threads-per-job", threads_per_job]
    if kernels_ahead is not None:
        argv.append("--kernels-ahead" if kernels_ahead else "--no-kernels-ahead")
    grade = run_timed(argv, log=run_dir / "autograde.log", env=env)
    students = {}
    for student in setup["students"]:
        path = run_dir / "work" / student / "result.json"
        if not path.is_file():
            students[student] = {"error": "no result.json"}
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        execution = result["execution"]
        students[student] = {"score": result["score"], "max_score": result["max_score"],
                             "status": execution["status"], "device": execution.get("device"),
                             "sandboxed": execution.get("sandboxed"), "timing": result.get("timing", {}),
                             "kernel_started_ahead": execution.get("kernel_started_ahead", False),
                             "cell_span_s": cell_span_s(run_dir / "work" / student / "executed.ipynb"),
                             "cell_times": cell_times(run_dir / "work" / student / "executed.ipynb")}
    # The grader's own time per job (read, kernel start and preamble, export, scoring): a job's total minus
    # the span of the student's cells in it.
    fixed = [s["timing"]["total_s"] - s["cell_span_s"] for s in students.values()
             if s.get("timing", {}).get("total_s") is not None and s.get("cell_span_s") is not None]
    return {"wall_s": round(collect["wall_s"] + grade["wall_s"], 2), "collect_s": collect["wall_s"],
            "fixed_cost_s": summarize([round(f, 2) for f in fixed]),
            "autograde_s": grade["wall_s"], "rc": collect["rc"] or grade["rc"], "load_before": collect["load_before"],
            "load_after": grade["load_after"], "log": grade["log"], "students": students,
            "log_tail": tail(grade["log"]) if grade["rc"] else ""}


def _nbgrader(work: Path, tag: str, setup: dict, env: dict[str, str]) -> dict[str, Any]:
    from nbgrader.api import Gradebook, MissingEntry

    course = work / tag
    shutil.copytree(setup["course"], course)
    retarget_course(course)
    run = run_timed([BIN / "nbgrader", "autograde", ASSIGNMENT, "--create"], log=course / "autograde.log",
                    env=env, cwd=course)
    students = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in setup["students"]:
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student)
                students[student] = {"score": round(submission.score, 4), "max_score": submission.max_score,
                                     "cell_span_s": cell_span_s(course / "autograded" / student / ASSIGNMENT / NOTEBOOK)}
            except MissingEntry as exc:  # not graded: nbgrader failed on it
                students[student] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    run["students"] = students
    run["log_tail"] = tail(run["log"]) if run["rc"] else ""
    return run


def _nbconvert(work: Path, tag: str, setup: dict, env: dict[str, str]) -> dict[str, Any]:
    out = work / tag
    runs, students = [], {}
    for student, notebook in zip(setup["students"], setup["notebooks"]):
        run = run_timed([BIN / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                         f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", "--output-dir", out,
                         "--output", student, notebook], log=out / f"{student}.log", env=env)
        runs.append(run)
        executed = out / f"{student}.ipynb"
        students[student] = {"wall_s": run["wall_s"], "rc": run["rc"], "cell_span_s": cell_span_s(executed),
                             "error_outputs": _error_outputs(executed), "cell_times": cell_times(executed)}
    return {"wall_s": round(sum(r["wall_s"] for r in runs), 2), "rc": max(r["rc"] for r in runs),
            "load_before": runs[0]["load_before"], "load_after": runs[-1]["load_after"], "students": students,
            "log_tail": "\n".join(tail(r["log"]) for r in runs if r["rc"])}


def _error_outputs(executed: Path) -> int | None:
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return None
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.get("output_type") == "error")


def run_system(system: str, work: Path, tag: str, setup: dict, options: argparse.Namespace,
               env: dict[str, str]) -> dict[str, Any]:
    if match := _OURS.match(system):
        workers, jobs_per_gpu = (int(match[1]),) * 2 if match[1] else (options.workers, options.jobs_per_gpu)
        return _ours(work, tag, setup, workers, jobs_per_gpu, options.sandbox, env, threads_per_job=int(match[2] or 0),
                     kernels_ahead=None if match[3] is None else match[3] == "ahead")
    if system == "nbgrader":
        return _nbgrader(work, tag, setup, env)
    if system == "nbconvert":
        return _nbconvert(work, tag, setup, env)
    raise ValueError(f"unknown system {system!r}")


def ratios(runs: list[dict], n: int, systems: list[str]) -> dict[str, Any]:
    """Per system: wall times and submissions per hour; per pair (ours*, baseline): throughput ratios,
    paired round by round (the ratio of two runs taken minutes apart) and of the medians."""
    by_system: dict[str, list[float]] = {s: [] for s in systems}
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        if run["rc"] == 0:
            by_system[run["system"]].append(run["wall_s"])
            by_round.setdefault(run["round"], {})[run["system"]] = run["wall_s"]
    summary: dict[str, Any] = {"systems": {}, "ratios": {}}
    for system, walls in by_system.items():
        if walls:
            stats = summarize(walls)
            summary["systems"][system] = {"wall_s": stats, "submissions_per_hour": round(n * 3600 / stats["median"], 1),
                                          "seconds_per_submission": round(stats["median"] / n, 2)}
    pairs = [(mine, other) for mine in systems if mine.startswith("ours") for other in systems
             if not other.startswith("ours") or (_jobs(other) == 1 and _jobs(mine) > 1)
             or mine.startswith(f"{other}-cap")]
    for mine, other in pairs:
        paired = [r[other] / r[mine] for r in by_round.values() if mine in r and other in r]
        if not paired:
            continue
        medians = summary["systems"]
        summary["ratios"][f"{mine}/{other}"] = {
            "paired": [round(p, 3) for p in paired], "paired_median": round(summarize(paired)["median"], 3),
            "of_medians": round(medians[other]["wall_s"]["median"] / medians[mine]["wall_s"]["median"], 3)}
    return summary


def _jobs(system: str) -> int:
    match = _OURS.match(system)
    return int(match[1]) if match and match[1] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, default="light")
    parser.add_argument("--n", type=int, default=4, help="submissions (default 4)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--workers", type=int, default=2, help="workers of 'ours' (default 2)")
    parser.add_argument("--jobs-per-gpu", type=int, default=1)
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one, kept)")
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for every system (e.g. KERAS_BACKEND=jax)")
    options = parser.parse_args(argv)
    systems = [s.strip() for s in options.systems.split(",") if s.strip()]
    for system in systems:
        if system not in SYSTEMS and not _OURS.match(system):
            parser.error(f"unknown system {system!r}")
    work = options.work or Path(tempfile.mkdtemp(prefix="grader-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    extra = dict(item.split("=", 1) for item in options.env)
    extra["IPYTHONDIR"] = str(ipython_dir(work / "ipython"))  # offline datasets for nbgrader/nbconvert kernels
    env = bench_env(extra)

    results: dict[str, Any] = {"benchmark": "throughput", "environment": environment("bench.throughput", argv),
                               "options": {"kind": options.kind, "n": options.n, "rounds": options.rounds,
                                           "systems": systems, "workers": options.workers,
                                           "jobs_per_gpu": options.jobs_per_gpu, "sandbox": options.sandbox,
                                           "env": {k: v for k, v in extra.items() if k != "IPYTHONDIR"},
                                           "work": str(work)}}
    print(f"[bench] work folder {work}; load {loadavg()}", flush=True)
    setup = prepare(work, options.kind, options.n, systems)
    results["setup"] = {k: v for k, v in setup.items() if k not in ("notebooks",)}
    runs = []
    for round_number in range(1, options.rounds + 1):
        shift = (round_number - 1) % len(systems)
        for system in systems[shift:] + systems[:shift]:
            tag = f"r{round_number}-{system}"
            print(f"[bench] round {round_number}: {system} ...", flush=True)
            run = run_system(system, work, tag, setup, options, env)
            run.update(system=system, round=round_number)
            runs.append(run)
            print(f"[bench] round {round_number}: {system} {run['wall_s']} s (rc {run['rc']}, load "
                  f"{run['load_after']})", flush=True)
            if run["rc"]:
                print(run.get("log_tail", ""), flush=True)
            results["runs"] = runs
            results["summary"] = ratios(runs, options.n, systems)
            write_json(options.out, results)  # after every run: a killed benchmark keeps what it measured
    results["environment"]["loadavg_end"] = loadavg()
    write_json(options.out, results)
    print(json.dumps(results["summary"], indent=2), flush=True)
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
