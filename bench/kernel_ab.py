"""Why do the student's own cells run slower in the grader's kernel? A/B of the kernel's settings.

The same notebook is run with bare ``jupyter nbconvert --execute`` (no sandbox, no grader around it),
changing one setting of the grader's kernel at a time (grader/execute.py's kernel environment,
grader/kernel_setup.py's ``prepare_kernel``), repetitions interleaved; the span of the student's cells
is compared (nbclient's timing metadata), not the process's wall time.

- ``bare``: only the offline-datasets startup file (as in bench/throughput.py and bench/overhead.py);
- ``arena4``: plus ``MALLOC_ARENA_MAX=4`` in the kernel's environment (grader/execute.py sets it);
- ``determinism``: plus ``tf.config.experimental.enable_op_determinism()`` at startup (prepare_kernel
  does this on CPU under TensorFlow);
- ``preamble``: the grader's whole preamble, ``prepare_kernel(seed)``, with ``MALLOC_ARENA_MAX=4``;
- ``prealloc-off``: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (JAX grows its GPU memory as needed);
- ``memfrac10``: ``XLA_PYTHON_CLIENT_MEM_FRACTION=0.10`` (JAX preallocates a tenth of the GPU: room for
  several jobs per GPU while keeping its preallocating allocator).

    .venv/bin/python -m bench.kernel_ab --reps 2 --variants bare,arena4,determinism,preamble \
        --out bench/results/cpu/kernel_ab.json
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
    OFFLINE_STARTUP,
    bench_env,
    build_submissions,
    cell_span_s,
    cell_times,
    environment,
    loadavg,
    release,
    run_timed,
    summarize,
    write_json,
)

STARTUP = {
    "bare": OFFLINE_STARTUP,
    "arena4": OFFLINE_STARTUP,
    "determinism": OFFLINE_STARTUP + "import tensorflow as _tf\n_tf.config.experimental.enable_op_determinism()\n",
    "preamble": "from grader.kernel_setup import prepare_kernel as _prepare\n_prepare(seed=12345)\n",
    "prealloc-off": OFFLINE_STARTUP,
    "memfrac10": OFFLINE_STARTUP,
}
ENV = {"arena4": {"MALLOC_ARENA_MAX": "4"}, "preamble": {"MALLOC_ARENA_MAX": "4"},
       "prealloc-off": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
       "memfrac10": {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.10"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, default="light")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--variants", default="bare,arena4,determinism,preamble")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args(argv)
    variants = [v for v in options.variants.split(",") if v]
    unknown = set(variants) - set(STARTUP)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    work = options.work or Path(tempfile.mkdtemp(prefix="grader-kernel-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    released, _ = release(work / "template")
    student, nb = build_submissions(released, options.kind, 1)[0]
    notebook = work / f"{student}.ipynb"
    nbformat.write(nb, notebook)
    extra = dict(item.split("=", 1) for item in options.env)
    results: dict[str, Any] = {"benchmark": "kernel_ab", "environment": environment("bench.kernel_ab", argv),
                               "options": {"kind": options.kind, "reps": options.reps, "variants": variants,
                                           "notebook": student, "env": extra}, "runs": []}
    for rep in range(1, options.reps + 1):
        for variant in (variants if rep % 2 else list(reversed(variants))):
            ipython = work / f"ipython-{variant}" / "profile_default" / "startup"
            ipython.mkdir(parents=True, exist_ok=True)
            (ipython / "00-setup.py").write_text(STARTUP[variant], encoding="utf-8")
            env = bench_env({**extra, **ENV.get(variant, {}), "IPYTHONDIR": str(ipython.parents[1])})
            folder = work / f"rep{rep}-{variant}"
            run = run_timed([BIN / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                             f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", "--output-dir", folder,
                             "--output", "executed", notebook], log=folder / "nbconvert.log", env=env)
            run.update(variant=variant, rep=rep, cell_span_s=cell_span_s(folder / "executed.ipynb"),
                       cell_times=cell_times(folder / "executed.ipynb"))
            results["runs"].append(run)
            print(f"[bench] rep {rep}: {variant}: cells {run['cell_span_s']} s, wall {run['wall_s']} s "
                  f"(rc {run['rc']}, load {run['load_after']})", flush=True)
            results["summary"] = {v: summarize([r["cell_span_s"] for r in results["runs"]
                                                if r["variant"] == v and r["rc"] == 0 and r["cell_span_s"]])
                                  for v in variants}
            write_json(options.out, results)
    results["environment"]["loadavg_end"] = loadavg()
    write_json(options.out, results)
    print(json.dumps(results["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
