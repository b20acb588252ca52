"""The common clock of a multi-node recording, and cross-node order.

Each node stamps its events with its own ``erlang:monotonic_time()`` (``ts``); its
``erlang:time_offset()`` turns that into the node's system time. Nodes on different machines
disagree about system time, so every capture measures each node's *skew* against this host's
system time with round-trip probes (instrument/clock.py, NTP's method): ``skew`` = node system
time − host system time, with an error bound of half the best probe's round trip. Probes run at
capture start and, when the node is still there, at the end.

The recording's common clock is then the host's: ``ts + time_offset − skew`` (native units of
the node; ``NodeInfo.time_offset`` already holds ``time_offset − skew``), so every existing
cross-node computation (wall-ordered queries, time windows, causal matching) uses corrected
clocks. With both probes the skew used is their mean, and its bound
``max(error_start, error_end) + |skew_start − skew_end| / 2`` covers a drift between them.

Clocks only break ties: ``happens_before_order`` orders events of several processes and nodes
by the happens-before relation first (a receive after its send, each process in its own order)
and by the common clock only between events the relation leaves unordered.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable

from .events import NodeInfo

if TYPE_CHECKING:
    from .events import Event
    from .reader import Recording

NODE_COLUMNS = ("id, recording_id, name, otp_release, time_unit, time_offset, mono_at_start, clock_skew, "
                "clock_error, clock_skew_end, clock_error_end, end_reason, end_detail")


def combine(start: tuple[int, int] | None, end: tuple[int, int] | None) -> tuple[int, int] | None:
    """One (skew, error) from the start and end estimates (either may be missing)."""
    if start is None or end is None:
        return start or end
    (s0, e0), (s1, e1) = start, end
    return (s0 + s1) // 2, max(e0, e1) + (abs(s0 - s1) + 1) // 2


def node_info(row: tuple) -> NodeInfo:
    """A ``NodeInfo`` from a row of ``NODE_COLUMNS``, its time offset corrected by its skew."""
    nid, rid, name, otp, unit, offset, mono, skew0, err0, skew1, err1, end_reason, end_detail = row
    est = combine((skew0, err0) if skew0 is not None and err0 is not None else None,
                  (skew1, err1) if skew1 is not None and err1 is not None else None)
    skew, err = est if est is not None else (None, None)
    return NodeInfo(nid, rid, name, otp, unit, offset - (skew or 0), mono, node_time_offset=offset,
                    clock_skew=skew, clock_error=err, clock_skew_start=skew0, clock_skew_end=skew1,
                    end_reason=end_reason, end_detail=end_detail)


def common_ns(node: NodeInfo, ts: int) -> int:
    """An event's time on the recording's common clock, in nanoseconds."""
    return (ts + node.time_offset) * 1_000_000_000 // node.time_unit


def happens_before_order(rec: "Recording", events: Iterable["Event"]) -> list["Event"]:
    """``events`` (of any processes and nodes of ``rec``) in an order consistent with
    happens-before — each process's own order, every matched send before its receive (and a
    spawn before the child's first event) when both are among ``events`` — and, where the
    relation leaves two events unordered, by the common clock (then node, then id)."""
    from .causal import ensure_causal

    evs = list(events)
    if len(evs) < 2:
        return evs
    nodes = rec.context.nodes
    ids = {e.id for e in evs}
    ensure_causal(rec)
    dep: dict[int, int] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), 900):
        part = id_list[i:i + 900]
        marks = ",".join("?" * len(part))
        for send_id, recv_id in rec.db.query(
                f"SELECT send_id, recv_id FROM msg_links WHERE recv_id IN ({marks})", part):
            if send_id in ids:
                dep[recv_id] = send_id
    per_proc: dict[tuple[int, int], list] = defaultdict(list)
    for e in sorted(evs, key=lambda e: e.id):  # ingest order is each process's own order
        per_proc[(e.node_id, e.pid)].append(e)

    def key(e: "Event") -> tuple:
        return (common_ns(nodes[e.node_id], e.ts), e.node_id, e.ts, e.uniq, e.id)

    pos = dict.fromkeys(per_proc, 0)
    placed: set[int] = set()
    waiting: dict[int, list] = defaultdict(list)  # send id -> processes whose head waits for it
    heap: list = []

    def offer(p: tuple[int, int]) -> None:
        if pos[p] < len(per_proc[p]):
            head = per_proc[p][pos[p]]
            d = dep.get(head.id)
            if d is not None and d not in placed:
                waiting[d].append(p)
            else:
                heapq.heappush(heap, (key(head), p))

    for p in per_proc:
        offer(p)
    out: list = []
    while len(out) < len(evs):
        if not heap:  # only when links contradict process order: release the earliest head
            stuck = [p for p in per_proc if pos[p] < len(per_proc[p])]
            waiting.clear()
            p = min(stuck, key=lambda q: key(per_proc[q][pos[q]]))
            heapq.heappush(heap, (key(per_proc[p][pos[p]]), p))
            for q in stuck:
                if q != p:
                    offer(q)
        _, p = heapq.heappop(heap)
        e = per_proc[p][pos[p]]
        out.append(e)
        placed.add(e.id)
        pos[p] += 1
        offer(p)
        for q in waiting.pop(e.id, ()):
            offer(q)
    return out


_BIG = 2**63 - 1


def moment_on(rec: "Recording", t: "int | Event", node_id: int, pid: int | None = None) -> tuple[int, int]:
    """The moment ``t`` as an "at or before" bound ``(ts, uniq)`` on ``node_id``'s clock.

    An int is already a time of that node; so is an event of that node. An event of another
    node is placed with happens-before first: whatever of ``node_id`` (of process ``pid``, or
    of any of its processes) happens-before the event is at or before the bound, whatever
    the event happens-before is after it; only between those does the common clock decide."""
    from .events import Event

    if not isinstance(t, Event):
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"a moment is a node monotonic time (int) or an Event, got {t!r}")
        return t, _BIG
    if t.node_id == node_id:
        return t.ts, t.uniq
    from .causal import future_horizon, past_horizon

    nodes = rec.context.nodes
    dst = nodes[node_id]
    ts = common_ns(nodes[t.node_id], t.ts) * dst.time_unit // 1_000_000_000 - dst.time_offset
    bound = (ts, _BIG)

    def mine(p: tuple[int, int]) -> bool:
        return p[0] == node_id and (pid is None or p[1] == pid)

    before = [i for p, i in past_horizon(rec, t).items() if mine(p)]
    after = [i for p, i in future_horizon(rec, t).items() if mine(p)]
    if after:
        row = rec.db.query_one("SELECT ts, uniq FROM events WHERE id = ?", (min(after),))
        if row is not None and (row[0], row[1]) <= bound:
            bound = (row[0], row[1] - 1)  # just before the first event t happens-before
    if before:
        row = rec.db.query_one("SELECT ts, uniq FROM events WHERE id = ?", (max(before),))
        if row is not None and (row[0], row[1]) > bound:
            bound = (row[0], row[1])
    return bound
