"""Counters that keep the wrong value: one never set back when the episode it counts ends, one
set to zero when only part of it was used.

Both are bookkeeping bugs that never raise: the numbers in the state drift away from what they
stand for, and what they control (a delay, how much may be sent) goes wrong later.

| kind | what | culprit |
| --- | --- | --- |
| ``counter_not_reset`` | an integer field of a process's state only grows (an attempt or error count), a function's result grows with it (a backoff delay) — or the waits before a self-scheduled callback do — and the state went back to how it was before (status ``:connected`` again) without setting the counter back | the function whose return restored the state but kept the counter, and that return |
| ``demand_lost`` | a function set an integer field (demand, credit, a window) from ``a`` to ``0`` while handing out only ``b < a`` entries of a queue (or sending a batch of ``b``: then only when entries waited in a queue with the field at ``0`` afterwards) | that function, and the field's drop |
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function


def _fields(term: Any) -> dict[str, Any] | None:
    """A map state with atom keys as ``{field: value}``."""
    if isinstance(term, dict) and term and all(isinstance(k, Atom) for k in term):
        return {k.name: v for k, v in term.items()}
    return None


def _state_in(term: Any) -> dict[str, Any] | None:
    """The state map a return holds: the map itself, or the last map of ``{:noreply, s}``,
    ``{:reply, r, s}``, ``{:ok, s}``."""
    f = _fields(term)
    if f is not None:
        return f
    if isinstance(term, tuple):
        for x in reversed(term):
            f = _fields(x)
            if f is not None:
                return f
    return None


def _arg_state(c: Call) -> dict[str, Any] | None:
    for a in reversed(c.args):
        f = _fields(a)
        if f is not None:
            return f
    return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _marker(v: Any) -> bool:
    """A status-like value: an atom (``nil``, ``:connected``) or a boolean — what a state goes back to."""
    return isinstance(v, (Atom, bool))


def _culprit(view: RecordingView, c: Call, detail: str) -> Culprit:
    return Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity), detail=detail,
                   process=view.label(c.pid))


def _app_calls(view: RecordingView, pid: int) -> list[Call]:
    return [c for c in view.calls_by_pid.get(pid, []) if c.outcome == "return" and is_app_module(c.module)]


# ------------------------------------------------------------------ counter never reset
def _growing_use(calls: list[Call], counter: str, values: set[int]) -> list[Call] | None:
    """Calls of one function given the counter — its value as the only integer argument, or the
    state map holding it — whose numeric result grows with it: what the counter controls (a
    delay, a limit)."""
    by_fn: dict[tuple, list[tuple[int, Call]]] = {}
    for c in calls:
        if c.function.startswith(("handle_", "init", "-")) or not _is_num(c.value):
            continue
        ints = [a for a in c.args if _is_int(a)]
        state = _arg_state(c)
        if len(ints) == 1 and ints[0] in values:
            x = ints[0]
        elif not ints and state is not None and _is_int(state.get(counter)):
            x = state[counter]
        else:
            continue
        by_fn.setdefault((c.module, c.function, c.arity), []).append((x, c))
    for key in sorted(by_fn, key=str):
        seq = by_fn[key]
        xs, ys = [x for x, _c in seq], [c.value for _x, c in seq]
        if len(set(xs)) >= 3 and all(b > a for a, b in zip(xs, xs[1:])) and all(b > a for a, b in zip(ys, ys[1:])):
            return [c for _x, c in seq]
    return None


def counters_not_reset(view: RecordingView, book: FactBook) -> None:
    for pid in sorted(view.calls_by_pid):
        calls = _app_calls(view, pid)
        states = [(c, _arg_state(c), _state_in(c.value)) for c in calls]
        states = [(c, a, r) for c, a, r in states if a is not None and r is not None]
        if len(states) < 4:
            continue
        found = _not_reset(states)
        if found is None:
            continue
        counter, status, healthy, start, restore = found
        values = {r[counter] for _c, _a, r in states if _is_int(r.get(counter))} | \
                 {a[counter] for _c, a, _r in states if _is_int(a.get(counter))}
        use = _growing_use(calls, counter, values)
        if use is not None:
            grow = ", ".join(f"{_arg_text(x, counter)} → {fmt(x.value, 20)}" for x in use[-4:])
            controls = f"{use[0].mfa} computes from it ({grow})"
            use_ev = [view.end_evidence(x, f"{x.mfa} given {_arg_text(x, counter)} = {fmt(x.value, 20)}")
                      for x in use[-3:]]
        else:
            waits = _growing_waits(view, pid, counter)
            if waits is None:
                continue
            shape, seq = waits
            grow = ", ".join(f"{gap:.0f} ms at {counter} = {k}" for _c, k, gap in seq[-4:])
            controls = f"the waits before its {shape} callbacks grow with it ({grow})"
            use_ev = [view.call_evidence(x, f"{x.mfa} got {shape} after {gap:.0f} ms, {counter} = {k}")
                      for x, k, gap in seq[-3:]]
        c, before, after = restore
        kept = after[counter]
        detail = f"{status}: {fmt(healthy, 30)} again with {counter} still {kept} (not reset to {start})"
        book.add(Finding(
            detector="counter_not_reset",
            title=f"{view.label(pid)}: {counter} keeps counting after {status} went back to {fmt(healthy, 30)}",
            summary=(f"{c.mfa} set {status} back to {fmt(healthy, 30)} (as before {counter} started counting) but "
                     f"left {counter} at {kept} instead of {start}. {counter} only ever grew, and {controls}: after "
                     "one bad episode every later one starts from the old count, so what it controls (a delay, a "
                     "limit) keeps growing."),
            severity="high", confidence=0.7,
            culprit=_culprit(view, c, detail),
            evidence=([view.call_evidence(c, f"{c.mfa} with {status} = {fmt(before[status], 30)}, {counter} = "
                                             f"{before[counter]}"),
                       view.end_evidence(c, f"{c.mfa} returned {status} = {fmt(healthy, 30)}, {counter} = {kept}")]
                      + use_ev),
            signatures=["state:counter_not_reset"],
            fix_hint=(f"Set {counter} back to {start} where the episode ends ({c.mfa}, when {status} becomes "
                      f"{fmt(healthy, 30)}), so the next episode starts from the beginning.")),
            pid=pid, ts=c.ts)


def _growing_waits(view: RecordingView, pid: int, counter: str) -> tuple[str, list] | None:
    """A message the process schedules for itself (a retry, a reconnect timer) whose wait — from
    the end of the process's previous callback to the callback for it — grows with the counter:
    the delay is computed from the counter inline (``send_after(self(), :retry, base * 2 ** n)``).
    Geometric growth only (each wait ≥ 1.2× the one before but one, the last ≥ 4× the first and
    ≥ 50 ms): scheduling noise does not grow like that."""
    from .silent import _senders, _shape

    senders = _senders(view)
    ms = view.time_unit / 1000.0
    callbacks = [c for c in view.calls_by_pid.get(pid, [])
                 if c.depth == 0 and (c.function.startswith("handle_") or c.function == "init")]
    groups: dict[str, list] = {}
    prev_end = None
    for c in callbacks:
        a = _arg_state(c)
        if c.function == "handle_info" and c.args and prev_end is not None and a is not None \
                and _is_int(a.get(counter)) and not (c.call_id in senders and senders[c.call_id].pid != pid):
            groups.setdefault(_shape(c.args[0]), []).append((c, a[counter], (c.ts - prev_end) / ms))
        if c.end_ts is not None:
            prev_end = c.end_ts
    for shape in sorted(groups):
        seq = groups[shape]
        ks, gaps = [k for _c, k, _g in seq], [g for _c, _k, g in seq]
        if len(seq) < 3 or any(b <= a for a, b in zip(ks, ks[1:])):
            continue
        slow_steps = sum(1 for a, b in zip(gaps, gaps[1:]) if b < 1.2 * a)
        if slow_steps <= 1 and gaps[-1] >= 4 * max(gaps[0], 1.0) and gaps[-1] >= 50:
            return shape, seq
    return None


def _arg_text(c: Call, counter: str) -> str:
    ints = [a for a in c.args if _is_int(a)]
    return f"[{ints[0]}]" if ints else f"{counter}: {(_arg_state(c) or {}).get(counter)}"


def _not_reset(states: list) -> tuple | None:
    """(counter, status field, its healthy value, the counter's value then, (call, before, after)
    of the deepest call that restored the status but kept the counter)."""
    first = states[0][1]
    for counter in sorted(k for k, v in first.items() if _is_int(v)):
        seq = [a.get(counter) for _c, a, _r in states] + [states[-1][2].get(counter)]
        if not all(_is_int(v) for v in seq) or any(b < a for a, b in zip(seq, seq[1:])):
            continue
        if sum(1 for a, b in zip(seq, seq[1:]) if b > a) < 3:
            continue
        markers = [k for k, v in first.items() if k != counter and _marker(v)]
        for status in sorted(markers, key=lambda k: (first[k] is Atom("nil"), k)):
            healthy = first[status]
            start = first[counter]
            away = False
            for c, a, r in states:
                if a.get(status) != healthy:
                    away = True
                if away and a.get(status) != healthy and r.get(status) == healthy \
                        and r.get(counter) == a.get(counter) and _is_int(r.get(counter)) and r[counter] > start:
                    # the deepest call with this before → after is the one that wrote it
                    best = max((x for x in states if x[1].get(status) == a.get(status) and x[2].get(status) == healthy
                                and x[2].get(counter) == r[counter] and x[0].ts >= c.ts
                                and (c.end_ts is None or x[0].ts <= c.end_ts)), key=lambda x: x[0].depth,
                               default=(c, a, r))
                    return counter, status, healthy, start, best
    return None


# ------------------------------------------------------------------ demand set to zero
def _size(v: Any) -> int | None:
    """Entries of a queue-like value: a list, or an Erlang ``:queue`` (a pair of lists)."""
    if isinstance(v, list):
        return len(v)
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, list) for x in v):
        return len(v[0]) + len(v[1])
    return None


def _sent_lists(view: RecordingView, c: Call) -> list[int]:
    """Lengths of the lists in the messages ``c``'s process sent while ``c`` ran (a batch handed
    out inline, in the callback itself)."""
    out = []
    end = c.end_ts if c.end_ts is not None else c.ts
    for m in view.messages:
        if m.sender != c.pid or m.send_ts is None or not c.ts <= m.send_ts <= end:
            continue
        msg = m.msg
        if isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[0], Atom) and msg[0].name == "$gen_cast":
            msg = msg[1]
        if isinstance(msg, tuple) and msg and not isinstance(msg[0], Atom):
            continue   # a reply to a call ({tag, reply}) hands out nothing
        parts = msg if isinstance(msg, tuple) else (msg,)
        out += [len(x) for x in parts if isinstance(x, list) and x]
    return out


def _queued(state: Any) -> list[tuple[str, int]]:
    return [(k, n) for k, v in sorted((_fields(state) or {}).items()) if (n := _size(v) or 0) > 0]


def demand_lost(view: RecordingView, book: FactBook) -> None:
    steps_by_pid = view.state_steps()
    for pid in sorted(view.calls_by_pid):
        hits = []
        for c in _app_calls(view, pid):
            a, r = _arg_state(c), _state_in(c.value)
            if a is None or r is None:
                continue
            for field in sorted(a):
                if not (_is_int(a[field]) and a[field] > 0 and r.get(field) == 0):
                    continue
                for q in sorted(a):
                    before, after = _size(a[q]), _size(r.get(q))
                    if before is not None and after is not None and 0 < before - after < a[field]:
                        hits.append((c, field, q, a[field], before - after))
                # handed out inline: a batch the callback sent, shorter than the demand it cleared
                hits += [(c, field, None, a[field], n) for n in _sent_lists(view, c) if n < a[field]][:1]
        if not hits:
            continue
        # the first such step, and of the calls it is made of the deepest (the function that wrote it)
        first = hits[0][0]
        hit = max((h for h in hits if first.ts <= h[0].ts and (first.end_ts is None or h[0].ts <= first.end_ts)),
                  key=lambda h: (h[0].depth, h[2] is not None))
        c, field, q, demand, handed = hit
        # afterwards: entries wait in a queue while the field stays at zero
        later = [s for s in steps_by_pid.get(pid, []) if s.ts > (c.end_ts or c.ts)]
        last = later[-1] if later else None
        queued = [(k, n) for k, n in _queued(last.state) if q is None or k == q] if last is not None else []
        stalled = bool(queued) and (_fields(last.state) or {}).get(field) == 0
        if q is None and not stalled:
            continue   # a batch shorter than a cleared count is no loss by itself (a reset counter)
        detail = (f"{field}: {demand} → 0 while only {handed} of {q} were handed out ({demand - handed} lost)"
                  if q is not None else f"{field}: {demand} → 0 after a batch of only {handed} ({demand - handed} lost)")
        summary = (f"{c.mfa} set {field} from {demand} to 0 but handed out only {handed} entries (all it had): the "
                   f"other {demand - handed} of {field} were thrown away, while whoever asked for {demand} still "
                   "waits for them.")
        ev = [view.call_evidence(c, f"{c.mfa} with {field} = {demand}"),
              view.end_evidence(c, f"{c.mfa} returned {field} = 0 after handing out {handed}")]
        if stalled:
            k, n = queued[0]
            summary += f" Afterwards {n} entries arrived in {k} and stayed there with {field} = 0: the flow stalled."
            ev.append(view.evidence(last.event_id, "state", last.ts, pid, f"{k} holds {n} entries, {field} = 0"))
        book.add(Finding(
            detector="demand_lost",
            title=f"{view.label(pid)}: {c.mfa} drops {demand - handed} of {field} (set to 0 after sending {handed})",
            summary=summary, severity="high", confidence=0.75 if stalled else 0.45,
            culprit=_culprit(view, c, detail), evidence=ev,
            signatures=["state:demand_lost"],
            fix_hint=(f"Keep what was not used: {field} - {handed} (the unmet part), not 0, so the entries that "
                      "arrive later are sent against it; only the consumer's new requests add to it.")),
            pid=pid, ts=c.ts)
