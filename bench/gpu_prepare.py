"""Build ``.whl/`` for the GPU machine (bench/README.md, "GPU"): the wheels its image lacks, and the datasets.

The GPU image has Python 3.12 with JAX (CUDA), NumPy, SciPy, scikit-learn, scikit-image, matplotlib and
more, but no TensorFlow, Keras, Jupyter, nbgrader, Dask or pydantic. TensorFlow (~600 MB) cannot travel
(64 MiB per call), so there Keras runs on JAX. This downloads, for CPython 3.12 manylinux, the exact
versions this checkout's venv has of everything else the grader, its kernels and ``nbconvert`` import;
it trims the two wheels that are mostly browser assets (nbgrader's and notebook's: only their Python
modules are imported), packs the course datasets into ``.whl/datasets.tar.xz`` (uncompressed inside, so
xz gets them to ~36 MB instead of 41 MB; bench/gpu_run.sh gzips the IDX files back) and fetches
Debian's ``bubblewrap`` package (the image has no bwrap). ``.whl/`` is ignored by git.

    .venv/bin/python -m bench.gpu_prepare            # then: du -sh .whl (must stay well under 64 MiB)
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from bench.common import ROOT, data_dir

WHEELS = ROOT / ".whl"
# Missing on the GPU image and imported by the grader (CLI, pipeline, Dask batch, scoring), by the
# kernel (ipykernel, the notebook's imports) or by `jupyter nbconvert --execute`.
PACKAGES = """
alembic mako annotated-types asttokens beautifulsoup4 bleach comm dask defusedxml distributed executing
fastjsonschema ipykernel ipython ipython-pygments-lexers jsonschema jsonschema-specifications jupyter-client
jupyter-core jupyter-server jupyterlab-pygments keras locket matplotlib-inline mistune namex nbclient nbconvert
nbformat nbgrader nest-asyncio2 notebook optree pandocfilters partd pexpect platformdirs prettytable
prompt-toolkit ptyprocess pure-eval pydantic pydantic-core pyzmq rapidfuzz referencing rfc3339-validator
rfc3986-validator rpds-py skops soupsieve stack-data tblib tornado traitlets typing-inspection wcwidth
webencodings zict tinycss2 arrow fqdn isoduration webcolors uri-template rfc3987-syntax lark lazy-importer
tzdata sqlalchemy
""".split()
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64")
# Keep only what Python imports from these two (their browser assets, docs and tests stay behind).
TRIM = {
    "nbgrader": lambda name: not name.startswith(("nbgrader/docs/", "nbgrader/tests/", "nbgrader/labextension/",
                                                   "nbgrader-0.9.6.data/", "nbgrader/server_extensions/formgrader/static/")),
    "notebook": lambda name: name.count("/") == 1 and name.endswith(".py") or ".dist-info/" in name,
}


def pinned() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in PACKAGES]


def trim_wheel(path: Path, keep) -> None:
    """Rewrite a wheel with only the files ``keep`` accepts, and a RECORD that matches them."""
    trimmed = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
        record_name = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        lines = []
        for info in source.infolist():
            if info.filename == record_name or not keep(info.filename):
                continue
            data = source.read(info)
            target.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{info.filename},sha256={digest},{len(data)}")
        lines.append(f"{record_name},,")
        target.writestr(record_name, "\n".join(lines) + "\n")
    trimmed.replace(path)


def pack_datasets(source: Path, target: Path) -> None:
    """MNIST as an uncompressed .npz and Fashion-MNIST as raw IDX files, in one tar.xz."""
    import gzip
    import io
    import lzma
    import tarfile

    import numpy as np

    def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))

    with lzma.open(target, "wb", preset=9) as raw, tarfile.open(fileobj=raw, mode="w") as archive:
        with np.load(source / "mnist.npz") as npz:
            buffer = io.BytesIO()
            np.savez(buffer, **{key: npz[key] for key in npz.files})
        add(archive, "mnist.npz", buffer.getvalue())
        for path in sorted((source / "fashion-mnist").glob("*.gz")):
            add(archive, f"fashion-mnist/{path.stem}", gzip.decompress(path.read_bytes()))


def main() -> int:
    WHEELS.mkdir(exist_ok=True)
    for old in WHEELS.glob("*.whl"):
        old.unlink()
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
            "--implementation", "cp", "-d", str(WHEELS), "-q"]
    for platform in PLATFORMS:
        argv += ["--platform", platform]
    subprocess.run(argv + pinned(), check=True)
    for name, keep in TRIM.items():
        for wheel in WHEELS.glob(f"{name}-*.whl"):
            trim_wheel(wheel, keep)
    source = data_dir()
    if source is None:
        raise SystemExit("no datasets: set GRADER_DATA_DIR")
    pack_datasets(source, WHEELS / "datasets.tar.xz")
    debs = WHEELS / "debs"
    debs.mkdir(exist_ok=True)
    if not list(debs.glob("bubblewrap_*.deb")):
        subprocess.run(["apt-get", "download", "bubblewrap"], cwd=debs, check=True)
    total = sum(p.stat().st_size for p in WHEELS.rglob("*") if p.is_file())
    print(f"{WHEELS}: {len(list(WHEELS.glob('*.whl')))} wheels + datasets, {total / 2 ** 20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
