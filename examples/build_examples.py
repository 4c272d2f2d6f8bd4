"""Rebuild the example downloads, as PRADO's "download all" gives them: examples/practica3_prado.zip
(five Práctica 3 submissions) and examples/practica2_prado.zip (three Práctica 2 submissions).

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
from tests import practica2_submissions as p2  # noqa: E402
from tests import submissions as s  # noqa: E402
from tests.moodle_download import Record, build_zip  # noqa: E402



def released_notebook(name: str) -> nbformat.NotebookNode:
    with tempfile.TemporaryDirectory() as temporary:
        released = release_assignment(load_assignment(name), Path(temporary) / "release",
                                      f"sqlite:///{temporary}/gb.db")
        return nbformat.read(released.notebook, as_version=4)


def write_download(name: str, records: list[Record]) -> None:
    path = Path(__file__).with_name(f"{name}_prado.zip")
    for member in build_zip(path, records, version="4.1", folders=True):
        print(f"  {member}")
    print(f"wrote {path}")


def practica3() -> None:
    nb = released_notebook("practica3")
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
    write_download("practica3", records)


def practica2() -> None:
    """The light reference; leaky ReLU with the course slides' slope and relu_0_3 left unregistered;
    a linear 'ReLU' classifier for the moons and a regression that was never trained."""
    nb = released_notebook("practica2")
    notebooks = {
        ("Ana García López", 10001): p2.fill(nb),
        ("Bruno Pérez Ruiz", 10002): p2.fill(nb, {"ej1_funciones_codigo": p2.activations_cell(leaky_slope=0.01),
                                                  "ej2_activacion_codigo": p2.custom_activation_cell(registered=False)}),
        ("Carmen Núñez Gil", 10003): p2.fill(nb, {"ej4_modelos_codigo": p2.moons_cell(relu_activation="None"),
                                                  "ej7_modelo_codigo": p2.diabetes_cell(epochs=0)}),
    }
    write_download("practica2", [Record(name, uid, {"practica2.ipynb": nbformat.writes(notebook)})
                                 for (name, uid), notebook in notebooks.items()])


if __name__ == "__main__":
    practica3()
    practica2()
