"""Which submissions of a batch are unusually similar: code, written answers and trained models.

``grader similarity ASSIGNMENT --submissions DIR`` reads what ``grader collect`` wrote
(``DIR/<student>/<assignment>.ipynb`` + ``DIR/submissions.json``) and the student release (``--release
PATH``, else released into a temporary folder with :func:`grader.release.release_assignment`), and
writes ``similarity.json`` (keys and numbers) and ``similarity.html`` (sentences in Spanish or English,
:mod:`grader.similarity.render`) to ``--out`` (default ``DIR/../similarity``).

Three kinds of evidence, each scored per pair of students and judged against the batch itself:

- ``code`` (:mod:`.fingerprint`): winnowed k-grams of normalised tokens of student-written code;
  the release's lines and k-grams never count. Score: shared fingerprints over the smaller
  student's fingerprints.
- ``text``: word 3-gram shingles of the manual parts' markdown answers (``[manual.*] grade_id``),
  after case, accents and punctuation are normalised. Same score.
- ``models`` (when the graded work folders exist, ``<work>/<student>/``): per model name, the same
  weight arrays (content hash) or nearly the same ones (:mod:`.models`); the same architecture plus
  training recipe, rare in the batch (:mod:`.recipes`); classifiers sharing their wrong answers on
  the held-out set far beyond independent trainings and the batch (:mod:`.predictions`). Missing or
  damaged artifacts leave that student's model evidence out, with a note.

A fingerprint (or a weight hash) that more than ``max(common_min, common_fraction * N)`` students
share is what the task makes everybody write (``model.compile(optimizer="adam", ...)``, the given
CNN trained with the prescribed seed) and counts for nobody, as in MOSS. The baseline of a kind is
every pair's score: its median, MAD and 95th/99th percentiles; a pair is flagged when its score is at
least ``max(floor, median + k · 1.4826 · MAD)`` and enough fingerprints are shared. A flag means
"unusually similar within this batch", for a person to look at; never "copied".

``reviewed.json`` beside the report (``{"reviewed": [{"students": [a, b], "note": .., "at": ..}]}``,
written by ``--reviewed A,B``) is read by every run and shown on the pairs it names.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import GraderError
from grader import i18n
from grader.records import write_json_atomic
from grader.report.text import assignment_title
from grader.similarity import fingerprint as fp

if TYPE_CHECKING:
    from grader.config import AssignmentConfig

REPORT_JSON = "similarity.json"
REPORT_HTML = "similarity.html"
REVIEWED_FILE = "reviewed.json"
KINDS = ("code", "text")
MODEL_KINDS = ("recipes", "predictions")   # model evidence with a baseline of its own
MODEL_EVIDENCE = ("identical", "near", "common_identical", "recipe", "predictions")


@dataclass(frozen=True)
class Options:
    k_mad: float = 5.0              # flag beyond median + k · 1.4826 · MAD ...
    code_floor: float = 0.5         # ... and never below these scores
    text_floor: float = 0.5
    min_shared_code: int = 5        # fingerprints shared, at least
    min_shared_text: int = 4        # shingles shared, at least
    min_denominator: int = 10       # a nearly empty submission is not "100 % contained" in another
    common_fraction: float = 0.1    # a fingerprint more than max(common_min, fraction · N) students share counts for nobody
    common_min: int = 5
    top_pairs: int = 30             # unflagged pairs listed (with evidence) for context
    recipe_group_max: int = 3       # an architecture + recipe shared by at most this many students is evidence
    prediction_margin: float = 0.1  # same wrong answers: flag from max(reference, batch threshold) + margin ...
    prediction_floor: float = 0.5   # ... and never below this fraction ...
    min_shared_errors: int = 10     # ... with at least this many images both get wrong the same way
    min_prediction_accuracy: float = 0.5  # a model right on fewer images is not compared
    passages: int = 10              # code passages shown per pair


@dataclass
class Student:
    student: str
    code: fp.CodeFingerprint
    text: fp.TextFingerprint
    cells: list[str]                # every cell's source, for the evidence


# ------------------------------------------------------------------------------ inputs

def _read_json_notebook(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not an nbformat 4 notebook")  # noqa: TRY004 - caught with JSON errors
    return data


def released_notebook(config: AssignmentConfig, release: Path | None = None) -> dict:
    """The student release as JSON: ``release`` (a notebook, or a folder holding ``<assignment>/<nb>.ipynb``
    or ``<nb>.ipynb``), else released into a temporary folder (its gradebook is thrown away too)."""
    if release is not None:
        release = Path(release)
        name = f"{Path(config.source_notebook).stem}.ipynb"   # nbgrader's notebook id, as grader.release names it
        candidates = [release] if release.is_file() else [release / config.name / name, release / name]
        for path in candidates:
            if path.is_file():
                try:
                    return _read_json_notebook(path)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise GraderError(f"{path}: not a readable notebook ({exc}); fix: pass the notebook "
                                      "'grader release' wrote") from None
        raise GraderError(f"{release}: no released notebook there (looked for "
                          f"{', '.join(str(c) for c in candidates)}); fix: pass the file 'grader release' wrote")
    from grader.release import (
        release_assignment,  # nbgrader: imported only when releasing again
    )

    with tempfile.TemporaryDirectory(prefix="grader-similarity-") as folder:
        result = release_assignment(config, Path(folder) / "release", f"sqlite:///{Path(folder) / 'gradebook.db'}")
        return _read_json_notebook(result.notebook)


def _locked_ids(released: dict) -> frozenset[str]:
    ids = set()
    for cell in released.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("locked") and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return frozenset(ids)


def fingerprint_students(notebooks: dict[str, dict], released: dict, answer_ids: list[str]) -> list[Student]:
    boilerplate = fp.boilerplate_lines(released)
    locked = _locked_ids(released)
    stub = fp.released_text_hashes(released, answer_ids)
    students = []
    for name, nb in notebooks.items():
        code = fp.code_fingerprint(fp.student_code_tokens(nb, boilerplate, locked))
        students.append(Student(name, code, fp.text_fingerprint(nb, answer_ids, stub),
                                [fp.cell_source(c) for c in nb.get("cells", [])]))
    return students


# ------------------------------------------------------------------------------ comparison

def common_cap(options: Options, students: int) -> int:
    """More holders than this, and a fingerprint (or weight hash) is what everybody writes: it counts for nobody."""
    return max(options.common_min, math.ceil(options.common_fraction * students))


def _pair_counts(sets: list[frozenset[int]], cap: int) -> tuple[dict[tuple[int, int], int], list[int], int]:
    """Shared non-common fingerprints per pair (only pairs sharing one), each set's non-common size,
    and how many fingerprints were common (held by more than ``cap`` students)."""
    postings: dict[int, list[int]] = defaultdict(list)
    for index, hashes in enumerate(sets):
        for h in hashes:
            postings[h].append(index)
    common = {h for h, holders in postings.items() if len(holders) > cap}
    sizes = [len(hashes - common) if common else len(hashes) for hashes in sets]
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for h, holders in postings.items():
        if h in common or len(holders) < 2:
            continue
        for x in range(len(holders)):
            for y in range(x + 1, len(holders)):
                counts[(holders[x], holders[y])] += 1
    return counts, sizes, len(common)


def batch_baseline(scores: dict[tuple[int, int], float], n_pairs: int, floor: float, k: float) -> dict[str, Any]:
    """Median, MAD, p95/p99 and max over *all* pairs (those sharing nothing score 0) and the threshold."""
    import numpy as np

    values = np.zeros(n_pairs, dtype="float64")
    values[:len(scores)] = list(scores.values())
    if n_pairs == 0:
        return {"pairs": 0, "median": 0.0, "mad": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "threshold": floor,
                "floor": floor, "k": k}
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    threshold = max(floor, median + k * 1.4826 * mad)
    return {"pairs": n_pairs, "median": round(median, 4), "mad": round(mad, 4),
            "p95": round(float(np.quantile(values, 0.95)), 4), "p99": round(float(np.quantile(values, 0.99)), 4),
            "max": round(float(values.max()), 4), "threshold": round(threshold, 4), "floor": floor, "k": k}


def _score_kind(sets: list[frozenset[int]], cap: int, options: Options, floor: float, min_shared: int):
    counts, sizes, common = _pair_counts(sets, cap)
    scores = {pair: shared / max(min(sizes[pair[0]], sizes[pair[1]]), options.min_denominator)
              for pair, shared in counts.items()}
    n = len(sets)
    baseline = batch_baseline(scores, n * (n - 1) // 2, floor, options.k_mad)
    baseline["common_fingerprints"] = common
    flagged = {pair for pair, score in scores.items()
               if score >= baseline["threshold"] and counts[pair] >= min_shared}
    return counts, sizes, scores, baseline, flagged


def _code_passages(a: Student, b: Student, ignore: frozenset[int], limit: int) -> list[dict[str, Any]]:
    """Matching passages: runs of tokens covered by shared fingerprints, each with the other side's best run."""
    shared = (a.code.hashes & b.code.hashes) - ignore
    if not shared:
        return []
    k = fp.CODE_K

    def runs(student: Student) -> tuple[list[tuple[int, int]], list[int]]:
        covered = [False] * len(student.code.tokens)
        for h in shared:
            for start in student.code.positions[h]:
                for i in range(start, min(start + k, len(covered))):
                    covered[i] = True
        spans, owner, current = [], [-1] * len(covered), None
        tokens = student.code.tokens
        for i, hit in enumerate(covered):
            if hit and current is not None and tokens[i].cell == tokens[current[0]].cell and current[1] == i - 1:
                current = (current[0], i)
            elif hit:
                if current is not None:
                    spans.append(current)
                current = (i, i)
            else:
                if current is not None:
                    spans.append(current)
                current = None
            if hit:
                owner[i] = len(spans)
        if current is not None:
            spans.append(current)
        return spans, owner

    spans_a, owner_a = runs(a)
    spans_b, owner_b = runs(b)
    votes: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for h in shared:
        for pa in a.code.positions[h]:
            for pb in b.code.positions[h]:
                votes[owner_a[pa]][owner_b[pb]] += 1

    def excerpt(student: Student, span: tuple[int, int]) -> dict[str, Any]:
        first, last = student.code.tokens[span[0]], student.code.tokens[span[1]]
        lines = student.cells[first.cell].split("\n")[first.line - 1:last.line]
        return {"cell": first.cell, "first_line": first.line, "last_line": last.line, "source": "\n".join(lines)}

    passages = []
    for ra, choices in votes.items():
        rb = max(choices, key=lambda r: (choices[r], -r))
        span_a, span_b = spans_a[ra], spans_b[rb]
        passages.append({"tokens": span_a[1] - span_a[0] + 1, "fingerprints": choices[rb],
                         "a": excerpt(a, span_a), "b": excerpt(b, span_b)})
    passages.sort(key=lambda p: (-p["tokens"], p["a"]["cell"], p["a"]["first_line"]))
    return passages[:limit]


