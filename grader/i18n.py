"""Message catalogues: records carry message keys, sentences are rendered where someone reads them.

A :class:`Message` is a key and its parameters: plain JSON values or other messages, so a stored
result can be rendered again in any language after the fact. The sentences live in gettext
catalogues, read with Babel: the engine's in ``grader/locale/<lang>/LC_MESSAGES/grader.po`` and an
assignment's own in ``assignments/<name>/public/locale/<lang>/LC_MESSAGES/assignment.po`` (public:
the students' self-check renders them too). Plural forms are gettext's for the language (a message
with a plural form is chosen by its ``n`` parameter) and numbers are written as the locale writes
them: 0,9812 and 58.796 in Spanish, 0.9812 and 58,796 in English.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
import shutil
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("es", "en")
ENGINE_LOCALE = Path(__file__).resolve().parent / "locale"
ASSIGNMENT_LOCALE = Path("public") / "locale"
PLURAL_PARAM = "n"
# CLDR's minimumGroupingDigits, which Babel does not apply: Spanish groups from five digits (2000, 58.796).
MIN_GROUPING_DIGITS = {"es": 2}


@dataclass(frozen=True)
class Message:
    """A sentence to be: ``key`` in the catalogues and the values of its placeholders.

    Parameters hold numbers, text (names, shapes, file names: the same in every language), other
    messages, or lists of messages; anything else is stored as its ``str()`` when the message is made
    (:func:`msg`), so the JSON form reads back as the same message. Two keys are built in: ``join``
    (:func:`joined`) and ``capitalized`` (:func:`capitalized`).
    """

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "params": json_ready(dict(self.params))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(str(data["key"]), {name: _decode(value) for name, value in dict(data.get("params") or {}).items()})


def msg(key: str, /, **params: Any) -> Message:
    """A message with its parameters made JSON-safe (tuples and other objects become their text)."""
    return Message(key, {name: _plain(value) for name, value in params.items()})


def joined(parts: Iterable[Message | None], separator: str = "; ") -> Message:
    """One message made of several, rendered one after another (empty parts are left out)."""
    kept = [part for part in parts if part is not None]
    return Message("join", {"parts": kept, "separator": separator})


def json_ready(value: Any) -> Any:
    """``value`` with every message in it (at any depth of dicts and lists) in its JSON form."""
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def capitalized(message: Message) -> Message:
    """``message`` rendered with its first letter upper case (a sentence that starts with a parameter)."""
    return Message("capitalized", {"text": message})


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, Message)):
        return value
    if isinstance(value, list) and all(isinstance(item, Message) for item in value):
        return list(value)
    return str(value)


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "key" in value:
        return Message.from_dict(value)
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def format_number(value: float, lang: str, digits: int = 0, *, strip: bool = False) -> str:
    """``value`` with ``digits`` decimals (at most that many with ``strip``), written as ``lang`` writes
    numbers: 1.234,50 and 2000 in Spanish, 1,234.50 and 2,000 in English."""
    pattern = "#,##0" + ("." + ("#" if strip else "0") * digits if digits else "")
    grouped = abs(value) >= 10 ** (2 + MIN_GROUPING_DIGITS.get(lang, 1))
    text = format_decimal(value, format=pattern, locale=lang, group_separator=grouped)
    return "0" if text in ("-0", "-0,0", "-0.0") else text


class _LocaleFormatter(string.Formatter):
    """``str.format`` with numbers written the locale's way (decimal and grouping separators)."""

    _NUMBER_SPEC = re.compile(r"(?P<sign>\+?),?(?:\.(?P<digits>\d+))?(?P<kind>[fdg]?)")

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def format_field(self, value: Any, format_spec: str) -> str:
        match = self._NUMBER_SPEC.fullmatch(format_spec)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or match is None:
            return super().format_field(value, format_spec)
        digits, kind = match["digits"], match["kind"]
        if digits is not None and kind in ("f", ""):
            text = format_number(value, self.locale, int(digits))
        elif kind == "d":
            text = format_number(value, self.locale, 0)
        else:
            text = format_number(value, self.locale, 3, strip=True)  # the locale's default: up to three decimals
        return f"+{text}" if match["sign"] and value >= 0 else text


class Catalogue:
    """The sentences of one language: the engine's catalogue, then an assignment's entries over it."""

    def __init__(self, lang: str, files: Iterable[Path]) -> None:
        self.lang = lang
        self._plural: set[str] = set()
        keys: set[str] = set()
        self._translations = gettext.NullTranslations()
        for path in files:
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=lang)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            translations = gettext.GNUTranslations(compiled)
            translations.add_fallback(self._translations)
            self._translations = translations
            for entry in catalog:
                if entry.id:
                    keys.add(str(entry.id[0] if entry.pluralizable else entry.id))
                    if entry.pluralizable:
                        self._plural.add(str(entry.id[0]))
        self._keys = frozenset(keys)
        self._formatter = _LocaleFormatter(lang)

    @property
    def keys(self) -> frozenset[str]:
        return self._keys

    def text(self, key: str, /, **params: Any) -> str:
        return self.render(msg(key, **params))

    def render(self, message: Message | str) -> str:
        """The sentence of ``message`` (a plain string is already a sentence and is returned as it is)."""
        if isinstance(message, str):
            return message
        values = {name: self._value(value) for name, value in message.params.items()}
        if message.key == "join":
            return str(message.params.get("separator", "; ")).join(part for part in values["parts"] if part)
        if message.key == "capitalized":
            text = str(values["text"]).strip()
            return text[:1].upper() + text[1:]
        if message.key not in self._keys:
            raise KeyError(f"no message {message.key!r} in the {self.lang!r} catalogue")
        if message.key in self._plural:
            template = self._translations.ngettext(message.key, message.key, int(message.params.get(PLURAL_PARAM, 0)))
        else:
            template = self._translations.gettext(message.key)
        return self._formatter.vformat(template, (), values)

    def _value(self, value: Any) -> Any:
        if isinstance(value, Message):
            return self.render(value)
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return value


def catalogue_files(lang: str, assignment_dir: Path | None = None) -> list[Path]:
    """The catalogue files of ``lang``, engine first: an assignment's entries add to the engine's."""
    files = [ENGINE_LOCALE / lang / "LC_MESSAGES" / "grader.po"]
    if assignment_dir is not None:
        own = Path(assignment_dir) / ASSIGNMENT_LOCALE / lang / "LC_MESSAGES" / "assignment.po"
        if own.is_file():
            files.append(own)
    return files


def copy_assignment_catalogues(assignment_dir: Path, target: Path) -> None:
    """Give ``target`` (a scoring job's folder) the assignment's own catalogues, in the same place, so
    that a process that sees only the job renders the assignment's messages with ``target``."""
    source = Path(assignment_dir) / ASSIGNMENT_LOCALE
    if source.is_dir():
        shutil.copytree(source, Path(target) / ASSIGNMENT_LOCALE, dirs_exist_ok=True)


@functools.lru_cache(maxsize=32)
def catalogue(lang: str, assignment_dir: Path | None = None) -> Catalogue:
    """The catalogue of ``lang`` (one of :data:`LANGUAGES`), with ``assignment_dir``'s own entries."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} has no catalogue; choose one of {', '.join(LANGUAGES)}")
    return Catalogue(lang, catalogue_files(lang, assignment_dir))


def render(message: Message | str, lang: str, assignment_dir: Path | None = None) -> str:
    return catalogue(lang, assignment_dir).render(message)
