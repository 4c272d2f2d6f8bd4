"""Course datasets as numpy arrays, resolved without a network when a local copy exists.

Resolution order (the course's data policy), first match wins:

1. explicit directories: the ``data_dir`` argument, else ``$GRADER_DATA_DIR`` (folders separated by
   ``os.pathsep``; relative ones are taken from the current folder and made absolute);
2. Keras' cache: ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``);
3. Debian's datasets folder: ``/usr/share/datasets`` (package ``dataset-fashion-mnist``);
4. Keras' own download (skipped when ``$GRADER_OFFLINE`` is set).

Inside each directory MNIST is ``mnist.npz`` (Keras' keys) or the four IDX files under ``mnist/``;
Fashion-MNIST is the four IDX ``.gz`` files under ``fashion-mnist/``; CIFAR-10 is Keras'
``cifar-10-batches-py/``. Any of them may also be ``<name>.npz`` with Keras' keys (``x_train``,
``y_train``, ``x_test``, ``y_test``): the form in which the grader serves a kernel its datasets
(:mod:`grader.heldout`). Every loaded dataset says which source it came from.

Datasets are found by name in :data:`REGISTRY`: those above are :class:`FileDataset` (files in a
folder, else Keras' download); scikit-learn's bundled and generated sets are :class:`BuiltinDataset`
(no files, no network). Arrays an instructor ships with an assignment are :class:`ShippedDataset`:
``assignments/<assignment>/public/data/<name>.npz`` with Keras' keys, found by name like the others
(an explicit folder's ``<name>.npz`` first, as for every dataset, then the shipped file). A notebook
loads them with ``load_data("<name>")``; the grading kernel sees ``public/``, so they are no secret
(like scikit-learn's bundled data). The students' wheel carries them (``pyproject.toml``'s package-data),
and an installed package finds them the same way. An assignment names the
datasets it uses (``assignment.toml``: ``datasets`` and each held-out set's ``dataset``), and the
configuration is checked against these.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

DATA_DIR_ENV = "GRADER_DATA_DIR"
OFFLINE_ENV = "GRADER_OFFLINE"
DEBIAN_DATASETS = Path("/usr/share/datasets")

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


def _idx_folder(folder_name: str) -> Callable[[Path], Path | None]:
    def find(root: Path) -> Path | None:
        folder = root / folder_name
        return folder if all((folder / f).is_file() for f in _IDX_FILES) else None

    return find


def _find_mnist(root: Path) -> Path | None:
    if (root / "mnist.npz").is_file():
        return root / "mnist.npz"
    return _idx_folder("mnist")(root)


def _find_cifar10(root: Path) -> Path | None:
    folder = root / "cifar-10-batches-py"
    return folder if (folder / "test_batch").is_file() else None


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


def _read_keras_npz(path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path, allow_pickle=False) as npz:
        return npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]


def _read_mnist(path: Path) -> tuple[np.ndarray, ...]:
    return _read_keras_npz(path) if path.suffix == ".npz" else _read_idx_folder(path)


def _keras_npz(root: Path, name: str) -> Path | None:
    """``<root>/<name>.npz`` with Keras' keys: any dataset in the form the grader serves it to kernels."""
    path = root / f"{name}.npz"
    return path if path.is_file() else None


