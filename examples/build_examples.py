"""Rebuild examples/practica3_prado.zip: five Práctica 3 submissions as PRADO's "download all" gives them.

    .venv/bin/python examples/build_examples.py

Each is the released notebook filled the way a student would (light training: small subsets, one
epoch, so the demo runs in minutes); the mix shows what batch grading has to handle. The zip entries
are named by Moodle 4.1+'s rules ("download as folders", the default), applied by
tests/moodle_download.py: ``Ana García López_10001_assignsubmission_file/practica3.ipynb``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.config import load_assignment  # noqa: E402
from grader.release import release_assignment  # noqa: E402
from tests import submissions as s  # noqa: E402
from tests.moodle_download import Record, build_zip  # noqa: E402

ZIP_PATH = Path(__file__).with_name("practica3_prado.zip")


def main() -> None:
    config = load_assignment("practica3")
    with tempfile.TemporaryDirectory() as temporary:
        released = release_assignment(config, Path(temporary) / "release", f"sqlite:///{temporary}/gb.db")
        nb = nbformat.read(released.notebook, as_version=4)
    notebooks = {
        ("Ana García López", 10001): s.fill(nb),
        ("Bruno Pérez Ruiz", 10002): s.fill(nb, {"ej1_cnn_modelo": s.cnn_cell(padding2="same")}),
        ("Carmen Núñez Gil", 10003): s.fill(nb, {"ej1_hog": s.hog_cell(raw_pixels=True),
                                                 "ej1_svm": "epochs = int(input('¿Épocas? '))\n" + s.svm_cell()}),
        ("Elena Sánchez Mora", 10005): s.fill(nb, {"ej2_modelo": s.denoiser_cell(identity=True),
                                                   "ej2_entrenamiento": None}),
    }
    records = [Record(name, uid, {"practica3.ipynb": nbformat.writes(notebook)})
               for (name, uid), notebook in notebooks.items()]
    records[-1].files["pesos_modelo.h5"] = b"\x89HDF\r\n"
    records.append(Record("David Martín Soto", 10004, {  # cut off mid-upload
        "practica3.ipynb": '{"cells": [{"cell_type": "code", "source": "import keras"'}))
    for name in build_zip(ZIP_PATH, records, version="4.1", folders=True):
        print(f"  {name}")
    print(f"wrote {ZIP_PATH}")


if __name__ == "__main__":
    main()
