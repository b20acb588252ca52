"""Reads that do not see a write: a value changed for a key, and a function that reads that key
afterwards still answers with another value — a copy taken earlier (a memo in the process
dictionary, a boot-time copy in ``:persistent_term``, a cache) that the change never reached.

| kind | what | culprit |
| --- | --- | --- |
| ``stale_read`` | after a write set a key to a value (``Application.put_env``, ``:persistent_term.put``, an ETS insert, an application setter ``f(key, value)`` returning ``:ok``, or a ``set_…``/``put_…``/``update_…`` function given a map of keys), a one-argument reader of that key returned a different value of the same kind — and the reader demonstrably reads that data: another reader returned the new value for the key, or it returned the written value for another key of the same write (an application setter not named ``set_…``/``put_…``/``update_…`` … weighs less: it may add or count rather than set) | the reader when another reader sees the new value (it keeps a copy) — unless another write path of the same data tells the copy's holder while it writes and this one does not: then that write path; else the function that made the write (it wrote where the readers do not look) |

A reader confirmed by nothing else is still judged when it is a **read-through copy**: before the
write it answered the same key with the same value, which an application call inside it (or inside
the server that answered it) had just returned for that key — it filled its copy (an ETS table, a
map in a state) from the source, the write changed the source, and the copy still answers the
value from before: the write path that did not invalidate the copy is named
(``data:stale_read:not_invalidated``).

Only scalar values count (numbers, strings): a reader that builds something new from the key
is not a copy of it. Two readers that already answered differently for the key before the write
read different data, and do not confirm each other.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function
from .common import app_caller, culprit_of

# stores written through the standard library: module → (function, arities)
_STORE_WRITES = {"Elixir.Application": ("put_env", (3, 4)), "persistent_term": ("put", (2,))}
_MAX_ENTRIES = 200
_SETTER = re.compile(r"^(?:set|put|update|change|configure|assign|replace|store|save|write)(?:_|$)")


@dataclass(frozen=True, eq=False)
class _Write:
    call: Call
    key: Any
    value: Any
    store: bool           # a config/store write (put_env, persistent_term, ETS), not an app setter


def _key_ok(k: Any) -> bool:
    if isinstance(k, bool) or isinstance(k, float):
        return False
    if isinstance(k, Atom):
        return k.name not in ("true", "false", "nil", "ok", "error")
    if isinstance(k, tuple):
        return 0 < len(k) <= 4 and all(_key_ok(x) for x in k)
    return isinstance(k, (bytes, int))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _val_ok(v: Any) -> bool:
    return _number(v) or (isinstance(v, bytes) and 0 < len(v) <= 200)


def _same_kind(a: Any, b: Any) -> bool:
    return (_number(a) and _number(b)) or (isinstance(a, bytes) and isinstance(b, bytes))


def _equal(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return a == b
    return type(a) is type(b) and a == b


def _unwrap(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        return v[1]
    return v


def _entries(key: Any, value: Any) -> list[tuple[Any, Any]]:
    """The (key, value) pairs a store write sets: the key itself, and the entries of a map or
    keyword list stored under it (limits per plan, rates per carrier)."""
    out = [(key, value)] if _key_ok(key) and _val_ok(value) else []
    if isinstance(value, dict):
        out += [(k, v) for k, v in list(value.items())[:_MAX_ENTRIES] if _key_ok(k) and _val_ok(v)]
    elif isinstance(value, list):
        out += [(x[0], x[1]) for x in value[:_MAX_ENTRIES]
                if isinstance(x, tuple) and len(x) == 2 and _key_ok(x[0]) and _val_ok(x[1])]
    return out


def _nested_in_same(c: Call) -> bool:
    p = c.parent
    return p is not None and p.module == c.module and p.function == c.function


def _writes(view: RecordingView) -> list[_Write]:
    out: list[_Write] = []
    for c in view.calls:
        if c.outcome != "return" or c.end_ts is None:
            continue
        store = _STORE_WRITES.get(c.module)
        if store is not None and c.function == store[0] and c.arity in store[1] and not _nested_in_same(c):
            k, v = (c.args[1], c.args[2]) if c.module == "Elixir.Application" else (c.args[0], c.args[1])
            out += [_Write(c, kk, vv, True) for kk, vv in _entries(k, v)]
        elif c.module == "ets" and c.function in ("insert", "insert_new") and len(c.args) == 2:
            objs = c.args[1] if isinstance(c.args[1], list) else [c.args[1]]
            out += [_Write(c, o[0], o[1], True) for o in objs[:_MAX_ENTRIES]
                    if isinstance(o, tuple) and len(o) == 2 and _key_ok(o[0]) and _val_ok(o[1])]
        elif (is_app_module(c.module) and len(c.args) == 2 and not c.function.startswith(("-", "handle_", "init"))
              and isinstance(c.value, Atom) and c.value.name == "ok" and _key_ok(c.args[0]) and _val_ok(c.args[1])):
            out.append(_Write(c, c.args[0], c.args[1], False))
        elif (is_app_module(c.module) and len(c.args) == 1 and isinstance(c.args[0], (dict, list))
              and _SETTER.match(c.function) and isinstance(c.value, Atom) and c.value.name == "ok"):
            # a setter given several keys at once: put_rates(%{"dhl" => 4.5, ...})
            out += [_Write(c, k, v, False) for k, v in _entries(None, c.args[0])]
    return sorted(out, key=lambda w: w.call.end_ts)


def _reads(view: RecordingView) -> list[Call]:
    return [c for c in view.calls
            if c.outcome == "return" and is_app_module(c.module) and len(c.args) == 1 and _key_ok(c.args[0])
            and not c.function.startswith(("-", "handle_", "init")) and _val_ok(_unwrap(c.value))]


def _latest(by_key: dict[str, list[_Write]], key: Any, ts: int) -> tuple[_Write, ...]:
    """The writes that gave ``key`` its value at ``ts``: the latest one, and the others of the
    same change (an application setter and the ``put_env`` inside it write the same value)."""
    before = [w for w in by_key.get(fmt(key, 200), []) if w.call.end_ts < ts and _equal(w.key, key)]
    if not before:
        return ()
    last = before[-1]
    return tuple(w for w in before if _equal(w.value, last.value) and w.call.ts >= _change_start(before, last))


def _change_start(before: list[_Write], last: _Write) -> int:
    """When the latest value was first written (an earlier write of another value ends the run)."""
    start = last.call.ts
    for w in reversed(before):
        if not _equal(w.value, last.value):
            break
        start = min(start, w.call.ts)
    return start


def _ancestors(c: Call) -> set[int]:
    out, p = set(), c.parent
    while p is not None:
        out.add(p.call_id)
        p = p.parent
    return out


def _writer_frame(w: _Write) -> Call:
    """The application function that made the write (for a store write: its caller)."""
    if not w.store or is_app_module(w.call.module):
        return w.call
    return app_caller(w.call) or w.call


def stale_reads(view: RecordingView, book: FactBook) -> None:
    writes = _writes(view)
    if not writes:
        return
    reads = _reads(view)
    by_key: dict[str, list[_Write]] = defaultdict(list)
    for w in writes:
        by_key[fmt(w.key, 200)].append(w)
    # each read against the latest write of its key before it: (read, writes, fresh?)
    judged: list[tuple[Call, tuple[_Write, ...], bool]] = []
    for r in reads:
        ws = _latest(by_key, r.args[0], r.ts)
        x = _unwrap(r.value)
        if not ws or any(w.call.call_id in _ancestors(r) for w in ws) or not _same_kind(x, ws[-1].value):
            continue
        judged.append((r, ws, _equal(x, ws[-1].value)))
    # an outer function that only passes an inner stale read on is not the reader at fault
    outer = {a for r, _w, fresh in judged if not fresh for a in _ancestors(r)}
    by_reader: dict[tuple, list[tuple[Call, tuple[_Write, ...], bool]]] = defaultdict(list)
    for r, w, fresh in judged:
        by_reader[(r.module, r.function, r.arity)].append((r, w, fresh))
    fresh_by_write: dict[int, list[tuple[tuple, Call]]] = defaultdict(list)
    for k2, rows2 in by_reader.items():
        for x, xw, fresh in rows2:
            for w in xw if fresh else ():
                fresh_by_write[id(w)].append((k2, x))
    for key in sorted(by_reader):
        rows = by_reader[key]
        stale = [(r, ws) for r, ws, fresh in rows if not fresh and r.call_id not in outer]
        if not stale:
            continue
        r, ws = stale[0]
        if any(fresh and _equal(x.args[0], r.args[0]) and set(xw) & set(ws) for x, xw, fresh in rows):
            continue  # the same reader also saw the new value for this key: not a copy
        others = [x for w in ws for k2, x in fresh_by_write.get(id(w), []) if k2 != key]
        store_calls = {w.call.call_id for w in ws if w.store}
        same_store = [x for x, xw, fresh in rows if fresh and store_calls & {w.call.call_id for w in xw if w.store}]
        others = [o for o in others[:20] if not _disagreed_before(reads, r, o, ws[0])]
        if not (others or same_store):
            filled = _filled_before(view, r, ws)
            if filled is not None:
                _add_read_through(view, book, r, ws, len(stale), *filled)
            continue
        # the write to name: when nobody reads the new value, the store write (its caller wrote it there)
        w = ws[-1] if others else next((w for w in ws if w.store), ws[-1])
        _add(view, book, r, w, len(stale), others, same_store, writes)


def _disagreed_before(reads: list[Call], r: Call, o: Call, w: _Write) -> bool:
    """Before the write, the two readers answered differently for the key: they do not read the
    same data, so one cannot be a stale copy of the other."""
    key = r.args[0]
    mine = [c for c in reads if c.end_ts is not None and c.end_ts < w.call.ts and _equal(c.args[0], key)]
    a = {fmt(_unwrap(c.value), 200) for c in mine if (c.module, c.function, c.arity) == (r.module, r.function, r.arity)}
    b = {fmt(_unwrap(c.value), 200) for c in mine if (c.module, c.function, c.arity) == (o.module, o.function, o.arity)}
    return bool(a and b and not a & b)


def _served_by(view: RecordingView, r: Call) -> Call | None:
    """The ``handle_call`` of another process that answered the reader's request (a client
    function), replying the value the reader returned, for a message naming the key."""
    x, key = _unwrap(r.value), fmt(r.args[0], 200)
    if r.end_ts is None:
        return None
    for c in view.calls:
        if (c.pid != r.pid and c.function == "handle_call" and c.ts >= r.ts and c.end_ts is not None
                and c.end_ts <= r.end_ts and c.args and key in fmt(c.args[0], 400)
                and isinstance(c.value, tuple) and len(c.value) >= 2 and _equal(_unwrap(c.value[1]), x)):
            return c
    return None


def _confidence(w: _Write, same_store: list[Call]) -> float:
    """Full for a write that says it sets (configuration, a store, a ``set_…``/``put_…`` setter);
    lower for any other ``f(key, value)`` returning ``:ok`` (it may add or count, not set)."""
    if w.store or same_store or _SETTER.match(w.call.function):
        return 0.75
    return 0.6


def _path(w: _Write) -> Call:
    """The application function that asked for the write: the caller of an application setter
    (``Promo.run/2`` calling ``Catalog.put_many/1``), else the writer frame itself."""
    f = _writer_frame(w)
    p = f.parent
    return p if p is not None and is_app_module(p.module) and not p.function.startswith("-") else f


def _tells(view: RecordingView, path: Call, holder: Call, reader: Call) -> bool:
    """``path`` sent the copy's holder a message while it ran, or called its module's API (other
    than the reader): an invalidation, a refresh."""
    end = path.end_ts if path.end_ts is not None else path.ts
    if any(m.sender == path.pid and m.receiver == holder.pid and m.send_ts is not None and path.ts <= m.send_ts <= end
           for m in view.messages):
        return True
    return any(c.module == holder.module and (c.function, c.arity) != (reader.function, reader.arity)
               and path.ts <= c.ts <= end for c in view.calls_by_pid.get(path.pid, []))


def _skipped_refresh(view: RecordingView, writes: list[_Write], w: _Write, holder: Call,
                     reader: Call) -> tuple[Call, Call] | None:
    """(the write path of ``w``, another write path of the same data) when the other one tells the
    copy's holder while it writes (an invalidation, a refresh) and ``w``'s does not."""
    path = _path(w)
    if path.pid == holder.pid or _tells(view, path, holder, reader):
        return None
    for w2 in writes:
        p2 = _path(w2)
        if w2.call.call_id != w.call.call_id and w2.call.module == w.call.module and p2.call_id != path.call_id \
                and (p2.module, p2.function) != (path.module, path.function) and _tells(view, p2, holder, reader):
            return path, p2
    return None


def _add(view: RecordingView, book: FactBook, r: Call, w: _Write, n: int, others: list[Call],
         same_store: list[Call], writes: list[_Write]) -> None:
    key, x = fmt(r.args[0], 60), fmt(_unwrap(r.value), 60)
    written = f"{fmt(w.value, 60)}"
    wcall = w.call
    wdesc = f"{mod_name(wcall.module)}.{wcall.function}/{wcall.arity}"
    ev = [view.call_evidence(wcall, f"{wdesc} set {key} to {written}"),
          view.end_evidence(r, f"{r.mfa}({key}) returned {x} afterwards")]
    if others:
        o = others[0]
        ev.append(view.end_evidence(o, f"{o.mfa}({fmt(o.args[0], 60)}) returned {written}: the new value"))
        server = _served_by(view, r)
        if server is not None:
            # a client function: the server answered from the copy in its state
            ev.append(view.end_evidence(server, f"{server.mfa} answered {x} for {key} from its state"))
            culprit = culprit_of(view, server, server.args[0])
        else:
            culprit = culprit_of(view, r, r.args[0])
        holder = server.mfa if server is not None else r.mfa
        why = (f"{o.mfa} returns the new value for {key}, so the write landed; {holder} answers from a copy taken "
               "earlier (a memo in the process dictionary or the state, a boot-time copy) that nothing refreshes")
        fix = ("Read the current value where it is kept (no private copy), or invalidate/refresh the copy when the "
               "value changes (subscribe to the change, or give the memo a short TTL).")
        skipped = _skipped_refresh(view, writes, w, server or r, r)
        if skipped is not None:
            # the copy works for the writes that tell it: the write path that does not is at fault
            path, telling = skipped
            culprit = culprit_of(view, path, path.args[0] if path.args else None)
            ev.append(view.end_evidence(telling, f"{telling.mfa} wrote and told {view.label((server or r).pid)}"))
            why += (f" — but {telling.mfa} tells the copy when it writes ({view.label((server or r).pid)} answers "
                    f"its new values), and {path.mfa} writes without telling it")
            fix = (f"Make {path.mfa} refresh or invalidate the copy after its write, as {telling.mfa} does (or "
                   "route every write through one function that does both).")
    else:
        frame = _writer_frame(w)
        culprit = Culprit(module=mod_name(frame.module), function=source_function(frame.function, frame.arity),
                          detail=f"{mod_name(wcall.module)}.{wcall.function}({', '.join(fmt(a, 60) for a in wcall.args)})",
                          process=view.label(frame.pid))
        if same_store:
            s = same_store[0]
            ev.append(view.end_evidence(s, f"{s.mfa}({fmt(s.args[0], 60)}) returned the value written for it"))
        why = (f"no reader returned the new value: {r.mfa} reads the data the write meant to change "
               "(it returns the written value for the keys that did not change), "
               f"but the write went to {wdesc} only — the readers use another copy")
        fix = ("Make the change where the readers read (or update every copy: e.g. refresh the :persistent_term or "
               "cached copy in the same place that changes the configuration), or have the readers read the source.")
    book.add(Finding(
        detector="stale_read",
        title=f"{r.mfa} still returns {x} for {key} after it was set to {written}",
        summary=(f"{wdesc} set {key} to {written}; afterwards {r.mfa}({key}) returned {x} ({n} such read(s)): {why}."),
        severity="high", confidence=_confidence(w, same_store), culprit=culprit, evidence=ev,
        signatures=["data:stale_read"], fix_hint=fix),
        pid=r.pid, ts=r.ts)


def _filled_before(view: RecordingView, r: Call, ws: tuple[_Write, ...]) -> tuple[Call, Call] | None:
    """(the reader's earlier call, the call inside it that read the source) when, before the write,
    the same reader answered the same value for the key it still answers after it, having got that
    value for the key from another application call inside it (or inside the server that answered
    it): a read-through copy filled from the source the write then changed."""
    key, x = r.args[0], _unwrap(r.value)
    start = ws[0].call.ts
    earlier = [c for c in view.calls_by_pid.get(r.pid, []) if (c.module, c.function, c.arity) == (r.module, r.function, r.arity)
               and c.end_ts is not None and c.end_ts < start and c.outcome == "return"
               and _equal(c.args[0], key) and _equal(_unwrap(c.value), x)]
    for e in earlier[:20]:
        holder = _served_by(view, e)
        for scope in (e, holder) if holder is not None else (e,):
            for d in view.calls_by_pid.get(scope.pid, []):
                if d.ts < scope.ts or (scope.end_ts is not None and d.ts > scope.end_ts):
                    continue
                if (d.call_id != scope.call_id and is_app_module(d.module) and d.outcome == "return"
                        and (d.module, d.function) != (r.module, r.function) and scope.call_id in _ancestors(d)
                        and any(_equal(a, key) for a in d.args[:3]) and _equal(_unwrap(d.value), x)):
                    return e, d
    return None


def _write_path(view: RecordingView, ws: tuple[_Write, ...]) -> Call:
    """The function that asked for the change: the outermost of the writes' frames (an
    application setter calling another one with the same value), or its caller when that is a
    named application function — not the trigger's own outermost call."""
    frames = [_writer_frame(w) for w in ws]
    top = min(frames, key=lambda f: f.depth)
    p = top.parent
    if (p is not None and is_app_module(p.module) and not p.function.startswith("-")
            and not (p.pid in view.rpc_workers and p.parent is None)):
        return p
    return top


