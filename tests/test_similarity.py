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
from grader.similarity.render import MESSAGES
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


def test_message_catalogue_is_complete():
    assert set(MESSAGES["es"]) == set(MESSAGES["en"])
    root = Path(__file__).resolve().parents[1] / "grader"
    sources = [(root / "templates" / "similarity.html.j2").read_text(encoding="utf-8"),
               (root / "similarity" / "render.py").read_text(encoding="utf-8")]
    used = set()
    for source in sources:
        used |= set(re.findall(r"\bsay\(\s*[\"']([a-z_0-9]+)[\"']", source))
        used |= {f"{k}_{form}" for k in re.findall(r"\bsay\.plural\(\s*[\"']([a-z_]+)[\"']", source)
                 for form in ("one", "many")}
    reasons = {f"reason_{r}" for r in ("code", "text", "weights_identical", "weights_near",
                                       "no_notebook", "unreadable_notebook")}
    kinds = {f"kind_{k}" for k in ("code", "text")} | {f"{k}_summary" for k in ("code", "text")}
    assert used and (used | reasons | kinds) <= set(MESSAGES["es"]), sorted((used | reasons | kinds) - set(MESSAGES["es"]))


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

    measured = bench.measure(n=40, reps=1, with_release=True)
    assert measured["submissions"] == 40 and measured["wall_s"]["n"] == 1
    assert measured["code_copies_flagged"] == bench.CODE_COPIES and measured["text_copies_flagged"] == bench.TEXT_COPIES
    assert measured["flagged_not_planted"] == []
