"""State that only grows: a process whose state grows at almost every step and never shrinks.

| kind | what | culprit |
| --- | --- | --- |
| ``state_growth`` | a process's state grows at almost every step and never shrinks; **weak** unless it ends big (500 terms, 4× its start) or grows again for requests it already handled (a key unique per request), or the symptom speaks of memory, growth or slowness; none for a buffer that reached its cap and stayed there | the callback that grows it, or the helper that keys every entry by something unique |

This is the bug behind "memory creeps up after a while".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..findings import Finding, StateChange, StateDiff
from ..view import Call, RecordingView, fmt, is_app_module, is_atom
from .book import FactBook
from .common import culprit_of, is_generated


def _size(term: Any, budget: int = 20000) -> int:
    """A term's size in elements, counting what the agent cut off (``{'$truncated', What,
    OriginalBytes}``) by its original size, so a state past the size limit still shows growth."""
    stack, n = [term], 0
    while stack and n < budget:
        t = stack.pop()
        n += 1
        if isinstance(t, tuple) and len(t) == 3 and is_atom(t[0], "$truncated") and isinstance(t[2], int):
            n += t[2] // 16
            continue
        if isinstance(t, (list, tuple)):
            stack.extend(t)
        elif isinstance(t, dict):
            for k, v in t.items():
                if is_atom(k, "$truncated") and isinstance(v, int):
                    n += 8 * v   # entries the agent elided: count them, or a capped state looks flat
                    continue
                stack.append(k)
                stack.append(v)
        elif isinstance(t, (bytes, str)):
            n += len(t) // 64
    return n


class _Sizes:
    """:func:`_size` of many states of one process, each subterm counted once: a recording
    rebuilds states from deltas, so what a step did not change is the very same term in the next
    state, and counting each state from scratch walks the unchanged thousands of entries again
    at every step. The result is :func:`_size`'s: exact for a state under the budget (counted
    here from the memo), and for a bigger one :func:`_size` itself walks it as before."""

    def __init__(self, budget: int = 20000) -> None:
        self.budget = budget
        self.memo: dict[int, tuple[Any, int]] = {}   # id → (the term, kept so its id stays its own; its size)

    def __call__(self, term: Any) -> int:
        self.fresh = 0
        try:
            n = self._count(term, 0)
        except _TooBig:
            return _size(term, self.budget)
        return n if n < self.budget else _size(term, self.budget)

    def _count(self, t: Any, depth: int) -> int:
        if isinstance(t, (list, tuple, dict)) and t:
            hit = self.memo.get(id(t))
            if hit is not None and hit[0] is t:
                return hit[1]
        self.fresh += 1
        if self.fresh > self.budget or depth > 200:   # (a deeper term: the old walk, no recursion)
            raise _TooBig
        if isinstance(t, tuple) and len(t) == 3 and is_atom(t[0], "$truncated") and isinstance(t[2], int):
            return 1 + t[2] // 16
        if isinstance(t, (list, tuple)):
            n = 1 + sum(self._count(x, depth + 1) for x in t)
        elif isinstance(t, dict):
            n = 1
            for k, v in t.items():
                if is_atom(k, "$truncated") and isinstance(v, int):
                    n += 8 * v
                else:
                    n += self._count(k, depth + 1) + self._count(v, depth + 1)
        elif isinstance(t, (bytes, str)):
            return 1 + len(t) // 64
        else:
            return 1
        if t and len(self.memo) < 200_000:
            self.memo[id(t)] = (t, n)
        return n


class _TooBig(Exception):
    """A state past the budget: :func:`_size` walks it the old way."""


def _unique_key_builder(view: RecordingView, pid: int, growing: list[Call]):
    """A helper called once by every growing callback whose result is new every time (a key
    built from something unique per request): (an example call, how many distinct results)."""
    children: dict[tuple, list[Call]] = defaultdict(list)
    ids = {c.call_id for c in growing}
    for x in view.calls_by_pid.get(pid, []):
        if x.parent is not None and x.parent.call_id in ids and is_app_module(x.module) and x.outcome == "return" \
                and not is_generated(x.function):
            children[(x.module, x.function, x.arity)].append(x)
    best = None
    for key in sorted(children, key=str):
        xs = children[key]
        if len(xs) < max(10, 0.8 * len(growing)):
            continue
        vals = {fmt(x.value, 300) for x in xs}
        small = all(len(fmt(x.value, 300)) < 200 for x in xs[:20])
        if small and len(vals) >= 0.95 * len(xs) and (best is None or len(vals) > best[1]):
            best = (xs[0], len(vals))
    return best


def state_growth(view: RecordingView, book: FactBook) -> None:
    by_pid = view.state_steps()
    sizes_of = _Sizes()
    for pid in sorted(by_pid):
        steps = by_pid[pid]
        if len(steps) < 15:
            continue
        sizes = [sizes_of(s.state) for s in steps]
        ups = sum(1 for a, b in zip(sizes, sizes[1:]) if b > a)
        downs = sum(1 for a, b in zip(sizes, sizes[1:]) if b < a)
        if sizes[-1] < 2 * max(sizes[0], 1) or sizes[-1] - sizes[0] < 20 or ups < 0.6 * (len(sizes) - 1) or downs > 0.1 * len(sizes):
            continue
        growers = Counter()
        example: dict[tuple, tuple] = {}
        grew_on: dict[tuple, list[Call]] = defaultdict(list)
        for i, (prev, nxt) in enumerate(zip(steps, steps[1:])):
            if sizes[i + 1] > sizes[i]:  # the sizes measured above (a state's walk is the cost here)
                cb = next((c for c in reversed(view.calls_by_pid.get(pid, [])) if c.function.startswith("handle_")
                           and c.ts <= nxt.ts), None)
                if cb is not None:
                    k = (cb.module, cb.function, cb.arity)
                    growers[k] += 1
                    grew_on[k].append(cb)
                    example.setdefault(k, (cb, prev, nxt))
        if not growers:
            continue
        k, _ = sorted(growers.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
        if _at_cap(view, pid, steps, sizes, k):
            continue
        cb, prev, nxt = example[k]
        changes = [ch for ch in view.state_changes(prev.state, nxt.state) if ch.op in ("grown", "added")][:5]
        where = f" ({', '.join(ch.path for ch in changes)})" if changes else ""
        growing = [c for c in view.calls_by_pid.get(pid, []) if (c.module, c.function, c.arity) == k]
        keyer = _unique_key_builder(view, pid, growing)
        culprit = culprit_of(view, cb, cb.args[0] if cb.args else None)
        if keyer is not None:
            kc, n_distinct = keyer
            culprit = culprit_of(view, kc, kc.value)
            where += (f"; every call of {kc.mfa} inside it returned a different value ({n_distinct} of {len(growing)}), "
                      f"e.g. {fmt(kc.value, 80)}: entries keyed that way are never found again, so nothing is reused "
                      "and nothing is evicted")
        book.add(Finding(
            detector="state_growth",
            title=f"{view.label(pid)}'s state grows without bound",
            summary=(f"The state of {view.label(pid)} grew from {sizes[0]} to {sizes[-1]} terms over {len(steps)} steps and "
                     f"never shrank; {cb.mfa} grows it{where}, and nothing removes entries."),
            severity="high", confidence=round(min(0.7, 0.4 + len(steps) / 100), 3),
            culprit=culprit,
            evidence=[view.evidence(s.event_id, "state", s.ts, pid, f"state size {z}") for s, z in
                      list(zip(steps, sizes))[:: max(1, len(steps) // 4)][:5]] + [view.call_evidence(cb)],
            state_diffs=[StateDiff(pid=view.proc(pid).pid if view.proc(pid) else str(pid), process=view.label(pid),
                                   event_id=nxt.event_id, caused_by=cb.mfa, changes=[
                                       StateChange(path=ch.path, op=ch.op, before=ch.before, after=ch.after) for ch in changes])],
            signatures=["state:growing", "memory:process_heap_growing"],
            fix_hint="Bound what the state keeps: evict old entries (by age or count), or move it to ETS with a cleanup.",
            weak=_unproven(view, steps, sizes, grew_on[k], keyer),
            lifted_by=["gradual", "node_wide", "slow", "escalating"]),
            pid=pid, ts=steps[0].ts)


def _at_cap(view: RecordingView, pid: int, steps: list, sizes: list[int], grower: tuple) -> bool:
    """A bounded buffer that reached its cap: after the state first reached its largest size, the
    callback that grew it ran three times or more and the size stayed there (a list trimmed to a
    limit, `Enum.take`, a `:queue` that drops its oldest). Growth up to a cap is no leak."""
    top = max(sizes)
    first = sizes.index(top)
    if any(z < 0.95 * top for z in sizes[first:]):
        return False
    calls = [c for c in view.calls_by_pid.get(pid, []) if (c.module, c.function, c.arity) == grower]
    t0 = steps[first].ts
    return sum(1 for c in calls if c.ts > t0) >= 3


BIG_STATE, BIG_FACTOR = 500, 4   # terms at the end, and how many times the start: growth no window explains


def _repeated(grew_on: list[Call]) -> tuple[int, int] | None:
    """(growth steps, distinct requests among them) when the state went on growing for requests
    it had already handled — the same item stored again (a key unique per request, a list that
    appends what it holds): growth past the number of distinct items, which no window or history
    of distinct work explains. None when most growth steps handled an item of their own."""
    seen = {fmt(c.args[0] if c.args else None, 300) for c in grew_on}
    if len(grew_on) >= 4 and len(seen) <= 0.6 * len(grew_on):
        return len(grew_on), len(seen)
    return None


def _unproven(view: RecordingView, steps: list, sizes: list[int], grew_on: list[Call], keyer) -> str | None:
    """Why the growth is no evidence of a leak on its own, or None when it is: the state ends
    big and many times its start (:data:`BIG_STATE`, :data:`BIG_FACTOR`), or it grew again for
    requests it had handled before (:func:`_repeated`). A state that gained an entry for each
    distinct piece of work of a short capture — a rolling window filling toward its cap, a bounded
    history, a `:queue` that drops its oldest — looks the same until it is full; the user's
    report of memory, growth over time or slowness (``lifted_by``) makes it count."""
    if sizes[-1] >= BIG_STATE and sizes[-1] >= BIG_FACTOR * max(sizes[0], 1):
        return None
    if _repeated(grew_on) is not None:
        return None
    span = (steps[-1].ts - steps[0].ts) / view.time_unit
    factor = sizes[-1] / max(sizes[0], 1)
    why = (f"the state grew from {sizes[0]} to {sizes[-1]} terms ({factor:.1f}×) over {len(steps)} steps in "
           f"{span:.1f} s, each growth for a request of its own")
    if keyer is not None:
        why += " (a new key for each)"
    return (why + ": growth bounded by the work of a short capture — a window or history filling with distinct "
            "items (kept to a size by `Enum.take`, a trimmed list, a `:queue` that drops its oldest) looks the same "
            "until it is full — "
            f"too small to be a leak on its own (under {BIG_STATE} terms or {BIG_FACTOR}× its start), and no "
            "request grew it twice")
