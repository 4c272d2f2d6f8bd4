"""Not a timing: scoring bounds met at full size, with Práctica 3's shipped limits (``assignment.toml``):
a History of 500 MB and a model that would take about an hour to predict the held-out images.

The tests (tests/test_bounded_scoring.py) show the same bounds scaled down (small limits, a million
values, a model of minutes); this runs them once as a student would meet them. The real export
(what the kernel's epilogue runs) and the real scoring process (no sandbox: the bound, not the
sandbox, is what is measured), with the real held-out sets.

    GRADER_DATA_DIR=../shared/datasets .venv/bin/python -m bench.bounds_at_full_size \\
        --out bench/results/cpu/bounds_at_full_size.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import environment, load_config

HISTORY_VALUES = 500 * 2**20 // 8  # float64: 500 MB
SLOW_LAYERS = 64  # 3x3 convolutions of 256 filters at 28x28: ~59 GFLOP per image


def slow_model():
    """Standard layers only (it loads in safe mode), about 300 TFLOP for 5,000 images."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((28, 28, 1)),
                              *[layers.Conv2D(256, 3, padding="same") for _ in range(SLOW_LAYERS)],
                              layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def measure(folder: Path) -> dict:
    from grader.checks.rules import SubmissionFacts
    from grader.export import export_artifacts
    from grader.heldout import build_heldout
    from grader.pipeline import write_scoring_job
    from grader.scoring import ScoringServer
    from reference_solutions.practica3 import mnist_cnn

    config = load_config()
    work = {key: folder / key for key in ("artifacts", "inputs", "answers", "job")}
    build_heldout(config).write(work["inputs"], work["answers"])
    history = {"loss": np.linspace(1, 0, HISTORY_VALUES), "accuracy": [0.5] * 10}
    objects = {"cnn_model": mnist_cnn.build_cnn(), "improved_model": slow_model(), "cnn_history": history}
    started = time.perf_counter()
    export_artifacts(objects, str(work["artifacts"]), str(work["inputs"]), dict(config.contract),
                     dict(config.inputs), config.limits.model_dump())
    export_s = round(time.perf_counter() - started, 1)
    work["job"].mkdir()
    write_scoring_job(work["job"], config, SubmissionFacts(0, [], [], []))
    manifest = json.loads((work["artifacts"] / "manifest.json").read_text(encoding="utf-8"))
    with ScoringServer(folder / "server", config.limits, sandboxed=False) as server:
        started = time.perf_counter()
        checks = server.score(work, "es")
        score_s = round(time.perf_counter() - started, 1)
    return {
        "limits": {key: config.limits.model_dump()[key] for key in ("object_timeout_s", "history_values", "reply_mb")},
        "history_bytes": history["loss"].nbytes,
        "slow_model_gflop_per_image": round(SLOW_LAYERS * 28 * 28 * 256 * 256 * 9 * 2 / 1e9, 1),
        "heldout_images": config.heldout.sets["mnist"].items,
        "export_s": export_s,
        "manifest": {name: {k: v for k, v in entry.items() if k in ("status", "reason", "cut", "timed_out_s")}
                     for name, entry in manifest.items()},
        "history_file_bytes": (work["artifacts"] / "cnn_history.history.json").stat().st_size,
        "score_s": score_s,
        "checks": {c.name: {"points": c.points, "status": c.status.value, "message": c.message[:300]} for c in checks},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bounds-full-size-") as folder:
        measurement = measure(Path(folder))
    result = {"benchmark": "bounds_at_full_size", "environment": environment("bench.bounds_at_full_size", argv),
              "measurement": measurement}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(measurement, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
