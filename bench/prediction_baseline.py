"""Independent trainings of the reference CNN: how many wrong answers two of them share.

Trains ``reference_solutions.practica3.mnist_cnn`` with its prescribed recipe once per seed (the seed
sets the initial weights and the order of the training batches), predicts the held-out
set the grader scores ``cnn_model`` on (``grader.heldout.build_heldout``: the same 5,000 images), and
writes the pairwise agreement on errors (:func:`grader.similarity.predictions.pairwise_error_agreement`)
to ``reference_solutions/practica3/prediction_agreement.json``, the similarity report's reference
baseline: two independent models never shared more wrong answers than its ``max``.

    .venv/bin/python -m bench.prediction_baseline --seeds 1,2,3,4,5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ASSIGNMENT = "practica3"
OBJECT = "cnn_model"          # the contract object the reference model stands for
REFERENCE = "mnist_cnn"       # reference_solutions.practica3.mnist_cnn


def _stats(values: list[float], digits: int = 4) -> dict[str, float]:
    return {"mean": round(sum(values) / len(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def measure(seeds: list[int], data_dir: str | None = None, log=print) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reference's figures and the held-out set they were measured on."""
    import keras
    import numpy as np

    from grader import datasets
    from grader.config import load_assignment
    from grader.heldout import build_heldout
    from grader.similarity.predictions import pairwise_error_agreement
    from reference_solutions.practica3 import mnist_cnn

    config = load_assignment(ASSIGNMENT)
    source = config.inputs[OBJECT]
    held = config.heldout.sets[source]
    heldout = build_heldout(config, data_dir)
    images, labels = heldout.inputs[source], heldout.answers[held.answers["labels"]]
    train = datasets.load(held.dataset, data_dir)
    predicted, accuracy, seconds = [], [], []
    for seed in seeds:
        started = time.perf_counter()
        keras.utils.set_random_seed(seed)          # the initial weights
        model = mnist_cnn.build_cnn()
        mnist_cnn.train(model, train.x_train, train.y_train, dataclasses.replace(mnist_cnn.RECIPE, seed=seed))
        seconds.append(round(time.perf_counter() - started, 1))
        scores = model.predict(mnist_cnn.prepare_images(images), batch_size=512, verbose=0)
        predicted.append(np.argmax(scores, axis=1))
        accuracy.append(float(np.mean(predicted[-1] == labels)))
        log(f"seed {seed}: held-out accuracy {accuracy[-1]:.4f}, {int(np.sum(predicted[-1] != labels))} errors, "
            f"trained in {seconds[-1]} s")
    stats = pairwise_error_agreement(np.stack(predicted), labels)
    pairs = [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))]
    per_pair = [{"seeds": [seeds[i], seeds[j]], "either_wrong": int(stats["either_wrong"][i, j]),
                 "both_wrong": int(stats["both_wrong"][i, j]), "same_wrong": int(stats["same_wrong"][i, j]),
                 "score": round(float(stats["score"][i, j]), 4)} for i, j in pairs]
    return {
        "object": OBJECT, "seeds": seeds, "epochs": mnist_cnn.RECIPE.epochs,
        "batch_size": mnist_cnn.RECIPE.batch_size, "accuracy": [round(a, 4) for a in accuracy],
        "errors": [int(np.sum(p != labels)) for p in predicted], "train_seconds": seconds, "pairs": len(pairs),
        "same_wrong_fraction": _stats([p["score"] for p in per_pair]),
        "same_wrong": _stats([p["same_wrong"] for p in per_pair], 1),
        "both_wrong_fraction": _stats([p["both_wrong"] / max(p["either_wrong"], 1) for p in per_pair]),
        "per_pair": per_pair,
    }, {"set": source, "seed": config.heldout.seed, "items": int(len(labels))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated training seeds (at least 2)")
    parser.add_argument("--data-dir", help="Look here first (else $GRADER_DATA_DIR).")
    parser.add_argument("--out", type=Path, help="Default: reference_solutions/practica3/prediction_agreement.json")
    options = parser.parse_args(argv)
    seeds = [int(s) for s in options.seeds.split(",")]
    if len(seeds) < 2:
        parser.error("--seeds needs at least two seeds")
    from bench.common import environment
    from grader.config import load_assignment
    from grader.similarity.predictions import REFERENCE_AGREEMENT_FILE

    out = options.out or load_assignment(ASSIGNMENT).reference_dir / REFERENCE_AGREEMENT_FILE
    started = time.perf_counter()
    reference, heldout = measure(seeds, options.data_dir)
    env = environment("bench.prediction_baseline", argv)
    result = {"command": env["command"], "date": env["date"][:10],
              "machine": {"cpu": env["cpu"], "cpus": env["cpus"], "gpus": len(env["gpus"]),
                          "loadavg_end": env["loadavg"]},
              "versions": {k: v for k, v in env["versions"].items() if k in ("keras", "tensorflow", "tensorflow-cpu",
                                                                             "jax", "numpy")},
              "wall_s": round(time.perf_counter() - started, 1), "assignment": ASSIGNMENT, "heldout": heldout,
              "references": {REFERENCE: reference}}
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in reference.items() if k != "per_pair"}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
