"""Fingerprints of what a student wrote in a notebook: code (normalised tokens, winnowed k-grams) and
written answers (normalised word shingles). Pure functions over notebook JSON; no execution.

Code: only student-written code counts. The released notebook's code lines are boilerplate: a
student's token is dropped when its line, stripped, is a line of the release, and the release's own
k-gram hashes are removed from every fingerprint set. Tokens come from :mod:`tokenize`; names become
``V`` except keywords, builtins, attributes (``.Conv2D``: an API name the task dictates, not one a
student chooses) and keyword-argument names; numbers become ``N``, strings ``S``; comments,
whitespace, newlines and indentation go, so renaming, new comments, reordered cells and reformatting
leave the fingerprints as they were. Winnowing (Schleimer, Wilkerson and Aiken, 2003) keeps the
minimum hash of every window of ``w`` consecutive k-gram hashes: any common run of ``k + w - 1``
normalised tokens shares at least one fingerprint.

Text: the markdown answer cells (nbgrader grade_ids of the assignment's manual parts), normalised
(case, accents, punctuation) into words; fingerprints are word ``n``-grams. The released stub
(``ESCRIBE AQUÍ TU RESPUESTA``) is subtracted like boilerplate code.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import re
import tokenize
import unicodedata
from dataclasses import dataclass, field
from typing import Any

CODE_K = 12        # tokens per k-gram
CODE_WINDOW = 5    # winnowing window: a common run of k + w - 1 = 16 tokens is always seen
TEXT_N = 3         # words per shingle

_BUILTINS = frozenset(dir(builtins))
_SKIP_TOKENS = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENCODING, tokenize.ENDMARKER})
_FALLBACK_TOKEN = re.compile(r"""[A-Za-z_]\w*|\d[\w.]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|\*\*|//|==|!=|<=|>=|->|[^\s\w]""")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def _stable_hash(parts: tuple[str, ...] | list[str]) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # fits a signed 64-bit int (JSON readers, numpy)


# ------------------------------------------------------------------------------ notebook cells

def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source or "")


def grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {})
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return value if isinstance(value, str) else None


def _without_magics(source: str) -> str:
    """IPython lines (``%pip``, ``!ls``) blanked, keeping line numbers."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


# ------------------------------------------------------------------------------ code

@dataclass
class Token:
    symbol: str
    cell: int   # index of the cell in the notebook
    line: int   # 1-based line in the cell


def _raw_tokens(source: str) -> list[tuple[int, str, int]]:
    """(kind, text, line) of the significant tokens; a cell Python cannot tokenize falls back to a regex."""
    try:
        found = [(t.type, t.string, t.start[0]) for t in tokenize.generate_tokens(io.StringIO(source).readline)
                 if t.type not in _SKIP_TOKENS]
        return found
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = []
        for number, line in enumerate(source.split("\n"), start=1):
            text = line.split("#", 1)[0]
            for match in _FALLBACK_TOKEN.finditer(text):
                word = match.group(0)
                kind = (tokenize.NAME if word[0].isalpha() or word[0] == "_" else
                        tokenize.NUMBER if word[0].isdigit() else
                        tokenize.STRING if word[0] in "'\"" else tokenize.OP)
                found.append((kind, word, number))
        return found


def normalise_code(source: str) -> list[tuple[str, int]]:
    """(normalised symbol, line) for every significant token of one cell."""
    raw = _raw_tokens(_without_magics(source))
    out: list[tuple[str, int]] = []
    depth = 0
    for index, (kind, text, line) in enumerate(raw):
        if kind == tokenize.OP:
            if text in "([{":
                depth += 1
            elif text in ")]}":
                depth = max(0, depth - 1)
                if out and out[-1][0] == ",":   # a trailing comma is formatting
                    out.pop()
            out.append((text, line))
        elif kind == tokenize.NAME:
            previous = raw[index - 1][1] if index else ""
            following = raw[index + 1][1] if index + 1 < len(raw) else ""
            keep = (keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in _BUILTINS
                    or previous == "." or (depth > 0 and following == "="))
            out.append((text if keep else "V", line))
        elif kind == tokenize.NUMBER:
            out.append(("N", line))
        elif kind == tokenize.STRING or kind in _FSTRING_KINDS:
            if kind not in _FSTRING_KINDS or kind == _FSTRING_START:
                out.append(("S", line))
        else:
            out.append((text, line))
    return out


_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_KINDS = frozenset(k for k in (getattr(tokenize, name, None) for name in
                                       ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")) if k is not None)


def boilerplate_lines(released: dict) -> frozenset[str]:
    """Every non-empty stripped line of the released notebook's code cells."""
    return frozenset(line.strip() for cell in released.get("cells", []) if cell.get("cell_type") == "code"
                     for line in cell_source(cell).split("\n") if line.strip())


def student_code_tokens(nb: dict, boilerplate: frozenset[str], locked: frozenset[str] = frozenset()) -> list[Token]:
    """The normalised tokens of what the student wrote, across code cells in notebook order."""
    tokens: list[Token] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or grade_id(cell) in locked:
            continue
        source = cell_source(cell)
        lines = source.split("\n")
        for symbol, line in normalise_code(source):
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            if text in boilerplate:
                continue
            tokens.append(Token(symbol, index, line))
    return tokens