def _add_read_through(view: RecordingView, book: FactBook, r: Call, ws: tuple[_Write, ...], n: int, e: Call,
                      d: Call) -> None:
    w = max(ws, key=lambda x: x.call.depth)   # the write into the source itself
    key, x = fmt(r.args[0], 60), fmt(_unwrap(r.value), 60)
    written = fmt(w.value, 60)
    wdesc = f"{mod_name(w.call.module)}.{w.call.function}/{w.call.arity}"
    path = _write_path(view, ws)
    ev = [view.end_evidence(d, f"{d.mfa} gave {r.mfa} {x} for {key}: the copy was filled from it"),
          view.call_evidence(w.call, f"{wdesc} set {key} to {written}"),
          view.end_evidence(r, f"{r.mfa}({key}) returned {x} afterwards: the value from before the write")]
    culprit = culprit_of(view, path, path.args[0] if path.args else None)
    book.add(Finding(
        detector="stale_read",
        title=f"{r.mfa} still returns {x} for {key} after {path.mfa} set it to {written}",
        summary=(f"Before the write {r.mfa}({key}) got {x} from {d.mfa} and kept it (a read-through copy: an ETS "
                 f"table, a map in a process's state); {path.mfa} then set {key} to {written} through {wdesc}, and "
                 f"{r.mfa}({key}) still returned {x} ({n} such read(s)): the write path changed the source and "
                 "left the copy as it was."),
        severity="high", confidence=_confidence(w, []), culprit=culprit, evidence=ev, causal_chain=ev,
        signatures=["data:stale_read", "data:stale_read:not_invalidated"],
        fix_hint=(f"Make {path.mfa} invalidate (delete) or update the cached entry for the key in the same place "
                  "it writes the source — or route every write through one function that does both.")),
        pid=r.pid, ts=r.ts)
