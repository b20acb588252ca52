"""Frames broken by dropped events, told while the view pairs calls with their returns.

Under load the agent sheds events and records a *gap* (a count, a reason, the time of the first
drop: docs/capture.md). A return lost in a gap leaves its call open on the process's stack: every
later call of that process would nest under the stale frame (wrong depths, wrong parents) and the
call would seem to have "never returned". What the records say about such a frame:

- **an outer frame returned while it was open** — the process left the inner call, so it ended,
  whether its return was dropped or never traced (an exception unwound it): it is closed as
  *broken* at that return (``end_by``), without an end of its own;
- **a later call of the same function, made by the same caller after a drop** — a caller that
  called that function before and saw it return (a loop over items, ``Enum.map(xs, &check/1)``),
  events dropped on the node since the open call started, and the function never seen calling
  itself without a drop in between (recursion nests for real): the open call was a step whose
  return was dropped. It is closed as broken, and the new call takes its place at its depth,
  under the same caller;
- after the whole recording: an open call with :data:`MIN_SAME_INSIDE` calls of its own function
  returned right inside it and a drop since it started (the nesting above was not decided: a
  function seen recursing) is broken too.

A broken call is *unknown*: neither "never returned" nor a duration (docs/diagnosis.md, "Dropped
events"). Cost: nothing on a node with no gap; with gaps, a scan of the top
:data:`MAX_SCAN` frames per call and one bisection per candidate.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .view import Call

__all__ = ["StaleFrames", "close_frames", "gap_times", "mark_loop_steps", "dropped_between"]

#: frames from the top of a stack searched for an open call of the function being called
MAX_SCAN = 8

#: returned calls of its own function nested right inside an open call that make it a loop step
MIN_SAME_INSIDE = 2


def gap_times(raw_gaps, frame) -> dict[int, list[int]]:
    """node id → the times (in the view's frame) its agent started dropping events, sorted."""
    out: dict[int, list[int]] = defaultdict(list)
    for g in raw_gaps:
        out[g.node_id].append(frame(g.node_id, g.ts))
    return {n: sorted(ts) for n, ts in out.items()}


def dropped_between(times: list[int], t0: int, t1: int | None) -> bool:
    """Whether a drop started at a moment from ``t0`` to ``t1`` (no bound: ``None``)."""
    i = bisect_left(times, t0)
    return i < len(times) and (t1 is None or times[i] <= t1)


def close_frames(stack: list[Call], i: int, by: int) -> None:
    """The frames ``stack[i:]`` had ended by ``by`` without their end in the recording."""
    for f in stack[i:]:
        if f.end_ts is None:
            f.broken, f.end_by = True, by


def _key(c: Call) -> tuple:
    return (c.module, c.function, c.arity)


class StaleFrames:
    """What the pairing of one recording learns to tell a stale frame: the functions seen calling
    themselves with nothing dropped in between, and each caller's last returned callee."""

    __slots__ = ("recursive", "last_done")

    def __init__(self) -> None:
        self.recursive: set[tuple] = set()
        self.last_done: dict[object, tuple] = {}   # caller's call id (or ("top", pid)) → function

    def on_call(self, stack: list[Call], pid: int, key: tuple, ts: int, times: list[int]) -> None:
        """A call of ``key`` in ``pid`` at ``ts``, its node's drops at ``times``: close the open
        frame of the same function the drops left stale, and the frames above it."""
        for j in range(len(stack) - 1, max(-1, len(stack) - 1 - MAX_SCAN), -1):
            f = stack[j]
            if _key(f) != key:
                continue
            if not dropped_between(times, f.ts, ts):
                self.recursive.add(key)   # a function calling itself, nothing lost in between
                return
            if key in self.recursive:
                return
            caller = stack[j - 1].call_id if j else ("top", pid)
            if self.last_done.get(caller) != key:
                return   # its caller was never seen calling it and getting an answer: no loop
            close_frames(stack, j, ts)
            del stack[j:]
            return

    def on_return(self, stack: list[Call], i: int, pid: int, times: list[int]) -> None:
        """``stack[i]`` returned (its end set): remember it as its caller's last answer."""
        c = stack[i]
        key = _key(c)
        parent = stack[i - 1] if i else None
        self.last_done[parent.call_id if parent is not None else ("top", pid)] = key
        self.last_done.pop(c.call_id, None)
        if parent is not None and _key(parent) == key and not dropped_between(times, parent.ts, c.end_ts):
            self.recursive.add(key)


def mark_loop_steps(calls: list[Call], dropped: dict[int, list[int]]) -> None:
    """After the pairing: an open call with :data:`MIN_SAME_INSIDE` returned calls of its own
    function nested right inside it, and events dropped on its node since it started, lost its
    return — the calls "inside" it were the next steps of its caller's loop."""
    inside: dict[int, int] = defaultdict(int)
    calls_inside: dict[int, list] = defaultdict(list)
    for c in calls:
        p = c.parent
        if p is not None and p.end_ts is None and not p.broken and c.outcome is not None \
                and _key(c) == _key(p):
            inside[p.call_id] += 1
            calls_inside[p.call_id].append(c)
    if not inside:
        return
    for c in calls:
        if c.end_ts is None and not c.broken and inside.get(c.call_id, 0) >= MIN_SAME_INSIDE:
            times = dropped.get(c.pid >> 32)
            if times and dropped_between(times, c.ts, None):
                c.broken = True
                c.end_by = next((k.ts for k in calls_inside.get(c.call_id, ()) if _key(k) == _key(c)), None)
