"""A value meant to be unique handed out twice — when the symptom says so ("several customers
got the very same card code", "duplicate order numbers").

| kind | what | culprit |
| --- | --- | --- |
| ``repeated_value`` | a function that makes identifiers (a code with letters and digits, a large number) returned the same one to several calls — from different processes, or for different arguments — the deepest such function (its callers pass it on) | that function, and the value |

Only when the symptom speaks of the same, identical or duplicate code/id/number (a function
answering the same constant to everyone is ordinary otherwise). Bounded: the first
:data:`MAX_CALLS` application calls.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000
_CLAIM = re.compile(r"\b(?:same|identical|duplicated?|duplicates|repeated|twice the)\b[^.;!?]{0,40}?"
                    r"\b(?:codes?|ids?|identifiers?|numbers?|tokens?|keys?|references?|serials?|vouchers?|coupons?"
                    r"|tickets?|pins?|passwords?|names?|uuids?|slugs?|urls?|links?)\b"
                    r"|\b(?:codes?|ids?|numbers?|tokens?|keys?|references?|serials?)\b[^.;!?]{0,30}?"
                    r"\b(?:the same|identical|duplicated?|repeated|collide\w*|clash\w*)\b", re.I)
_GENERATED = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[\w-]{6,64}$")


def claims_duplicates(symptom: str) -> bool:
    return bool(_CLAIM.search(symptom or ""))


def _unwrap(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok":
        return v[1]
    return v


def _generated(v: Any) -> str | None:
    v = _unwrap(v)
    if isinstance(v, bytes):
        text = v.decode("utf-8", "replace")
        return text if _GENERATED.match(text) else None
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 100_000:
        return str(v)
    return None


def repeated_values(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[Call]] = defaultdict(list)
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or (c.pid in view.rpc_workers and c.parent is None):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        text = _generated(c.value)
        if text is not None:
            groups[(c.module, c.function, c.arity, text)].append(c)
    hits = {k: cs for k, cs in groups.items()
            if len(cs) >= 2 and (len({c.pid for c in cs}) >= 2 or len({fmt(c.args, 200) for c in cs}) >= 2)}
    outer = set()
    for cs in hits.values():
        for c in cs:
            p = c.parent
            while p is not None:
                outer.add(p.call_id)
                p = p.parent
    done = 0
    for key in sorted(hits, key=lambda k: min(c.ts for c in hits[k])):
        cs = [c for c in hits[key] if c.call_id not in outer]
        if len(cs) < 2:
            continue
        c, text = cs[0], key[3]
        book.add(Finding(
            detector="repeated_value",
            title=f"{c.mfa} returned the same {text} {len(cs)} times",
            summary=(f"The symptom speaks of a value that should be unique and is not. {c.mfa} returned {text} to "
                     f"{len(cs)} calls ({len({x.pid for x in cs})} process(es)); the functions that called it only "
                     "passed it on. Whatever it makes identifiers from (a seed, a clock reading, a counter) was the "
                     "same for those calls."),
            severity="high", confidence=0.76, culprit=culprit_of(view, c, text),
            evidence=[view.call_evidence(x, f"{x.mfa}({fmt(x.args, 40)}) → {text}") for x in cs[:4]],
            signatures=["data:repeated_value"],
            fix_hint=("Make identifiers from a source that differs per call: seed the random generator once per "
                      "process (or not at all: :rand seeds itself), use :crypto.strong_rand_bytes/1, a unique "
                      "integer (System.unique_integer([:positive, :monotonic])) or a database sequence — never the "
                      "current second.")),
            pid=c.pid, ts=c.ts, value=text)
        done += 1
        if done >= 3:
            return