def kgram_hashes(symbols: list[str], k: int = CODE_K) -> list[int]:
    return [_stable_hash(symbols[i:i + k]) for i in range(len(symbols) - k + 1)]


def winnow(hashes: list[int], window: int = CODE_WINDOW) -> dict[int, list[int]]:
    """hash -> the k-gram positions where winnowing picked it (robust winnowing: rightmost minimum)."""
    picked: dict[int, list[int]] = {}
    if not hashes:
        return picked
    if len(hashes) <= window:
        position = min(range(len(hashes)), key=lambda i: (hashes[i], -i))
        picked.setdefault(hashes[position], []).append(position)
        return picked
    last = -1
    for start in range(len(hashes) - window + 1):
        position = min(range(start, start + window), key=lambda i: (hashes[i], -i))
        if position != last:
            picked.setdefault(hashes[position], []).append(position)
            last = position
    return picked


@dataclass
class CodeFingerprint:
    tokens: list[Token]
    positions: dict[int, list[int]]   # fingerprint hash -> k-gram start positions in ``tokens``

    @property
    def hashes(self) -> frozenset[int]:
        return frozenset(self.positions)


def code_fingerprint(tokens: list[Token], k: int = CODE_K, window: int = CODE_WINDOW) -> CodeFingerprint:
    """Winnowed k-grams of each cell on its own (no k-gram spans two cells: reordering cells changes nothing)."""
    positions: dict[int, list[int]] = {}
    start = 0
    while start < len(tokens):
        end = start
        while end < len(tokens) and tokens[end].cell == tokens[start].cell:
            end += 1
        cell = winnow(kgram_hashes([t.symbol for t in tokens[start:end]], k), window)
        for h, found in cell.items():
            positions.setdefault(h, []).extend(start + p for p in found)
        start = end
    return CodeFingerprint(tokens, positions)


def released_code_hashes(released: dict, k: int = CODE_K) -> frozenset[int]:
    """Every k-gram hash of the release's code (all of them, not only the winnowed ones)."""
    hashes: set[int] = set()
    for cell in released.get("cells", []):
        if cell.get("cell_type") == "code":
            hashes.update(kgram_hashes([symbol for symbol, _ in normalise_code(cell_source(cell))], k))
    return frozenset(hashes)


# ------------------------------------------------------------------------------ text

def normalise_words(text: str) -> list[str]:
    """Lower case, no accents, no punctuation: ``"¿Qué ÁRBOL?"`` -> ``["que", "arbol"]``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.sub(r"[\W_]+", " ", plain).split()


def shingles(words: list[str], n: int = TEXT_N) -> set[int]:
    if 0 < len(words) < n:
        return {_stable_hash(words)}
    return {_stable_hash(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass
class TextFingerprint:
    parts: dict[str, str] = field(default_factory=dict)    # grade_id -> the answer as written
    hashes: frozenset[int] = frozenset()


def answer_cells(nb: dict, grade_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        gid = grade_id(cell)
        if gid in grade_ids and cell.get("cell_type") == "markdown":
            found[gid] = (found.get(gid, "") + "\n" + cell_source(cell)).strip()
    return found


def text_fingerprint(nb: dict, grade_ids: list[str], stub_hashes: frozenset[int], n: int = TEXT_N) -> TextFingerprint:
    parts = answer_cells(nb, grade_ids)
    hashes: set[int] = set()
    for text in parts.values():
        hashes |= shingles(normalise_words(text), n)
    return TextFingerprint(parts, frozenset(hashes - stub_hashes))


def released_text_hashes(released: dict, grade_ids: list[str], n: int = TEXT_N) -> frozenset[int]:
    hashes: set[int] = set()
    for text in answer_cells(released, grade_ids).values():
        hashes |= shingles(normalise_words(text), n)
    return frozenset(hashes)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def matching_sentences(a: TextFingerprint, b: TextFingerprint, ignore: frozenset[int], n: int = TEXT_N,
                       minimum: float = 0.5, limit: int = 12) -> list[dict[str, Any]]:
    """Pairs of sentences (one per student) that share at least ``minimum`` of the shorter one's shingles;
    only the students' own shingles count (not the release's stub text), and none in ``ignore``."""
    found = []
    b_sentences = [(part, s, (shingles(normalise_words(s), n) & b.hashes) - ignore)
                   for part, text in b.parts.items() for s in sentences(text)]
    for part_a, text in a.parts.items():
        for sentence_a in sentences(text):
            set_a = (shingles(normalise_words(sentence_a), n) & a.hashes) - ignore
            if not set_a:
                continue
            best = None
            for part_b, sentence_b, set_b in b_sentences:
                if not set_b:
                    continue
                shared = len(set_a & set_b)
                overlap = shared / min(len(set_a), len(set_b))
                if shared >= 2 and overlap >= minimum and (best is None or overlap > best["overlap"]):
                    best = {"part_a": part_a, "a": sentence_a, "part_b": part_b, "b": sentence_b,
                            "overlap": round(overlap, 3)}
            if best:
                found.append(best)
    found.sort(key=lambda item: -item["overlap"])
    return found[:limit]
