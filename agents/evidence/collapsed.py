"""Silent loss: distinct items merged into one by a key that does not tell them apart — keys
colliding in ``Map.new``/``Enum.into``/``Map.put`` in a reduce, ``Enum.uniq_by``/``dedup_by``/
``group_by |> map(hd)`` or ``List.keystore`` on the wrong field, a composite or derived key
(``{a, b}``, a date taken from a time stamp, text lower-cased, ``"#{a}-#{b}"``), a seen-set that
remembers the wrong key across calls.

| kind | what | culprit |
| --- | --- | --- |
| ``entries_collapsed`` | an application call given a list of N records (maps, tuples) returned M < N of them (a list, or a map's values) or a map keyed by them — exactly one per value of a key (:mod:`.collapse_keys`: a field, a derived field, two fields) — while at least one record it dropped is another item than the one kept for its key (a copy, or one sharing its ``id``, dropped is a dedup, not a loss); or a call given a list and a set of keys seen before (a ``MapSet``, a map, in an argument or a field of one) returned the list less the records whose key was seen, one of them no item seen before. It counts in full when the symptom speaks of something missing or fewer, or states a value only a dropped record holds (``12`` units in leeds); **weak** otherwise (keeping one per key may be the intent: the latest per user) | that function (the deepest: its callers pass the smaller collection on), the key, two merged records and the field that told them apart |

Lists are looked at up to a bound. A fact the smaller collection explains further up — a caller
that returned or kept it (``value_origin``, ``items_unstored``, ``entry_overwritten`` on a
callback the call ran in) — is linked to it as its effect (:func:`link_effects`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, mod_name
from .book import FactBook
from .collapse_keys import MAX_ITEMS, Key, field_name, fields, identity, list_key, map_key, same_identity, seen_key, seen_sets
from .common import ancestors, app_returns, culprit_of
from .stated import stated_values
from .valuematch import digest, held, significant

MAX_FACTS = 2
MAX_EARLIER = 2000   # records of earlier calls a seen-set drop is compared with
MAX_CALLS = 400      # calls whose records are searched for a key (given records, returned fewer)
_EFFECTS = ("value_origin", "items_unstored", "entry_overwritten", "stale_read", "same_answer_for_all")
_LOSS = re.compile(r"\b(?:missing|miss(?:es|ed)?|lost|loses?|losing|dropp?\w*|disappear\w*|vanish\w*|gone|only|fewer|"
                   r"less than|overwrit\w*|not (?:list|show|appear|includ|count|book|record)\w*|does(?:n't| not) (?:list|show|"
                   r"appear|includ|count)\w*|never (?:appear|show|list|book|record)\w*|left out|skipp\w*|too (?:low|few)|"
                   r"\d+ (?:of|out of) (?:the )?\d+)\b", re.I)   # "9 of 40 counted": fewer than went in


@dataclass
class Merge:
    call: Call
    arg: int                 # the argument that held the records
    out: Any                 # what came out (the list, the map)
    key: Key
    lost: list               # the records dropped that are other items than the one kept
    partner: dict[int, Any]  # a dropped record's index in ``lost`` → the record kept or seen for its key
    seen_in: Call | None = None   # the earlier call that took the partner (a seen-set across calls)
    items: list | None = None     # the records given, when not the argument itself (a callback's message)
    seen: bool = False            # dropped for a key a seen-set held (not one kept per key in the call)

    @property
    def given(self) -> list:
        return self.items if self.items is not None else self.call.args[self.arg]


def _out(c: Call) -> Any:
    v = c.value
    return v[1] if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok" else v


def _out_list(out: Any, items: list) -> list | None:
    if isinstance(out, list):
        return out
    if isinstance(out, tuple):   # {kept, seen}: the first list in it that holds only given records
        for x in out:
            if isinstance(x, list) and x and all(y in items for y in x):
                return x
    return None


def _lost_items(items: list, kept: list, key: Key) -> tuple[list, dict[int, Any]]:
    """The records dropped that are other items than the kept one with their key."""
    by = {}
    for x in kept:
        r = fields(x)
        if r is not None:
            by.setdefault(key.of(r), x)
    lost, partner = [], {}
    for x in items:
        if x in kept:
            continue
        r = fields(x)
        k = key.of(r) if r is not None else None
        p = by.get(k)
        if p is not None and same_identity(r, fields(p)):
            continue   # the same item again: a dedup
        partner[len(lost)] = p
        lost.append(x)
    return lost, partner


def _earlier(view: RecordingView, c: Call, records: Callable[[Call], list | None]) -> list[tuple[Call, Any]]:
    """The records earlier calls of the same function were given (``records`` of each)."""
    out: list[tuple[Call, Any]] = []
    for e in view.calls:
        if e.ts >= c.ts or len(out) >= MAX_EARLIER:
            break
        if (e.module, e.function, e.arity) == (c.module, c.function, c.arity):
            got = records(e)
            if got:
                out += [(e, x) for x in got[:MAX_EARLIER]]
    return out


def _seen_merge(view: RecordingView, c: Call, i: int, items: list, kept: list, holders: list,
                records: Callable[[Call], list | None]) -> Merge | None:
    """``items`` came in, ``kept`` went on, the others were dropped for a key a seen-set among
    ``holders`` already held: a merge when one of them is no item sent before."""
    for seen in seen_sets(holders, -1):
        got = seen_key(items, kept, seen)
        if got is None:
            continue
        key, hit = got
        earlier = _earlier(view, c, records)
        lost, partner, where = [], {}, None
        for x in hit:
            r = fields(x)
            k = key.of(r)
            same = [(e, y) for e, y in earlier if fields(y) is not None and key.of(fields(y)) == k]
            if any(y == x or same_identity(r, fields(y)) for _, y in same):
                continue   # sent before: a re-send deduplicated
            if same and where is None:
                where = same[0][0]
            partner[len(lost)] = same[0][1] if same else None
            lost.append(x)
        return Merge(c, i, kept, key, lost, partner, where, seen=True) if lost else None
    return None


def _as_map(out: Any) -> dict | None:
    """A keyword list (or a list of ``{key, value}`` pairs with distinct keys) as the map it stands for."""
    if isinstance(out, list) and out and all(isinstance(x, tuple) and len(x) == 2 for x in out):
        try:
            m = {x[0]: x[1] for x in out}
        except TypeError:
            return None
        return m if len(m) == len(out) else None
    return None


def _merge(view: RecordingView, c: Call) -> Merge | None:
    out = _out(c)
    for i, a in enumerate(c.args):
        if not isinstance(a, list):
            continue
        pairs = _as_map(out) if isinstance(out, list) and not all(x in a for x in out) else None
        got = map_key(a, out) if isinstance(out, dict) else map_key(a, pairs) if pairs is not None \
            else list_key(a, out) if isinstance(out, list) else None
        if got is not None:
            lost, partner = _lost_items(a, got[1], got[0])
            return Merge(c, i, out, got[0], lost, partner) if lost else None
        kept = _out_list(out, a)
        if kept is not None:
            m = _seen_merge(view, c, i, a, kept, [x for j, x in enumerate(c.args) if j != i],
                            lambda e, i=i: e.args[i] if i < len(e.args) and isinstance(e.args[i], list) else None)
            if m is not None:
                return m
    return None


def _message_lists(msg: Any) -> list[tuple[int, list]]:
    """The lists of records a message carries: the message itself, or an element of its tuple."""
    if isinstance(msg, list):
        return [(-1, msg)]
    if isinstance(msg, tuple):
        return [(j, x) for j, x in enumerate(msg) if isinstance(x, list) and len(x) >= 2]
    return []


def _new_state(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) >= 2 and getattr(v[0], "name", None) in ("reply", "noreply"):
        return v[2] if v[0].name == "reply" and len(v) >= 3 else v[1] if v[0].name == "noreply" else None
    return None


def _appended(before: Any, after: Any, items: list) -> list | None:
    """The records of ``items`` a callback added to a list its state holds (the state itself, a
    field, a tuple element): what went on of what came in."""
    pairs = [(before, after)]
    if isinstance(before, tuple) and isinstance(after, tuple) and len(before) == len(after):
        pairs += list(zip(before, after))
    elif isinstance(before, dict) and isinstance(after, dict):
        pairs += [(before[k], after[k]) for k in list(before)[:64] if k in after]
    for b, a in pairs:
        if not (isinstance(b, list) and isinstance(a, list)) or len(a) <= len(b):
            continue
        tail = a[len(b):] if a[:len(b)] == b else a[:len(a) - len(b)] if b and a[len(a) - len(b):] == b else None
        if tail and len(tail) < len(items) and all(x in items for x in tail):
            return tail
    return None


def _callback_merge(view: RecordingView, c: Call) -> Merge | None:
    """A callback given records in its message that kept some in its state and dropped the others
    for a key a seen-set in its state already held."""
    if not c.function.startswith("handle_") or len(c.args) < 2:
        return None
    before, after = c.args[-1], _new_state(c.value)
    if after is None:
        return None
    for j, items in _message_lists(c.args[0]):
        kept = _appended(before, after, items)
        if kept is None:
            continue

        def records(e: Call, j: int = j) -> list | None:
            m = e.args[0] if e.args else None
            got = m if j < 0 else m[j] if isinstance(m, tuple) and j < len(m) else None
            return got if isinstance(got, list) else None
        m = _seen_merge(view, c, 0, items, kept, [before], records)
        if m is not None:
            m.items = items
            return m
    return None


def _shaped(c: Call) -> bool:
    """Cheaply: a call given a list of records that returned a smaller collection, or a callback
    whose message carries a list."""
    if c.function.startswith("handle_"):
        return bool(c.args) and bool(_message_lists(c.args[0]))
    out = _out(c)
    size = len(out) if isinstance(out, (list, dict, tuple)) else None
    if isinstance(out, tuple):   # {kept, seen}: the largest list in it
        size = max((len(x) for x in out if isinstance(x, list)), default=None)
    return size is not None and any(isinstance(a, list) and size < len(a) <= MAX_ITEMS for a in c.args)


def _mentioned(values, lost: list, kept: Any, counts: set[int]) -> tuple[str, Any] | None:
    """A value the symptom states that a dropped record holds and no kept one does, with that
    record; not a number that counts the records (``5 tasks``, ``3 of 5``)."""
    dk = digest(kept)
    for v in values:
        if significant(v) and not held(v, dk) and v.number not in counts:
            r = next((x for x in lost if held(v, digest(x))), None)
            if r is not None:
                return v.text, r
    return None


def _shared(m: Merge, example: Any) -> str:
    """Two merged records, the key they share and the field that told them apart."""
    p = m.partner.get(m.lost.index(example))
    if p is None:
        return ""
    a, b = fields(example), fields(p)
    recs = [r for r in (fields(x) for x in m.given) if r is not None]
    f = identity(a, b, m.key, recs)
    apart = f"; they differ in {field_name(f)} ({fmt(a[f], 40)} and {fmt(b[f], 40)})" if f is not None else ""
    return (f"{fmt(example, 90)} and {fmt(p, 90)} share {m.key.text} = {fmt(m.key.of(a), 60)}{apart}")


def entries_collapsed(view: RecordingView, book: FactBook, symptom: str) -> None:
    values = stated_values(symptom)
    loss = _LOSS.search(symptom or "")
    hits, looked = [], 0
    for c in app_returns(view):
        if c.function.startswith("-") or not _shaped(c):
            continue
        looked += 1
        if looked > MAX_CALLS:
            break
        m = _callback_merge(view, c) if c.function.startswith("handle_") else _merge(view, c)
        if m is not None:
            hits.append(m)
    inside = set().union(*(ancestors(m.call) for m in hits)) if hits else set()
    seen: set[tuple] = set()
    for m in hits:
        c = m.call
        if c.call_id in inside or (c.module, c.function, c.arity) in seen or len(seen) >= MAX_FACTS:
            continue
        seen.add((c.module, c.function, c.arity))
        n, n_out = len(m.given), len(m.out)
        mention = _mentioned(values, m.lost, m.out, {n, n_out, len(m.lost), n - n_out})
        named, example = (mention[0], mention[1]) if mention else (None, m.lost[0])
        k = m.key.text
        weak = None if (named or loss) else (
            "one record kept per value of a key may be what the function is for (the latest per key); the "
            "symptom says nothing went missing")
        shared = _shared(m, example)
        if m.seen:
            where = "in its message and a set of keys seen before in its state" if m.items is not None \
                else "and a set of keys seen before"
            how = (f"{c.mfa} was given {n} records {where}, and kept {n_out}: {len(m.lost)} dropped because their "
                   f"{k} was seen, though no record sent before was the same item")
            title = f"{c.mfa} kept {n_out} of {n} records, dropping those whose {k} was seen: {len(m.lost)} lost"
        else:
            one = len(m.lost) == 1
            how = (f"{c.mfa} was given {n} records and returned {n_out} — one per {k} — dropping {len(m.lost)} "
                   f"{'record that is not the item' if one else 'records that are not the items'} kept for "
                   f"{'its' if one else 'their'} key")
            title = f"{c.mfa} kept {n_out} of {n} records, one per {k}: {len(m.lost)} lost"
        evidence = [view.call_evidence(c, f"{c.mfa} was given {n} records"),
                    view.end_evidence(c, f"kept {n_out}; dropped {fmt(example, 60)}, its {k} seen before" if m.seen
                                      else f"returned {n_out}, one per {k}; dropped {fmt(example, 60)}")]
        if m.seen_in is not None:
            evidence.append(view.call_evidence(m.seen_in, f"{m.seen_in.mfa} took the record whose {k} was seen"))
        book.add(Finding(
            detector="entries_collapsed", title=title,
            summary=(f"{how} (e.g. {shared or fmt(example, 80)})"
                     f"{'; the symptom names ' + named + ', which only a dropped record holds' if named else ''}. "
                     "Keys colliding (Map.new/Enum.into/Map.put keyed by what is not unique), uniq_by/group_by "
                     "on the wrong or a derived field, or a seen-set keyed by content merge distinct items silently."),
            severity="high", confidence=0.78 if named else 0.7, culprit=culprit_of(view, c, example),
            evidence=evidence, signatures=["data:entries_collapsed"],
            fix_hint=("Key by what is unique (the item's id, or every field that tells items apart), or combine "
                      "the records that share a key (Enum.group_by/3, Map.update/4 adding up) instead of letting "
                      "the last or first one win."),
            weak=weak),
            pid=c.pid, ts=c.ts, call_id=c.call_id, end_ts=c.end_ts, count=n_out, kept=m.out)


def link_effects(view: RecordingView, book: FactBook) -> None:
    """A caller's fact that follows from a collapse: its call ran the collapsing call (a callback
    whose state kept the smaller collection, a function that returned it), or waited while it ran
    (a client of the server that merged) and returned the count that came out or what was kept."""
    facts = book.of_kind("entries_collapsed")
    if not facts:
        return
    by_call = {c.call_id: c for c in view.calls}
    for cause in facts:
        if cause.weak:
            continue   # one kept per key may be the intent: no cause of anything yet
        meta = book.meta.get(cause.id, {})
        c = by_call.get(meta.get("call_id"))
        if c is None:
            continue
        up = ancestors(c)
        kept = meta.get("kept")
        for f in book.of_kind(*_EFFECTS):
            if f.caused_by is not None or f.culprit is None or f is cause:
                continue
            fc = _fact_call(view, book, f)
            if fc is None:
                continue
            returned = _out(fc) if fc.outcome == "return" else None
            # its call ran the merge, or waited while it ran (a client of the server that merged) and
            # returned what came out of it
            if fc.call_id in up or (fc.ts <= c.ts and fc.end_ts is not None and c.end_ts is not None
                                    and fc.end_ts >= c.end_ts and returned is not None
                                    and (returned == kept or returned == meta.get("count"))):
                book.link(f, cause, f"follows from {cause.culprit.module}.{cause.culprit.function} merging items "
                                    "under one key")


def _fact_call(view: RecordingView, book: FactBook, f: Finding) -> Call | None:
    """The call a fact names: the latest call of its culprit's function cited by its evidence."""
    ids = {e.event_id for e in f.evidence if e.event_id is not None}
    named = [c for c in view.calls if (c.call_id in ids or c.end_id in ids) and mod_name(c.module) == f.culprit.module]
    return named[-1] if named else None


def analyses(symptom: str) -> list[Callable[[RecordingView, FactBook], None]]:
    def collapsed(view: RecordingView, book: FactBook) -> None:
        entries_collapsed(view, book, symptom)
    return [collapsed]
