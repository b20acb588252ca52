"""Where a wait's time went when it went into retrying: the function that made the attempts.

A slow run (a callback a caller timed out on, a worker a ``receive ... after`` gave up on) may
spend its time neither in one slow call nor in a loop over distinct items, but in **attempts**:
one callee called again and again, answering an error every time but maybe the last, with the
time between the attempts spent by the caller itself — a ``Process.sleep`` backoff, a pause, a
poll. The callee is fast and right to say it is busy; the function that keeps asking (and
sleeping) holds the wait, and it is named with its numbers: the attempts, how many failed, the
time spent between them (``"made 5 attempts at MyApp.Client.fetch/1, 4 returned {:error,
:busy}; 750 ms of its 760 ms went between the attempts"``).

:func:`retry_loop` finds it under a run: the callee with the most calls (at least
:data:`MIN_ATTEMPTS`), of which at least two returned an error (``:error``, ``{:error, _}``,
``:timeout``), made by one function — recursive (each attempt a new call of itself, the chain
counted from its outermost call) or a loop — and the gaps between the attempts cover at least
:data:`GAP_SHARE` of the run's time. Only recorded spans and return values: nothing about any
domain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..view import Call, RecordingView, fmt, is_app_module, is_atom

MIN_ATTEMPTS = 3       # calls of one callee to speak of retrying
GAP_SHARE = 0.5        # the share of the run's time that must go between the attempts
MAX_WALK = 5_000       # calls of the run's subtree looked at


@dataclass
class RetryLoop:
    retrier: Call          # the outermost call of the function that made the attempts
    callee: Call           # the first attempt
    attempts: int
    failed: int
    errors: list[str]      # the distinct failures (rendered), most common first
    between: int           # time between the attempts (trace time units)
    span: int              # the retrier's time up to the horizon (its first call's start to its last's end)
    calls: int = 1         # the retrier's calls that made attempts (one per item of a loop)

    def describe(self, view: RecordingView) -> str:
        ms = 1000.0 / view.time_unit
        errs = ", ".join(self.errors[:2])
        over = f" over {self.calls} calls" if self.calls > 1 else ""
        return (f"{self.retrier.mfa} made {self.attempts} attempts at {self.callee.mfa}{over}, {self.failed} of which "
                f"returned {errs}; {min(self.between, self.span) * ms:.0f} ms of its {self.span * ms:.0f} ms went "
                "between the attempts (waiting before trying again), not in them")


def _failed(v) -> bool:
    if is_atom(v, "error") or is_atom(v, "timeout"):
        return True
    return isinstance(v, tuple) and len(v) >= 2 and is_atom(v[0], "error")


def _subtree(view: RecordingView, run: Call) -> list[Call]:
    out, stack = [], [run]
    while stack and len(out) < MAX_WALK:
        c = stack.pop()
        out.append(c)
        stack.extend(view.children(c))
    return out


def _outermost(c: Call, stop: Call) -> Call:
    """The outermost call of ``c``'s function in the chain of its own calls above it (up to
    ``stop``): a recursive retry counts from its first attempt's caller."""
    top, p = c, c.parent
    while p is not None and p is not stop.parent:
        if (p.module, p.function, p.arity) == (c.module, c.function, c.arity):
            top = p
        elif is_app_module(p.module) and not p.function.startswith("-"):
            break
        p = p.parent
    return top


def _maker(c: Call) -> Call | None:
    p = c.parent
    while p is not None and (not is_app_module(p.module) or p.function.startswith("-")):
        p = p.parent
    return p


def retry_loop(view: RecordingView, run: Call, horizon: int) -> RetryLoop | None:
    """The retrying under ``run`` (measured to ``horizon`` at most), or None. A call nested in
    ``run`` whose return the recording lacks (a tail loop is traced without its returns) ends
    with ``run`` at the latest."""
    if run.end_ts is not None:
        horizon = min(horizon, run.end_ts)
    span = (run.end_ts if run.end_ts is not None else horizon) - run.ts
    if span <= 0:
        return None
    calls = [c for c in _subtree(view, run) if c is not run]
    by_fun: dict[tuple, list[Call]] = {}
    for c in calls:
        by_fun.setdefault((c.module, c.function, c.arity), []).append(c)
    best: RetryLoop | None = None
    for key, cs in by_fun.items():
        if len(cs) < MIN_ATTEMPTS:
            continue
        failures = [c for c in cs if c.end_ts is not None and _failed(c.value)]
        if len(failures) < 2:
            continue
        makers = {m.call_id: m for m in (_maker(c) for c in cs) if m is not None}
        if not makers:
            continue
        first_maker = next(iter(makers.values()))
        if any((m.module, m.function, m.arity) != (first_maker.module, first_maker.function, first_maker.arity)
               for m in makers.values()):
            continue   # attempts made from different functions: no one loop
        cs = sorted(cs, key=lambda c: c.ts)
        between = sum(max(0, b.ts - a.end_ts) for a, b in zip(cs, cs[1:]) if a.end_ts is not None)
        last = cs[-1]
        if last.end_ts is not None and _failed(last.value):
            between += max(0, horizon - last.end_ts)   # still waiting to try again when the run ended
        if between < GAP_SHARE * span:
            continue
        # the retrier's calls (one per item when a loop retries each): their time, first to last
        tops = {t.call_id: t for t in (_outermost(m, run) for m in makers.values())}
        retrier = min(tops.values(), key=lambda t: t.ts)
        r_span = max(min(t.end_ts if t.end_ts is not None else horizon, horizon) for t in tops.values()) - retrier.ts
        errors = [e for e, _ in Counter(fmt(c.value, 60) for c in failures).most_common(3)]
        loop = RetryLoop(retrier=retrier, callee=cs[0], attempts=len(cs), failed=len(failures), errors=errors,
                         between=between, span=r_span, calls=len(tops))
        if best is None or loop.between > best.between:
            best = loop
    return best
