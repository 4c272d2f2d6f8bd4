"""Shared fixtures: the real datasets (offline copies), the released Práctica 3, light grading config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if "GRADER_DATA_DIR" not in os.environ and SHARED_DATASETS.is_dir():
    os.environ["GRADER_DATA_DIR"] = str(SHARED_DATASETS)
# The offline copies the tests check facts against: $GRADER_DATA_DIR (CI sets it), else the shared folder.
COURSE_DATA = Path(os.environ.get("GRADER_DATA_DIR") or SHARED_DATASETS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    parser.addoption("--reference-training", action="store_true",
                     help="also train the reference solutions on the full datasets (the figures of "
                          "reference_solutions/*/metrics.json and the thresholds derived from them)")


def pytest_collection_modifyitems(config, items):
    """Full reference trainings re-measure what ``grader reference train`` recorded (about 10 minutes);
    the default run covers the same code paths on a reduced training split."""
    if config.getoption("--reference-training"):
        return
    skip = pytest.mark.skip(reason="full reference training: run with --reference-training")
    for item in items:
        if "reference_training" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def practica3():
    from grader.config import load_assignment

    return load_assignment("practica3")


@pytest.fixture(scope="session")
def light_config(practica3):
    """Práctica 3 with thresholds for the light (1 epoch, small subsets) submissions of
    tests/submissions.py and smaller held-out sets; everything else is the real configuration."""
    checks = dict(practica3.checks)
    margins = {"ej1_precision_cnn": (0.06, 0.3), "ej1_svm_hog": (0.06, 0.3), "ej1_mejora": (0.05, 0.3),
               "ej2_denoising": (4.5, 7.5)}
    for name, (full, zero) in margins.items():
        threshold = checks[name].threshold.model_copy(update={"full_margin": full, "zero_margin": zero})
        checks[name] = checks[name].model_copy(update={"threshold": threshold})
    items = {"mnist": 2000, "fashion_noisy": 300}
    sets = {name: held.model_copy(update={"items": items[name]}) for name, held in practica3.heldout.sets.items()}
    heldout = practica3.heldout.model_copy(update={"sets": sets})
    return practica3.model_copy(update={"checks": checks, "heldout": heldout})


@pytest.fixture(scope="session")
def released(practica3, tmp_path_factory):
    """The student release of Práctica 3 and its gradebook (a real SQLite file)."""
    import nbformat

    from grader.release import release_assignment

    root = tmp_path_factory.mktemp("course")
    result = release_assignment(practica3, out_dir=root / "release", db_url=f"sqlite:///{root / 'gradebook.db'}")
    return nbformat.read(result.notebook, as_version=4), result.db_url
