"""A scoring reply cut to fit its bytes: whatever one submission's objects put in their messages and
details (an exception of a million characters, a huge table), its result still crosses the process
boundary whole enough to grade; the message of a check names what was cut. The scores are never cut."""

from __future__ import annotations

import json
from pathlib import Path

from grader.i18n import Message, joined, msg, render

MIN_CHECK_BYTES = 4096
KEEP_DETAILS = ("verified",)  # small, and what the report's notes read


def _json_size(value) -> int:
    return len(json.dumps(value, default=str).encode("utf-8"))


def check_budget(max_bytes: int, checks: int) -> int:
    """The bytes one check may take in a reply of ``max_bytes`` with ``checks`` checks (the rest is for
    the predictions)."""
    return max(max_bytes // (checks + 2), MIN_CHECK_BYTES)


def _with_note(check: dict, note: Message, lang: str, folder: Path | None) -> None:
    """``note`` said after the message of ``check`` (a CheckResult as a dict), in both its forms."""
    check["message"] = f"{check.get('message', '')} {render(note, lang, folder)}".strip()
    if isinstance(check.get("text"), dict):
        check["text"] = joined([Message.from_dict(check["text"]), note], " ").to_dict()


def fit_check(check: dict, max_bytes: int, lang: str, folder: Path | None = None) -> dict:
    """``check`` (a CheckResult as a dict) within ``max_bytes`` of JSON: a message or review longer than a
    quarter of that is cut (their key forms too: what they quote is what was long), then its largest
    details are left out; the message names what was cut. ``folder``: the assignment's, for its messages."""
    if _json_size(check) <= max_bytes:
        return check
    check = dict(check)
    room = max(max_bytes // 4, 200)
    for key, key_form in (("message", "text"), ("review", "review_reasons")):
        text = str(check.get(key) or "")
        if len(text.encode("utf-8")) > room or _json_size(check.get(key_form)) > room:
            kept = room // 4  # characters of up to four bytes each
            note = msg("cut_note", what=msg("cut_message", total=len(text), kept=kept))
            check[key] = f"{text[:kept]}… {render(note, lang, folder)}"
            check[key_form] = None if key_form == "text" else []
    details = dict(check.get("details") or {})
    sizes = {key: _json_size(value) + len(key) + 6 for key, value in details.items()}
    before, total = sum(sizes.values()), _json_size(check)
    dropped: list[str] = []
    for key in sorted(sizes, key=sizes.get, reverse=True):
        if total + 300 <= max_bytes:
            break
        if key in KEEP_DETAILS:
            continue
        dropped.append(key)
        del details[key]
        total -= sizes[key]
    if dropped:
        details["cut"] = dropped
        check["details"] = details
        note = msg("cut_details", keys=", ".join(dropped), size=max(before // 1024, 1),
                   limit=max(max_bytes // 1024, 1))
        _with_note(check, msg("cut_note", what=note), lang, folder)
    if _json_size(check) > max_bytes:  # keys and values the hidden test put in that are not details
        check = {key: check[key] for key in ("name", "points", "max_points", "status", "message", "hidden",
                                             "needs_review", "review", "text", "review_reasons") if key in check}
    return check


def fit_reply(reply: dict, max_bytes: int, lang: str, folder: Path | None = None) -> dict:
    """A scoring reply that fits in ``max_bytes`` of JSON: each check is cut to its share
    (:func:`fit_check`), then the predicted labels are left out; the scores are never left out."""
    if "checks" not in reply or _json_size(reply) <= max_bytes:
        return reply
    checks = reply["checks"]
    budget = check_budget(max_bytes, len(checks))
    reply = {**reply, "checks": [fit_check(check, budget, lang, folder) for check in checks]}
    if _json_size(reply) > max_bytes:
        reply["predictions"] = {}
    return reply
