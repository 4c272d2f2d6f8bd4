"""Time of ``grader similarity`` (code and written answers) over a generated batch of N submissions.

Each student's notebook is the Práctica 3 release filled as tests/similarity_variants.py does, cell by
cell from one of its four independent variants chosen at random, with the student's own variable
names (a random renaming) and written answers drawn word by word from the variants' vocabulary; a
few planted pairs are disguised copies (renamed, recommented, reformatted, cells reordered) and a
few copied an informe changing some words. The command runs end to end in a fresh process
(``--release`` given, as an instructor with the course folder would; ``--no-release`` releases again
in a temporary folder), and what it flagged is checked against the plants.

``--predictions`` adds what grading leaves of three classifiers per student (``work/<student>/
predictions.json`` on 5,000 held-out labels, generated as ``tests/similarity_variants.py`` does, no
model trained): the given CNN identical for most students (the prescribed recipe), the others
independent, and the code copies' improved models copies of their originals' (a tenth of the mistakes
fixed); the report then compares predictions too.

    .venv/bin/python -m bench.similarity --n 300 --reps 3 --out bench/results/cpu/similarity.json
    .venv/bin/python -m bench.similarity --n 300 --reps 3 --predictions --out bench/results/cpu/similarity_predictions.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CODE_COPIES = 5
TEXT_COPIES = 5
HELDOUT_ITEMS = 5000
PRESCRIBED_SHARE = 0.8   # students whose given CNN is the prescribed recipe's (identical predictions)
RENAMABLE = ("model", "modelo", "red", "m", "h", "z", "x", "entrada", "salida", "inputs", "outputs", "capas",
             "filtros", "muestras", "indices", "escalador", "limpias", "errores", "reconstruidas", "salida",
             "vectores", "caracteristicas", "out", "images", "img", "i", "n", "x_in", "x_out", "auto", "units",
             "fig", "ejes", "fila", "col", "imgs", "TAM", "X_hog", "y_hog", "psnr", "denoised", "body", "bloque")


NP_CALLS = ("clip", "mean", "std", "argmax", "sum", "max", "min", "round", "abs", "sqrt", "log1p", "median",
            "percentile", "cumsum", "sort", "unique", "reshape", "squeeze", "expand_dims", "concatenate")
KEYWORDS = ("axis", "keepdims", "dtype", "out", "where", "initial", "ddof", "decimals", "kind", "order")
OPERATORS = ("+", "-", "*", "/", "//", "**", "%")


def own_lines(rng: random.Random, count: int) -> list[str]:
    """Top-level statements of the student's own (checks, prints, intermediate values): every student
    writes some, and they are what makes two honest submissions differ beyond the assignment's code."""
    lines = []
    for _ in range(count):
        target, source = f"v{rng.randrange(1000)}", rng.choice(("x_train", "x_test", "y_train", "fashion_test"))
        call = f"np.{rng.choice(NP_CALLS)}({source}[:{rng.randrange(1, 500)}], {rng.choice(KEYWORDS)}={rng.randrange(5)})"
        shape = rng.choice((f"{target} = {call}", f"{target} = {call} {rng.choice(OPERATORS)} {rng.randrange(9)}",
                            f"print({call}.{rng.choice(('shape', 'dtype', 'size', 'ndim'))}, {rng.randrange(9)})",
                            f"assert {call} is not None, {target!r}"))
        lines.append(shape)
    return lines


