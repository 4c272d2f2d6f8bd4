"""The message catalogues: every key renders in every language, and records render after the fact.

The catalogues are gettext .po files (grader/locale, and each assignment's public/locale) read with
Babel; these tests read them the same way a translator's tool would, with Babel's own parser.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from grader.i18n import LANGUAGES, Message, catalogue, catalogue_files, joined, msg, render

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(path.parent for path in (ROOT / "assignments").glob("*/assignment.toml"))


def entries(path: Path) -> dict[str, tuple[str, ...]]:
    """Key -> its sentences (one, or one per plural form), as Babel reads the file."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    found = {}
    for entry in catalog:
        if entry.id:
            key = entry.id[0] if entry.pluralizable else entry.id
            found[key] = tuple(entry.string) if entry.pluralizable else (entry.string,)
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def sample_values(texts: tuple[str, ...]) -> dict[str, object]:
    """A value for each placeholder: a number where the sentence formats one, else a word."""
    values: dict[str, object] = {}
    for text in texts:
        for _, name, spec, _ in string.Formatter().parse(text):
            if name:
                values[name] = 1234.5678 if spec and spec[-1:] in "fdg" else 7 if name == "n" else f"<{name}>"
    return values


CATALOGUE_SETS = [pytest.param(None, id="engine")] + [pytest.param(path, id=path.name) for path in ASSIGNMENTS]


@pytest.mark.parametrize("assignment", CATALOGUE_SETS)
def test_every_key_is_in_both_languages_with_the_same_placeholders(assignment):
    files = {lang: catalogue_files(lang, assignment)[-1] for lang in LANGUAGES}
    assert all(path.is_file() for path in files.values()), files
    found = {lang: entries(path) for lang, path in files.items()}
    assert set(found["es"]) == set(found["en"]), set(found["es"]) ^ set(found["en"])
    assert found["es"]
    for key in found["es"]:
        names = {lang: set().union(*(placeholders(text) for text in found[lang][key])) for lang in LANGUAGES}
        assert names["es"] == names["en"], (key, names)
        assert all(text.strip() for lang in LANGUAGES for text in found[lang][key]), f"{key}: an empty sentence"


