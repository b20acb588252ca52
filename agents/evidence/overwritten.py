"""Silent loss by a colliding key: a callback stored a new item where an earlier, different item
was, and the earlier one is gone — no crash, every reply ``:ok``.

A GenServer keeps its items in a map (of maps, of structs, of lists), a struct field holding
one, or a keyword list, keyed by something several items share (a group, a customer, a day, a
room); the second item's ``Map.put`` / ``%{m | k => v}`` / ``Map.update`` with a replacing
function / ``Keyword.put`` replaces the first. The state history shows it: the callback's message
carried an item known by its own identity (a field whose value differs in every message of that
kind: an id, a name, a time), the state after holds the new item's identity and no longer holds
an earlier item's, which the state before held — in the whole state, or in one of its fields that
holds a collection of the items — two or more of an item's values in it, not one field per key
like a last sequence number — (``by_customer`` lost it while a log field keeps a copy: the
readers of ``by_customer`` see the loss).

| kind | what | culprit |
| --- | --- | --- |
| ``entry_overwritten`` | a callback handling a message of one shape (three or more, each with its own identity) removed from its state, while storing the new item, the entry an earlier message of that shape had put there — and the message that put it there describes a *different item* than the new one: the two agree on fewer of their fields (texts, numbers; those alike in every message left out) than they differ in, or on one only (the key) — an update of the same thing repeats what the item is and changes a status or a time | the deepest application function inside that callback that was handed the earlier item and returned without it and with the new one (``Store.add/2``, a ``defp put_item/2`` when its calls were recorded), else the callback; its message as the detail |

It counts in full when the symptom speaks of something missing, lost or fewer, names a lost item,
or states a count put in and a smaller count shown whose difference is the number of items
replaced ("booked 5, the list shows 4"); **weak** otherwise (an entry may rightly be replaced:
the latest reading per sensor). Known to mislead: an update of a small item (two or three fields)
that changes most of them looks like another item; it stays weak unless the symptom says
something is missing. Bounded: :data:`.lost.MAX_CALLS` runs per callback, :data:`MAX_DEPTH`
levels and :data:`MAX_INNER` calls searched below a callback for the writer.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList, FrozenMap

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .keytext import key_text
from .book import FactBook
from .common import culprit_of, is_app_module, is_generated
from .lost import MAX_FACTS, MIN_ITEMS, _named, _runs, _values, _walk, _weak
from .stated import stated_values

__all__ = ["entries_overwritten", "ets_entries_overwritten", "shortfall_stated"]

MAX_DEPTH = 6      # levels below a callback searched for the function that made the write
MAX_INNER = 400    # calls looked at below one callback
MAX_FIELDS = 32    # fields of a map state looked at one by one


def _identities(runs: list) -> list[tuple]:
    """The message positions every run has whose values differ in every run (what each item is
    known by): texts first (names, ids), then numbers (an order number, a time)."""
    common = set(runs[0][3]).intersection(*(r[3] for r in runs[1:]))
    texts, numbers = [], []
    for p in sorted(common, key=repr):
        if p and isinstance(p[-1], tuple):
            continue   # a map key of the message: a position of its shape, not an item's field
        vals = [r[3][p] for r in runs]
        if len(set(vals)) != len(vals):
            continue
        if all(isinstance(v, (bytes, str)) for v in vals):
            texts.append((not any(chr(b).isalpha() if isinstance(b, int) else b.isalpha() for b in vals[0]), p))
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            numbers.append(p)
    return [p for _, p in sorted(texts, key=lambda t: t[0])] + numbers   # names before codes


def _same_item(old: dict[tuple, Any], new: dict[tuple, Any], constant: set[tuple]) -> bool:
    """The messages that carried the replaced item and the new one describe the same item: they
    agree on at least as many of their fields (texts, numbers; those alike in every message of
    the kind left out) as they differ in, and on two or more — an update repeats what the item is
    (its id, its name, its owner) and changes a field or two (a status, a time); another item
    shares only the key."""
    fields = (set(old) & set(new)) - constant
    same = sum(1 for p in fields if old[p] == new[p])
    return same >= 2 and same >= len(fields) - same


def _shown(leaves: dict[tuple, Any], now: set) -> Any:
    """What a message's item is best known by: its first text with a letter (a name, an id) that
    is not in ``now``, else its first value not in ``now``."""
    vals = [leaves[p] for p in sorted(leaves, key=repr) if leaves[p] not in now and not (p and isinstance(p[-1], tuple))]
    named = [v for v in vals if isinstance(v, (bytes, str)) and any(
        (chr(b) if isinstance(b, int) else b).isalpha() for b in v)]
    return (named or vals or [None])[0]


def _readers_follow(book: FactBook, fact: Finding, lost: list) -> None:
    """The readers of a state that lost entries are not culprits: a ``stale_read`` answered from
    the state of the process whose entries were replaced showed what was there — it follows from
    the replacement (linked: the chain's first cause is the writer) and is weak; a check that
    answered every case alike (``same_answer_for_all``) while none of the items it judged is
    among the lost ones explains nothing of the loss and counts less."""
    shown = [fmt(x, 200) for x in lost]
    for f in book.of_kind("stale_read"):
        if f.culprit.process and f.culprit.process == fact.culprit.process:
            book.link(f, fact, "it answered from a state that had lost the entry: a write under a colliding key replaced it")
            f.weak = f.weak or "the state it read had lost the entry to a colliding key: it showed what was there"
    for f in book.of_kind("same_answer_for_all"):
        judged = " ".join(e.summary or "" for e in f.evidence) + " " + (f.culprit.detail or "")
        if not any(x in judged for x in shown):
            f.confidence = min(f.confidence, 0.3)
            f.weak = (f.weak + "; " if f.weak else "") + "none of the items it judged is among those lost to a replaced entry"


def shortfall_stated(symptom: str, lost: int) -> bool:
    """The symptom states a count put in and a smaller one shown whose difference is ``lost``
    ("booked 5, the list shows 4")."""
    nums = {v.number for v in stated_values(symptom or "")
            if v.number is not None and v.kind in ("count", "number") and v.number == v.number.to_integral_value()}
    return any(a - b == Decimal(lost) for a in nums for b in nums if a > b > 0)


def _writer(view: RecordingView, c: Call, gone: Any, new: Any) -> Call:
    """The deepest application call inside callback ``c`` that was handed ``gone`` and returned
    ``new`` without it (the function that made the keyed write); ``c`` when none was recorded."""
    best, best_depth = c, 0
    todo: deque[tuple[Call, int]] = deque((k, 1) for k in view.children(c))
    seen = 0
    while todo and seen < MAX_INNER:
        k, depth = todo.popleft()
        seen += 1
        if depth > MAX_DEPTH:
            continue
        if k.outcome == "return" and is_app_module(k.module) and not is_generated(k.function) \
                and not k.function.startswith("-"):
            vals = _values(k.value)
            if new in vals and gone not in vals and gone in _values(k.args) and depth > best_depth:
                best, best_depth = k, depth
        todo.extend((g, depth + 1) for g in view.children(k))
    return best


def _holds_item(leaves: dict[tuple, Any], values: set, constant: set[tuple]) -> bool:
    """Two or more of a message's own values (those not alike in every message) are in ``values``:
    the item is kept there, not only one of its fields (a last sequence number per sender)."""
    return sum(1 for p, v in leaves.items() if p not in constant and v in values) >= 2


def _collection(t: Any) -> bool:
    """A term that holds items: a list, or a map keyed by something other than field names (or
    whose values are all maps, lists or tuples) — not one item's fields (``last: %{id: …}``)."""
    if isinstance(t, (list, FrozenList)):
        return True
    if isinstance(t, (dict, FrozenMap)) and t:
        return not all(isinstance(k, Atom) for k in t) or all(
            isinstance(v, (dict, FrozenMap, list, FrozenList, tuple)) for v in t.values())
    return False


def _scopes(state: Any, cache: dict[int, dict]) -> dict[Any, set]:
    """Where items are kept in a state: the whole of it, and each field of a map or struct state
    that holds a collection (an item replaced in ``by_customer`` while a log keeps a copy is still
    lost where the readers look) → the texts and numbers in it."""
    got = cache.get(id(state))
    if got is None:
        got = {(): _values(state)}
        if isinstance(state, (dict, FrozenMap)) and len(state) <= MAX_FIELDS:
            for k, v in state.items():
                if _collection(v):
                    got[key_text(k)] = _kept(v, cache)
        cache[id(state)] = got
    return got


def _kept(field: Any, cache: dict[int, Any]) -> set:
    """The values kept in one field of a state, not the keys they are kept under (a station's
    last number). Once per field term: the recording rebuilds a state from deltas, so a field
    no callback changed is the very same term in every later state (the cache holds the term,
    so its id stays its own)."""
    got = cache.get(("field", id(field)))
    if got is None or got[0] is not field:
        got = cache[("field", id(field))] = (field, {x for p, x in _walk(field).items()
                                                     if not (p and isinstance(p[-1], tuple))})
    return got[1]


def entries_overwritten(view: RecordingView, book: FactBook, symptom: str) -> None:
    made, cache = 0, {}
    for _group, runs in sorted(_runs(view).items(), key=lambda kv: kv[1][0][0].ts):
        if len(runs) < MIN_ITEMS or made >= MAX_FACTS:
            continue
        hits, items = [], []   # (callback, new item, lost items' names); the lost items' values
        common = set(runs[0][3]).intersection(*(r[3] for r in runs[1:]))
        constant = {q for q in common if len({r[3][q] for r in runs}) == 1}
        for p in _identities(runs):
            seen: list[tuple[Any, dict]] = []
            for c, before, after, leaves in runs:
                was_in, now_in = _scopes(before, cache), _scopes(after, cache)
                for scope, now in now_in.items():
                    was = was_in.get(scope, set())
                    if leaves[p] not in now:
                        continue
                    if scope and not _holds_item(leaves, now, constant):
                        continue   # a field keeping one value per key (the last sequence number), not the items
                    olds = [old for x, old in seen if x in was and x not in now
                            and not _same_item(old, leaves, constant)
                            and (not scope or _holds_item(old, was, constant))]
                    if olds:
                        items.extend(tuple(old.values()) for old in olds)
                        hits.append((c, _shown(leaves, set()), [_shown(old, now) for old in olds]))
                        break
                seen.append((leaves[p], leaves))
            if hits:
                break
            items = []
        if not hits:
            continue
        lost = list(dict.fromkeys(g for _c, _n, gs in hits for g in gs))
        if _named(symptom, items) is False:
            continue
        made += 1
        c, new, gone = hits[0]
        weak = None if shortfall_stated(symptom, len(lost)) else \
            _weak(symptom, lost, "replacing an entry may be an update of the same thing")
        w = _writer(view, c, gone[0], new)
        evidence = [view.end_evidence(h, f"{h.mfa} stored {fmt(n, 40)} and {fmt(gs[0], 40)} was gone from the state")
                    for h, n, gs in hits[:4]]
        if w is not c:
            evidence.insert(0, view.end_evidence(
                w, f"{w.mfa} was handed {fmt(gone[0], 40)} and returned {fmt(new, 40)} without it"))
        fact = book.add(Finding(
            detector="entry_overwritten",
            title=f"{w.mfa} replaced earlier entries in its state: {', '.join(fmt(x, 30) for x in lost[:3])} lost",
            summary=(f"{c.mfa} handled messages of one kind, each for a different item; storing {fmt(new, 40)} "
                     f"{'through ' + w.mfa + ' ' if w is not c else ''}it removed {fmt(gone[0], 40)}, which an "
                     f"earlier message had put in the state, and the entry that took its place is another item"
                     f"{f' ({len(hits)} times in all)' if len(hits) > 1 else ''}: the later item took the earlier "
                     "one's place and the state did not grow by it. A put under a key that is not unique to the "
                     "item (a room, a day, a group instead of the item's id) replaces one item with another."),
            severity="high", confidence=0.55 if weak else 0.8,
            culprit=culprit_of(view, w, c.args[0]), evidence=evidence, causal_chain=evidence[:2],
            signatures=["state:entry_overwritten"],
            fix_hint=("Store each item under what is unique to it (its id, a composite key), or keep a list per "
                      "key (Map.update/4 appending) instead of Map.put replacing what was there."),
            weak=weak),
            pid=c.pid, ts=c.ts, writers={h.call_id for h, _n, _g in hits}, lost=lost)
        _readers_follow(book, fact, lost)


# ---------------------------------------------------------------------------------------------
# the same in an ETS table: an insert under a key an earlier, different object had


def _app_frame(c: Call) -> Call:
    """The application function that made a store call (its nearest application caller)."""
    p = c.parent
    while p is not None and (not is_app_module(p.module) or p.function.startswith("-")):
        p = p.parent
    return p or c


def _lookups(view: RecordingView, table: str) -> list[Call]:
    return [c for c in view.calls if c.module == "ets" and c.function == "lookup" and len(c.args) == 2
            and c.outcome == "return" and fmt(c.args[0], 80) == table and isinstance(c.value, list)]


def _kept_both(lookups: list[Call], after: Call, key: Any, old: tuple) -> bool:
    """A lookup of ``key`` after the insert returned the earlier object too: the table keeps
    several objects per key (a bag), nothing was replaced."""
    return any(c.ts > after.ts and c.args[1] == key and old in c.value for c in lookups)


def ets_entries_overwritten(view: RecordingView, book: FactBook, symptom: str) -> None:
    """``entry_overwritten`` for ``:ets.insert``: objects of one shape inserted into one table,
    each with its own identity (a field that differs in every object), where a later object has
    the key (the first element) of an earlier, different one — which a ``:set`` table replaces. A
    later lookup of that key returning both objects (a ``:bag``) clears it."""
    groups: dict[tuple[str, int], list[tuple[Call, tuple]]] = {}
    n = 0
    for c in view.calls:
        if c.module != "ets" or c.function != "insert" or len(c.args) != 2 or c.outcome != "return":
            continue
        n += 1
        if n > MAX_INNER * 10:
            break
        objs = c.args[1] if isinstance(c.args[1], list) else [c.args[1]]
        for o in objs[:50]:
            if isinstance(o, tuple) and len(o) >= 2:
                groups.setdefault((fmt(c.args[0], 80), len(o)), []).append((c, o))
    made = 0
    for (table, _size), rows in sorted(groups.items(), key=lambda kv: kv[1][0][0].ts):
        if len(rows) < MIN_ITEMS or made >= MAX_FACTS:
            continue
        leaves = [_walk_object(o) for _c, o in rows]
        common = set(leaves[0]).intersection(*leaves[1:])
        ident = [p for p in common if p[:1] != (0,) and len({lv[p] for lv in leaves}) == len(leaves)]
        if not ident:
            continue   # no field tells the objects apart: rewrites of the same things
        constant = {p for p in common if len({lv[p] for lv in leaves}) == 1}
        lookups = _lookups(view, table)
        by_key: dict[str, tuple[tuple, dict]] = {}
        hits = []
        for (c, o), lv in zip(rows, leaves):
            k = fmt(o[0], 200)
            prev = by_key.get(k)
            if prev is not None and not _same_item(prev[1], lv, constant) and not _kept_both(lookups, c, o[0], prev[0]):
                hits.append((c, o, prev[0], _shown(prev[1], _values(o))))
            by_key[k] = (o, lv)
        if not hits:
            continue
        lost = list(dict.fromkeys(h[3] for h in hits))
        if _named(symptom, [h[2] for h in hits]) is False:
            continue
        made += 1
        c, o, old, _shown_old = hits[0]
        weak = None if shortfall_stated(symptom, len(lost)) else \
            _weak(symptom, lost, "an insert under a key already there may be an update of the same thing")
        w = _app_frame(c)
        detail = w.args[0] if w.function.startswith("handle_") and w.args else (w.args or None)
        evidence = [view.call_evidence(h[0], f":ets.insert({table}, {fmt(h[1], 60)}) under the key of "
                                             f"{fmt(h[2], 60)}, inserted earlier") for h in hits[:4]]
        fact = book.add(Finding(
            detector="entry_overwritten",
            title=f"{w.mfa} inserted into {table} under keys earlier objects had: {', '.join(fmt(x, 30) for x in lost[:3])} lost",
            summary=(f"{w.mfa} inserted objects of one shape into ETS table {table}, each for a different item; "
                     f"{fmt(o, 60)} went in under the key {fmt(o[0], 30)} that {fmt(old, 60)} had"
                     f"{f' ({len(hits)} times in all)' if len(hits) > 1 else ''} — a :set table keeps one object per "
                     "key, so the later item replaced the earlier one. The key (the first element) is not unique "
                     "to the item (a row, a day, a group instead of its id)."),
            severity="high", confidence=0.55 if weak else 0.75,
            culprit=culprit_of(view, w, detail), evidence=evidence, causal_chain=evidence[:2],
            signatures=["state:entry_overwritten"],
            fix_hint=("Put what is unique to the item first in the tuple (its id, or a {key, id} pair), or use a "
                      ":bag / :duplicate_bag table when several items share a key."),
            weak=weak),
            pid=c.pid, ts=c.ts, lost=lost)
        _readers_follow(book, fact, lost)


def _walk_object(o: tuple) -> dict[tuple, Any]:
    """An object's texts and numbers by position (map keys left out)."""
    return {p: v for p, v in _walk(o).items() if not (p and isinstance(p[-1], tuple))}
