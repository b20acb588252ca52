"""Walking the causal order: past and future of an event, happens-before, clocks, lost sends.

Causal past/future are computed as a *horizon* per process — the last (first) event of each
process that can have influenced (be influenced by) the event — by following the links of
``msg_links`` from receives (sends) inside the horizon until nothing grows. The answer is then
a union of per-process ranges, paged by event id; a page that spans several nodes is shown in
happens-before order (store/clocks.py). Every question first makes sure the derived tables
cover the recording (``derive.ensure_causal``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..events import Event, EventKind
from ..gaps import Gap
from ..blocks import PROC_ORDER, PROC_WHERE, proc_from, reach
from ..reader import EVENT_COLUMNS
from ..timeblocks import id_range
from .derive import ensure_causal

if TYPE_CHECKING:
    from ..reader import Recording


@dataclass(slots=True)
class CausalPage:
    """A page of the causal past (most recent first) or future (earliest first) of ``origin``.

    ``clocks`` maps event id -> Lamport clock; ``processes`` is how many processes the
    relation reaches; ``next_cursor`` continues the walk (None at the end); ``gaps`` are the
    gaps within the time span of this page on the nodes involved (a dropped event there
    could have been a cause or an effect)."""

    origin: Event
    direction: str
    events: list[Event]
    clocks: dict[int, int]
    processes: int
    next_cursor: int | None
    gaps: list[Gap] = field(default_factory=list)


def past_horizon(rec: "Recording", event: Event) -> dict[tuple[int, int], int]:
    """For each process, the highest event id that happens-before ``event``."""
    ensure_causal(rec)
    origin = (event.node_id, event.pid)
    h = {origin: event.id}  # inclusive for links: a receive's own send is in its past
    done: dict[tuple[int, int], int] = {}
    work = [origin]
    while work:
        p = work.pop()
        hi, lo = h[p], done.get(p, 0)
        if hi <= lo:
            continue
        done[p] = hi
        for sn, sp, sid in rec.db.query(
                "SELECT send_node, send_pid, send_id FROM msg_links WHERE recv_node = ? AND recv_pid = ? "
                "AND recv_id > ? AND recv_id <= ?", (p[0], p[1], lo, hi)):
            q = (sn, sp)
            if sid > h.get(q, 0):
                h[q] = sid
                work.append(q)
    h[origin] = event.id - 1  # the event itself is not part of its past
    return {p: v for p, v in h.items() if v > 0}


def future_horizon(rec: "Recording", event: Event) -> dict[tuple[int, int], int]:
    """For each process, the lowest event id that ``event`` happens-before."""
    ensure_causal(rec)
    origin = (event.node_id, event.pid)
    inf = 2**63 - 1
    h = {origin: event.id}  # inclusive for links: a send's own receive is in its future
    done: dict[tuple[int, int], int] = {}
    work = [origin]
    while work:
        p = work.pop()
        lo, hi = h[p], done.get(p, inf)
        if lo >= hi:
            continue
        done[p] = lo
        for rn, rp, rid in rec.db.query(
                "SELECT recv_node, recv_pid, recv_id FROM msg_links WHERE send_node = ? AND send_pid = ? "
                "AND send_id >= ? AND send_id < ?", (p[0], p[1], lo, hi)):
            q = (rn, rp)
            if rid < h.get(q, inf):
                h[q] = rid
                work.append(q)
    h[origin] = event.id + 1  # the event itself is not part of its future
    return h


def _page(rec: "Recording", origin: Event, horizon: dict, past: bool, limit: int,
          cursor: int | None) -> CausalPage:
    if not 0 < limit <= 10_000:
        raise ValueError(f"limit must be 1..10000, got {limit}; page with the cursor")
    streams = []
    for (node_id, pid), bound in horizon.items():  # through the block index (store/blocks.py)
        if past:
            hi = bound if cursor is None else min(bound, cursor - 1)
            rows = rec.db.query(f"SELECT e.id FROM {proc_from(hi=True)} WHERE {PROC_WHERE} AND b.first_id <= ? "
                                "ORDER BY b.first_id DESC, e.id DESC LIMIT ?", (hi, node_id, pid, hi, limit + 1))
        else:
            lo = bound if cursor is None else max(bound, cursor + 1)
            rows = rec.db.query(f"SELECT e.id FROM {proc_from(lo=True)} WHERE {PROC_WHERE} AND {reach()} "
                                f"ORDER BY {PROC_ORDER} LIMIT ?", (lo, node_id, pid, lo, lo, limit + 1))
        streams.append([r[0] for r in rows])
    merged = heapq.merge(*streams, reverse=past)
    picked = []
    for eid in merged:
        picked.append(eid)
        if len(picked) > limit:
            break
    more = len(picked) > limit
    picked = picked[:limit]
    by_id = {}
    for i in range(0, len(picked), 900):
        part = picked[i:i + 900]
        for row in rec.db.query(f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN "
                                f"({','.join('?' * len(part))})", part):
            by_id[row[0]] = row
    events = rec.events_from_rows([by_id[i] for i in picked])
    cursor_next = events[-1].id if more and events else None
    if len(rec.context.nodes) > 1 and len({e.node_id for e in events}) > 1:
        # ids are ingest order, arbitrary between nodes: show the page in happens-before order
        # (the common clock between unrelated events); the cursor stays an id
        from ..clocks import happens_before_order

        events = happens_before_order(rec, events)
        if past:
            events.reverse()
    clocks = {}
    if events:
        ids = [e.id for e in events]
        for eid, lam in rec.db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                                     f"({','.join('?' * len(ids))})", ids):
            clocks[eid] = lam
    gaps: list[Gap] = []
    if events:
        lo, hi = min(e.ts for e in events), max(e.ts for e in events)
        for node_id in {e.node_id for e in events}:
            gaps += rec.gaps(lo, hi, node_id=node_id)
    return CausalPage(origin, "past" if past else "future", events, clocks, len(horizon),
                      cursor_next, gaps)


def causal_past(rec: "Recording", event: Event, limit: int = 100, cursor: int | None = None) -> CausalPage:
    """Events that happen-before ``event`` ("what could have caused this?"), most recent
    first, ``limit`` per page; pass ``page.next_cursor`` as ``cursor`` for the next page."""
    return _page(rec, event, past_horizon(rec, event), True, limit, cursor)


def causal_future(rec: "Recording", event: Event, limit: int = 100, cursor: int | None = None) -> CausalPage:
    """Events ``event`` happens-before ("what did this affect?"), earliest first, paged."""
    return _page(rec, event, future_horizon(rec, event), False, limit, cursor)


def happens_before(rec: "Recording", a: Event, b: Event) -> bool:
    """True if ``a`` → ``b`` (a could have influenced b)."""
    if a.id == b.id:
        return False
    return past_horizon(rec, b).get((a.node_id, a.pid), 0) >= a.id


def lamport(rec: "Recording", event: Event) -> int:
    ensure_causal(rec)
    row = rec.db.query_one("SELECT lamport FROM clocks WHERE event_id = ?", (event.id,))
    return row[0] if row else 0


def unmatched_sends(rec: "Recording", limit: int = 1000, after_id: int = 0) -> list[Event]:
    """Sends never seen received (lost, untraced receiver, or in flight at the end)."""
    ensure_causal(rec)
    rows = rec.db.query(
        f"SELECT {EVENT_COLUMNS} FROM events e WHERE recording_id = ? AND kind = ? AND id > ? AND id <= ? "
        "AND NOT EXISTS (SELECT 1 FROM msg_links l WHERE l.send_id = e.id) ORDER BY id LIMIT ?",
        (rec.id, int(EventKind.SEND), after_id, id_range(rec.db, rec.id)[1], limit))
    return rec.events_from_rows(rows)
