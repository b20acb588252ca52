"""A wait that gave up on a worker busy retrying: the retry loop holds the wait, not the waiter.

An application function starts a worker (``spawn``, ``Task.start``, ``Task.async``) and waits for
its answer with a timeout — ``receive ... after``, ``Task.yield`` — and returns its timeout value
(``{:error, :timeout}``, ``:timeout``). The waiter is where the failure shows; where the time
went is the worker: when the worker's run spent it between attempts at one callee that kept
failing (:func:`elixir_scope.agents.detectors.slow_retries.retry_loop`: a sleep, a backoff, no
bound within the waiter's timeout), the function that kept retrying is the culprit. (A waiter
timing out on a ``GenServer.call`` is ``slow_callback``'s, which names the same retrier.)

| kind | what | culprit |
| --- | --- | --- |
| ``retries_outlasted_wait`` | an application call lasting at least :data:`MIN_WAIT_MS` returned a value holding ``:timeout`` while a process its process spawned during the wait was still running an application call whose time went (at least half) between ≥ 3 attempts at one callee, ≥ 2 of them errors | the function that made the attempts (the outermost of a recursive chain), with the attempts and the time between them |

Bounded: :data:`MAX_WAITERS` waiters, :data:`MAX_FACTS` facts. A worker that was slow in one
call (no attempts) gives no such fact: a long job and a short timeout look alike from here.
"""

from __future__ import annotations

from typing import Any

from ..detectors.slow_retries import retry_loop
from ..findings import Finding
from ..view import Atom, Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import app_returns, culprit_of, is_generated

__all__ = ["retries_outlasted_waits"]

MIN_WAIT_MS = 100.0
MAX_WAITERS = 200
MAX_FACTS = 2


def _timed_out(v: Any, budget: int = 40) -> bool:
    """``v`` is, or is a small tuple holding, the atom ``:timeout``."""
    if isinstance(v, Atom):
        return v.name == "timeout"
    return isinstance(v, tuple) and 0 < len(v) <= 3 and any(isinstance(x, Atom) and x.name == "timeout" for x in v)


def _horizon(view: RecordingView, pid: int) -> int:
    ends = [e.ts for e in view.exits if e.pid == pid]
    return min(ends) if ends else max([c.end_ts or c.ts for c in view.calls], default=0)


def retries_outlasted_waits(view: RecordingView, book: FactBook) -> None:
    waiters = [c for c in app_returns(view) if _timed_out(c.value) and not is_generated(c.function)
               and (c.duration(view.time_unit) or 0.0) >= MIN_WAIT_MS][:MAX_WAITERS]
    named: set[tuple] = set()
    for w in waiters:
        if len(named) >= MAX_FACTS:
            return
        workers = {s.child for s in view.spawns if s.parent == w.pid and w.ts <= s.ts <= w.end_ts}
        for pid in sorted(workers):
            runs = [c for c in view.calls_by_pid.get(pid, []) if is_app_module(c.module) and c.ts <= w.end_ts
                    and (c.end_ts is None or c.end_ts > w.end_ts)
                    and (c.parent is None or not is_app_module(c.parent.module))]
            for run in runs[:3]:
                loop = retry_loop(view, run, _horizon(view, pid))
                if loop is None:
                    continue
                key = (loop.retrier.module, loop.retrier.function, loop.retrier.arity)
                if key in named:
                    break
                named.add(key)
                _add(view, book, w, loop)
                break


def _add(view: RecordingView, book: FactBook, w: Call, loop) -> None:
    ms = 1000.0 / view.time_unit
    wait = w.duration(view.time_unit) or 0.0
    r = loop.retrier
    book.add(Finding(
        detector="retries_outlasted_wait",
        title=f"{r.mfa} kept retrying {loop.callee.mfa} ({loop.attempts} attempts) while {w.mfa} waited: "
              f"the wait gave up with {fmt(w.value, 40)}",
        summary=(f"{w.mfa} waited {wait:.0f} ms for the process it started ({view.label(r.pid)}) and returned "
                 f"{fmt(w.value, 60)}. Meanwhile {loop.describe(view)}; the worker was still at it when the wait "
                 f"ended. The waiter's timeout is not where the time went: {r.mfa} retries without a bound "
                 "that fits the wait."),
        severity="high", confidence=0.75,
        culprit=culprit_of(view, r, loop.errors[0] if loop.errors else None),
        evidence=[view.call_evidence(w, f"{w.mfa} started waiting"),
                  view.call_evidence(r, f"{r.mfa} started in {view.label(r.pid)}"),
                  view.end_evidence(loop.callee, f"{loop.callee.mfa} returned {fmt(loop.callee.value, 60)} "
                                                 f"(attempt 1 of {loop.attempts})"),
                  view.end_evidence(w, f"{w.mfa} gave up after {wait:.0f} ms: {fmt(w.value, 60)}")],
        signatures=["callback:slow:retry_loop", "callback:slow"],
        fix_hint=(f"Bound {r.mfa}'s retries: a few attempts with a capped backoff that fits the waiter's timeout, "
                  f"then return the error; or let the waiter see progress (a longer wait only hides it). "
                  f"The time between attempts was {loop.between * ms:.0f} ms.")),
        pid=r.pid, ts=w.end_ts, call=r)
