"""A process's calls: its call tree over a window (timeline) and the traced stack at an event.

Call tree: per process, ``call`` opens a frame, the matching ``return``/``exception`` (same
MFA, innermost first) closes it. A return that matches no open frame is ignored; frames still
open at the end of the window are reported open (the function had not returned, or its return
was not traced — e.g. a spec without ``:: return``). Durations are in the node's native unit
and also in microseconds.

Traced stack: the same pairing walked backwards from one event, to the calls still open when
it happened (``TracedStack``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import MFA, Event, EventKind, ProcessInfo
from .gaps import Gap

if TYPE_CHECKING:
    from .reader import ProcessRef, Recording


@dataclass(slots=True)
class CallNode:
    """One call in a process timeline. ``end`` is the return/exception event (None: open)."""

    mfa: MFA | None
    call: Event
    end: Event | None = None
    children: list["CallNode"] = field(default_factory=list)
    depth: int = 0

    @property
    def duration(self) -> int | None:
        """Native time units from call to return/exception (None while open)."""
        return None if self.end is None else self.end.ts - self.call.ts

    @property
    def duration_us(self) -> float | None:
        node = self.call.node
        if self.duration is None or node is None:
            return None
        return self.duration * 1_000_000 / node.time_unit

    @property
    def raised(self) -> bool:
        return self.end is not None and self.end.kind == EventKind.EXCEPTION

    @property
    def exception(self) -> Any:
        """``(Class, Reason)`` if the call ended in an exception."""
        return self.end.payload if self.raised else None

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(slots=True)
class Timeline:
    process: ProcessInfo
    roots: list[CallNode]
    gaps: list[Gap]
    truncated: bool
    """True if ``limit`` events were read before the window ended (ask for a narrower one)."""


def process_timeline(rec: "Recording", process: "ProcessRef", since: int | None = None,
                     until: int | None = None, *, limit: int = 100_000) -> Timeline:
    """The call tree of ``process`` within ``[since, until]``."""
    proc = rec.resolve_process(process)
    evs = rec.events(kind=(EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION),
                     pid=(proc.node_id, proc.idx), since=since, until=until, limit=limit)
    roots: list[CallNode] = []
    stack: list[CallNode] = []
    for e in evs:
        if e.kind == EventKind.CALL:
            node = CallNode(e.mfa, e, depth=len(stack))
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        else:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].call.aux == e.aux:
                    stack[i].end = e
                    del stack[i:]
                    break
    return Timeline(proc, roots, evs.gaps, evs.next_after_id is not None)


# -- the traced stack of an event ---------------------------------------------------------------

@dataclass(slots=True)
class TracedStack:
    """The traced calls that were open in a process at an event, innermost first.

    For an exception (or return) event, frame 0 is the call it ended: for an exception, the
    call that raised or let the exception through.
    The BEAM's ``exception_from`` trace carries the class and reason but no stacktrace; this is
    the stack as far as calls were traced. ``complete`` is False when the walk reached the
    start of the recording with calls possibly still open before it, or stopped at
    ``max_frames``. A process that crashes still has the raise-point stacktrace in its ``exit``
    reason (``{reason, [{M, F, A, Location} | _]}``)."""

    frames: list[Event]
    complete: bool
    gaps: list[Gap]

    def describe(self) -> str:
        return " <- ".join(str(f.mfa) for f in self.frames) or "(no traced call was open)"


def traced_stack(rec: "Recording", event: Event, *, max_frames: int = 64, page: int = 2000) -> TracedStack:
    """The traced calls open in ``event``'s process when ``event`` happened (see TracedStack)."""
    kinds = (EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION)
    frames: list[Event] = []
    closed: list[int] = []  # aux of calls that ended before the event (walking backwards)
    ending = event.kind in (EventKind.EXCEPTION, EventKind.RETURN)
    if ending:
        closed.append(event.aux)
    before = event.id
    first_ts = event.ts
    while True:
        evs = rec.events(kind=kinds, pid=(event.node_id, event.pid), before_id=before, limit=page,
                         descending=True)
        for e in evs:
            first_ts = e.ts
            if e.kind == EventKind.CALL:
                if closed and closed[-1] == e.aux:
                    closed.pop()
                    if ending and not frames and not closed:
                        frames.append(e)  # the call this return/exception ended
                    continue
                frames.append(e)
                if len(frames) >= max_frames:
                    return TracedStack(frames, False, rec.gaps(first_ts, event.ts, node_id=event.node_id))
            else:
                closed.append(e.aux)
        if evs.next_after_id is None or not evs:
            break
        before = evs[-1].id
    gaps = rec.gaps(first_ts, event.ts, node_id=event.node_id)
    return TracedStack(frames, not gaps, gaps)
