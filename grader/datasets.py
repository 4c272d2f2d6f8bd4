"""Course datasets as numpy arrays, resolved without a network when a local copy exists.

Resolution order (the course's data policy), first match wins:

1. explicit directories: the ``data_dir`` argument, else ``$GRADER_DATA_DIR`` (folders separated by
   ``os.pathsep``; relative ones are taken from the current folder and made absolute);
2. Keras' cache: ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``);
3. Debian's datasets folder: ``/usr/share/datasets`` (package ``dataset-fashion-mnist``);
4. Keras' own download (skipped when ``$GRADER_OFFLINE`` is set).

Inside each directory MNIST is ``mnist.npz`` (Keras' keys) or the four IDX files under ``mnist/``;
Fashion-MNIST is the four IDX ``.gz`` files under ``fashion-mnist/``; CIFAR-10 is Keras'
``cifar-10-batches-py/``. Every loaded dataset says which source it came from.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "GRADER_DATA_DIR"
OFFLINE_ENV = "GRADER_OFFLINE"
DEBIAN_DATASETS = Path("/usr/share/datasets")
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10")

_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DatasetNotFoundError(RuntimeError):
    """No source holds the dataset; the message lists every place looked at and the fix."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def as_keras_tuple(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The ``((x_train, y_train), (x_test, y_test))`` shape of ``keras.datasets.*.load_data()``."""
        return (self.x_train, self.y_train), (self.x_test, self.y_test)


@dataclass(frozen=True)
class SourceProbe:
    """One place that was looked at, and what was found there."""

    place: str
    path: Path | None
    found: bool


def keras_cache_dir() -> Path:
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return _absolute(keras_home) / "datasets"


