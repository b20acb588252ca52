"""Message flows (sequence-diagram data): the messages sent in a window, each with its
matched receive.

The matching is the causal-order analysis's (store/causal/, ``msg_links``): a send with no
link was never seen received. Pages follow send order (event id); ``next_after_id`` continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .events import Event, EventKind, ProcessInfo
from .gaps import Gap
from .reader import EVENT_COLUMNS
from .timeblocks import time_from, time_where

if TYPE_CHECKING:
    from .reader import Recording


@dataclass(slots=True)
class MessageFlow:
    """One message: who sent it to whom, when, and (if matched) when it was received."""

    send: Event
    receive: Event | None
    sender: ProcessInfo | None
    receiver: ProcessInfo | None
    method: str | None

    @property
    def message(self) -> Any:
        payload = self.send.payload
        return payload[0] if isinstance(payload, tuple) and payload else payload

    @property
    def send_ts(self) -> int:
        return self.send.ts

    @property
    def receive_ts(self) -> int | None:
        return None if self.receive is None else self.receive.ts

    @property
    def latency(self) -> int | None:
        """Native units between send and receive (same node only)."""
        if self.receive is None or self.receive.node_id != self.send.node_id:
            return None
        return self.receive.ts - self.send.ts


@dataclass(slots=True)
class Flows:
    messages: list[MessageFlow]
    gaps: list[Gap]
    next_after_id: int | None


def message_flow(rec: "Recording", since: int | None = None, until: int | None = None, *,
                 processes: list | None = None, limit: int = 1000,
                 after_id: int | None = None) -> Flows:
    """Messages sent in ``[since, until]`` (by ``processes`` if given, either as sender or
    receiver), in send order, each with its matched receive if any."""
    from .causal import ensure_causal

    ensure_causal(rec)
    where = ["e.recording_id = ?", "e.kind = ?"]
    params: list = [rec.id, int(EventKind.SEND)]
    if since is not None:
        where.append("e.ts >= ?")
        params.append(since)
    if until is not None:
        where.append("e.ts <= ?")
        params.append(until)
    if after_id is not None:
        where.append("e.id > ?")
        params.append(after_id)
    if processes:
        procs = [p for ref in processes for p in rec.resolve_processes(ref)]
        ors = []
        for p in procs:
            ors.append("(e.node_id = ? AND e.pid = ?) OR (l.recv_node = ? AND l.recv_pid = ?) "
                       "OR (l.send_id IS NULL AND e.node_id = ? AND e.aux = ?)")
            params += [p.node_id, p.idx, p.node_id, p.idx, p.node_id, p.idx]
        where.append("(" + " OR ".join(ors or ["0"]) + ")")
    cols = ", ".join("e." + c.strip() for c in EVENT_COLUMNS.split(","))
    # the recording's time blocks in id order (store/timeblocks.py): no sort, stops at the page
    lo_id = None if after_id is None else after_id + 1
    twhere, tparams = time_where(rec.id, since, until, lo_id=lo_id)
    rows = rec.db.query(
        f"SELECT {cols}, l.recv_id, l.method, l.recv_node, l.recv_pid FROM {time_from(lo=lo_id is not None)} "
        f"LEFT JOIN msg_links l ON l.send_id = e.id WHERE {twhere} AND {' AND '.join(where)} "
        "ORDER BY t.first_id, e.id LIMIT ?", ([lo_id] if lo_id is not None else []) + tparams + params + [limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    sends = rec.events_from_rows([r[:10] for r in rows])
    recv_ids = [r[10] for r in rows if r[10] is not None]
    recvs = {}
    if recv_ids:
        for chunk in range(0, len(recv_ids), 900):
            part = recv_ids[chunk:chunk + 900]
            for e in rec.events_from_rows(rec.db.query(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({','.join('?' * len(part))})", part)):
                recvs[e.id] = e
    procs = rec.context.processes
    out = []
    for s, r in zip(sends, rows):
        recv = recvs.get(r[10]) if r[10] is not None else None
        receiver = procs.get((r[12], r[13])) if r[12] is not None else s.aux_process
        out.append(MessageFlow(s, recv, s.process, receiver, r[11]))
    gaps = rec.gaps(since if since is not None else (sends[0].ts if sends else None),
                    until if not more else (sends[-1].ts if sends else until))
    return Flows(out, gaps, sends[-1].id if more and sends else None)
