"""Held-out data: the secret inputs the student's models are applied to, their answers, and the data
the student's kernel is served instead of the raw datasets.

A held-out set drawn from a dataset's test split is that split's secret part: the kernel's
``load_data()`` serves the split *without* it (:attr:`HeldOut.served`), and the raw dataset files are
never shown to the kernel. The secret inputs reach the kernel only for the grader's export, after the
student's cells have run; their answers (labels, clean images) never do. The test images the student
did have (up to :data:`SEEN_ITEMS`, kept with the answers as ``<set>.seen`` and ``<answer>.seen``) let the
scorer compare a model on both parts: a model trained on the test split does much better on the part
it saw (see :mod:`grader.checks.leakage`).

A set may also be drawn rather than taken from a dataset: fresh points of one of scikit-learn's
generators (two moons, with their classes) or points of an interval where functions are evaluated (a
grid); the student's kernel never saw those at all.

Everything is derived from the real datasets with the assignment's ``[heldout] seed``, which the
kernel never sees, so every submission (and every re-grade) is scored on exactly the same data.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import datasets
from grader.config import AssignmentConfig, ConfigError

SEEN_SUFFIX = ".seen"  # an array of the sample the student had: "<set>.seen", "<labels>.seen"
HELDOUT_FOLDER = ".heldout"  # a batch's build, beside its students' folders; a lone submission's, in its own
SEEN_ITEMS = 10_000    # at most this many items the student had are kept to compare with the secret part


@dataclass(frozen=True)
class HeldOut:
    inputs: dict[str, np.ndarray]   # name -> secret inputs, given to the kernel's export only
    answers: dict[str, np.ndarray]  # name -> answers and the seen sample, kept by the grader
    served: dict[str, datasets.Dataset] = field(default_factory=dict)  # what the kernel's load_data() gets

    def write(self, inputs_dir: Path, answers_dir: Path) -> None:
        for folder, arrays in ((inputs_dir, self.inputs), (answers_dir, self.answers)):
            folder.mkdir(parents=True, exist_ok=True)
            for name, array in arrays.items():
                np.save(folder / f"{name}.npy", array, allow_pickle=False)

    def write_served(self, folder: Path) -> None:
        """Each served dataset as ``<name>.npz`` with Keras' keys (how :mod:`grader.datasets` reads a
        folder given in ``$GRADER_DATA_DIR``); uncompressed, so that kernels load it at once."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, dataset in self.served.items():
            temporary = folder / f".{name}.npz.tmp"
            with open(temporary, "wb") as file:
                np.savez(file, x_train=dataset.x_train, y_train=dataset.y_train, x_test=dataset.x_test,
                         y_test=dataset.y_test)
            temporary.replace(folder / f"{name}.npz")


@dataclass(frozen=True)
class HeldOutFolders:
    """A held-out build on disk: ``inputs`` (the secret inputs), ``answers`` (scorer only) and
    ``served`` (the kernel's ``$GRADER_DATA_DIR``). Built once per batch, read by every job."""

    inputs: Path
    answers: Path
    served: Path


def noisy_images(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise, clipped to [0, 1] (the assignment's documented noise model)."""
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0.0, sigma, size=clean.shape), 0.0, 1.0).astype("float32")


def _transformed(items: np.ndarray, held) -> np.ndarray:
    if held.to_unit_interval:
        items = items.astype("float32") / 255.0
    if held.channel_axis:
        items = items[..., np.newaxis]
    return items


