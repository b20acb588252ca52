"""A cache that never hits: its key holds something new for every request.

| kind | what | culprit |
| --- | --- | --- |
| ``cache_never_hits`` | lookups into a cache — ``:ets.lookup/2`` answered ``[]`` and the row was then inserted, or a map in a GenServer's state that gained one new key in every callback of one kind — missed every time (4 or more, 0 hits), every key was new, yet the keys repeat once a part that differs in every one of them is left out (a request id, a timestamp, a ref, the whole request map; or they are the same items in another order), and what was stored under keys that agree on the rest was the same: the stored answer did not depend on the part that made each key new — nothing is read back, the table grows, and the work behind the cache runs once per request | the application function whose result became the key (the call that returned it, in the process that looked it up, just before), else the function that looked it up (a key built inline); the count of lookups, hits, distinct keys and one key showing the varying part |

A healthy cache has hits: a few distinct keys asked many times, or a cold start (misses, then
hits). A table that records every request under its own id is no cache: its stored values differ
(the record of each request), and nothing repeats once the id is left out. The planner records
the lookups' answers when the symptom is slow or speaks of work done again
(:func:`~elixir_scope.agents.planner.plan`); the state history gives the maps. A memo or a
dedup map (a seen-set keyed by the whole event) is the same shape. Bounded: :data:`MAX_CALLS`
calls and :data:`MAX_LEAVES` leaves a key.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenMap

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import app_caller, callback_states, culprit_of, is_generated, message_shape

__all__ = ["caches_never_hit"]

MAX_CALLS = 50_000
MAX_LEAVES = 64
MIN_MISSES = 4
MAX_PER_KIND = 100     # callbacks of one kind compared (the first ones: a cache that never hits misses from the start)
MAX_FACTS = 2


@dataclass
class _Miss:
    at: Call              # the lookup (ETS) or the callback (a map in a state)
    key: Any
    value: Any            # what was stored under it
    process: int
    until: int | None = None   # when it was stored (the work behind the cache ran in between)


def _items(t: Any):
    if isinstance(t, dict):
        return t.items()
    if isinstance(t, FrozenMap):
        return t.items()
    return None


def _leaves(term: Any, path: tuple = (), out: dict | None = None) -> dict[tuple, str]:
    """path → printed leaf: tuples by position, maps and keyword lists by key (their order does
    not count), other lists as the sorted texts of their elements."""
    out = {} if out is None else out
    if len(out) >= MAX_LEAVES:
        return out
    items = _items(term)
    if items is not None:
        for k, v in sorted(items, key=lambda kv: fmt(kv[0], 60)):
            _leaves(v, path + (fmt(k, 60),), out)
    elif isinstance(term, tuple) and not isinstance(term, Atom):
        if term and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], Atom) for x in term) \
                and type(term).__name__ == "FrozenList":
            for k, v in sorted(term, key=lambda kv: kv[0].name):
                _leaves(v, path + (k.name,), out)
        elif type(term).__name__ == "FrozenList":
            out[path] = "[" + ", ".join(sorted(fmt(x, 60) for x in term)) + "]"
        else:
            for i, x in enumerate(term):
                _leaves(x, path + (i,), out)
    elif isinstance(term, list):
        if term and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], Atom) for x in term):
            for k, v in sorted(term, key=lambda kv: kv[0].name):
                _leaves(v, path + (k.name,), out)
        else:
            out[path] = "[" + ", ".join(sorted(fmt(x, 60) for x in term)) + "]"
    else:
        out[path] = fmt(term, 80)
    return out


def _varying(keys: list[Any]) -> tuple[list[tuple], list[str]] | None:
    """(the paths that differ in every key, the stable projection of each key), when leaving those
    paths out makes some keys equal; ``([], …)`` when only the order of their items differed."""
    leaves = [_leaves(k) for k in keys]
    common = set(leaves[0])
    for lv in leaves[1:]:
        common &= set(lv)
    n = len(keys)
    vary = sorted((p for p in common if len({lv[p] for lv in leaves}) == n), key=str)
    stable = sorted((p for p in common if p not in vary), key=str)
    if not stable:
        return None
    proj = ["|".join(lv[p] for p in stable) + ("" if vary or len(lv) == len(common) else "|+") for lv in leaves]
    if len(set(proj)) == n:
        return None
    return vary, proj


def _same_answers(proj: list[str], values: list[Any], varying: list[set[str]] | None = None) -> bool:
    """Whether what was stored under keys that agree on their stable part was the same (leaves that
    differ in every stored value — a time it was fetched — left out, unless they hold the part of
    the key that differs: then each value is the record of its own request, and depends on it)."""
    leaves = [_leaves(v) for v in values]
    n = len(values)
    every = set().union(*leaves) if leaves else set()
    noise = {p for p in every if len({lv.get(p) for lv in leaves}) == n and n > 2}
    if varying and any(sum(lv.get(p) in vk for lv, vk in zip(leaves, varying)) * 2 >= n for p in noise):
        return False
    groups: dict[str, set[str]] = defaultdict(set)
    for pj, lv in zip(proj, leaves):
        groups[pj].add("|".join(f"{p}={lv[p]}" for p in sorted(lv, key=str) if p not in noise))
    repeated = [pj for pj, c in Counter(proj).items() if c >= 2]
    return bool(repeated) and all(len(groups[pj]) == 1 for pj in repeated)


def _builder(view: RecordingView, pid: int, key: Any, before: int, since: int) -> Call | None:
    """The application call of ``pid`` whose result is ``key``, returned between ``since`` and ``before``."""
    text = fmt(key, 400)
    found = None
    for c in view.calls_by_pid.get(pid, []):
        if c.ts > before:
            break
        if c.ts >= since and c.outcome == "return" and c.end_ts is not None and c.end_ts <= before \
                and is_app_module(c.module) and not is_generated(c.function) and fmt(c.value, 400) == text:
            found = c
    return found


def _holder(c: Call) -> Call | None:
    p = app_caller(c)
    while p is not None and is_generated(p.function):
        p = app_caller(p)
    return p


def _ets_misses(view: RecordingView) -> dict[str, tuple[list[_Miss], int]]:
    """table → (the lookups that answered ``[]`` and whose key was then inserted, hits)."""
    lookups: dict[str, list[Call]] = defaultdict(list)
    inserts: dict[tuple[str, str], Call] = {}
    for i, c in enumerate(view.calls):
        if i >= MAX_CALLS:
            break
        if c.module != "ets" or len(c.args) != 2:
            continue
        table = fmt(c.args[0], 80)
        if c.function == "lookup" and c.outcome == "return":
            lookups[table].append(c)
        elif c.function in ("insert", "insert_new") and isinstance(c.args[1], tuple) and c.args[1] \
                and type(c.args[1]).__name__ != "FrozenList":
            inserts.setdefault((table, fmt(c.args[1][0], 400)), c)
    out = {}
    for table, ls in lookups.items():
        hits = sum(1 for c in ls if isinstance(c.value, (list, tuple)) and len(c.value) > 0)
        misses = []
        for c in ls:
            ins = inserts.get((table, fmt(c.args[1], 400)))
            if ins is not None and ins.ts >= c.ts and not (isinstance(c.value, (list, tuple)) and len(c.value)):
                misses.append(_Miss(c, c.args[1], tuple(ins.args[1][1:]), c.pid, ins.ts))
        out[table] = (misses, hits)
    return out


def _map_at(state: Any, path: tuple) -> Any:
    for k in path:
        items = _items(state)
        if items is None:
            return None
        state = dict(items).get(k)
    return state


def _state_misses(view: RecordingView) -> dict[tuple, tuple[list[_Miss], int]]:
    """(process, callback, message shape, field) → (the callbacks that put one new key into the map
    at that field, the callbacks of that kind that did not)."""
    groups: dict[tuple, list[_Miss]] = defaultdict(list)
    seen: Counter = Counter()
    states = callback_states(view)
    if not states:
        return {}
    by_id = {c.call_id: c for c in view.calls if c.call_id in states}
    for call_id, (before, after) in list(states.items())[:MAX_CALLS]:
        c = by_id.get(call_id)
        if c is None or not c.args:
            continue
        kind = (c.pid, c.function, message_shape(c.args[0]))
        if seen[kind] >= MAX_PER_KIND:
            continue    # enough callbacks of this kind to tell (a growing state map costs its size each)
        seen[kind] += 1
        top = _items(after)
        if top is None:
            continue
        paths = [()] + [(k,) for k, v in top if _items(v) is not None]
        for path in paths[:20]:
            tb, ta = _map_at(before, path), _map_at(after, path)
            mb, ma = _items(tb), _items(ta)
            if mb is None or ma is None or len(ta) != len(tb) + 1:
                continue
            old, new = dict(mb), dict(ma)
            added = [k for k in new if k not in old]
            if len(added) == 1 and len(new) == len(old) + 1 and not (path == () and isinstance(added[0], Atom)):
                groups[kind + (path,)].append(_Miss(c, added[0], new[added[0]], c.pid, c.end_ts))
    return {g: (ms, seen[g[:3]] - len(ms)) for g, ms in groups.items()}


def _work(view: RecordingView, misses: list[_Miss]) -> list[tuple[str, int]]:
    """The application functions that ran between a lookup and its store (the work behind the cache:
    a backend call, a computation), with how many misses ran each, most first (then first seen)."""
    seen: Counter = Counter()
    for m in misses:
        start = m.at.end_ts if m.at.module == "ets" else m.at.ts
        if start is None or m.until is None:
            continue
        ran: dict[str, None] = {}
        for c in view.calls_by_pid.get(m.process, []):
            if c.ts > m.until:
                break
            if c.ts > start and c is not m.at and is_app_module(c.module) and not is_generated(c.function) \
                    and (c.parent is None or c.parent.ts <= start or c.parent is m.at):
                ran[c.mfa] = None
        seen.update(list(ran))
    return seen.most_common()


def _shown(key: Any, vary: list[tuple]) -> str:
    if not vary:
        return f"{fmt(key, 100)} (the same items as another key, in another order)"
    lv = _leaves(key)
    parts = ", ".join(f"{'.'.join(str(x) for x in p) or 'the key'} = {lv[p]}" for p in vary[:2])
    return f"{fmt(key, 100)} (new in every key: {parts})"


def caches_never_hit(view: RecordingView, book: FactBook) -> None:
    candidates: list[tuple[str, list[_Miss], int]] = []
    for table, (misses, hits) in _ets_misses(view).items():
        candidates.append((f"the ETS table {table}", misses, hits))
    for (pid, fun, shape, path), (misses, hits) in _state_misses(view).items():
        where = f"the map {'at ' + ':' + str(path[0]).lstrip(':') + ' of' if path else 'that is'} the state of {view.label(pid)}"
        candidates.append((where, misses, hits))
    made = 0
    for where, misses, hits in candidates:
        if made >= MAX_FACTS:
            return
        if hits or len(misses) < MIN_MISSES:
            continue
        keys = [m.key for m in misses]
        if len({fmt(k, 400) for k in keys}) < len(keys):
            continue
        vp = _varying(keys)
        if vp is None:
            continue
        vary, proj = vp
        key_parts = [{_leaves(k).get(p) for p in vary} for k in keys]
        if not _same_answers(proj, [m.value for m in misses], key_parts):
            continue
        builders = []
        for m in misses:
            holder = _holder(m.at) if m.at.module == "ets" else m.at
            since = holder.ts if holder is not None else m.at.ts
            b = _builder(view, m.process, m.key, m.at.ts, since)
            builders.append(b if b is not None and b is not m.at else holder)
        named = Counter((b.module, b.function, b.arity) for b in builders if b is not None)
        if not named:
            continue
        top = named.most_common(1)[0][0]
        culprit = next(b for b in builders if b is not None and (b.module, b.function, b.arity) == top)
        built = culprit is not _holder(misses[0].at) and culprit is not misses[0].at
        repeats = len(proj) - len(set(proj))
        works = [w for w in _work(view, misses) if w[1] >= 2]
        behind = (f" {works[0][0]} ran for {works[0][1]} of the {len(misses)} misses: the work behind the cache runs "
                  "once per request." if works else "")
        example = _shown(keys[1], vary)
        ev = [view.call_evidence(culprit, f"{culprit.mfa} built the key {fmt(keys[builders.index(culprit)], 80)}")
              if built else view.call_evidence(culprit, f"{culprit.mfa} looked up {fmt(keys[builders.index(culprit)], 80)}")]
        ev += [view.end_evidence(m.at, f"miss for {fmt(m.key, 80)}: nothing stored under it, the answer computed and stored again")
               for m in misses[:4]]
        book.add(Finding(
            detector="cache_never_hits",
            title=(f"{culprit.mfa} makes a new cache key for every request: {len(misses)} lookups in {where}, 0 hits, "
                   f"{len(misses)} distinct keys"),
            summary=(f"{len(misses)} lookups in {where} missed, every one: {len(misses)} distinct keys, 0 hits, and each "
                     f"miss computed the answer and stored it again. Yet {repeats} of the keys ask for what an earlier key "
                     f"asked once the part that is new in every key is left out — e.g. {example} — and the answers stored "
                     f"for them were the same.{behind} The key {'built by ' + culprit.mfa if built else 'used by ' + culprit.mfa} "
                     "holds per-request data (an id, a time stamp, a ref, the whole request, options in varying order), so "
                     "nothing stored is ever read back: the cache only grows, and the work behind it runs once per request."),
            severity="high", confidence=0.78,
            culprit=culprit_of(view, culprit, keys[1]), evidence=ev, causal_chain=ev[:2],
            signatures=["cache:never_hits"],
            fix_hint=("Build the cache key only from what the answer depends on (the item, the pair, the normalised "
                      "options — e.g. Enum.sort/1 of a keyword list), never from a request id, a time stamp, a ref or "
                      "the whole request.")),
            pid=culprit.pid, ts=culprit.ts, works=[w[0] for w in works])
        made += 1