@pytest.mark.parametrize("assignment", CATALOGUE_SETS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_renders(assignment, lang):
    own = entries(catalogue_files(lang, assignment)[-1])
    book = catalogue(lang, assignment)
    for key, texts in own.items():
        text = book.render(msg(key, **sample_values(texts)))
        assert text and "{" not in text.replace("{{", ""), (key, text)


def test_numbers_and_plurals_follow_the_language():
    accuracy = msg("accuracy", accuracy=0.98123, full_at=0.97, zero_at=0.9)
    assert render(accuracy, "es") == "precisión 0,9812 (puntuación completa desde 0,9700, cero por debajo de 0,9000)"
    assert render(accuracy, "en") == "accuracy 0.9812 (full credit from 0.9700, none below 0.9000)"
    assert render(msg("params_bad", got=97196, expected=58796), "es") == "97.196 parámetros, esperados 58.796"
    assert render(msg("params_bad", got=97196, expected=58796), "en") == "97,196 parameters, expected 58,796"
    assert render(msg("architecture_bad", n=1), "es") == "1 diferencia con la arquitectura pedida"
    assert render(msg("architecture_bad", n=3), "es") == "3 diferencias con la arquitectura pedida"
    assert render(msg("architecture_bad", n=1), "en") == "1 difference from the required architecture"
    assert render(msg("architecture_bad", n=0), "en") == "0 differences from the required architecture"


def test_a_message_survives_json_and_renders_in_either_language_afterwards():
    layer = msg("layer", index=3, cls="Conv2D")
    stored = joined([msg("output", got=(None, 14, 14, 16), expected=(None, 10, 10, 16)),
                     msg("hint_padding", expected="valid"), layer], separator=": ")
    again = Message.from_dict(json.loads(json.dumps(stored.to_dict())))
    assert again == stored
    assert render(again, "es") == "salida (None, 14, 14, 16), esperada (None, 10, 10, 16): revisa padding='valid': capa 3 (Conv2D)"
    assert render(again, "en") == "output (None, 14, 14, 16), expected (None, 10, 10, 16): check padding='valid': layer 3 (Conv2D)"


def test_an_assignment_adds_its_own_keys_over_the_engine():
    practica3 = ROOT / "assignments" / "practica3"
    assert "hog_uint8" not in catalogue("es").keys
    assert "hog_uint8" in catalogue("es", practica3).keys
    assert "accuracy" in catalogue("es", practica3).keys
    assert render(msg("hog_uint8"), "en", practica3).startswith("hog_features gives other features for uint8")


def test_a_missing_key_or_language_is_a_clear_error():
    with pytest.raises(KeyError, match="no message 'no_such_key' in the 'es' catalogue"):
        render(msg("no_such_key"), "es")
    with pytest.raises(ValueError, match="language 'fr' has no catalogue"):
        catalogue("fr")


def test_every_key_the_engine_names_is_in_the_catalogue():
    """Keys written literally in grader/ (msg("..."), message(lang, "..."), the per-module helpers)."""
    keys = catalogue("es").keys
    patterns = [(re.compile(r"\bmsg\(\s*f?\"([a-z_.]+)\""), ""),
                (re.compile(r"\bmessage\(\s*[a-z_.]+,\s*\"([a-z_]+)\""), ""),
                (re.compile(r"\bmessage\(\s*[a-z_.]+,\s*'([a-z_]+)'"), "")]
    helpers = {"execute.py": "run.", "pipeline.py": "read.", "release.py": "repair."}
    used = set()
    for path in (ROOT / "grader").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for pattern, prefix in patterns:
            used |= {prefix + key for key in pattern.findall(source) if not key.endswith(".")}
        if path.name in helpers:
            used |= {helpers[path.name] + key for key in re.findall(r"\b_say\((?:\s*[a-z_.]+,)?\s*\"([a-z_]+)\"", source)}
    assert len(used) > 40
    assert used <= keys, sorted(used - keys)


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=[path.name for path in ASSIGNMENTS])
def test_every_key_an_assignments_hidden_tests_name_is_in_its_catalogues(assignment):
    """A hidden test's own sentences (msg("...") in autograde_tests/<name>/) are in the engine's catalogue
    or the assignment's, in every language."""
    used = set()
    for path in (ROOT / "autograde_tests" / assignment.name).rglob("*.py"):
        used |= set(re.findall(r"\bmsg\(\s*\"([a-z_.0-9]+)\"", path.read_text(encoding="utf-8")))
    assert used  # each shipped assignment has sentences of its own
    for lang in LANGUAGES:
        assert used <= catalogue(lang, assignment).keys, (lang, sorted(used - catalogue(lang, assignment).keys))



def test_the_kernels_export_names_its_reasons_by_a_code_from_a_closed_set(tmp_path):
    """The export runs in the student's kernel and writes the manifest: a code there picks one of the
    grader's sentences (rendered in the reader's language); anything else stays the kernel's text."""
    import numpy as np

    from grader.artifacts import _export_reason
    from grader.export import export_artifacts

    (tmp_path / "inputs").mkdir()
    np.save(tmp_path / "inputs" / "imagenes.npy", np.zeros((2, 4), dtype="float32"))
    manifest = export_artifacts({"hog_features": 3}, str(tmp_path / "out"), str(tmp_path / "inputs"),
                                {"hog_features": "function", "cnn_model": "keras_model"},
                                {"hog_features": "imagenes", "cnn_model": "imagenes"})
    missing, not_a_function = _export_reason(manifest["cnn_model"]), _export_reason(manifest["hog_features"])
    assert (render(missing, "es"), render(missing, "en")) == ("no está definido", "it is not defined")
    assert render(not_a_function, "es") == "se esperaba una función, no int"
    assert render(not_a_function, "en") == "a function was expected, not int"
    forged = {"status": "invalid", "reason": "texto del kernel", "reason_key": "accuracy"}
    assert _export_reason(forged) == "texto del kernel"  # not a code the export uses: its text, as it is