def build_batch(released, n: int, seed: int = 0) -> tuple[dict[str, Any], list[tuple[str, str]], list[tuple[str, str]]]:
    """``n`` notebooks (student -> notebook), the planted code copies and the planted informe copies."""
    from tests import similarity_variants as v
    from tests import submissions as s

    rng = random.Random(seed)
    variants = [make() for make in v.VARIANTS.values()]
    vocabulary = sorted({w for pair in v.INFORMES.values() for text in pair for w in text.split()})
    gids = list(variants[0])
    notebooks: dict[str, Any] = {}
    fills_of: dict[str, dict[str, str]] = {}
    independent = n - CODE_COPIES - TEXT_COPIES
    for i in range(independent):
        fills = {gid: rng.choice(variants)[gid] for gid in gids if not gid.endswith("informe")}
        names = {name: f"{name}_{rng.randrange(10_000)}" for name in RENAMABLE if rng.random() < 0.5}
        fills = v.rename(fills, names) if names else fills
        fills = {gid: "\n".join([*own_lines(rng, rng.randint(1, 3)), code.rstrip("\n"), *own_lines(rng, rng.randint(1, 3))])
                 for gid, code in fills.items()}
        for gid in ("ej1_informe", "ej2_informe"):
            sentences = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(10, 22))).capitalize() + "."
                         for _ in range(rng.randint(3, 6))]
            fills[gid] = " ".join(sentences)
        student = f"s{i + 1:03d}"
        fills_of[student] = fills
        notebooks[student] = s.fill(released, fills)
    originals = sorted(fills_of)
    code_pairs, text_pairs = [], []
    for j in range(CODE_COPIES):
        original = originals[(j * 7) % len(originals)]
        student = f"c{j + 1:03d}"
        notebooks[student] = v.disguised_copy(released, fills_of[original], {"model": "red_copiada", "h": "capa_h"},
                                              seed=j)
        code_pairs.append(tuple(sorted((original, student))))
    for j in range(TEXT_COPIES):
        original = originals[(j * 7 + 3) % len(originals)]
        student = f"t{j + 1:03d}"
        words = fills_of[original]["ej1_informe"].split()
        for position in rng.sample(range(len(words)), k=max(1, len(words) // 12)):
            words[position] = rng.choice(vocabulary)
        fills = {gid: rng.choice(variants)[gid] for gid in gids if not gid.endswith("informe")}
        fills["ej1_informe"] = " ".join(words)
        fills["ej2_informe"] = "Sin comentarios adicionales sobre el segundo ejercicio."
        notebooks[student] = s.fill(released, fills)
        text_pairs.append(tuple(sorted((original, student))))
    return notebooks, code_pairs, text_pairs


def write_submissions_folder(folder: Path, notebooks: dict[str, Any]) -> Path:
    from grader.collect import Submission, write_submissions
    from tests import submissions as s

    subs = [Submission(student=student, display_name=student, submitted_at=None,
                       notebook=s.write(nb, folder / student / "practica3.ipynb"))
            for student, nb in notebooks.items()]
    write_submissions(folder, "practica3", subs)
    return folder


def write_predictions_folder(work: Path, students: list[str], code_pairs: list[tuple[str, str]],
                             seed: int = 0) -> None:
    """``work/<student>/predictions.json`` for every student (see the module's docstring)."""
    from tests import similarity_variants as v

    rng, labels, hard, confusion = v.heldout_labels(seed, HELDOUT_ITEMS)
    prescribed = v.independent_predictions(rng, labels, hard, confusion)
    predicted = {student: {"cnn_model": prescribed if rng.random() < PRESCRIBED_SHARE
                           else v.independent_predictions(rng, labels, hard, confusion),
                           "improved_model": v.independent_predictions(rng, labels, hard, confusion),
                           "svm_hog": v.independent_predictions(rng, labels, hard, confusion)}
                 for student in students}
    for a, b in code_pairs:
        original, copier = (a, b) if b.startswith("c") else (b, a)
        predicted[copier]["improved_model"] = v.copied_predictions(rng, predicted[original]["improved_model"], labels)
    for student, models in predicted.items():
        v.write_predictions(work, student, labels, models)


def measure(n: int, reps: int, with_release: bool, keep: Path | None = None,
            predictions: bool = False) -> dict[str, Any]:
    from bench.common import release, summarize

    work = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        released, _ = release(work / "course")
        release_path = work / "course" / "release" / "practica3" / "practica3.ipynb"
        notebooks, code_pairs, text_pairs = build_batch(released, n)
        subs = write_submissions_folder(work / "subs", notebooks)
        if predictions:   # where grader similarity looks by default: SUBMISSIONS/../work
            write_predictions_folder(work / "work", sorted(notebooks), code_pairs)
        grader = Path(sys.executable).parent / "grader"
        walls, data = [], None
        for rep in range(reps):
            out = work / f"out{rep}"
            argv = [str(grader), "similarity", "practica3", "--submissions", str(subs), "--out", str(out)]
            if with_release:
                argv += ["--release", str(release_path)]
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"grader similarity failed: {done.stderr[-2000:]}")
            data = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
        flagged = {(p["a"], p["b"]): p["reasons"] for p in data["pairs"] if p["flagged"]}
        planted = {*code_pairs, *text_pairs}
        if keep is not None:
            shutil.copytree(work / f"out{reps - 1}", keep, dirs_exist_ok=True)
        return {
            "submissions": len(notebooks), "reps": reps, "with_release": with_release, "wall_s": summarize(walls),
            "timing_last_run": data["timing"],
            "html_bytes": (work / f"out{reps - 1}" / "similarity.html").stat().st_size,
            "planted_code_copies": len(code_pairs), "planted_text_copies": len(text_pairs),
            "code_copies_flagged": sum("code" in flagged.get(p, []) for p in code_pairs),
            "prediction_copies_flagged": sum("predictions_agree" in flagged.get(p, []) for p in code_pairs)
            if predictions else None,
            "text_copies_flagged": sum("text" in flagged.get(p, []) for p in text_pairs),
            "flagged_pairs": len(flagged), "flagged_not_planted": sorted(f"{a}/{b}" for a, b in set(flagged) - planted),
            "baseline": data["baseline"], "common_cap": data["common_cap"], "predictions": predictions,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-release", action="store_true", help="Let the command release into a temporary folder.")
    parser.add_argument("--keep", type=Path, help="Copy the last report folder here.")
    parser.add_argument("--predictions", action="store_true",
                        help="Also give every student generated classifier predictions (work/<student>/).")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    from bench.common import environment, loadavg, write_json

    result = {"benchmark": "similarity", "environment": environment("bench.similarity", argv),
              "measurement": measure(options.n, options.reps, not options.no_release, options.keep,
                                     options.predictions)}
    result["environment"]["loadavg_end"] = loadavg()
    if options.out:
        write_json(options.out, result)
    print(json.dumps(result["measurement"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