class _Clusters:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        self.parent[self.find(x)] = self.find(y)


def compare(students: list[Student], options: Options = Options(), models: dict[str, Any] | None = None,
            reviewed: dict[tuple[str, str], dict] | None = None) -> dict[str, Any]:
    """The ranked pairs, clusters and baselines of a batch (the body of ``similarity.json``)."""
    n = len(students)
    cap = common_cap(options, n)
    code_sets = [s.code.hashes for s in students]
    text_sets = [s.text.hashes for s in students]
    kinds = {
        "code": _score_kind(code_sets, cap, options, options.code_floor, options.min_shared_code),
        "text": _score_kind(text_sets, cap, options, options.text_floor, options.min_shared_text),
    }
    common = {"code": _common_hashes(code_sets, cap), "text": _common_hashes(text_sets, cap)}
    index = {s.student: i for i, s in enumerate(students)}
    model_pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for (name_a, name_b), evidence in (models or {}).get("pairs", {}).items():
        if name_a in index and name_b in index:
            pair = tuple(sorted((index[name_a], index[name_b])))
            model_pairs[pair] = evidence

    def best(pair: tuple[int, int]) -> float:
        return max([kinds[kind][2].get(pair, 0.0) for kind in KINDS] + [1.0 if pair in model_pairs else 0.0])

    flagged = set().union(*(kinds[kind][4] for kind in KINDS), {p for p, e in model_pairs.items() if e["flagged"]})
    candidates = set(flagged)
    others = sorted((set(kinds["code"][2]) | set(kinds["text"][2])) - flagged, key=lambda p: -best(p))
    candidates.update(others[:options.top_pairs])
    candidates.update(model_pairs)

    pairs = []
    for pair in candidates:
        a, b = students[pair[0]], students[pair[1]]
        if a.student > b.student:
            a, b, swap = b, a, True
        else:
            swap = False
        record: dict[str, Any] = {"a": a.student, "b": b.student, "flagged": pair in flagged, "reasons": []}
        for kind in KINDS:
            counts, sizes, scores, _, kind_flagged = kinds[kind]
            size_a, size_b = sizes[pair[0]], sizes[pair[1]]
            if swap:
                size_a, size_b = size_b, size_a
            entry = {"score": round(scores.get(pair, 0.0), 4), "shared": counts.get(pair, 0),
                     "fingerprints_a": size_a, "fingerprints_b": size_b, "flagged": pair in kind_flagged}
            if pair in kind_flagged:
                record["reasons"].append(kind)
            record[kind] = entry
        record["code"]["passages"] = _code_passages(a, b, common["code"], options.passages)
        record["text"]["sentences"] = fp.matching_sentences(a.text, b.text, common["text"])
        if pair in model_pairs:
            record["models"] = model_pairs[pair]
            if model_pairs[pair]["flagged"]:
                record["reasons"].extend(model_pairs[pair]["reasons"])
        record["reviewed"] = (reviewed or {}).get((a.student, b.student))
        record["rank_score"] = round(best(pair), 4)
        pairs.append(record)
    pairs.sort(key=lambda r: (not r["flagged"], r["reviewed"] is not None, -r["rank_score"], r["a"], r["b"]))

    clusters = _Clusters(n)
    for pair in flagged:
        clusters.union(*pair)
    groups: dict[int, list[int]] = defaultdict(list)
    for pair in flagged:
        groups[clusters.find(pair[0])].extend(pair)
    cluster_records = []
    for members in groups.values():
        names = sorted({students[i].student for i in members})
        inside = [p for p in pairs if p["flagged"] and p["a"] in names and p["b"] in names]
        cluster_records.append({"members": names, "pairs": len(inside),
                                "max_score": max(p["rank_score"] for p in inside),
                                "reasons": sorted({r for p in inside for r in p["reasons"]})})
    cluster_records.sort(key=lambda c: (-len(c["members"]), -c["max_score"], c["members"]))

    baselines = {kind: kinds[kind][3] for kind in KINDS}
    if models:
        baselines["models"] = models.get("baseline", {})
        for kind in MODEL_KINDS:
            if kind in models:
                baselines[kind] = models[kind]
    return {"students": [s.student for s in students], "common_cap": cap, "baseline": baselines,
            "flagged_pairs": sum(1 for p in pairs if p["flagged"]), "pairs": pairs, "clusters": cluster_records}


