"""The similarity report page: ``similarity.json``'s keys and numbers turned into sentences.

One self-contained page like the feedback reports (:mod:`grader.report`): the same stylesheet and
Content-Security-Policy, no script, everything students wrote escaped by Jinja2's autoescape. The
sentences are the catalogue's ``similarity.*`` keys (:mod:`grader.i18n`); the template calls them with ``say``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.report.html import environment, write_text_atomic
from grader.report.text import CONTENT_SECURITY_POLICY, Catalogue
from grader.similarity import MODEL_KINDS


class Say(Catalogue):
    """The report's catalogue with this page's messages (numbers formatted as in the feedback reports)."""

    prefix = "similarity."


def _pair_view(pair: dict[str, Any], rank: int, data: dict[str, Any], say: Say) -> dict[str, Any]:
    baseline = data["baseline"]
    view: dict[str, Any] = {"rank": rank, "a": pair["a"], "b": pair["b"], "flagged": pair["flagged"],
                            "anchor": f"pair-{rank}",
                            "reasons": [say(f"reason_{r}") for r in pair["reasons"]],
                            "reviewed": pair.get("reviewed")}
    for kind in ("code", "text"):
        entry = pair[kind]
        view[kind] = {
            "flagged": entry["flagged"], "score": say.pct(entry["score"], 0),
            "cell": say("score_of", score=say.pct(entry["score"], 0), shared=say.integer(entry["shared"])),
            "summary": say(f"{kind}_summary", shared=say.integer(entry["shared"]), a=pair["a"], b=pair["b"],
                           size_a=say.integer(entry["fingerprints_a"]), size_b=say.integer(entry["fingerprints_b"]),
                           score=say.pct(entry["score"], 0), threshold=say.pct(baseline[kind]["threshold"], 0))}
    view["passages"] = [{
        "size": say("passage_size", tokens=say.integer(p["tokens"])),
        "a_where": say("cell_lines", cell=p["a"]["cell"], first=p["a"]["first_line"], last=p["a"]["last_line"]),
        "b_where": say("cell_lines", cell=p["b"]["cell"], first=p["b"]["first_line"], last=p["b"]["last_line"]),
        "a_source": p["a"]["source"], "b_source": p["b"]["source"]} for p in pair["code"].get("passages", [])]
    view["sentences"] = [{"a": s["a"], "b": s["b"], "part_a": s["part_a"], "part_b": s["part_b"],
                          "overlap": say("overlap", value=say.pct(s["overlap"], 0))}
                         for s in pair["text"].get("sentences", [])]
    models = pair.get("models")
    lines = []
    if models:
        if models["identical"]:
            lines.append(say("models_identical", models=", ".join(models["identical"])))
        for near in models["near"]:
            lines.append(say("models_near", model=near["model"], distance=say.num(near["distance"], 4)))
        for recipe in models.get("recipe", []):
            lines.append(say("models_recipe", model=recipe["model"], layers=say.integer(recipe["layers"]),
                             optimizer=recipe["optimizer"] or "—", loss=recipe["loss"] or "—",
                             epochs=say.integer(recipe["epochs"]), holders=say.integer(recipe["holders"]),
                             students=say.integer(recipe["students"])))
        for agreement in models.get("predictions", []):
            lines.append(say("models_predictions", model=agreement["model"],
                             either=say.integer(agreement["either_wrong"]), same=say.integer(agreement["same_wrong"]),
                             score=say.pct(agreement["score"], 0), threshold=say.pct(agreement["threshold"], 0),
                             images=say.integer(agreement["images"]), a=pair["a"], b=pair["b"],
                             accuracy_a=say.pct(agreement["accuracy_a"], 1),
                             accuracy_b=say.pct(agreement["accuracy_b"], 1)))
    view["models"] = lines
    view["models_cell"] = ", ".join(say(f"reason_{r}") for r in (models or {}).get("reasons", [])) or "—"
    if pair.get("reviewed"):
        view["reviewed_text"] = say("reviewed_on", at=pair["reviewed"].get("at") or "—")
    return view


def _predictions_line(model: str, row: dict[str, Any], baseline: dict[str, Any], cap: int, say: Say) -> str:
    reference = row.get("reference")
    text = say("predictions_baseline", model=model, students=say.integer(row["students"]),
               median=say.pct(row["batch"]["median"], 0), p99=say.pct(row["batch"]["p99"], 0),
               batch=say.pct(row["batch"]["threshold"], 0),
               reference=say("predictions_reference", model=reference["model"], pairs=say.integer(reference["pairs"]),
                             date=reference.get("date") or "—", mean=say.pct(reference["mean"], 0),
                             max=say.pct(reference["max"], 0)) if reference else say("predictions_no_reference"),
               threshold=say.pct(row["threshold"], 0), margin=say.pct(baseline["margin"], 0),
               floor=say.pct(baseline["floor"], 0),
               min_shared=say.integer(baseline["min_shared_errors"]))
    if row.get("common_identical_students"):
        text += " " + say("predictions_common", count=say.integer(row["common_identical_students"]), cap=cap)
    return text


def render_html(data: dict[str, Any], *, lang: str = "es", title: str | None = None) -> str:
    say = Say(lang)
    baseline_rows = []
    for kind in ("code", "text"):
        b = data["baseline"][kind]
        baseline_rows.append({"kind": say(f"kind_{kind}"), "pairs": say.integer(b["pairs"]),
                              "median": say.pct(b["median"], 0), "mad": say.pct(b["mad"], 0),
                              "p95": say.pct(b["p95"], 0), "p99": say.pct(b["p99"], 0),
                              "max": say.pct(b["max"], 0), "threshold": say.pct(b["threshold"], 0)})
    models_lines = []
    for model, row in (data["baseline"].get("models") or {}).get("per_model", {}).items():
        models_lines.append(say("models_baseline", model=model, students=say.integer(row["students"]),
                                distinct=say.integer(row["distinct"]),
                                largest=say.integer(row["largest_identical_group"])))
    for model, row in (data["baseline"].get("recipes") or {}).get("per_model", {}).items():
        models_lines.append(say("recipes_baseline", model=model, students=say.integer(row["students"]),
                                architectures=say.integer(row["architectures"]), recipes=say.integer(row["recipes"]),
                                common=say.integer(row["common_architecture_students"]),
                                limit=say.integer(row["common_limit"])))
    predictions = data["baseline"].get("predictions") or {}
    predictions_lines = [_predictions_line(model, row, predictions, data["common_cap"], say)
                         for model, row in predictions.get("per_model", {}).items()]
    notes = [say("model_note", student=note["student"], model=note["model"], reason=say(f"note_{note['reason']}"))
             for kind in ("models", *MODEL_KINDS) for note in (data["baseline"].get(kind) or {}).get("notes", [])]
    pairs = [_pair_view(pair, rank, data, say) for rank, pair in enumerate(data["pairs"], start=1)]
    anchors = {(p["a"], p["b"]): p["anchor"] for p in pairs}
    clusters = [{"members": ", ".join(c["members"]), "pairs": c["pairs"], "score": say.pct(c["max_score"], 0),
                 "reasons": ", ".join(say(f"reason_{r}") for r in c["reasons"])} for c in data["clusters"]]
    n = data["compared"]
    k = data["baseline"]["code"]["k"]
    return environment().get_template("similarity.html.j2").render(
        say=say, lang=lang, csp=CONTENT_SECURITY_POLICY,
        title=f"{say('title')}: {title or data['assignment']}",
        generated=say("generated", at=data["generated_at"], version=data["grader_version"]),
        compared=say("compared", compared=say.integer(n), pairs=say.integer(n * (n - 1) // 2)),
        flagged=say.plural("flagged", data["flagged_pairs"]), flagged_count=data["flagged_pairs"],
        method=say("method", cap=data["common_cap"]),
        baseline_intro=say("baseline_intro", k=say.num(k, 1, strip=True)),
        baseline_rows=baseline_rows, models_lines=models_lines, predictions_lines=predictions_lines,
        model_notes=notes, clusters=clusters, pairs=pairs, anchors=anchors,
        skipped=[{"student": s["student"], "reason": say(f"reason_{s['reason']}")} for s in data["skipped"]],
        review_how=say("review_how", assignment=data["assignment"]))


def write_html(data: dict[str, Any], path: Path, *, lang: str = "es", title: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_html(data, lang=lang, title=title))
    return path
