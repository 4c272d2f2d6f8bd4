"""Held-out data: the inputs the student's models are applied to, and the answers kept back.

Inputs go to a folder the student's kernel can read; answers (labels, clean images) go to a folder
only the scoring process sees. Both are derived from the real datasets with the assignment's seed,
so every submission (and every re-grade) is scored on exactly the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import datasets
from grader.config import AssignmentConfig


@dataclass(frozen=True)
class HeldOut:
    inputs: dict[str, np.ndarray]   # name -> array given to the student's kernel
    answers: dict[str, np.ndarray]  # name -> array kept by the grader

    def write(self, inputs_dir: Path, answers_dir: Path) -> None:
        for folder, arrays in ((inputs_dir, self.inputs), (answers_dir, self.answers)):
            folder.mkdir(parents=True, exist_ok=True)
            for name, array in arrays.items():
                np.save(folder / f"{name}.npy", array, allow_pickle=False)


def noisy_images(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise, clipped to [0, 1] (the assignment's documented noise model)."""
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0.0, sigma, size=clean.shape), 0.0, 1.0).astype("float32")


def build_heldout(config: AssignmentConfig, data_dir: str | None = None) -> HeldOut:
    inputs, answers = {}, {}
    wanted = set(config.inputs.values())
    rng = np.random.default_rng(config.heldout.seed)
    if "mnist" in wanted:
        mnist = datasets.load_mnist(data_dir)
        order = rng.permutation(len(mnist.x_test))[: config.heldout.mnist_images]
        inputs["mnist"] = mnist.x_test[order]
        answers["mnist_labels"] = mnist.y_test[order].astype("int64")
    if "fashion_noisy" in wanted:
        fashion = datasets.load_fashion_mnist(data_dir)
        order = rng.permutation(len(fashion.x_test))[: config.heldout.fashion_images]
        clean = (fashion.x_test[order].astype("float32") / 255.0)[..., np.newaxis]
        inputs["fashion_noisy"] = noisy_images(clean, config.heldout.noise_sigma, config.heldout.seed)
        answers["fashion_clean"] = clean
    return HeldOut(inputs, answers)


def load_answers(answers_dir: Path) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path, allow_pickle=False) for path in Path(answers_dir).glob("*.npy")}
