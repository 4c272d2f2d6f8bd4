"""Held-out data: the inputs the student's models are applied to, and the answers kept back.

Inputs go to a folder the student's kernel can read; answers (labels, clean images) go to a folder
only the scoring process sees. Both are derived from the real datasets with the assignment's seed,
as its ``[heldout.sets]`` declare them, so every submission (and every re-grade) is scored on exactly
the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import datasets
from grader.config import AssignmentConfig, ConfigError


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
    """Every held-out set of ``[heldout.sets]``, in the order declared (see :class:`grader.config.HeldOut`)."""
    inputs, answers = {}, {}
    rng = np.random.default_rng(config.heldout.seed)
    loaded: dict[str, datasets.Dataset] = {}
    for name, held in config.heldout.sets.items():
        if held.dataset not in loaded:
            loaded[held.dataset] = datasets.load(held.dataset, data_dir)
        dataset = loaded[held.dataset]
        x, y = (dataset.x_test, dataset.y_test) if held.split == "test" else (dataset.x_train, dataset.y_train)
        if held.items > len(x):
            raise ConfigError(f"{config.folder / 'assignment.toml'}: key 'heldout.sets.{name}.items': {held.items}, "
                              f"but the {held.split} split of {held.dataset} has {len(x)}; fix: ask for at most "
                              f"{len(x)}")
        order = rng.permutation(len(x))[: held.items]
        items = x[order]
        if held.to_unit_interval:
            items = items.astype("float32") / 255.0
        if held.channel_axis:
            items = items[..., np.newaxis]
        if held.gaussian_noise is None:
            inputs[name] = items
        else:
            inputs[name] = noisy_images(items, held.gaussian_noise, config.heldout.seed)
        if "labels" in held.answers:
            answers[held.answers["labels"]] = y[order].astype("int64")
        if "clean" in held.answers:
            answers[held.answers["clean"]] = items
    return HeldOut(inputs, answers)


def load_answers(answers_dir: Path) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path, allow_pickle=False) for path in Path(answers_dir).glob("*.npy")}
