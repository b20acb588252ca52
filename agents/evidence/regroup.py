"""Items a regrouping left behind — seen in one call's arguments and what it made of them, with no
symptom needed:

| kind | what | culprit |
| --- | --- | --- |
| ``tail_dropped`` | a function given a list regroups it — in chunks (a list of lists) or paired with other values (a list of tuples) — and the groups hold the list's first items in order but not its last ones: the result it returns, or what it hands to a call it makes. ``Enum.chunk_every(list, n, n, :discard)`` drops an incomplete last chunk, ``Enum.zip/2`` stops at the shorter list | that function, and the items left out |

A filter drops items by what they are, anywhere in the list; a regrouping that loses only the
list's tail drops them by where they stand, which is what a split into batches or a pairing
never means to do. For chunks the lost tail is shorter than a chunk (what an incomplete last chunk
would have held); a plain prefix (``Enum.take/2``) is no regrouping and is never named.

Bounded: the first :data:`MAX_CALLS` application calls, lists of at most :data:`MAX_ITEMS` items.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf.terms import Charlist, FrozenList

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000
MAX_ITEMS = 5_000
MAX_FACTS = 3


def _items(term: Any) -> list | None:
    """``term`` as a list of items (not a charlist: that is text), else ``None``."""
    if isinstance(term, Charlist) or not isinstance(term, (list, FrozenList)):
        return None
    items = list(term)
    return items if len(items) <= MAX_ITEMS else None


def _kept(items: list, groups: Any) -> int | None:
    """How many of ``items`` — a proper, non-empty prefix of them — ``groups`` holds when it is
    ``items`` regrouped with its tail left out; ``None`` when it is anything else."""
    rows = _items(groups)
    if not rows:
        return None
    if all(isinstance(r, (list, FrozenList)) and not isinstance(r, Charlist) and len(r) > 0 for r in rows):
        flat = [x for r in rows for x in r]
        size = max(len(r) for r in rows)
        k = len(flat)
        # chunks: what is left out is less than one chunk (an incomplete last chunk, discarded)
        return k if 0 < k < len(items) and flat == items[:k] and len(items) - k < size else None
    if all(isinstance(r, tuple) for r in rows) and len({len(r) for r in rows}) == 1 and len(rows[0]) >= 2:
        k = len(rows)
        if k < len(items) and any([r[i] for r in rows] == items[:k] for i in range(len(rows[0]))):
            return k   # pairs: the other side ran out first
    return None


def _lists(c: Call) -> list[list]:
    """The list arguments of ``c`` with three items or more, not all alike (a callback's state is
    not what it was asked to regroup)."""
    args = c.args[:-1] if c.function.startswith("handle_") and len(c.args) >= 2 else c.args
    out = []
    for a in args:
        items = _items(a)
        if items and len(items) >= 3 and any(x != items[0] for x in items):
            out.append(items)
    return out


def tails_dropped(view: RecordingView, book: FactBook) -> None:
    children: dict[int, list[Call]] = {}
    calls = []
    for c in view.calls:
        if not is_app_module(c.module) or c.function.startswith("__"):
            continue
        calls.append(c)
        if c.parent is not None and c.parent.pid == c.pid:
            children.setdefault(c.parent.call_id, []).append(c)
        if len(calls) >= MAX_CALLS:
            break
    n, named = 0, set()
    for c in calls:
        lists = _lists(c)
        if not lists:
            continue
        found = None
        for items in lists:
            if c.outcome == "return":
                k = _kept(items, c.value)
                if k is not None:
                    found = (items, k, None)
                    break
            for d in children.get(c.call_id, []):
                k = next((k for a in d.args if (k := _kept(items, a)) is not None), None)
                if k is not None and not any(_items(a) == items for a in d.args):
                    found = (items, k, d)
                    break
            if found:
                break
        key = (c.module, c.function, c.arity)
        if found is None or key in named:
            continue
        named.add(key)
        items, k, d = found
        lost = items[k:]
        where = ("returned them regrouped" if d is None else f"handed them regrouped to {d.mfa}")
        ev = [view.call_evidence(c, f"{c.mfa} given {len(items)} items: {fmt(items, 80)}")]
        ev.append(view.end_evidence(c, f"returned {fmt(c.value, 80)}") if d is None
                  else view.call_evidence(d, f"{d.mfa}({fmt(d.args, 80)}) — {k} of the {len(items)} items"))
        book.add(Finding(
            detector="tail_dropped",
            title=f"{c.mfa} left the last {len(lost)} of {len(items)} items out when it regrouped them",
            summary=(f"{c.mfa} was given a list of {len(items)} items and {where}, holding the first {k} in order "
                     f"and not the last {len(lost)} ({fmt(lost, 120)}). A regrouping — batches, pairs — that keeps "
                     "the head of a list and loses its tail drops items by where they stand, not by what they are."),
            severity="high", confidence=0.6, culprit=culprit_of(view, c, lost[:5]),
            evidence=ev, signatures=["data:tail_dropped"],
            fix_hint=("Keep the incomplete last batch (Enum.chunk_every/2 without :discard), or check that both "
                      "sides of a pairing have the same length (Enum.zip/2 stops at the shorter list) and ask "
                      "for the rest."),
            weak=None if len(lost) < k else (
                "the function kept fewer items than it left out: it may be meant to take only the first ones")),
            pid=c.pid, ts=c.ts)
        n += 1
        if n >= MAX_FACTS:
            return
