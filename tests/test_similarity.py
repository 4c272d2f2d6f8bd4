"""The similarity report (grader/similarity/): disguised copies are flagged, independent solutions and
the bare release are not, the evidence is shown side by side, reviewed pairs are kept, and the page is
self-contained and renders in headless Chromium. Nothing is executed: notebooks are built from the
real Práctica 3 release the way tests/submissions.py fills it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from grader.cli import main
from grader.collect import Submission, write_submissions
from grader.similarity import fingerprint as fp
from grader.i18n import catalogue
from tests import similarity_variants as v
from tests import submissions as s
from tests.test_report import CHROMIUM, _chromium, assert_self_contained, assert_styled_screenshot

RENAMES = {"model": "red_neuronal", "inputs": "entrada", "outputs": "salida", "x": "capa", "denoised": "limpio"}
INFORME_CHANGES = {"Implementé": "He implementado", "sorprendentemente": "muy", "sietes": "cuatros",
                   "converge antes": "aprende antes"}
INDEPENDENT = ("ind-a", "ind-b", "ind-c", "ind-d")


def _with_answers(released, answers: dict[str, str]):
    """The bare release with only these cells replaced (the code stays the stubs)."""
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def _batch(released) -> dict[str, nbformat.NotebookNode]:
    nbs = {f"ind-{key}": s.fill(released, make()) for key, make in v.VARIANTS.items()}
    nbs["copia-a"] = v.disguised_copy(released, v.variant_a(), RENAMES)
    nbs["informe-b"] = _with_answers(released, {"ej1_informe": v.change_words(v.INFORMES["b"][0], INFORME_CHANGES)})
    nbs["vacio-1"] = v.boilerplate_only(released)
    nbs["vacio-2"] = v.boilerplate_only(released)
    return nbs


def _write_batch(folder: Path, nbs: dict[str, nbformat.NotebookNode]) -> Path:
    subs = []
    for student, nb in nbs.items():
        path = s.write(nb, folder / student / "practica3.ipynb")
        subs.append(Submission(student=student, display_name=student, notebook=path, submitted_at=None))
    write_submissions(folder, "practica3", subs)
    return folder


@pytest.fixture(scope="module")
def course(released, tmp_path_factory):
    nb, _ = released
    root = tmp_path_factory.mktemp("similarity")
    release_path = s.write(nb, root / "release" / "practica3" / "practica3.ipynb")
    submissions = _write_batch(root / "subs", _batch(nb))
    return root, submissions, release_path


@pytest.fixture(scope="module")
def report(course):
    root, submissions, release_path = course
    done = CliRunner().invoke(main, ["similarity", "practica3", "--submissions", str(submissions),
                                     "--release", str(release_path), "--out", str(root / "sim")])
    assert done.exit_code == 0, done.output
    data = json.loads((root / "sim" / "similarity.json").read_text(encoding="utf-8"))
    return data, root / "sim" / "similarity.html"


def _pair(data: dict, a: str, b: str) -> dict | None:
    a, b = sorted((a, b))
    return next((p for p in data["pairs"] if p["a"] == a and p["b"] == b), None)


def _flagged(data: dict) -> set[tuple[str, str]]:
    return {(p["a"], p["b"]) for p in data["pairs"] if p["flagged"]}


def test_normalised_tokens_ignore_names_comments_and_format():
    original = 'def build(n):\n    model = keras.Sequential([layers.Dense(n, activation="relu"),])\n    return model\n'
    disguised = ("def construir(unidades):  # mi función\n    # una red\n    red = keras.Sequential(\n"
                 "        [layers.Dense(unidades, activation='relu')]\n    )\n\n    return red\n")
    assert [t for t, _ in fp.normalise_code(original)] == [t for t, _ in fp.normalise_code(disguised)]
    # API names and keyword arguments are kept: a different call is different code
    assert fp.normalise_code("layers.Conv2D(8)") != fp.normalise_code("layers.Dense(8)")
    assert fp.normalise_words("¿Qué ÁRBOL, señor?") == ["que", "arbol", "senor"]
    # a cell Python cannot tokenize still gives tokens; IPython magics are dropped
    assert fp.normalise_code("%pip install x\ndef f(:\n  return 1")


def test_disguised_code_copy_is_flagged_with_passages_side_by_side(report):
    data, _ = report
    pair = _pair(data, "ind-a", "copia-a")
    assert pair["flagged"] and "code" in pair["reasons"]
    assert pair["code"]["score"] >= 0.9
    passages = pair["code"]["passages"]
    assert passages and all(p["a"]["source"] and p["b"]["source"] for p in passages)
    # the copy's side shows its own renamed text, the original's the original
    copy_side = "a" if pair["a"] == "copia-a" else "b"
    assert any("red_neuronal" in p[copy_side]["source"] for p in passages)
    assert data["pairs"][0]["flagged"]


def test_copied_informe_with_words_changed_is_flagged_with_the_sentences(report):
    data, _ = report
    pair = _pair(data, "ind-b", "informe-b")
    assert pair["flagged"] and pair["reasons"] == ["text"]
    assert pair["text"]["score"] >= 0.6
    sentences = pair["text"]["sentences"]
    assert any("HOG" in s["a"] and "HOG" in s["b"] for s in sentences)
    assert {s["part_a"] for s in sentences} == {"ej1_informe"}


def test_independent_solutions_and_the_bare_release_are_never_flagged(report):
    data, _ = report
    flagged = _flagged(data)
    assert flagged == {tuple(sorted(("ind-a", "copia-a"))), tuple(sorted(("ind-b", "informe-b")))}
    for a in INDEPENDENT:
        for b in INDEPENDENT:
            if a < b:
                pair = _pair(data, a, b)
                assert pair is None or (not pair["flagged"] and pair["code"]["score"] < 0.35), pair
    assert not any("vacio" in name for pair in flagged for name in pair)
    vacio = _pair(data, "vacio-1", "vacio-2")
    assert vacio is None or (vacio["code"]["score"] == 0 and vacio["text"]["score"] == 0)
    assert data["baseline"]["code"]["pairs"] == 28 and data["baseline"]["code"]["median"] < 0.2
    assert [c["members"] for c in data["clusters"]] == [["copia-a", "ind-a"], ["ind-b", "informe-b"]]


def test_boilerplate_alone_is_never_flagged_even_in_a_batch_of_it(released, tmp_path):
    nb, _ = released
    release_path = s.write(nb, tmp_path / "release.ipynb")
    nbs = {f"vacio-{i}": v.boilerplate_only(nb) for i in range(4)}
    nbs["ind-a"] = s.fill(nb, v.variant_a())
    from grader.config import load_assignment
    from grader.similarity import similarity_report

    run = similarity_report(load_assignment("practica3"), _write_batch(tmp_path / "subs", nbs), tmp_path / "out",
                            release=release_path)
    assert run.data["flagged_pairs"] == 0 and run.data["clusters"] == []
    assert run.data["baseline"]["code"]["max"] == 0 and run.data["baseline"]["text"]["max"] == 0


def test_report_page_is_self_contained_spanish_and_english(report, course, tmp_path):
    data, html = report
    page = html.read_text(encoding="utf-8")
    assert_self_contained(page)
    soup = BeautifulSoup(page, "html.parser")
    assert soup.html["lang"] == "es" and "Informe de similitud" in soup.h1.text
    assert "no prueba una copia" in soup.text
    flagged_rows = soup.select("table.pairs-table tr.flagged")
    assert {(r["data-a"], r["data-b"]) for r in flagged_rows} == _flagged(data)
    assert soup.select("article.pair .side.code-passage pre") and soup.select("article.pair .side.text-sentence")

    from grader.similarity.render import write_html

    english = write_html(data, tmp_path / "en.html", lang="en").read_text(encoding="utf-8")
    assert_self_contained(english)
    assert "unusually similar" in english and "Informe de similitud" not in english


def test_student_text_is_escaped(released, tmp_path):
    nb, _ = released
    evil = "<script>alert(1)</script> " + v.INFORMES["c"][0]
    nbs = {"x<b>1": _with_answers(nb, {"ej1_informe": evil}), "y2": _with_answers(nb, {"ej1_informe": evil})}
    from grader.similarity import compare, fingerprint_students
    from grader.similarity.render import render_html

    students = fingerprint_students({k: json.loads(nbformat.writes(n)) for k, n in nbs.items()},
                                    json.loads(nbformat.writes(nb)), ["ej1_informe", "ej2_informe"])
    data = {"assignment": "practica3", "generated_at": "now", "grader_version": "0", "compared": 2, "skipped": [],
            **compare(students)}
    page = render_html(data)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert_self_contained(page)


def test_reviewed_pairs_are_kept_and_shown(course, tmp_path):
    _, submissions, release_path = course
    out = tmp_path / "sim"
    args = ["similarity", "practica3", "--submissions", str(submissions), "--release", str(release_path),
            "--out", str(out), "--lang", "en"]
    done = CliRunner().invoke(main, [*args, "--reviewed", "copia-a,ind-a", "--note", "talked to both"])
    assert done.exit_code == 0, done.output
    assert json.loads((out / "reviewed.json").read_text())["reviewed"][0]["students"] == ["copia-a", "ind-a"]
    done = CliRunner().invoke(main, args)   # the next run reads the file
    assert done.exit_code == 0, done.output
    data = json.loads((out / "similarity.json").read_text())
    pair = _pair(data, "ind-a", "copia-a")
    assert pair["flagged"] and pair["reviewed"]["note"] == "talked to both"
    assert not _pair(data, "ind-b", "informe-b")["reviewed"]
    soup = BeautifulSoup((out / "similarity.html").read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article", attrs={"data-a": "copia-a", "data-b": "ind-a"})
    assert "reviewed" in article["class"] and "talked to both" in article.text
    bad = CliRunner().invoke(main, [*args, "--reviewed", "only-one"])
    assert bad.exit_code == 2


def test_every_message_key_the_page_uses_is_in_the_catalogue():
    keys = {key.removeprefix("similarity.") for key in catalogue("es").keys if key.startswith("similarity.")}
    root = Path(__file__).resolve().parents[1] / "grader"
    sources = [(root / "templates" / "similarity.html.j2").read_text(encoding="utf-8"),
               (root / "similarity" / "render.py").read_text(encoding="utf-8")]
    used = set()
    for source in sources:
        used |= set(re.findall(r"\bsay(?:\.plural)?\(\s*[\"']([a-z_0-9]+)[\"']", source))
    reasons = {f"reason_{r}" for r in ("code", "text", "weights_identical", "weights_near", "recipe_identical",
                                       "predictions_agree", "no_notebook", "unreadable_notebook")}
    reasons |= {f"note_{r}" for r in ("unreadable", "other_heldout")}
    kinds = {f"kind_{k}" for k in ("code", "text")} | {f"{k}_summary" for k in ("code", "text")}
    assert used and (used | reasons | kinds) <= keys, sorted((used | reasons | kinds) - keys)


def _save_model(path: Path, seed: int, other_model_first: bool = False) -> None:
    import keras

    if other_model_first:  # Keras then numbers the layers differently (conv2d_1, ...)
        keras.layers.Conv2D(1, 1)
        keras.layers.Dense(1)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def test_same_keras_weights_handed_in_twice_are_flagged(released, tmp_path):
    import shutil

    from grader.config import load_assignment
    from grader.similarity import similarity_report
    from grader.similarity.models import NEAR_DISTANCE, model_fingerprint, read_weights

    nb, _ = released
    release_path = s.write(nb, tmp_path / "release.ipynb")
    names = ["m1", "m2", "m3", "m4", "m5"]
    subs = _write_batch(tmp_path / "subs", {n: s.fill(nb, v.VARIANTS["abcda"[i]]()) for i, n in enumerate(names)})
    work = tmp_path / "work"
    _save_model(work / "m1" / "artifacts" / "improved_model.keras", seed=1)
    (work / "m2" / "artifacts").mkdir(parents=True)
    shutil.copy(work / "m1" / "artifacts" / "improved_model.keras", work / "m2" / "artifacts" / "improved_model.keras")
    _save_model(work / "m3" / "artifacts" / "improved_model.keras", seed=3)
    _save_model(work / "m4" / "artifacts" / "improved_model.keras", seed=4)
    # the same weights saved under other layer names are still the same weights
    _save_model(work / "m5" / "artifacts" / "improved_model.keras", seed=1, other_model_first=True)
    weights = read_weights(work / "m1" / "artifacts" / "improved_model.keras")
    assert len(weights) == 4
    nudged = [w + 1e-5 * np.sign(w) for w in weights]
    assert model_fingerprint(nudged)["hash"] != model_fingerprint(weights)["hash"]
    distance = np.linalg.norm(model_fingerprint(nudged)["sketch"] - model_fingerprint(weights)["sketch"])
    assert distance / np.linalg.norm(model_fingerprint(weights)["sketch"]) < NEAR_DISTANCE

    run = similarity_report(load_assignment("practica3"), subs, tmp_path / "out", release=release_path,
                            work_dir=work)
    pair = _pair(run.data, "m1", "m2")
    assert pair["flagged"] and pair["reasons"] == ["weights_identical"]
    assert pair["models"]["identical"] == ["improved_model"]
    # m5's code is m1's (a copy of variant a): flagged for the code and the weights
    assert _flagged(run.data) == {("m1", "m2"), ("m1", "m5"), ("m2", "m5")}
    assert set(_pair(run.data, "m1", "m5")["reasons"]) == {"code", "text", "weights_identical"}
    assert run.data["clusters"][0]["members"] == ["m1", "m2", "m5"]
    per_model = run.data["baseline"]["models"]["per_model"]["improved_model"]
    assert per_model["students"] == 5 and per_model["distinct"] == 3 and per_model["largest_identical_group"] == 3
    page = run.html_path.read_text(encoding="utf-8")
    assert "pesos idénticos" in page.lower()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (CI installs the 'chromium' package)")
def test_similarity_report_in_headless_chromium(report, tmp_path):
    _, html = report
    shot = tmp_path / "similarity.png"
    console = _chromium(html, shot, tmp_path / "profile")
    assert console == [], console
    assert_styled_screenshot(shot)


def test_bench_similarity_runs_on_a_small_batch():
    from bench import similarity as bench

    measured = bench.measure(n=40, reps=1, with_release=True, predictions=True)
    assert measured["submissions"] == 40 and measured["wall_s"]["n"] == 1
    assert measured["code_copies_flagged"] == bench.CODE_COPIES and measured["text_copies_flagged"] == bench.TEXT_COPIES
    assert measured["prediction_copies_flagged"] == bench.CODE_COPIES
    assert measured["flagged_not_planted"] == []


# ------------------------------------------------------------------------------ predictions and recipes
# Generated artifacts, nothing trained: predictions as the scorer keeps them (predictions.json beside
# the held-out answers) and .keras zips with only the config.json and weights the report reads.

def test_shared_mistakes_are_flagged_and_independent_models_of_equal_accuracy_are_not(tmp_path):
    from grader.similarity import Options
    from grader.similarity.predictions import compare_predictions, pairwise_error_agreement

    rng, labels, hard, confusion = v.heldout_labels(0)
    predicted = {f"p{i}": v.independent_predictions(rng, labels, hard, confusion) for i in range(10)}
    predicted["copia"] = v.copied_predictions(rng, predicted["p0"], labels)
    predicted["roto-1"] = np.zeros_like(labels)          # two broken models agree on everything
    predicted["roto-2"] = np.zeros_like(labels)
    for student, p in predicted.items():
        v.write_predictions(tmp_path, student, labels, {"improved_model": p})
    (tmp_path / "ilegible").mkdir()
    (tmp_path / "ilegible" / "predictions.json").write_text("{not json", encoding="utf-8")
    students = [*predicted, "ilegible", "sin-trabajo"]
    accuracy = {s: float(np.mean(p == labels)) for s, p in predicted.items()}
    assert all(0.96 < accuracy[s] < 0.99 for s in students[:11])   # equal accuracy: agreement alone tells them apart

    reference = {"heldout": {"set": "mnist", "seed": 7, "items": len(labels)},
                 "references": {"mnist_cnn": {"pairs": 10, "same_wrong_fraction": {"mean": 0.2, "max": 0.3}}}}
    result = compare_predictions(tmp_path, students, Options(), cap=5, heldout_seed=7, reference=reference)
    assert set(result["pairs"]) == {("copia", "p0")}
    evidence = result["pairs"][("copia", "p0")]
    assert evidence["reasons"] == ["predictions_agree"] and evidence["flagged"]
    shared = evidence["predictions"][0]
    assert shared["model"] == "improved_model" and shared["score"] >= 0.7 and shared["same_wrong"] >= 10
    assert shared["threshold"] >= 0.3 + Options().prediction_margin   # never below the reference's max + margin
    row = result["baseline"]["per_model"]["improved_model"]
    assert row["reference"]["max"] == 0.3 and row["compared"] == 11 and row["students"] == 13
    assert row["batch"]["median"] < 0.2 < shared["score"] - 0.5    # independent pairs share few mistakes
    assert result["baseline"]["notes"] == [{"student": "ilegible", "model": "predictions.json", "reason": "unreadable"}]

    # a reference measured on other held-out items is not used; the batch's own baseline still flags the copy
    elsewhere = {**reference, "heldout": {"set": "mnist", "seed": 7, "items": 5000}}
    other = compare_predictions(tmp_path, students, Options(), cap=5, heldout_seed=7, reference=elsewhere)
    assert other["baseline"]["per_model"]["improved_model"]["reference"] is None
    assert set(other["pairs"]) == {("copia", "p0")}

    # the matrices agree with counting one pair by hand
    stats = pairwise_error_agreement(np.stack([predicted["p0"], predicted["copia"]]), labels)
    wrong_a, wrong_b = predicted["p0"] != labels, predicted["copia"] != labels
    assert stats["either_wrong"][0, 1] == np.count_nonzero(wrong_a | wrong_b)
    assert stats["same_wrong"][0, 1] == np.count_nonzero(wrong_a & wrong_b & (predicted["p0"] == predicted["copia"]))


def test_identical_predictions_of_most_of_the_batch_count_for_nobody(tmp_path):
    """The given CNN trained with the prescribed seed: the same predictions for many honest students."""
    from grader.similarity import Options
    from grader.similarity.predictions import compare_predictions

    rng, labels, hard, confusion = v.heldout_labels(1)
    prescribed = v.independent_predictions(rng, labels, hard, confusion)
    students = [f"s{i}" for i in range(9)]
    for i, student in enumerate(students):
        own = prescribed if i < 7 else v.independent_predictions(rng, labels, hard, confusion)
        v.write_predictions(tmp_path, student, labels, {"cnn_model": own})
    result = compare_predictions(tmp_path, students, Options(), cap=5, heldout_seed=0, reference=None)
    assert result["pairs"] == {}
    row = result["baseline"]["per_model"]["cnn_model"]
    assert row["common_identical_students"] == 7 and row["batch"]["pairs"] == 36 - 21


def test_class_predictions_keep_only_classifiers_of_labelled_heldout_sets():
    from grader.config import load_assignment
    from grader.score import class_predictions

    config = load_assignment("practica3")
    labels = np.array([3, 1, 4, 1])
    scores = np.eye(10)[[3, 1, 4, 7]]
    outputs = {"cnn_model": scores, "svm_hog": np.array([3, 1, 1, 1]), "denoiser": np.zeros((4, 28, 28, 1)),
               "improved_model": np.full((4, 10), np.nan), "hog_features": np.zeros((3, 10))}
    found = class_predictions(config, outputs, {"mnist_labels": labels, "fashion_clean": np.zeros((4, 28, 28, 1))})
    assert found == {"cnn_model": {"input": "mnist", "labels": "mnist_labels", "predicted": [3, 1, 4, 7]},
                     "svm_hog": {"input": "mnist", "labels": "mnist_labels", "predicted": [3, 1, 1, 1]}}
    json.dumps(found)


def _keras_zip(path: Path, layers: list[tuple[str, dict]], *, learning_rate: float = 0.001, epochs: int = 3,
               history: str | None = None, functional: bool = False, weights_seed: int = 0) -> None:
    """A .keras file as the similarity report reads it: config.json and model.weights.h5 (no Keras)."""
    import io
    import zipfile

    import h5py

    entries = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}}]
    for number, (kind, settings) in enumerate(layers):
        entry = {"module": "keras.layers", "class_name": kind, "config": {"name": f"layer_{number}", **settings}}
        if functional:
            entry.update(name=f"layer_{number}", inbound_nodes=[{"args": [], "kwargs": {}}])
        entries.append(entry)
    config = {"module": "keras", "class_name": "Functional" if functional else "Sequential",
              "config": {"name": "model", "layers": entries},
              "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                                               "config": {"name": "adam", "learning_rate": learning_rate}},
                                 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.random.default_rng(weights_seed).random((4, 3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())
    if history:
        logged = {"loss": [1.0] * epochs, "accuracy": [0.9] * epochs, "val_loss": [1.0] * epochs}
        (path.parent / f"{history}.history.json").write_text(json.dumps(logged), encoding="utf-8")


GIVEN_CNN = [("Conv2D", {"filters": 32, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}),
             ("MaxPooling2D", {"pool_size": [2, 2]}), ("Flatten", {}),
             ("Dense", {"units": 10, "activation": "softmax"})]


def _improved(filters: int) -> list[tuple[str, dict]]:
    return [("Conv2D", {"filters": filters, "kernel_size": [3, 3], "activation": "relu"}),
            ("BatchNormalization", {}), ("Dropout", {"rate": 0.25}), ("Flatten", {}),
            ("Dense", {"units": 10, "activation": "softmax"})]


def _recipes_batch(work: Path, students: list[str], shared: tuple[str, str]) -> None:
    """Everybody trains the given CNN alike; the improved models differ, except the ``shared`` pair's
    (one written as a functional model, one as a Sequential one) and a third student with the same
    layers but another learning rate."""
    for i, student in enumerate(students):
        artifacts = work / student / "artifacts"
        _keras_zip(artifacts / "cnn_model.keras", GIVEN_CNN, history="cnn_history", weights_seed=100 + i)
        recipe = {"learning_rate": 0.001, "epochs": 3}
        filters = 8 + 4 * i
        if student in shared:
            filters, recipe = 96, {"learning_rate": 0.0005, "epochs": 7}
        elif i == len(students) - 1:
            filters, recipe = 96, {"learning_rate": 0.002, "epochs": 7}
        _keras_zip(artifacts / "improved_model.keras", _improved(filters), history="improved_history",
                   functional=student == shared[1], weights_seed=i, **recipe)


def test_rare_architecture_and_recipe_is_flagged_the_prescribed_one_is_not(tmp_path):
    from grader.config import load_assignment
    from grader.similarity import Options
    from grader.similarity.recipes import compare_recipes, histories_of

    contract = dict(load_assignment("practica3").contract)
    assert histories_of(contract) == {"cnn_model": "cnn_history", "improved_model": "improved_history",
                                      "denoiser": "denoiser_history"}
    students = [f"r{i}" for i in range(8)]
    _recipes_batch(tmp_path, students, ("r2", "r5"))
    (tmp_path / "r3" / "artifacts" / "improved_model.keras").write_bytes(b"PK not a zip")
    result = compare_recipes(tmp_path, students, contract, Options(), cap=5)
    assert set(result["pairs"]) == {("r2", "r5")}
    evidence = result["pairs"][("r2", "r5")]["recipe"]
    assert evidence == [{"model": "improved_model", "holders": 2, "students": 7, "layers": 5,
                         "optimizer": "adam (learning_rate=0.0005)", "loss": "sparse_categorical_crossentropy",
                         "epochs": 7}]
    given = result["baseline"]["per_model"]["cnn_model"]
    assert given["common_architecture_students"] == 8 and given["recipes"] == 1
    assert result["baseline"]["notes"] == [{"student": "r3", "model": "improved_model", "reason": "unreadable"}]


def test_report_shows_shared_mistakes_and_recipes_with_their_baselines(released, tmp_path):
    from grader.config import load_assignment
    from grader.similarity import similarity_report
    from grader.similarity.render import write_html

    nb, _ = released
    release_path = s.write(nb, tmp_path / "release.ipynb")
    students = [f"e{i}" for i in range(10)]
    subs = _write_batch(tmp_path / "subs", {student: v.boilerplate_only(nb) for student in students})
    work = tmp_path / "work"
    rng, labels, hard, confusion = v.heldout_labels(2)
    prescribed = v.independent_predictions(rng, labels, hard, confusion)
    improved = {student: v.independent_predictions(rng, labels, hard, confusion) for student in students}
    improved["e2"] = v.copied_predictions(rng, improved["e1"], labels)
    for i, student in enumerate(students):
        cnn = prescribed if i < 7 else v.independent_predictions(rng, labels, hard, confusion)
        v.write_predictions(work, student, labels, {"cnn_model": cnn, "improved_model": improved[student]})
    (work / "e9" / "predictions.json").write_text("[1, 2", encoding="utf-8")
    _recipes_batch(work, students, ("e3", "e4"))

    run = similarity_report(load_assignment("practica3"), subs, tmp_path / "out", release=release_path, work_dir=work)
    assert _flagged(run.data) == {("e1", "e2"), ("e3", "e4")}
    assert _pair(run.data, "e1", "e2")["reasons"] == ["predictions_agree"]
    assert _pair(run.data, "e3", "e4")["reasons"] == ["recipe_identical"]
    shared = _pair(run.data, "e1", "e2")["models"]["predictions"][0]
    assert shared["model"] == "improved_model"
    assert set(run.data["baseline"]["predictions"]["per_model"]) == {"cnn_model", "improved_model"}
    assert run.data["baseline"]["recipes"]["per_model"]["cnn_model"]["common_architecture_students"] == 10

    soup = BeautifulSoup(run.html_path.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article", attrs={"data-a": "e1", "data-b": "e2"})
    text = " ".join(article.select_one("ul.model-evidence").text.split())
    assert f"misma respuesta errónea en {shared['same_wrong']}" in text and "improved_model" in text
    recipe = soup.find("article", attrs={"data-a": "e3", "data-b": "e4"}).select_one("ul.model-evidence")
    recipe = " ".join(recipe.text.split())
    assert "la misma arquitectura (5 capas)" in recipe and "7 épocas" in recipe and "2 de 10" in recipe
    assert len(soup.select("ul.predictions-baseline li")) == 2
    assert "predicciones idénticas" in soup.select_one("ul.predictions-baseline").text
    assert "e9: predictions.json (ilegible)" in soup.select_one("ul.model-notes").text
    row = soup.find("tr", attrs={"data-a": "e1", "data-b": "e2"})
    assert "mismos errores" in row.text

    english = write_html(run.data, tmp_path / "en.html", lang="en").read_text(encoding="utf-8")
    assert_self_contained(english)
    assert "same wrong answer on" in english and "same architecture and recipe" in english
