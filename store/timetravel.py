"""Time travel: the state of a process at any moment and its evolution (stepping through
events is store/stepping.py).

A *moment* ``t`` is a node's monotonic time in native units (``Event.ts``), or an ``Event``
(meaning "just after that event": ties at the same ts are broken by ``uniq``).

``state_at`` finds, through the ``states_by_process`` index, the last ``state`` record of the
process at or before ``t`` and rebuilds it from its keyframe plus at most ``max_chain`` deltas
(store/states.py). That is one index seek and a handful of decodes whatever the recording's
size, which is what keeps it well under a millisecond on a million events.

The state at ``t`` is the state the process *had* at ``t``: after a callback's ``after``
record, the state it returned; between a ``before`` and an ``after`` (the callback is running),
the state it was called with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .blocks import PROC_WHERE, proc_from, qualified
from .clocks import moment_on
from .events import Event, EventKind, ProcessInfo
from .gaps import Gap
from .reader import EVENT_COLUMNS
from .state_changes import Change, changes
from .states import STATE_ROW_COLUMNS

if TYPE_CHECKING:
    from .reader import ProcessRef, Recording

_BIG = 2**63 - 1


def moment(t: "int | Event") -> tuple[int, int]:
    """(ts, uniq) bound for "at or before t"."""
    if isinstance(t, Event):
        return t.ts, t.uniq
    if isinstance(t, bool) or not isinstance(t, int):
        raise TypeError(f"a moment is a node monotonic time (int) or an Event, got {t!r}")
    return t, _BIG


@dataclass(slots=True)
class StateAt:
    """The state of ``process`` at ``ts``, from the ``state`` event ``event``.

    ``source``: the phase of that event (``checkpoint`` — from sys:get_state; ``after`` —
    returned by a callback; ``before`` — a callback was running with it). ``deltas_applied``:
    how many stored deltas were replayed to rebuild it. ``gaps``: gaps of the node between
    the state event and ``ts`` (events, possibly state changes, were dropped there)."""

    process: ProcessInfo
    state: Any
    event: Event
    ts: int
    source: str
    deltas_applied: int
    gaps: list[Gap] = field(default_factory=list)

    @property
    def callback(self):
        """The callback MFA that produced the state (None for a checkpoint)."""
        return self.event.mfa

    @property
    def truncated(self) -> bool:
        """The agent cut the state (``max_term_bytes``): parts are ``'$truncated'`` markers."""
        return self.event.truncated

    @property
    def redacted(self) -> bool:
        return self.event.redacted


def _latest_state_row(rec: "Recording", proc: ProcessInfo, ts: int, uniq: int) -> tuple | None:
    return rec.db.query_one(
        f"SELECT {STATE_ROW_COLUMNS}, phase, event_id FROM states WHERE node_id = ? AND pid = ? "
        "AND (ts < ? OR (ts = ? AND uniq <= ?)) ORDER BY ts DESC, uniq DESC, id DESC LIMIT 1",
        (proc.node_id, proc.idx, ts, ts, uniq))


def state_at(rec: "Recording", process: "ProcessRef", t: "int | Event") -> StateAt | None:
    """The exact state of ``process`` at moment ``t``; None if no state was recorded for it
    at or before ``t``."""
    proc = rec.resolve_process(process)
    ts, uniq = moment_on(rec, t, proc.node_id, proc.idx)  # an event of another node: store/clocks.py
    row = _latest_state_row(rec, proc, ts, uniq)
    if row is None:
        return None
    return _state_from_row(rec, proc, row, ts)


def _state_from_row(rec: "Recording", proc: ProcessInfo, row: tuple, ts: int) -> StateAt:
    state, applied = rec.states.state(row[:8])
    event = rec.event(row[9])
    return StateAt(proc, state, event, ts, row[8], applied, rec.gaps(row[3], ts, node_id=proc.node_id))


# -- evolution ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Transition:
    """One change of state: ``before`` -> ``after`` with its structural ``changes`` and the
    ``cause`` (the callback call event that produced it, whose args hold the message or
    request; None when the change happened outside any traced callback — seen at a
    checkpoint or at the next callback's ``before`` record)."""

    before: StateAt
    after: StateAt
    changes: list[Change]
    cause: Event | None

    @property
    def message(self) -> Any:
        """The request / message the callback handled (its first argument), if known."""
        if self.cause is None or self.cause.kind != EventKind.CALL:
            return None
        args = self.cause.payload
        return args[0] if isinstance(args, list) and args else None


@dataclass(slots=True)
class Evolution:
    process: ProcessInfo
    transitions: list[Transition]
    gaps: list[Gap]
    next_after_state: int | None
    """Pass as ``after_state`` to continue (None when complete)."""


def _cause(rec: "Recording", proc: ProcessInfo, state_event: Event) -> Event | None:
    if not state_event.aux:
        return None
    row = rec.db.query_one(
        f"SELECT {qualified(EVENT_COLUMNS)} FROM {proc_from(hi=True)} WHERE {PROC_WHERE} AND e.kind = ? "
        "AND e.aux = ? AND b.first_id < ? ORDER BY b.first_id DESC, e.id DESC LIMIT 1",
        (state_event.id - 1, proc.node_id, proc.idx, int(EventKind.CALL), state_event.aux, state_event.id))
    return rec.events_from_rows([row])[0] if row else None


def state_evolution(rec: "Recording", process: "ProcessRef", since: int | None = None,
                    until: int | None = None, *, limit: int = 100,
                    after_state: int | None = None) -> Evolution:
    """Successive distinct states of ``process`` in ``[since, until]`` with structural diffs
    and their causes; at most ``limit`` transitions per page."""
    proc = rec.resolve_process(process)
    where = ["node_id = ?", "pid = ?"]
    params: list = [proc.node_id, proc.idx]
    if until is not None:
        where.append("ts <= ?")
        params.append(until)
    if after_state is not None:
        where.append("id >= ?")
        params.append(after_state)
    elif since is not None:
        start = _latest_state_row(rec, proc, since, _BIG)  # the state in force at `since`
        if start is not None:
            where.append("id >= ?")
            params.append(start[0])
    rows = rec.db.query(f"SELECT {STATE_ROW_COLUMNS}, phase, event_id FROM states WHERE "
                        f"{' AND '.join(where)} ORDER BY ts, uniq, id", params)
    out: list[Transition] = []
    prev: StateAt | None = None
    next_cursor = None
    for i, row in enumerate(rows):
        cur = _state_from_row(rec, proc, row, row[3])
        if prev is not None:
            ch = changes(prev.state, cur.state)
            if ch:
                if len(out) >= limit:
                    next_cursor = rows[i - 1][0]
                    break
                # an `after` state was produced by its callback; a `before` or checkpoint that
                # differs from the last known state changed outside any traced callback
                cause = _cause(rec, proc, cur.event) if cur.source == "after" else None
                out.append(Transition(prev, cur, ch, cause))
        prev = cur
    lo = rows[0][3] if rows else since
    hi = until if next_cursor is None else (out[-1].after.ts if out else until)
    return Evolution(proc, out, rec.gaps(lo, hi, node_id=proc.node_id), next_cursor)
