"""Overhead per submission: one notebook graded by ``grade_submission`` (sandboxed) against bare execution
of the same notebook (``jupyter nbconvert --to notebook --execute``), interleaved repetitions.

Variants, each a fresh process per repetition (so interpreter start and imports count for all):

- ``bare``: ``jupyter nbconvert --to notebook --execute --allow-errors`` (kernel with the offline-data
  startup file, the same as the throughput benchmark's nbconvert);
- ``ours``: ``python -m bench.grade_one`` = ``grade_submission(sandbox=True)``: read, restore locked cells,
  held-out sets, sandboxed kernel with preamble and export epilogue, separate sandboxed scoring process;
- ``ours-nosandbox``: the same with ``sandbox=False`` (what the sandbox itself costs).

Overhead = median(ours) - median(bare), as a fraction of median(bare); broken down with
``GradeResult.timing`` (prepare / execute / score), the process start and imports, and the span of the
student's own cells in each executed notebook (nbclient's timing metadata), so that the kernel's
start, the grader's preamble and epilogue show apart from the student's code.

    .venv/bin/python -m bench.overhead --kind light --reps 3 --out bench/results/overhead_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from bench.common import (
    BIN,
    CELL_TIMEOUT_S,
    KINDS,
    bench_env,
    build_submissions,
    cell_span_s,
    cell_times,
    environment,
    ipython_dir,
    loadavg,
    release,
    run_timed,
    summarize,
    tail,
    write_json,
)

VARIANTS = ("bare", "ours", "ours-nosandbox")


def run_variant(variant: str, notebook: Path, db: Path, folder: Path, env: dict[str, str],
                kernel_env: list[str]) -> dict[str, Any]:
    if variant == "bare":
        run = run_timed([BIN / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                         f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", "--output-dir", folder,
                         "--output", "executed", notebook], log=folder / "nbconvert.log", env=env)
        run["cell_span_s"] = cell_span_s(folder / "executed.ipynb")
        run["cell_times"] = cell_times(folder / "executed.ipynb")
        return run
    argv = [sys.executable, "-m", "bench.grade_one", notebook, "--workdir", folder / "work", "--db", db]
    argv += [a for item in kernel_env for a in ("--env", item)]
    if variant == "ours-nosandbox":
        argv.append("--no-sandbox")
    run = run_timed(argv, log=folder / "grade.log", env=env)
    lines = Path(run["log"]).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        run["rc"] = run["rc"] or 1
        run["log_tail"] = tail(run["log"])
        return run
    timing = report["timing"]
    run.update(report)
    run["startup_s"] = round(run["wall_s"] - timing.get("total_s", 0), 2)  # interpreter start, imports, exit
    run["cell_span_s"] = cell_span_s(folder / "work" / "executed.ipynb")
    run["cell_times"] = cell_times(folder / "work" / "executed.ipynb")
    if run["cell_span_s"] is not None:
        # the execute stage less the student's cells: kernel start (sandboxed), preamble, export epilogue
        run["harness_s"] = round(timing["execute_s"] - run["cell_span_s"], 2)
    return run


def summary(runs: list[dict], variants: list[str]) -> dict[str, Any]:
    ok = [r for r in runs if r["rc"] == 0]
    out: dict[str, Any] = {}
    for variant in variants:
        mine = [r for r in ok if r["variant"] == variant]
        if not mine:
            continue
        out[variant] = {"wall_s": summarize([r["wall_s"] for r in mine]),
                        "cell_span_s": summarize([r["cell_span_s"] for r in mine if r.get("cell_span_s") is not None])}
        if variant != "bare":
            parts = {}
            for key in ("startup_s", "harness_s"):
                parts[key] = summarize([r[key] for r in mine if key in r]).get("median")
            for key in ("prepare_s", "execute_s", "score_s", "total_s"):
                parts[key] = summarize([r["timing"][key] for r in mine if key in r.get("timing", {})]).get("median")
            out[variant]["breakdown_median_s"] = parts
    bare = out.get("bare", {}).get("wall_s", {}).get("median")
    if bare:
        for variant in variants:
            if variant == "bare" or variant not in out:
                continue
            mine = out[variant]["wall_s"]["median"]
            paired = []
            by_rep = {}
            for r in ok:
                by_rep.setdefault(r["rep"], {})[r["variant"]] = r["wall_s"]
            for rep in by_rep.values():
                if "bare" in rep and variant in rep:
                    paired.append((rep[variant] - rep["bare"]) / rep["bare"])
            out[variant]["overhead_s"] = round(mine - bare, 2)
            out[variant]["overhead_fraction_of_medians"] = round((mine - bare) / bare, 4)
            out[variant]["overhead_fraction_paired"] = summarize(paired)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, default="light")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for every variant (e.g. KERAS_BACKEND=jax)")
    parser.add_argument("--kernel-env", action="append", default=[], metavar="NAME=VALUE",
                        help="grade_submission's env for the kernel (e.g. CUDA_VISIBLE_DEVICES=0)")
    options = parser.parse_args(argv)
    variants = [v.strip() for v in options.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    work = options.work or Path(tempfile.mkdtemp(prefix="grader-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    extra = dict(item.split("=", 1) for item in options.env)
    extra["IPYTHONDIR"] = str(ipython_dir(work / "ipython"))
    env = bench_env(extra)

    released, db = release(work / "template")
    student, nb = build_submissions(released, options.kind, 1)[0]
    notebook = work / f"{student}.ipynb"
    nbformat.write(nb, notebook)
    results: dict[str, Any] = {"benchmark": "overhead", "environment": environment("bench.overhead", argv),
                               "options": {"kind": options.kind, "reps": options.reps, "variants": variants,
                                           "notebook": student, "env": {k: v for k, v in extra.items()
                                                                        if k != "IPYTHONDIR"},
                                           "kernel_env": options.kernel_env, "work": str(work)}}
    print(f"[bench] overhead, work folder {work}; load {loadavg()}", flush=True)
    runs = []
    for rep in range(1, options.reps + 1):
        order = variants if rep % 2 else list(reversed(variants))  # alternate: neither goes first every time
        for variant in order:
            run = run_variant(variant, notebook, db, work / f"rep{rep}-{variant}", env, options.kernel_env)
            run.update(variant=variant, rep=rep)
            runs.append(run)
            print(f"[bench] rep {rep}: {variant} {run['wall_s']} s (rc {run['rc']}; "
                  f"timing {run.get('timing')}; cells {run.get('cell_span_s')} s; load {run['load_after']})", flush=True)
            if run["rc"]:
                print(run.get("log_tail") or tail(run["log"]), flush=True)
            results["runs"] = runs
            results["summary"] = summary(runs, variants)
            write_json(options.out, results)
    results["environment"]["loadavg_end"] = loadavg()
    write_json(options.out, results)
    print(json.dumps(results["summary"], indent=2), flush=True)
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
