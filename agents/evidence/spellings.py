"""One case, two spellings: a function that turns the value a failing case is known by into text
returns two different texts for it — equal but for letter case, accents, the Unicode form or
spacing. Whatever is looked up, compared or stored by that text finds one spelling and misses the
other (an account opened under ``Mara.L@Posteo.de`` and stamped under ``mara.l@posteo.de``; a
name registered decomposed, ``u`` + U+0308, and typed composed, ``ü``).

| kind | what | culprit |
| --- | --- | --- |
| ``spelled_apart`` | the deepest application function (not a callback) given text that names a case of the symptom's failing clauses, whose text results for that case include two spellings that differ only in case, accents, Unicode form or spacing | that function, and the two spellings |

A function that makes every spelling canonical returns one text and is never named; the
symptom's cases come from :mod:`.cases`. Bounded (:data:`MAX_CALLS` calls).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .cases import Entities, fold, mentions, words_of
from .common import ancestors, culprit_of

MAX_CALLS = 20_000
MAX_TEXT = 200


def _text(value: object) -> str | None:
    """The text a call returned: a binary, or the binary of ``{:ok, text}``."""
    if isinstance(value, tuple) and len(value) == 2 and getattr(value[0], "name", None) == "ok":
        value = value[1]
    if isinstance(value, bytes) and 0 < len(value) <= MAX_TEXT:
        return value.decode("utf-8", "replace")
    return None


def canonical(text: str) -> str:
    """What two spellings of one value share: folded case and accents, one Unicode form, single spaces."""
    return re.sub(r"\s+", " ", fold(unicodedata.normalize("NFC", text))).strip()


def spelled_apart(view: RecordingView, book: FactBook, entities: Entities) -> None:
    if not entities.failing:
        return
    # (function, canonical text) → the distinct spellings it returned, with a call for each
    seen: dict[tuple[str, str, int], dict[str, dict[str, Call]]] = defaultdict(lambda: defaultdict(dict))
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or c.function.startswith(("__", "handle_")):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        out = _text(c.value)
        if out is None or not any(isinstance(a, bytes) for a in c.args):
            continue
        if not mentions(words_of(tuple(c.args)), entities.failing):
            continue
        seen[(c.module, c.function, c.arity)][canonical(out)].setdefault(out, c)
    found: list[tuple[Call, Call]] = []
    for by_key in seen.values():
        for spellings in by_key.values():
            if len(spellings) >= 2:
                a, b = list(spellings.values())[:2]
                found.append((a, b))
                break
    if not found:
        return
    # callee before caller: drop a function another found one ran inside
    inner = [(a, b) for a, b in found
             if not any(a.call_id in ancestors(x) or b.call_id in ancestors(x) for pair in found for x in pair)]
    a, b = sorted(inner or found, key=lambda p: (-max(p[0].depth, p[1].depth), p[0].ts, p[0].call_id))[0]
    sa, sb = _text(a.value), _text(b.value)
    book.add(Finding(
        detector="spelled_apart",
        title=f"{a.mfa} returned two spellings of one value: {sa!r} and {sb!r}",
        summary=(f"The symptom's failing cases ({', '.join(entities.failing[:4])}) pass through {a.mfa}: given "
                 f"{fmt(a.args, 60)} it returned {sa!r}, given {fmt(b.args, 60)} it returned {sb!r} — the same "
                 "value but for letter case, accents, Unicode form or spacing. Whatever is looked up, compared or "
                 "stored by this text finds one spelling and misses the other."),
        severity="high", confidence=0.62, culprit=culprit_of(view, a, f"{sa!r} vs {sb!r}"),
        evidence=[view.call_evidence(a, f"{a.mfa}({fmt(a.args, 60)})"), view.end_evidence(a, f"returned {sa!r}"),
                  view.call_evidence(b, f"{b.mfa}({fmt(b.args, 60)})"), view.end_evidence(b, f"returned {sb!r}")],
        signatures=["data:spelled_apart"],
        fix_hint=(f"Make {a.mfa} return one canonical text for every spelling of a value (String.downcase/1, "
                  ":unicode.characters_to_nfc_binary/1, String.trim/1 as the value needs), and key, compare and "
                  "store by that.")),
        pid=a.pid, ts=a.ts)