def _common_hashes(sets: list[frozenset[int]], cap: int) -> frozenset[int]:
    counts: dict[int, int] = defaultdict(int)
    for hashes in sets:
        for h in hashes:
            counts[h] += 1
    return frozenset(h for h, c in counts.items() if c > cap)


# ------------------------------------------------------------------------------ trained models

def model_evidence(config: AssignmentConfig, work_dir: Path, students: list[str], options: Options,
                   reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Weights, recipes and predictions of the graded work folders, merged per pair of students.
    ``reference``: the independent trainings' figures (default: the committed file, when there is one)."""
    from grader.similarity.models import compare_models
    from grader.similarity.predictions import REFERENCE_AGREEMENT_FILE, compare_predictions, read_reference
    from grader.similarity.recipes import compare_recipes

    cap = common_cap(options, len(students))
    weights = compare_models(work_dir, students, cap)
    recipes = compare_recipes(work_dir, students, dict(config.contract), options, cap)
    if reference is None:
        reference = read_reference(config.reference_dir / REFERENCE_AGREEMENT_FILE)
    predictions = compare_predictions(work_dir, students, options, cap, heldout_seed=config.heldout.seed,
                                      reference=reference)
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (weights, recipes, predictions):
        for key, evidence in source["pairs"].items():
            record = pairs.setdefault(key, {"flagged": False, "reasons": [], **{f: [] for f in MODEL_EVIDENCE}})
            record["flagged"] = record["flagged"] or evidence["flagged"]
            record["reasons"].extend(r for r in evidence["reasons"] if r not in record["reasons"])
            for field in MODEL_EVIDENCE:
                record[field].extend(evidence.get(field, []))
    return {"students": weights["students"], "baseline": weights["baseline"], "recipes": recipes["baseline"],
            "predictions": predictions["baseline"], "pairs": pairs}


# ------------------------------------------------------------------------------ reviewed pairs

def pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def read_reviewed(out_dir: Path) -> dict[tuple[str, str], dict]:
    path = Path(out_dir) / REVIEWED_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["reviewed"]
        return {pair_key(*entry["students"]): {"note": str(entry.get("note") or ""), "at": entry.get("at")}
                for entry in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise GraderError(f"{path}: not a list of reviewed pairs ({type(exc).__name__}); fix: keep the form "
                          '{"reviewed": [{"students": ["a", "b"], "note": "..."}]} or delete the file') from None


def mark_reviewed(out_dir: Path, a: str, b: str, note: str = "") -> Path:
    """Add (or update) one reviewed pair in ``out_dir/reviewed.json``."""
    reviewed = read_reviewed(out_dir)
    reviewed[pair_key(a, b)] = {"note": note, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    entries = [{"students": list(key), **value} for key, value in sorted(reviewed.items())]
    return write_json_atomic(Path(out_dir) / REVIEWED_FILE, {"reviewed": entries})


# ------------------------------------------------------------------------------ the command

@dataclass
class SimilarityRun:
    json_path: Path
    html_path: Path
    data: dict[str, Any]


def similarity_report(config: AssignmentConfig, submissions_dir: Path, out_dir: Path | None = None, *,
                      release: Path | None = None, work_dir: Path | None = None, lang: str | None = None,
                      options: Options = Options(), mark: list[tuple[str, str]] | None = None, note: str = "",
                      log: Callable[[str], None] = lambda line: None) -> SimilarityRun:
    """Compare every collected submission with every other; write the JSON and HTML report."""
    from grader import __version__
    from grader.collect import load_submissions
    from grader.similarity.render import write_html

    started = time.perf_counter()
    submissions_dir = Path(submissions_dir)
    out_dir = Path(out_dir) if out_dir else submissions_dir.parent / "similarity"
    lang = lang or config.language
    submissions = load_submissions(submissions_dir, config.name)
    released = released_notebook(config, release)
    notebooks, skipped = {}, []
    for submission in submissions:
        if submission.notebook is None or not Path(submission.notebook).is_file():
            skipped.append({"student": submission.student, "reason": "no_notebook"})
            continue
        try:
            notebooks[submission.student] = _read_json_notebook(Path(submission.notebook))
        except (ValueError, UnicodeDecodeError, OSError):
            skipped.append({"student": submission.student, "reason": "unreadable_notebook"})
    answer_ids = [part.grade_id for part in config.manual.values()]
    students = fingerprint_students(notebooks, released, answer_ids)
    fingerprinted = time.perf_counter()

    models = None
    work_dir = Path(work_dir) if work_dir else submissions_dir.parent / "work"
    if work_dir.is_dir():
        models = model_evidence(config, work_dir, [s.student for s in students], options)
    for a, b in mark or []:
        mark_reviewed(out_dir, a, b, note)
    data = compare(students, options, models, read_reviewed(out_dir))
    data = {"assignment": config.name, "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "grader_version": __version__, "submissions": len(submissions), "compared": len(students),
            "skipped": skipped, "options": asdict(options),
            "models_folder": str(work_dir) if models else None,
            "models_compared": (models or {}).get("students", 0),
            **data,
            "timing": {"fingerprint_s": round(fingerprinted - started, 2),
                       "compare_s": round(time.perf_counter() - fingerprinted, 2)}}
    json_path = write_json_atomic(out_dir / REPORT_JSON, data)
    html_path = write_html(data, out_dir / REPORT_HTML, lang=lang, title=assignment_title(config, lang))
    log(i18n.render(i18n.msg("similarity.log_done", compared=len(students), n=data["flagged_pairs"]), lang))
    return SimilarityRun(json_path, html_path, data)


__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "REVIEWED_FILE",
    "Options",
    "compare",
    "fingerprint_students",
    "mark_reviewed",
    "model_evidence",
    "read_reviewed",
    "released_notebook",
    "similarity_report",
]
