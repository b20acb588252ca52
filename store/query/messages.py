"""Which sends were never received — by message identity, not by content alone.

The causal-order analysis (store/causal.py) records matched send → receive pairs in
`msg_links`; when it has covered the whole recording (`recordings.causal_upto`), a send with
no row there was never seen received. Until then this module matches by itself with the same
rule: a receive in process R takes the *earliest* still-unmatched send to R of the identical
message bytes that happened before it (FIFO per sender–receiver pair is what the BEAM
guarantees; identical bytes are what `term_to_binary` gives equal terms on one node). So two
identical messages sent twice and received once leave exactly one — the later — unmatched.

Only sends to a local pid (`aux` ≠ 0) whose receiver had `receive` tracing on (it has at least
one recorded receive) can be judged; the others are counted and reported in the notes.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING

from elixir_scope.store import etfscan

if TYPE_CHECKING:
    from .context import QueryContext


def traced_receivers(qc: "QueryContext") -> set[tuple[int, int]]:
    return {(n, p) for n, p in qc.db.query(
        "SELECT DISTINCT node_id, pid FROM events WHERE recording_id = ? AND kind = 6", (qc.rid,))}


def links_current(qc: "QueryContext") -> bool:
    """Whether msg_links covers every event of the recording."""
    row = qc.db.query_one(
        "SELECT r.causal_upto >= coalesce((SELECT max(id) FROM events WHERE recording_id = r.id), 0) "
        "FROM recordings r WHERE r.id = ?", (qc.rid,))
    return bool(row and row[0])


def received_send_ids(qc: "QueryContext", receivers: set[tuple[int, int]]) -> dict[int, int]:
    """Sends matched to a receive by the FIFO identity rule (no msg_links needed):
    send id → the receive's ts."""
    pending: dict[tuple[int, int, bytes], deque] = defaultdict(deque)
    sends = qc.db.query(
        "SELECT id, node_id, aux, ts, payload FROM events WHERE recording_id = ? AND kind = 4 "
        "AND aux != 0 ORDER BY ts, id", (qc.rid,))
    recvs = qc.db.query(
        "SELECT id, node_id, pid, ts, payload FROM events WHERE recording_id = ? AND kind = 6 "
        "ORDER BY ts, id", (qc.rid,))
    matched: dict[int, int] = {}
    si = 0
    for rid, rnode, rpid, rts, rpayload in recvs:
        while si < len(sends) and (sends[si][3], sends[si][0]) <= (rts, rid):
            sid, snode, saux, _sts, spayload = sends[si]
            si += 1
            if (snode, saux) not in receivers or spayload is None:
                continue
            try:
                msg = etfscan.tuple_elements(spayload)[0]
            except Exception:
                continue
            pending[(snode, saux, msg)].append(sid)
        if rpayload is None:
            continue
        queue = pending.get((rnode, rpid, bytes(rpayload)))
        if queue:
            matched[queue.popleft()] = rts
    return matched
