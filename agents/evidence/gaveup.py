"""A wait the program made too short: it gave up before work that does answer had answered.

| kind | what | culprit |
| --- | --- | --- |
| ``wait_gave_up`` | ``Task.yield/2`` returned ``nil`` (the wait gave up after its timeout) while the task it waited for was still at work, and that task's work then returned — later than the wait gave up, within the recording: the answer came, nobody was waiting any more | the application function holding the wait (the one that called ``Task.yield/2``), and its timeout |

A timeout in the wrong unit (``Task.yield(task, 5)`` meant as seconds), a budget too small for the
work, a wait of 0: the result becomes ``nil``/``:timeout`` and flows on to what the user sees as
"missing" or "timed out" while the work itself is quick. A wait that gives up on work that never
answers is no such fact (the work is slow or stuck: :mod:`.waits`); a wait long enough gets
``{:ok, _}`` and no fact. The planner traces ``Task.yield/2`` with its result
(:data:`~elixir_scope.agents.planner.WAIT_SPECS`). Bounded: the first :data:`MAX_WAITS` gave-up
waits, :data:`MAX_UP` callers walked.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Pid

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, named_app_caller

__all__ = ["waits_gave_up"]

MAX_WAITS = 200
MAX_UP = 8
MAX_FACTS = 2


def _nil(v: Any) -> bool:
    return v is None or (isinstance(v, Atom) and v.name == "nil")


def _task_pid(task: Any) -> str | None:
    """The pid of a ``%Task{}`` (a map with a ``:pid`` field), as text."""
    if isinstance(task, dict):
        for k, v in task.items():
            if isinstance(k, Atom) and k.name == "pid" and isinstance(v, Pid):
                return str(v)
    return None



def _work_end(view: RecordingView, idx: int) -> tuple[Call, int] | None:
    """The task's outermost application call that returned, and when its work ended."""
    done = [c for c in view.calls_by_pid.get(idx, []) if is_app_module(c.module) and c.outcome == "return"
            and c.end_ts is not None]
    if not done:
        return None
    last = max(done, key=lambda c: c.end_ts)
    return last, last.end_ts


def waits_gave_up(view: RecordingView, book: FactBook) -> None:
    by_text = {p.pid: idx for idx, p in view.procs.items()}
    made, seen = 0, 0
    for c in view.calls:
        if made >= MAX_FACTS or seen >= MAX_WAITS:
            return
        if (c.module, c.function, c.arity) != ("Elixir.Task", "yield", 2) or c.outcome != "return" or not _nil(c.value):
            continue
        seen += 1
        text = _task_pid(c.args[0]) if c.args else None
        idx = by_text.get(text) if text else None
        holder = named_app_caller(c, MAX_UP)
        if idx is None or holder is None or c.end_ts is None:
            continue
        work = _work_end(view, idx)
        if work is None or work[1] <= c.end_ts:
            continue
        last, ended = work
        timeout = c.args[1] if len(c.args) > 1 else None
        late = (ended - c.end_ts) * 1000.0 / view.time_unit
        took = (ended - c.ts) * 1000.0 / view.time_unit
        made += 1
        gave = view.end_evidence(c, f"Task.yield({fmt(timeout, 20)}) in {holder.mfa} gave up: nil")
        answered = view.end_evidence(last, f"the task's {last.mfa} returned {fmt(last.value, 40)} "
                                           f"{late:.1f} ms later")
        book.add(Finding(
            detector="wait_gave_up",
            title=f"{holder.mfa} waits {fmt(timeout, 20)} ms for a task that answers {took:.1f} ms after the wait began",
            summary=(f"{holder.mfa} waited for a task with Task.yield(task, {fmt(timeout, 20)}) and got nil: it gave "
                     f"up. The task's work ({last.mfa}) returned {fmt(last.value, 60)} {late:.1f} ms after that — the "
                     "answer came, nobody waited for it any more, and nil went on in its place. The timeout is too "
                     "short for the work (a value meant in another unit — seconds for milliseconds —, a budget "
                     "smaller than the work takes)."),
            severity="high", confidence=0.78,
            culprit=culprit_of(view, holder, timeout), evidence=[gave, answered], causal_chain=[gave, answered],
            signatures=["wait:gave_up_early"],
            fix_hint=("Give the wait a timeout in milliseconds that covers the work (Task.yield(task, 5_000), "
                      ":timer.seconds(5)), and handle a real timeout explicitly (Task.shutdown/2, an error the user "
                      "sees) instead of letting nil stand for the answer.")),
            pid=holder.pid, ts=c.ts)
