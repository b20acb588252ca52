"""Counters that keep the wrong value: one never set back when the episode it counts ends.

A bookkeeping bug that never raises: the number in the state drifts away from what it stands
for, and what it controls (a delay, a limit) goes wrong later.

| kind | what | culprit |
| --- | --- | --- |
| ``counter_not_reset`` | an integer field of a process's state only grows (an attempt or error count), a function's result grows with it (a backoff delay) — or the waits before a self-scheduled callback do — and the state went back to how it was before (status ``:connected`` again) without setting the counter back | the function whose return restored the state but kept the counter, and that return |
"""

from __future__ import annotations

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import message_senders, message_shape
from .statemap import app_calls, arg_state, culprit, is_int, is_num, marker, state_in


# ------------------------------------------------------------------ counter never reset
def _growing_use(calls: list[Call], counter: str, values: set[int]) -> list[Call] | None:
    """Calls of one function given the counter — its value as the only integer argument, or the
    state map holding it — whose numeric result grows with it: what the counter controls (a
    delay, a limit)."""
    by_fn: dict[tuple, list[tuple[int, Call]]] = {}
    for c in calls:
        if c.function.startswith(("handle_", "init", "-")) or not is_num(c.value):
            continue
        ints = [a for a in c.args if is_int(a)]
        state = arg_state(c)
        if len(ints) == 1 and ints[0] in values:
            x = ints[0]
        elif not ints and state is not None and is_int(state.get(counter)):
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
        calls = app_calls(view, pid)
        states = [(c, arg_state(c), state_in(c.value)) for c in calls]
        states = [(c, a, r) for c, a, r in states if a is not None and r is not None]
        if len(states) < 4:
            continue
        found = _not_reset(states)
        if found is None:
            continue
        counter, status, healthy, start, restore = found
        values = {r[counter] for _c, _a, r in states if is_int(r.get(counter))} | \
                 {a[counter] for _c, a, _r in states if is_int(a.get(counter))}
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
            culprit=culprit(view, c, detail),
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
    senders = message_senders(view)
    ms = view.time_unit / 1000.0
    callbacks = [c for c in view.calls_by_pid.get(pid, [])
                 if c.depth == 0 and (c.function.startswith("handle_") or c.function == "init")]
    groups: dict[str, list] = {}
    prev_end = None
    for c in callbacks:
        a = arg_state(c)
        if c.function == "handle_info" and c.args and prev_end is not None and a is not None \
                and is_int(a.get(counter)) and not (c.call_id in senders and senders[c.call_id].pid != pid):
            groups.setdefault(message_shape(c.args[0]), []).append((c, a[counter], (c.ts - prev_end) / ms))
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
    ints = [a for a in c.args if is_int(a)]
    return f"[{ints[0]}]" if ints else f"{counter}: {(arg_state(c) or {}).get(counter)}"


def _not_reset(states: list) -> tuple | None:
    """(counter, status field, its healthy value, the counter's value then, (call, before, after)
    of the deepest call that restored the status but kept the counter)."""
    first = states[0][1]
    for counter in sorted(k for k, v in first.items() if is_int(v)):
        seq = [a.get(counter) for _c, a, _r in states] + [states[-1][2].get(counter)]
        if not all(is_int(v) for v in seq) or any(b < a for a, b in zip(seq, seq[1:])):
            continue
        if sum(1 for a, b in zip(seq, seq[1:]) if b > a) < 3:
            continue
        markers = [k for k, v in first.items() if k != counter and marker(v)]
        for status in sorted(markers, key=lambda k: (first[k] is Atom("nil"), k)):
            healthy = first[status]
            start = first[counter]
            away = False
            for c, a, r in states:
                if a.get(status) != healthy:
                    away = True
                if away and a.get(status) != healthy and r.get(status) == healthy \
                        and r.get(counter) == a.get(counter) and is_int(r.get(counter)) and r[counter] > start:
                    # the deepest call with this before → after is the one that wrote it
                    best = max((x for x in states if x[1].get(status) == a.get(status) and x[2].get(status) == healthy
                                and x[2].get(counter) == r[counter] and x[0].ts >= c.ts
                                and (c.end_ts is None or x[0].ts <= c.end_ts)), key=lambda x: x[0].depth,
                               default=(c, a, r))
                    return counter, status, healthy, start, best
    return None