def _read_cifar10(path: Path) -> tuple[np.ndarray, ...]:
    from keras.src.datasets.cifar import load_batch  # Keras' reader of the official batches

    parts = [load_batch(str(path / f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
    y_train = np.concatenate([p[1] for p in parts]).reshape(-1)
    x_test, y_test = load_batch(str(path / "test_batch"))
    return x_train, y_train, x_test.transpose(0, 2, 3, 1), np.asarray(y_test).reshape(-1)


def _sklearn_diabetes() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    # The course's split: 353 examples to train, 89 to test.
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    return x_train, y_train, x_test, y_test


@dataclass(frozen=True)
class FileDataset:
    """A dataset read from files in a data folder (see the module docstring), else downloaded by Keras."""

    name: str
    find: Callable[[Path], Path | None]                   # the file or folder holding it under a data folder
    read: Callable[[Path], tuple[np.ndarray, ...]]        # (x_train, y_train, x_test, y_test) from it
    keras_module: str                                     # keras.datasets.<keras_module>.load_data() downloads it
    layout: str                                           # how a local copy is laid out, for the fix in messages
    serve_in_kernel: bool = False                         # serve_keras_offline() patches its load_data()
    debian_package: str | None = None                     # a Debian package that installs it in DEBIAN_DATASETS


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset that needs no files and no network: scikit-learn's bundled and generated sets."""

    name: str
    make: Callable[[], tuple[np.ndarray, ...]]            # (x_train, y_train, x_test, y_test)
    origin: str                                           # where it comes from, in words


@dataclass(frozen=True)
class ShippedDataset:
    """Arrays an assignment ships (``public/data/<name>.npz``, Keras' keys)."""

    name: str
    path: Path

    @property
    def origin(self) -> str:
        return f"the assignment's data: {self.path}"


SHIPPED_FOLDER = Path("public") / "data"  # inside an assignment's folder

REGISTRY: dict[str, FileDataset | BuiltinDataset] = {}


def register(dataset: FileDataset | BuiltinDataset) -> None:
    if dataset.name in REGISTRY:
        raise ValueError(f"dataset {dataset.name!r} is registered twice")
    REGISTRY[dataset.name] = dataset


register(FileDataset("mnist", _find_mnist, _read_mnist, "mnist", "MNIST as mnist.npz", serve_in_kernel=True))
register(FileDataset("fashion_mnist", _idx_folder("fashion-mnist"), _read_idx_folder, "fashion_mnist",
                     "Fashion-MNIST as fashion-mnist/*.gz", serve_in_kernel=True,
                     debian_package="dataset-fashion-mnist"))
register(FileDataset("cifar10", _find_cifar10, _read_cifar10, "cifar10", "CIFAR-10 as cifar-10-batches-py/"))
register(BuiltinDataset("diabetes", _sklearn_diabetes, "scikit-learn's bundled load_diabetes (train_test_split, "
                                                       "test_size=0.2, random_state=42)"))


def shipped_datasets() -> dict[str, ShippedDataset]:
    """The arrays the installed assignments ship, by name (the first assignment's, for a name two ship)."""
    from grader.instructor import ASSIGNMENTS_DIR

    found: dict[str, ShippedDataset] = {}
    for path in sorted(ASSIGNMENTS_DIR.glob(f"*/{SHIPPED_FOLDER.as_posix()}/*.npz")):
        found.setdefault(path.stem, ShippedDataset(path.stem, path))
    return found


def registered(name: str) -> FileDataset | BuiltinDataset | ShippedDataset:
    if name in REGISTRY:
        return REGISTRY[name]
    shipped = shipped_datasets()
    if name in shipped:
        return shipped[name]
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join([*REGISTRY, *shipped])}; an assignment's own "
                     f"arrays go in assignments/<assignment>/{SHIPPED_FOLDER.as_posix()}/{name}.npz")


def probe_sources(name: str, data_dir: str | os.PathLike | None = None) -> list[SourceProbe]:
    """Every local place in resolution order, whether or not it holds the dataset (none for a
    dataset that needs no files)."""
    dataset = registered(name)
    if isinstance(dataset, BuiltinDataset):
        return []
    probes = []
    for place, root in candidate_dirs(data_dir):
        found = _keras_npz(root, dataset.name) or (None if isinstance(dataset, ShippedDataset) else dataset.find(root))
        probes.append(SourceProbe(place, found or root, found is not None))
    if isinstance(dataset, ShippedDataset):
        probes.append(SourceProbe("the assignment's data", dataset.path, dataset.path.is_file()))
    return probes


def describe_source(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Where ``name`` would be loaded from, in words, without loading it."""
    dataset = registered(name)
    if isinstance(dataset, BuiltinDataset):
        return dataset.origin
    found = next((p for p in probe_sources(name, data_dir) if p.found), None)
    if found is not None:
        return f"{found.place}: {found.path}"
    if isinstance(dataset, ShippedDataset):
        return f"nowhere: {dataset.path} is missing"
    if os.environ.get(OFFLINE_ENV):
        return f"nowhere: not found locally and ${OFFLINE_ENV} forbids Keras' download"
    return "Keras' download (not found locally)"


def local_dataset_paths(names) -> list[Path]:
    """Each of the datasets ``names`` found locally (a file or a folder), absolute: what a sandbox
    shows read-only. Only the datasets, never the folder around them, which may hold anything."""
    found = (next((p for p in probe_sources(name) if p.found), None) for name in names)
    return [probe.path for probe in found if probe is not None]


def kernel_data_dir(paths: list[Path]) -> str:
    """The ``$GRADER_DATA_DIR`` that finds ``paths`` again from another process and folder (a
    kernel): their folders, absolute; each dataset may come from another place."""
    return os.pathsep.join(str(folder) for folder in dict.fromkeys(path.parent for path in paths))


def _download(dataset: FileDataset) -> tuple[np.ndarray, ...]:
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, dataset.keras_module).load_data()
    return x_train, y_train.reshape(-1), x_test, y_test.reshape(-1)


def load(name: str, data_dir: str | os.PathLike | None = None, *, allow_download: bool | None = None) -> Dataset:
    """Load ``name`` from the first source that has it (see the module docstring)."""
    dataset = registered(name)
    if isinstance(dataset, BuiltinDataset):
        return Dataset(name, *dataset.make(), source=dataset.origin)
    probes = probe_sources(name, data_dir)
    for probe in probes:
        if probe.found:
            keras_npz = isinstance(dataset, ShippedDataset) or probe.path == _keras_npz(probe.path.parent, name)
            read = _read_keras_npz if keras_npz else dataset.read
            return Dataset(name, *read(probe.path), source=f"{probe.place}: {probe.path}")
    if isinstance(dataset, ShippedDataset):
        raise DatasetNotFoundError(f"dataset {name!r} not found: {dataset.path} is missing; fix: reinstall the course "
                                   "package, or put it back from the course repository")
    if allow_download is None:
        allow_download = not os.environ.get(OFFLINE_ENV)
    download_error = "skipped ($GRADER_OFFLINE is set)"
    if allow_download:
        try:
            return Dataset(name, *_download(dataset), source="Keras download")
        except Exception as exc:  # any network or checksum failure: reported below, with the places
            download_error = f"failed: {type(exc).__name__}: {exc}"
    looked = "; ".join(f"{p.place} {p.path} (not there)" for p in probes)
    debian = f", or install Debian's {dataset.debian_package}" if dataset.debian_package else ""
    raise DatasetNotFoundError(
        f"dataset {name!r} not found. Looked in: {looked}; Keras download {download_error}. "
        f"Fix: put the files in a folder and set ${DATA_DIR_ENV} to it ({dataset.layout}){debian}, "
        "or connect to the network once so Keras can download it."
    )


def load_data(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` of ``name``, as ``keras.datasets.*.load_data()`` gives
    them: how a notebook loads the arrays its assignment ships (``from grader.datasets import load_data``)."""
    return load(name).as_keras_tuple()


def serve_keras_offline(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Make ``keras.datasets.<name>.load_data()`` read local copies where they exist (the registry's
    datasets marked ``serve_in_kernel``).

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
    for dataset in REGISTRY.values():
        if not (isinstance(dataset, FileDataset) and dataset.serve_in_kernel):
            continue
        if any(probe.found for probe in probe_sources(dataset.name, data_dir)):
            getattr(keras.datasets, dataset.keras_module).load_data = loader(dataset.name)
            served.append(dataset.name)
    return served
