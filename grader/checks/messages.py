"""Check messages: rendered from the engine's catalogue (grader/locale), see :mod:`grader.i18n`."""

from __future__ import annotations

from grader.i18n import msg, render


def message(lang: str, key: str, **values) -> str:
    return render(msg(key, **values), lang)