def _absolute(path: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


def explicit_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The explicit data folders, absolute: ``data_dir`` else ``$GRADER_DATA_DIR``, each a list of
    folders separated by ``os.pathsep`` (like ``PATH``). A relative entry is taken from the folder the
    program was started in, here where it enters the program: kernels run in folders of their own."""
    explicit = os.fspath(data_dir) if data_dir else os.environ.get(DATA_DIR_ENV, "")
    return [_absolute(entry) for entry in explicit.split(os.pathsep) if entry.strip()]


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The local directories to search, in resolution order, each with a label for messages."""
    label = "explicit directory" if data_dir else f"${DATA_DIR_ENV}"
    places: list[tuple[str, Path]] = [(label, folder) for folder in explicit_dirs(data_dir)]
    places.append(("Keras cache", keras_cache_dir()))
    places.append(("Debian datasets", DEBIAN_DATASETS))
    return places


def _local_files(name: str, root: Path) -> Path | None:
    """The file or folder holding ``name`` under ``root``, or None."""
    if name == "mnist":
        if (root / "mnist.npz").is_file():
            return root / "mnist.npz"
        if all((root / "mnist" / f).is_file() for f in _IDX_FILES):
            return root / "mnist"
        return None
    if name == "fashion_mnist":
        folder = root / "fashion-mnist"
        return folder if all((folder / f).is_file() for f in _IDX_FILES) else None
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        return folder if (folder / "test_batch").is_file() else None
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")


def probe_sources(name: str, data_dir: str | os.PathLike | None = None) -> list[SourceProbe]:
    """Every local place in resolution order, whether or not it holds the dataset."""
    probes = []
    for place, root in candidate_dirs(data_dir):
        found = _local_files(name, root)
        probes.append(SourceProbe(place, found or root, found is not None))
    return probes


def describe_source(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Where ``name`` would be loaded from, in words, without loading it."""
    found = next((p for p in probe_sources(name, data_dir) if p.found), None)
    if found is not None:
        return f"{found.place}: {found.path}"
    if os.environ.get(OFFLINE_ENV):
        return f"nowhere: not found locally and ${OFFLINE_ENV} forbids Keras' download"
    return "Keras' download (not found locally)"


def local_dataset_paths() -> list[Path]:
    """Each course dataset found locally (a file or a folder), absolute: what a sandbox shows
    read-only. Only the datasets, never the folder around them, which may hold anything."""
    found = (next((p for p in probe_sources(name) if p.found), None) for name in DATASET_NAMES)
    return [probe.path for probe in found if probe is not None]


def kernel_data_dir(paths: list[Path]) -> str:
    """The ``$GRADER_DATA_DIR`` that finds ``paths`` again from another process and folder (a
    kernel): their folders, absolute; each dataset may come from another place."""
    return os.pathsep.join(str(folder) for folder in dict.fromkeys(path.parent for path in paths))


def read_idx(path: Path) -> np.ndarray:
    """Read one (optionally gzipped) IDX file of unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file; re-download it")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: truncated IDX file ({data.size} of {np.prod(shape)} bytes); re-download it")
    return data.reshape(shape)


def _read_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    return tuple(read_idx(folder / f) for f in _IDX_FILES)


def _read_local(name: str, path: Path) -> tuple[np.ndarray, ...]:
    if name == "mnist" and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]
    if name in ("mnist", "fashion_mnist"):
        return _read_idx_folder(path)
    from keras.src.datasets.cifar import load_batch  # Keras' reader of the official batches

    parts = [load_batch(str(path / f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
    y_train = np.concatenate([p[1] for p in parts]).reshape(-1)
    x_test, y_test = load_batch(str(path / "test_batch"))
    return x_train, y_train, x_test.transpose(0, 2, 3, 1), np.asarray(y_test).reshape(-1)


def _download(name: str) -> tuple[np.ndarray, ...]:
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist,
              "cifar10": keras.datasets.cifar10}[name]
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return x_train, y_train.reshape(-1), x_test, y_test.reshape(-1)


def load(name: str, data_dir: str | os.PathLike | None = None, *, allow_download: bool | None = None) -> Dataset:
    """Load ``name`` from the first source that has it (see the module docstring)."""
    probes = probe_sources(name, data_dir)
    for probe in probes:
        if probe.found:
            arrays = _read_local(name, probe.path)
            return Dataset(name, *arrays, source=f"{probe.place}: {probe.path}")
    if allow_download is None:
        allow_download = not os.environ.get(OFFLINE_ENV)
    download_error = "skipped ($GRADER_OFFLINE is set)"
    if allow_download:
        try:
            return Dataset(name, *_download(name), source="Keras download")
        except Exception as exc:  # any network or checksum failure: reported below, with the places
            download_error = f"failed: {type(exc).__name__}: {exc}"
    looked = "; ".join(f"{p.place} {p.path} (not there)" for p in probes)
    raise DatasetNotFoundError(
        f"dataset {name!r} not found. Looked in: {looked}; Keras download {download_error}. "
        f"Fix: put the files in a folder and set ${DATA_DIR_ENV} to it (MNIST as mnist.npz, "
        "Fashion-MNIST as fashion-mnist/*.gz), or install Debian's dataset-fashion-mnist, "
        "or connect to the network once so Keras can download them."
    )


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    return load("mnist", data_dir)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    return load("fashion_mnist", data_dir)


def serve_keras_offline(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Make ``keras.datasets.{mnist,fashion_mnist}.load_data()`` read local copies where they exist.

    Keras checks the sha256 of its cached ``mnist.npz`` and re-downloads on mismatch, so an offline
    copy with other bytes (a rebuilt file) cannot simply be dropped into its cache. The grader calls
    this in the student's kernel before any student cell runs. A dataset with no local copy keeps
    Keras' own loader (a download, e.g. in Colab). Returns the names now served locally.
    """
    import keras

    def loader(name: str):
        def load_data(*args, **kwargs):
            return load(name, data_dir, allow_download=False).as_keras_tuple()

        load_data.__doc__ = f"Offline {name} (served by the course grader from a local copy)."
        return load_data

    served = []
    for name, module in (("mnist", keras.datasets.mnist), ("fashion_mnist", keras.datasets.fashion_mnist)):
        if any(probe.found for probe in probe_sources(name, data_dir)):
            module.load_data = loader(name)
            served.append(name)
    return served
