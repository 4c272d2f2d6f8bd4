"""Latency of the in-notebook self-check ``check("ej1_arquitectura", cnn_model)`` on the given CNN.

In a fresh process, as in a student's kernel: import Keras and build the given CNN (the source
notebook's solution of ``ej1_cnn_modelo``, compiled), then time ``from grader import check``, the first
call (which imports the checks, the probe and the specs) and ``--reps`` further calls (median, p95,
max). The table ``check`` prints is written to a buffer, not the terminal; printing is timed with it.

    .venv/bin/python -m bench.selfcheck_latency --reps 200 --out bench/results/selfcheck.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path
from typing import Any

PARTS = ("ej1_arquitectura", "ej1_parametros")


def measure(reps: int, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    import os
    import re

    import nbformat

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The given CNN's solution cell, read straight from the source notebook: nothing of the grader is
    # imported before the timed ``from grader import check`` (as in a fresh student kernel).
    source = nbformat.read(Path(__file__).resolve().parents[1] / "assignments" / "practica3" / "source"
                           / "practica3.ipynb", as_version=4)
    cell = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ej1_cnn_modelo")
    code = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", cell.source, flags=re.MULTILINE)
    grader_loaded = "grader" in sys.modules
    started = time.perf_counter()
    import keras
    from keras import layers

    keras_import_s = time.perf_counter() - started
    namespace: dict[str, Any] = {"keras": keras, "layers": layers, "SEED": 42}
    with contextlib.redirect_stdout(io.StringIO()):  # the cell ends with cnn_model.summary()
        exec(code, namespace)  # noqa: S102 - the course's own solution cell
    model = namespace["cnn_model"]

    started = time.perf_counter()
    from grader import check

    import_s = time.perf_counter() - started
    out: dict[str, Any] = {"keras_backend": keras.backend.backend(), "keras_import_s": round(keras_import_s, 3),
                           "grader_import_s": round(import_s, 4), "grader_imported_before": grader_loaded,
                           "reps": reps, "parts": {}}
    for part in parts:
        samples = []
        for _ in range(reps + 1):
            buffer = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(buffer):
                outcome = check(part, model)
            samples.append(time.perf_counter() - started)
        out["parts"][part] = {"passed": outcome.passed, "first_call_s": round(samples[0], 4),
                              "after_first_s": _summarize(samples[1:])}
    return out


def _summarize(values: list[float]) -> dict[str, float]:
    from bench.common import summarize

    return summarize(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    measurement = measure(options.reps, tuple(p for p in options.parts.split(",") if p))
    from bench.common import environment, loadavg, write_json

    result = {"benchmark": "selfcheck", "environment": environment("bench.selfcheck_latency", argv),
              "measurement": measurement}
    result["environment"]["loadavg_end"] = loadavg()
    if options.out:
        write_json(options.out, result)
    import json

    print(json.dumps(result["measurement"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
