"""Silent loss: items that go in and never come out — no crash, no error, one item of several
missing from what is kept.

An item enters (a message a server handles, a value a check is asked about) and is absent from
what comes out later (the server's state after, the collection a caller returned), while items
that look like it — the same kind of message, the same shape of argument — are there. The last
function that saw the lost item and treated it unlike its look-alikes is where it was lost:

| kind | what | culprit |
| --- | --- | --- |
| ``items_rejected`` | a check (an application function answering ``true``/``false``, or a parser or lookup answering ``nil`` for some items and a value for others) was asked about three or more items of one shape and answered ``false``/``nil`` for some, ``true`` (a value) for others; every item it refused is absent from what its caller kept (the enclosing callback's state after, else the collection the nearest caller returned) while the items it accepted — or what it made of them — are there | that check, and a refused item beside an accepted one — or, when for every refused item the symptom names (every one, when it names none) the check only returned what one same callee answered (``eligible?/1`` returning ``in_window?/2``'s ``false``), that callee, with its arguments |
| ``items_unstored`` | a callback handled three or more messages of one shape, each with its own identity (a field whose value differs in every message); for some it changed the state and their identity is in it after, for others it returned the state unchanged and their identity is nowhere in it | that callback (a fall-through clause, a guard, a flag that filters) — caused by an ``items_rejected`` check it asked when that check refused the same items. Not an item it replied to otherwise than every stored one (``:denied`` against ``{:unlocked, bike}``, an error): the caller was told |

The third silent loss, an entry replaced under a key two items share (``entry_overwritten``), is
:mod:`.overwritten`'s; it runs with these.

Each counts in full when the symptom names a lost item (:mod:`.cases`' failing entities) or speaks
of something missing, lost, never shown or fewer (:data:`.collapsed._LOSS`); **weak** otherwise (a
check may rightly refuse, an entry may rightly be replaced); none when the symptom names the items
it misses and none of them is among the lost ones (the check refused others, rightly). Bounded: :data:`MAX_CALLS` calls per check or callback, :data:`_BUDGET` term nodes
per term walked.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .keytext import key_text
from .book import FactBook
from .collapsed import _LOSS
from .cases import mentions, symptom_entities, words_of
from .handled import shape
from .common import app_returns, callback_states, culprit_of, is_error, is_generated, message_shape

__all__ = ["items_rejected", "items_unstored", "analyses"]

MIN_ITEMS = 3
MAX_CALLS = 2000
MAX_FACTS = 2
_BUDGET = 3000
_CALLBACKS = ("handle_call", "handle_cast", "handle_info")


def _leaf(t: Any) -> bool:
    """A value an item is known by: a text, a number (not a boolean)."""
    return isinstance(t, (bytes, Charlist, str)) or (isinstance(t, (int, float)) and not isinstance(t, bool))


def _key(t: Any) -> Any:
    return bytes(t) if isinstance(t, Charlist) else t


def _walk(term: Any) -> dict[tuple, Any]:
    """path → leaf for the texts and numbers of ``term`` (map keys and tuple/list positions)."""
    out: dict[tuple, Any] = {}
    stack: list[tuple[tuple, Any]] = [((), term)]
    n = 0
    while stack and n < _BUDGET:
        path, t = stack.pop()
        n += 1
        if _leaf(t):
            out[path] = _key(t)
        elif isinstance(t, (dict, FrozenMap)):
            for k, v in t.items():
                if not (isinstance(k, Atom) and k.name == "__struct__"):
                    if _leaf(k):
                        out[path + (("key", key_text(k)),)] = _key(k)
                    stack.append((path + (key_text(k),), v))
        elif isinstance(t, (tuple, list, FrozenList)):
            for i, v in enumerate(t):
                stack.append((path + (i,), v))
    return out


def _values(term: Any, cache: dict[int, set] | None = None) -> set:
    """The texts and numbers anywhere in ``term`` (keys included), bounded; ``cache`` keeps them
    per term (by identity: one state is looked at for many items) while one analysis runs."""
    if cache is None:
        return set(_walk(term).values())
    got = cache.get(id(term))
    if got is None:
        got = cache[id(term)] = set(_walk(term).values())
    return got


# beyond :data:`.collapsed._LOSS`: an item that never arrived where it should be
_NEVER = re.compile(r"\b(?:never (?:got|get|gets|arriv\w*|reach\w*|receiv\w*|process\w*|stor\w*|sav\w*|record\w*|made it|"
                    r"end\w* up|turn\w* up)|(?:is|are|was|were) not (?:in|on) (?:the|my|our|their)|"
                    r"(?:isn't|aren't|wasn't|weren't) (?:in|on) (?:the|my|our|their))\b", re.I)


def _loss_said(symptom: str) -> bool:
    """The symptom speaks of items missing, lost, never arrived or left out."""
    return bool(_LOSS.search(symptom or "") or _NEVER.search(symptom or ""))


def _named(symptom: str, terms: list) -> bool | None:
    """Whether one of ``terms`` (the lost items) is an item the symptom names as failing;
    ``None`` when the symptom names none."""
    entities = symptom_entities(symptom or "")
    if not entities.failing:
        return None
    return any(mentions(words_of(t), entities.failing) for t in terms)


def _weak(symptom: str, lost: list, what: str) -> str | None:
    """Why a fact is weak — the symptom speaks of nothing missing —, ``None`` when it counts in
    full (it names a lost item, or speaks of items missing)."""
    if _named(symptom, lost) or _loss_said(symptom):
        return None
    return f"{what}; the symptom says nothing went missing"


# ---------------------------------------------------------------------------------------------
# a check that refused some items like those it accepted


def _output(view: RecordingView, c: Call, states: dict[int, tuple[Any, Any]]) -> tuple[Call, Any] | None:
    """What the caller of ``c`` kept: the state after of the callback it ran in, else the
    collection (a list, a map) the nearest application caller returned."""
    p, up = c.parent, 0
    while p is not None and up < 8:
        if p.function in _CALLBACKS and p.call_id in states:
            return p, states[p.call_id][1]
        if p.outcome == "return" and not is_generated(p.function) and isinstance(
                p.value, (list, FrozenList, dict, FrozenMap)) and p.value:
            return p, p.value
        p, up = p.parent, up + 1
    return None


def _answer(v: Any) -> str | None:
    """A check's answer: ``"no"`` (``false``, ``nil``), ``"yes"`` (``true``), ``"value"`` (what a
    parser or a lookup makes of the item); ``None`` for an error, which tells its caller."""
    if v is False or v is None or (isinstance(v, Atom) and v.name in ("nil", "false")):
        return "no"
    if v is True or (isinstance(v, Atom) and v.name == "true"):
        return "yes"
    return None if is_error(v) else "value"


def _passed_on(view: RecordingView, c: Call) -> Call | None:
    """The callee whose answer the check returned unchanged: its last application call (not an
    anonymous function) returned the very value the check did."""
    kids = [d for d in view.children(c) if is_app_module(d.module) and not is_generated(d.function)]
    if kids and kids[-1].outcome == "return" and fmt(kids[-1].value, 200) == fmt(c.value, 200):
        return kids[-1]
    return None


def _made_by(view: RecordingView, refused: list[Call], symptom: str) -> Call | None:
    """Where the refusal was made when the check only passed a callee's answer on: for every
    refused item the symptom names (every refused item when it names none), one same callee
    whose answer the check returned. A check that refused some items itself is still the place
    for those: only the items the user misses decide."""
    named = [x for x in refused if _named(symptom, [x.args])] or refused
    makers = [_passed_on(view, x) for x in named]
    if not makers or any(m is None for m in makers) or len({(m.module, m.function, m.arity) for m in makers}) != 1:
        return None
    return makers[0]


def items_rejected(view: RecordingView, book: FactBook, symptom: str) -> None:
    states = callback_states(view)
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in app_returns(view):
        if c.args and _answer(c.value) is not None and not is_generated(c.function) \
                and not c.function.startswith("handle_"):
            g = groups[(c.module, c.function, c.arity)]
            if len(g) < MAX_CALLS:
                g.append(c)
    made, cache = 0, {}
    for mfa in sorted(groups):
        calls = groups[mfa]
        if len(calls) < MIN_ITEMS or made >= MAX_FACTS:
            continue
        kinds = {tuple(type(_key(a)).__name__ for a in c.args) for c in calls}
        if len(kinds) != 1:
            continue   # items of different kinds: a type check, not a filter of look-alikes
        answers = {_answer(c.value) for c in calls}
        if answers not in ({"no", "yes"}, {"no", "value"}):
            continue   # one answer for all (:mod:`.constant`'s case), or true beside other values
        said_no = [c for c in calls if _answer(c.value) == "no"]
        said_yes = [c for c in calls if _answer(c.value) != "no"]
        kept, lost = [], []
        for c in calls:
            out = _output(view, c, states)
            if out is None:
                continue
            vals = _values(out[1], cache)
            item = _values(c.args)
            if not item:
                continue
            no = _answer(c.value) == "no"
            if not no and (item | _values(c.value)) & vals:
                kept.append((c, out))   # the item, or what was made of it, is kept
            elif no and not item & vals:
                lost.append((c, out))
            elif no:
                break   # a refused item that is kept all the same: the answer does not decide
        else:
            if not kept or not lost or len(lost) < len(said_no):
                continue
            if _named(symptom, [x.args for x, _o in lost]) is False:
                continue   # the items the user misses are not those it refused: it refused others rightly
            made += 1
            weak = _weak(symptom, [x.args for x, _o in lost], "a check may rightly refuse items")
            c, (holder, _) = lost[0]
            k, _ = kept[0]
            maker = _made_by(view, [x for x, _o in lost], symptom)
            items = list(dict.fromkeys(fmt(x.args if len(x.args) > 1 else x.args[0], 60) for x, _o in lost))
            evidence = [view.end_evidence(x, f"{x.mfa} answered {fmt(x.value)} for {fmt(x.args, 60)}") for x, _o in lost[:3]]
            evidence.append(view.end_evidence(k, f"{k.mfa} answered {fmt(k.value, 60)} for {fmt(k.args, 60)}, which was kept"))
            evidence.append(view.end_evidence(holder, f"{holder.mfa} kept nothing of {fmt(c.args, 60)}"))
            book.add(Finding(
                detector="items_rejected",
                title=f"{c.mfa} refused {len(lost)} of {len(calls)} items and they were never kept: {', '.join(items[:3])}",
                summary=(f"{c.mfa} answered {fmt(c.value)} for {', '.join(items[:4])} and {'true' if k.value is True else 'a value'} for items of the same "
                         f"shape ({fmt(k.args, 60)} among {len(said_yes)}); each refused item is absent from what "
                         f"{holder.mfa} kept after asking, each accepted one is there. Nothing failed: the "
                         "items were dropped by the check. A bound off by one (< for <=), a field compared in "
                         "another unit or type, a pattern too strict or nil taken as invalid refuses valid items."
                         + (f" The refusal was {maker.mfa}'s: {c.mfa} answered what it returned "
                            f"({maker.mfa}({fmt(maker.args, 60)}) → {fmt(maker.value)})." if maker is not None else "")),
                severity="high", confidence=0.6 if weak else 0.8,
                culprit=(culprit_of(view, maker, maker.args) if maker is not None
                         else culprit_of(view, c, c.args[0] if len(c.args) == 1 else c.args)),
                evidence=evidence, causal_chain=evidence[:2],
                signatures=["data:items_rejected"],
                fix_hint=("Check the refused items against the rule the check means: the bound (<= for an "
                          "inclusive limit), the unit and type of the field compared, the pattern (every valid "
                          "spelling), nil; and let a refusal say so (an {:error, reason}, a log line) instead of "
                          "dropping the item silently."),
                weak=weak),
                pid=c.pid, ts=c.ts, refused={x.call_id for x, _o in lost},
                holders={h.call_id for _x, (h, _v) in lost})


# ---------------------------------------------------------------------------------------------
# callbacks: items left out of the state, entries replaced


def _runs(view: RecordingView) -> dict[tuple, list[tuple[Call, Any, Any, dict]]]:
    """(pid, module, function, arity, message shape) → (callback, before, after, message leaves)."""
    states = callback_states(view)
    out: dict[tuple, list] = defaultdict(list)
    for c in view.calls:
        if c.function not in _CALLBACKS or c.call_id not in states or not c.args or c.outcome != "return":
            continue
        msg = c.args[0]
        g = out[(c.pid, c.module, c.function, c.arity, message_shape(msg))]
        if len(g) < MAX_CALLS:
            before, after = states[c.call_id]
            g.append((c, before, after, _walk(msg)))
    return out


def _identities(runs: list, *, texts: bool) -> list[tuple]:
    """The message positions every run has, whose values differ in every run (what each item is
    known by); ``texts``: only positions holding texts."""
    common = set(runs[0][3]).intersection(*(r[3] for r in runs[1:]))
    out = []
    for p in sorted(common, key=repr):
        vals = [r[3][p] for r in runs]
        if texts and not all(isinstance(v, (bytes, str)) for v in vals):
            continue
        if len(set(vals)) == len(vals):
            out.append(p)
    return out


def _error_reply(c: Call) -> bool:
    """A ``handle_call`` that replied an error (``{:reply, {:error, _}, state}``)."""
    v = c.value
    return isinstance(v, tuple) and len(v) >= 3 and getattr(v[0], "name", None) == "reply" and is_error(v[1])


def _told(c: Call, stored: list) -> bool:
    """A ``handle_call`` that answered this item otherwise than every item it stored (``:denied``
    against ``{:unlocked, 101}``; :func:`.handled.shape`): a refusal its caller was told of, not a
    silent loss."""
    reply = _reply(c)
    shown = [_reply(r[0]) for r in stored]
    if reply is None or not shown or any(x is None for x in shown):
        return False
    return shape(reply) not in {shape(x) for x in shown}


def _reply(c: Call) -> Any:
    v = c.value
    if isinstance(v, tuple) and len(v) >= 3 and getattr(v[0], "name", None) == "reply":
        return v[1]
    return None


def items_unstored(view: RecordingView, book: FactBook, symptom: str) -> None:
    made, cache = 0, {}
    for _group, runs in sorted(_runs(view).items(), key=lambda kv: kv[1][0][0].ts):
        if len(runs) < MIN_ITEMS or made >= MAX_FACTS:
            continue
        # an item refused with an error reply was not lost silently: the caller was told
        # (:mod:`.ignored` names a caller that dropped that error)
        changed = [r for r in runs if r[1] != r[2]]
        same = [r for r in runs if r[1] == r[2] and not _error_reply(r[0]) and not _told(r[0], changed)]
        if not same or not changed:
            continue
        for p in _identities(runs, texts=False):
            if all(r[3][p] in _values(r[2], cache) for r in changed) \
                    and not any(r[3][p] in _values(r[2], cache) for r in same):
                break
        else:
            continue
        if _named(symptom, [r[0].args[0] for r in same]) is False:
            continue
        made += 1
        weak = _weak(symptom, [r[0].args[0] for r in same], "a callback may rightly ignore some messages")
        c = same[0][0]
        k = changed[0][0]
        items = [fmt(r[3][p], 40) for r in same]
        evidence = [view.end_evidence(r[0], f"{r[0].mfa} handled {fmt(r[0].args[0], 60)} and kept its state as it was")
                    for r in same[:3]]
        evidence.append(view.end_evidence(k, f"{k.mfa} handled {fmt(k.args[0], 60)} and stored it"))
        fact = book.add(Finding(
            detector="items_unstored",
            title=f"{c.mfa} left {len(same)} of {len(runs)} items out of its state: {', '.join(items[:3])}",
            summary=(f"{view.label(c.pid)} got {len(runs)} messages of one kind, each with its own identity "
                     f"({', '.join(items[:3])} …); {c.mfa} stored {len(changed)} of them and returned the state "
                     f"unchanged for {len(same)}, whose identity is nowhere in the state after — no error, no "
                     "reply saying so. A clause that falls through without storing (a `case`/`with` whose last "
                     "branch answers :ok or {:noreply, state}), a guard or a state flag filters them out."),
            severity="high", confidence=0.55 if weak else 0.75,
            culprit=culprit_of(view, c, c.args[0]), evidence=evidence, causal_chain=evidence[:2],
            signatures=["state:items_unstored"],
            fix_hint=("Follow a left-out item through the callback: the branch it took must store it or "
                      "answer an error; a fall-through clause that keeps the state hides the loss."),
            weak=weak),
            pid=c.pid, ts=c.ts, dropped_runs={r[0].call_id for r in same})
        _link_checks(book, fact)


def _link_checks(book: FactBook, fact: Finding) -> None:
    """Items a check refused inside the very callbacks that left them out: the check is the cause."""
    runs = book.meta[fact.id].get("dropped_runs") or set()
    for f in book.of_kind("items_rejected"):
        if runs and runs <= (book.meta[f.id].get("holders") or set()):
            book.link(fact, f, "the check refused these items inside the callback that then kept nothing")


def analyses(symptom: str):
    def rejected(view: RecordingView, book: FactBook) -> None:
        items_rejected(view, book, symptom)

    def unstored(view: RecordingView, book: FactBook) -> None:
        items_unstored(view, book, symptom)

    def overwritten(view: RecordingView, book: FactBook) -> None:
        from .overwritten import entries_overwritten, ets_entries_overwritten   # builds on this module
        entries_overwritten(view, book, symptom)
        ets_entries_overwritten(view, book, symptom)
    return [rejected, unstored, overwritten]
