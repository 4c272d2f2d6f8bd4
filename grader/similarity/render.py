"""The similarity report page: ``similarity.json``'s keys and numbers turned into sentences.

One self-contained page like the feedback reports (:mod:`grader.report`): the same stylesheet and
Content-Security-Policy, no script, everything students wrote escaped by Jinja2's autoescape. The
sentences live here, in :data:`MESSAGES` (``es``, ``en``); the template calls them with ``say``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.report import (
    CONTENT_SECURITY_POLICY,
    Catalogue,
    _environment,
    _write_text_atomic,
)
from grader.similarity import MODEL_KINDS

MESSAGES: dict[str, dict[str, str]] = {
    "es": {
        "title": "Informe de similitud",
        "generated": "Generado el {at} con la versión {version} del corrector",
        "compared": "{compared} entregas comparadas ({pairs} parejas)",
        "flagged_one": "1 pareja inusualmente parecida",
        "flagged_many": "{count} parejas inusualmente parecidas",
        "caveat": ("Una pareja señalada es inusualmente parecida comparada con el resto de esta entrega; no "
                   "prueba una copia. Lee la evidencia y habla con los estudiantes antes de decidir."),
        "method": ("Solo cuenta lo que escribió cada estudiante: las líneas y el código del cuaderno publicado no "
                   "cuentan. El código se compara tras cambiar cada nombre de variable por uno común y quitar "
                   "comentarios y formato (renombrar, comentar, reordenar celdas o reformatear no lo oculta); los "
                   "informes, sin mayúsculas, tildes ni puntuación. Lo que escribe más de {cap} estudiantes "
                   "(lo que pide el enunciado) no cuenta para nadie."),
        "baseline_heading": "Línea base de la clase",
        "baseline_intro": ("Cómo de parecidas son todas las parejas. Se señala una pareja a partir del umbral: "
                           "mediana + {k} × 1,4826 × MAD, y nunca por debajo del mínimo."),
        "col_kind": "Evidencia",
        "col_pairs": "Parejas",
        "col_median": "Mediana",
        "col_mad": "MAD",
        "col_p95": "Percentil 95",
        "col_p99": "Percentil 99",
        "col_max": "Máximo",
        "col_threshold": "Umbral",
        "kind_code": "Código",
        "kind_text": "Informes",
        "kind_models": "Modelos",
        "clusters_heading": "Grupos",
        "clusters_intro": "Estudiantes unidos por parejas señaladas.",
        "col_members": "Estudiantes",
        "col_score": "Puntuación máxima",
        "col_reasons": "Evidencia",
        "pairs_heading": "Parejas",
        "pairs_intro": "Primero las señaladas; después, las más parecidas de las demás como contexto.",
        "col_rank": "Nº",
        "col_pair": "Pareja",
        "col_code": "Código",
        "col_text": "Informes",
        "col_models": "Modelos",
        "col_reviewed": "Revisada",
        "reason_code": "código",
        "reason_text": "informes",
        "reason_weights_identical": "pesos idénticos",
        "reason_weights_near": "pesos casi idénticos",
        "reason_recipe_identical": "misma arquitectura y receta",
        "reason_predictions_agree": "mismos errores en las imágenes reservadas",
        "flagged_badge": "inusual",
        "reviewed_badge": "revisada",
        "reviewed_on": "Revisada el {at}",
        "score_of": "{score} ({shared} en común)",
        "detail_heading": "{a} y {b}",
        "code_heading": "Código en común",
        "code_summary": ("{shared} huellas en común; {a}: {size_a} huellas propias, {b}: {size_b}. "
                         "Puntuación: {score} (umbral {threshold})."),
        "cell_lines": "celda {cell}, líneas {first}–{last}",
        "passage_size": "{tokens} símbolos",
        "no_code_passages": "Ningún fragmento de código en común.",
        "text_heading": "Frases en común en los informes",
        "text_summary": ("{shared} grupos de tres palabras en común; {a}: {size_a}, {b}: {size_b}. "
                         "Puntuación: {score} (umbral {threshold})."),
        "overlap": "{value} en común",
        "no_sentences": "Ninguna frase en común.",
        "models_heading": "Modelos entrenados",
        "models_identical": "Pesos idénticos: {models}.",
        "models_near": "Pesos casi idénticos: {model} (distancia relativa {distance}).",
        "models_note": ("Los modelos son los que entrenó el corrector al ejecutar cada cuaderno con su semilla: "
                        "el mismo código da los mismos pesos."),
        "models_baseline": ("{model}: {students} estudiantes, {distinct} modelos distintos; el grupo idéntico más "
                            "grande tiene {largest}."),
        "models_recipe": ("{model}: la misma arquitectura ({layers} capas) y receta de entrenamiento (optimizador "
                          "{optimizer}, pérdida {loss}, {epochs} épocas); la comparten {holders} de {students} "
                          "estudiantes."),
        "models_predictions": ("{model}: de las {either} imágenes reservadas que falla al menos uno, los dos dan la "
                               "misma respuesta errónea en {same} ({score}; se señala desde {threshold}). Aciertos "
                               "sobre {images} imágenes: {a} {accuracy_a}, {b} {accuracy_b}."),
        "recipes_baseline": ("{model}: {students} estudiantes, {architectures} arquitecturas y {recipes} recetas "
                             "distintas; {common} estudiantes tienen una arquitectura que comparten más de {limit} (la "
                             "que pide el enunciado o la que construye casi todo el mundo) y no cuentan."),
        "predictions_note": ("Errores en común: de las imágenes reservadas (cuyas etiquetas el estudiante no ve) que "
                             "falla al menos uno de los dos modelos, la fracción en que los dos dan la misma respuesta "
                             "errónea. Dos buenos modelos aciertan casi las mismas imágenes; lo que los distingue son "
                             "sus errores."),
        "predictions_baseline": ("{model}: {students} estudiantes; errores en común entre las parejas de esta "
                                 "entrega: mediana {median}, percentil 99 {p99}, umbral de la entrega {batch}. "
                                 "{reference} Se señala desde {threshold} (el mayor de los dos más {margin}, nunca "
                                 "por debajo de {floor}) y con al menos {min_shared} imágenes."),
        "predictions_reference": ("Entrenamientos independientes del modelo de referencia {model} con distintas "
                                  "semillas ({pairs} parejas, {date}): media {mean}, máximo {max}."),
        "predictions_no_reference": "Sin línea base de entrenamientos independientes para estas imágenes.",
        "predictions_common": ("{count} estudiantes con predicciones idénticas a las de más de {cap} compañeros (el "
                               "modelo que da la receta prescrita) no cuentan entre sí."),
        "notes_heading": "Evidencia de modelos ausente",
        "model_note": "{student}: {model} ({reason}); sin esa evidencia.",
        "note_unreadable": "ilegible",
        "note_other_heldout": "evaluado con otras imágenes reservadas",
        "skipped_heading": "Entregas no comparadas",
        "reason_no_notebook": "sin notebook",
        "reason_unreadable_notebook": "notebook ilegible",
        "review_how": ("Para marcar una pareja como revisada: grader similarity {assignment} --submissions … "
                       "--reviewed A,B --note \"…\" (se guarda en reviewed.json junto a este informe)."),
        "none": "Ninguno.",
        "student_a": "Estudiante A",
        "student_b": "Estudiante B",
    },
    "en": {
        "title": "Similarity report",
        "generated": "Generated on {at} by grader version {version}",
        "compared": "{compared} submissions compared ({pairs} pairs)",
        "flagged_one": "1 unusually similar pair",
        "flagged_many": "{count} unusually similar pairs",
        "caveat": ("A flagged pair is unusually similar compared with the rest of this batch; it does not prove "
                   "copying. Read the evidence and talk to the students before deciding."),
        "method": ("Only what each student wrote counts: the released notebook's lines and code never do. Code is "
                   "compared with every variable name replaced by a common one and without comments or "
                   "formatting (renaming, commenting, reordering cells or reformatting does not hide it); written "
                   "answers without case, accents or punctuation. What more than {cap} students write (what "
                   "the assignment asks for) counts for nobody."),
        "baseline_heading": "Class baseline",
        "baseline_intro": ("How similar all pairs are. A pair is flagged from the threshold on: median + {k} × "
                           "1.4826 × MAD, and never below the floor."),
        "col_kind": "Evidence",
        "col_pairs": "Pairs",
        "col_median": "Median",
        "col_mad": "MAD",
        "col_p95": "95th percentile",
        "col_p99": "99th percentile",
        "col_max": "Maximum",
        "col_threshold": "Threshold",
        "kind_code": "Code",
        "kind_text": "Written answers",
        "kind_models": "Models",
        "clusters_heading": "Clusters",
        "clusters_intro": "Students joined by flagged pairs.",
        "col_members": "Students",
        "col_score": "Highest score",
        "col_reasons": "Evidence",
        "pairs_heading": "Pairs",
        "pairs_intro": "Flagged pairs first; then the most similar of the others, for context.",
        "col_rank": "#",
        "col_pair": "Pair",
        "col_code": "Code",
        "col_text": "Written answers",
        "col_models": "Models",
        "col_reviewed": "Reviewed",
        "reason_code": "code",
        "reason_text": "written answers",
        "reason_weights_identical": "identical weights",
        "reason_weights_near": "near-identical weights",
        "reason_recipe_identical": "same architecture and recipe",
        "reason_predictions_agree": "same mistakes on the held-out images",
        "flagged_badge": "unusual",
        "reviewed_badge": "reviewed",
        "reviewed_on": "Reviewed on {at}",
        "score_of": "{score} ({shared} shared)",
        "detail_heading": "{a} and {b}",
        "code_heading": "Shared code",
        "code_summary": ("{shared} shared fingerprints; {a}: {size_a} own fingerprints, {b}: {size_b}. "
                         "Score: {score} (threshold {threshold})."),
        "cell_lines": "cell {cell}, lines {first}–{last}",
        "passage_size": "{tokens} tokens",
        "no_code_passages": "No shared code passage.",
        "text_heading": "Shared sentences in the written answers",
        "text_summary": ("{shared} shared three-word groups; {a}: {size_a}, {b}: {size_b}. "
                         "Score: {score} (threshold {threshold})."),
        "overlap": "{value} shared",
        "no_sentences": "No shared sentence.",
        "models_heading": "Trained models",
        "models_identical": "Identical weights: {models}.",
        "models_near": "Near-identical weights: {model} (relative distance {distance}).",
        "models_note": ("The models are the ones the grader trained when it ran each notebook with its seed: the "
                        "same code gives the same weights."),
        "models_baseline": "{model}: {students} students, {distinct} distinct models; the largest identical group has {largest}.",
        "models_recipe": ("{model}: the same architecture ({layers} layers) and training recipe (optimizer "
                          "{optimizer}, loss {loss}, {epochs} epochs); {holders} of {students} students share it."),
        "models_predictions": ("{model}: of the {either} held-out images at least one of them gets wrong, both give "
                               "the same wrong answer on {same} ({score}; flagged from {threshold}). Accuracy on "
                               "{images} images: {a} {accuracy_a}, {b} {accuracy_b}."),
        "recipes_baseline": ("{model}: {students} students, {architectures} distinct architectures and {recipes} "
                             "distinct recipes; {common} students have an architecture more than {limit} share (what "
                             "the assignment prescribes or what nearly everybody builds) and do not count."),
        "predictions_note": ("Shared mistakes: of the held-out images (whose labels the student never sees) at least "
                             "one of the two models gets wrong, the fraction where both give the same wrong answer. "
                             "Two good models get almost the same images right; their mistakes tell them apart."),
        "predictions_baseline": ("{model}: {students} students; shared mistakes between the pairs of this batch: "
                                 "median {median}, 99th percentile {p99}, the batch's threshold {batch}. {reference} "
                                 "Flagged from {threshold} (the larger of the two plus {margin}, never below "
                                 "{floor}) and with at least {min_shared} images."),
        "predictions_reference": ("Independent trainings of the reference model {model} with different seeds "
                                  "({pairs} pairs, {date}): mean {mean}, maximum {max}."),
        "predictions_no_reference": "No baseline of independent trainings for these images.",
        "predictions_common": ("{count} students whose predictions are identical to those of more than {cap} others "
                               "(the model the prescribed recipe gives) do not count among themselves."),
        "notes_heading": "Model evidence left out",
        "model_note": "{student}: {model} ({reason}); that evidence is left out.",
        "note_unreadable": "unreadable",
        "note_other_heldout": "scored on other held-out images",
        "skipped_heading": "Submissions not compared",
        "reason_no_notebook": "no notebook",
        "reason_unreadable_notebook": "unreadable notebook",
        "review_how": ("To mark a pair as reviewed: grader similarity {assignment} --submissions … --reviewed A,B "
                       "--note \"…\" (kept in reviewed.json beside this report)."),
        "none": "None.",
        "student_a": "Student A",
        "student_b": "Student B",
    },
}


class Say(Catalogue):
    """The report's catalogue with this page's messages (numbers formatted as in the feedback reports)."""

    def __init__(self, lang: str = "es") -> None:
        super().__init__(lang)
        self._messages = MESSAGES[lang]


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
    return _environment().get_template("similarity.html.j2").render(
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
    _write_text_atomic(path, render_html(data, lang=lang, title=title))
    return path