def build_heldout(config: AssignmentConfig, data_dir: str | None = None) -> HeldOut:
    """Every held-out set of ``[heldout.sets]``, in the order declared (see :class:`grader.config.HeldOut`),
    and the datasets the kernel is served without the sets' items."""
    inputs, answers = {}, {}
    rng = np.random.default_rng(config.heldout.seed)
    loaded: dict[str, datasets.Dataset] = {}
    secret: dict[tuple[str, str], set[int]] = {}
    for name, held in config.heldout.sets.items():
        if held.dataset is None:
            inputs[name], targets = _drawn(held, rng)
            if targets is not None:
                _keep_answers(answers, held, targets)
            continue
        if held.dataset not in loaded:
            loaded[held.dataset] = datasets.load(held.dataset, data_dir)
        dataset = loaded[held.dataset]
        x, y = (dataset.x_test, dataset.y_test) if held.split == "test" else (dataset.x_train, dataset.y_train)
        if held.items > len(x):
            raise ConfigError(f"{config.folder / 'assignment.toml'}: key 'heldout.sets.{name}.items': {held.items}, "
                              f"but the {held.split} split of {held.dataset} has {len(x)}; fix: ask for at most "
                              f"{len(x)}")
        order = rng.permutation(len(x))[: held.items]
        secret.setdefault((held.dataset, held.split), set()).update(order.tolist())
        items = _transformed(x[order], held)
        if held.gaussian_noise is None:
            inputs[name] = items
        else:
            inputs[name] = noisy_images(items, held.gaussian_noise, config.heldout.seed)
        _keep_answers(answers, held, y[order])
        if "clean" in held.answers:
            answers[held.answers["clean"]] = items
    served = {name: _without(dataset, secret) for name, dataset in loaded.items()}
    for name, held in config.heldout.sets.items():
        if held.dataset is not None and "labels" in held.answers and held.gaussian_noise is None:
            x, y = _split(served[held.dataset], held.split)
            # As large as the split allows (the gap's noise shrinks with it), drawn from a generator of its
            # own so that the sets stay what they always were.
            seen = np.random.default_rng([config.heldout.seed, 1]).permutation(len(x))[:SEEN_ITEMS]
            answers[name + SEEN_SUFFIX] = _transformed(x[seen], held)
            answers[held.answers["labels"] + SEEN_SUFFIX] = y[seen].astype("int64")
    return HeldOut(inputs, answers, served)


def _keep_answers(answers: dict[str, np.ndarray], held, y: np.ndarray) -> None:
    if "labels" in held.answers:
        answers[held.answers["labels"]] = np.asarray(y).astype("int64")
    if "targets" in held.answers:
        answers[held.answers["targets"]] = np.asarray(y).astype("float64")


def _drawn(held, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """A generated set's (points, answers) or a grid's (points, None), drawn with ``rng``."""
    if held.grid is not None:
        points = np.sort(rng.uniform(held.grid.low, held.grid.high, size=held.items))
        return (points[:, np.newaxis] if held.grid.column else points), None
    import sklearn.datasets

    generate = getattr(sklearn.datasets, held.generated.function)
    x, y = generate(n_samples=held.items, random_state=int(rng.integers(2**31 - 1)), **held.generated.options)
    return np.asarray(x, dtype="float32"), np.asarray(y)


def _split(dataset: datasets.Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    return (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)


def _without(dataset: datasets.Dataset, secret: dict[tuple[str, str], set[int]]) -> datasets.Dataset:
    """``dataset`` with the secret items of each of its splits removed."""
    arrays = {}
    for split in ("train", "test"):
        x, y = _split(dataset, split)
        keep = np.ones(len(x), dtype=bool)
        keep[sorted(secret.get((dataset.name, split), ()))] = False
        arrays[split] = (x[keep], y[keep])
    return datasets.Dataset(dataset.name, *arrays["train"], *arrays["test"],
                            source=f"{dataset.source}, without the grader's secret items")


def prepare_heldout(config: AssignmentConfig, folder: Path) -> HeldOutFolders:
    """Build the held-out data once into ``folder`` (``inputs/``, ``answers/``, ``served/``)."""
    folder = Path(folder)
    built = HeldOutFolders(folder / "inputs", folder / "answers", folder / "served")
    heldout = build_heldout(config)
    heldout.write(built.inputs, built.answers)
    heldout.write_served(built.served)
    return built


def answers_folder(student_workdir: Path) -> Path:
    """Where the answers a student's submission was scored with are kept: its own build (a submission
    graded alone), else its batch's."""
    own = Path(student_workdir) / HELDOUT_FOLDER / "answers"
    return own if own.is_dir() else Path(student_workdir).parent / HELDOUT_FOLDER / "answers"


def link_inputs(source: Path, target: Path) -> None:
    """Put the secret inputs where the kernel's export reads them (hard links when the file system
    allows, else copies). Called once the student's cells have run."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source).glob("*.npy")):
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copyfile(path, target / path.name)


def load_answers(answers_dir: Path) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path, allow_pickle=False) for path in Path(answers_dir).glob("*.npy")}
