"""Every item refused: a check that said no to every one of several different items, so nothing
came out — no item kept beside the lost ones, hence no contrast for :mod:`.lost` to work with.

| kind | what | culprit |
| --- | --- | --- |
| ``all_refused`` | an application function answering a refusal — ``false``, ``:error`` or ``{:error, _}`` — (a private ``valid?/1``, ``accept?/2``, a ``{:ok, _}``/``:error`` parser) was asked about :data:`MIN_ITEMS` or more different items of one shape and refused every one; what the items should reach never changed (the state of the callback that asked it, before and after, is the same every time) or came out empty (the nearest application caller returned ``[]``, an empty map, ``0``, ``0.0`` or ``nil``) — the deepest such check | that check, and a refused item |

A unit mixed up (watts against a limit in kW), a comparison the wrong way round, a field the items
never carry: the check refuses everything and the total stays 0, the list empty. A check may
rightly refuse a batch of bad items, so the fact counts in full only when the symptom says nothing
(no, zero, 0, empty, none) or too little came out; **weak** otherwise. A check that accepts some
items gives no such fact (:mod:`.lost` compares those). Bounded: :data:`MAX_CALLS` calls per
check, the first :data:`MAX_SCANNED` application returns, :data:`MAX_UP` callers walked per call.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_returns, callback_states, culprit_of, is_empty, is_error, is_generated
from .diag_flow import shape
from .lost import _loss_said

__all__ = ["all_refused", "analyses", "says_nothing_came_out"]

MIN_ITEMS = 4        # different items, every one refused
MAX_CALLS = 2000     # calls kept per check
MAX_SCANNED = 50_000  # application returns looked at
MAX_UP = 8           # callers walked to find where the item should have gone
MAX_FACTS = 2

# the symptom says nothing came out: "0.0 kWh", "no orders", "nothing archived", "still 0", "empty"
_NOTHING = re.compile(r"(?<![\d.,])0(?:\.0+)?(?![\d.,]*\d)|\b(?:nothing|none|zero|empty|no (?!one\b|errors?\b|crash\w*|exceptions?\b|warnings?\b|logs?\b|longer\b|matter\b)\w+|"
                      r"not (?:a single|one|any)|never (?:any|a)\b)", re.I)


def says_nothing_came_out(symptom: str) -> bool:
    """The symptom says nothing, zero or too little came out (or that items went missing)."""
    return bool(_NOTHING.search(symptom or "")) or _loss_said(symptom)


def _refusal(v: Any) -> bool:
    return v is False or (isinstance(v, Atom) and v.name == "false") or is_error(v)


def _kept_nothing(c: Call, states: dict[int, tuple[Any, Any]]) -> bool | None:
    """Whether what the item should reach stayed as it was: the state of the callback the check
    ran in (the same before and after), else the nearest application caller's result (empty);
    ``None`` when neither is known."""
    p, up = c.parent, 0
    while p is not None and up < MAX_UP:
        if p.function.startswith("handle_") and p.call_id in states:
            before, after = states[p.call_id]
            return before == after
        if p.outcome == "return" and not is_generated(p.function) and not p.function.startswith("handle_"):
            return is_empty(p.value)
        p, up = p.parent, up + 1
    return None


def _item(calls: list[Call]) -> int:
    """The argument position that differs between the calls (the item; others are settings)."""
    for i in range(calls[0].arity):
        if len({fmt(c.args[i], 200) for c in calls if len(c.args) > i}) > 1:
            return i
    return 0


def all_refused(view: RecordingView, book: FactBook, symptom: str) -> None:
    states = callback_states(view)
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for n, c in enumerate(app_returns(view)):
        if n >= MAX_SCANNED:
            break
        if not c.args or is_generated(c.function) or c.function.startswith(("handle_", "init", "terminate")):
            continue
        g = groups[(c.module, c.function, c.arity)]
        if len(g) < MAX_CALLS:
            g.append(c)
    found = []
    for key in sorted(groups):
        calls = groups[key]
        if len(calls) < MIN_ITEMS or not all(_refusal(c.value) for c in calls):
            continue
        if len({fmt(c.args, 400) for c in calls}) < MIN_ITEMS:
            continue
        if len({tuple(shape(a) for a in c.args) for c in calls}) > 2:   # items of one kind (a nil field aside)
            continue
        kept = [_kept_nothing(c, states) for c in calls]
        known = [k for k in kept if k is not None]
        if len(known) < MIN_ITEMS or not all(known):
            continue
        found.append((max(c.depth for c in calls), key, calls))
    if not found:
        return
    said = says_nothing_came_out(symptom)
    for depth, key, calls in sorted(found, key=lambda f: (-f[0], f[1]))[:MAX_FACTS]:
        c = calls[0]
        i = _item(calls)
        item = c.args[i] if len(c.args) > i else c.args[0]
        answer = fmt(c.value, 30)
        weak = None if said else "a check may rightly refuse a batch of bad items; the symptom does not say nothing came out"
        distinct = len({fmt(x.args, 400) for x in calls})
        evidence = [view.call_evidence(x, f"{x.mfa}({fmt(x.args, 60)}) → {fmt(x.value, 20)}") for x in calls[:4]]
        book.add(Finding(
            detector="all_refused",
            title=f"{c.mfa} refused all {len(calls)} items it was asked about ({answer}), e.g. {fmt(item, 60)}",
            summary=(f"{c.mfa} was asked about {distinct} different items of one kind and answered a refusal "
                     f"({answer}) to every one, e.g. {c.mfa}({fmt(c.args, 100)}) → {answer}; what the items should "
                     "have reached never changed (the state stayed as it was, the result came out empty). A check "
                     "that accepts nothing — a value compared in another unit or type, a comparison the wrong way "
                     "round, a field the items never carry — keeps every item out without a word."),
            severity="high", confidence=0.45 if weak else 0.8,
            culprit=culprit_of(view, c, item), evidence=evidence, causal_chain=evidence[:2],
            signatures=["data:all_refused"],
            fix_hint=("Run the check by hand on one refused item: compare both sides in the same unit and type, "
                      "turn the comparison the right way, read the field the items really carry; and let a "
                      "refusal say why ({:error, reason}, a log line) instead of dropping the item."),
            weak=weak),
            pid=c.pid, ts=c.ts)


def analyses(symptom: str):
    def refused(view: RecordingView, book: FactBook) -> None:
        all_refused(view, book, symptom)
    return [refused]
