"""Where a list first got the same item twice — only when the symptom says something came twice
("got the newsletter twice", "duplicate entries", "charged double"):

| kind | what | culprit |
| --- | --- | --- |
| ``duplicates_made`` | the first application call (not the trigger's own code) whose result is a list holding the same item (a text, a map, a tuple that is no ``{:ok, …}`` answer) more than once while no list it was given held a repeat, and that is not a list it was given with items added at one end (a log that was sent the same entry twice): there two sources were merged, or a de-duplication missed (``Enum.dedup/1`` drops only neighbours) — the deepest such call, its callers only pass the list on | that function, and the repeated items |

Bounded: the first :data:`MAX_CALLS` application calls, lists of at most :data:`MAX_ITEMS` items.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import ancestors, culprit_of
from .reasons import source_function

MAX_CALLS = 20_000
MAX_ITEMS = 5_000

_TWICE = re.compile(r"\btwice\b|\bduplicat\w*|\bdoubled?\b|\btwo copies\b|\b(?:two|2|several|multiple) times\b"
                    r"|\bmore than once\b|\bsame \w+ (?:again|twice)\b", re.I)


_NEGATED = re.compile(r"\b(?:not|never|no|cannot|can'?t|couldn'?t|won'?t|isn'?t|aren'?t|wasn'?t)\b(?:\s+\w+){0,4}\s*$", re.I)


def claims_twice(symptom: str) -> bool:
    """The symptom says something came twice — not that it cannot ("a link can't be used twice")."""
    text = symptom or ""
    return any(not _NEGATED.search(text[max(0, m.start() - 60):m.start()]) for m in _TWICE.finditer(text))


def _accumulated(given: list[Any], value: Any) -> bool:
    """``value`` is a list it was given with items added at one end (a log, a store): a repeat there
    was sent twice by its caller, not made here."""
    if not isinstance(value, list):
        return False
    return any(0 < len(g) < len(value) and (value[:len(g)] == g or value[-len(g):] == g) for g in given)


def _key(x: Any) -> str | None:
    """A comparable rendering of a list item that names something (not a small number or an atom,
    not an answer — ``{:ok, …}``, ``{:error, …}``: the same answer twice is no record made twice)."""
    if isinstance(x, tuple) and x and isinstance(x[0], Atom) and x[0].name in ("ok", "error", "reply", "noreply"):
        return None
    if isinstance(x, (bytes, dict, tuple)) or isinstance(x, Charlist):
        return fmt(x, 300)
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 1000:
        return str(x)
    return None


def _repeats(term: Any) -> list[str]:
    """The items ``term`` (a list) holds more than once."""
    if not isinstance(term, list) or isinstance(term, Charlist) or len(term) > MAX_ITEMS:
        return []
    keys = [k for k in (_key(x) for x in term) if k is not None]
    if any(isinstance(x, Atom) for x in term):
        return []
    return [k for k, n in Counter(keys).items() if n > 1]


def _lists_given(c: Call) -> list[Any]:
    out, stack, n = [], list(c.args), 0
    while stack and n < 200:
        t = stack.pop()
        n += 1
        if isinstance(t, list) and not isinstance(t, Charlist):
            out.append(t)
        elif isinstance(t, tuple):
            stack.extend(t)
        elif isinstance(t, dict):
            stack.extend(t.values())
    return out


def _trigger_code(view: RecordingView) -> set[tuple[int, str, str]]:
    """(pid, module, source function) of each rpc worker's outermost call: the trigger's own code
    (its loops collect the answers it got), which makes nothing the application shows."""
    return {(c.pid, c.module, source_function(c.function, c.arity)) for c in view.calls
            if c.pid in view.rpc_workers and c.parent is None}


def duplicates_made(view: RecordingView, book: FactBook) -> None:
    hits: list[tuple[Call, list[str]]] = []
    trigger = _trigger_code(view)
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or c.function.startswith("__") \
                or (c.pid, c.module, source_function(c.function, c.arity)) in trigger:
            continue
        n += 1
        if n > MAX_CALLS:
            break
        value = c.value[1] if isinstance(c.value, tuple) and len(c.value) == 2 \
            and getattr(c.value[0], "name", None) == "ok" else c.value
        rep = _repeats(value)
        given = _lists_given(c) if rep else []
        if not rep or any(set(rep) & set(_repeats(a)) for a in given) or _accumulated(given, value):
            continue
        hits.append((c, rep))
    outer = set()
    for c, _r in hits:
        outer |= ancestors(c)
    first = next(((c, r) for c, r in hits if c.call_id not in outer), None)
    if first is None:
        return
    c, rep = first
    value = c.value
    book.add(Finding(
        detector="duplicates_made",
        title=f"{c.mfa} returned a list holding {len(rep)} item(s) twice or more",
        summary=(f"The symptom says something came twice. {c.mfa}({fmt(c.args, 80)}) returned {fmt(value, 120)}, "
                 f"in which {', '.join(r[:60] for r in rep[:4])} occur more than once, while no list it was given "
                 "held a repeat: the duplicates were made here (two sources merged, or a de-duplication that "
                 "missed — Enum.dedup/1 drops only neighbouring repeats)."),
        severity="high", confidence=0.62, culprit=culprit_of(view, c, rep[:3]),
        evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                  view.end_evidence(c, f"returned {fmt(value, 80)}: {len(rep)} item(s) repeated")],
        signatures=["data:duplicates_made"],
        fix_hint=(f"Make {c.mfa} return each item once: Enum.uniq/1 (or Enum.uniq_by/2 on the identity) where "
                  "lists from several sources are merged; Enum.dedup/1 only drops consecutive repeats.")),
        pid=c.pid, ts=c.ts)


def analyses(symptom: str):
    return [duplicates_made] if claims_twice(symptom) else []
