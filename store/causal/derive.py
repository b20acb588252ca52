"""Deriving a recording's causal order once and keeping it: ``msg_links`` and ``clocks``.

The happens-before edges (``matching``) and the Lamport clocks (``lamport_clocks``) are
computed on first use and stored in ``msg_links`` / ``clocks``, with
``recordings.causal_upto`` saying how far they reach (on a read-only store: TEMP tables of the
same names and ``causal_done``, for the life of the connection). When the recording has grown
since, only the new events are analysed (``_incremental``), unless they reach back in time
before the analysed ones: then everything is recomputed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..blocks import PROC_FROM
from ..timeblocks import id_range
from .lamport_clocks import lamport_clocks
from .matching import MSG_COLUMNS, match_messages, wall_ns

if TYPE_CHECKING:
    from ..reader import Recording


_TEMP_DDL = [
    "CREATE TEMP TABLE IF NOT EXISTS msg_links (recording_id INTEGER NOT NULL, send_id INTEGER "
    "NOT NULL PRIMARY KEY, recv_id INTEGER NOT NULL, method TEXT NOT NULL, send_node INTEGER NOT NULL, "
    "send_pid INTEGER NOT NULL, recv_node INTEGER NOT NULL, recv_pid INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS temp.t_links_recv ON msg_links (recv_node, recv_pid, recv_id)",
    "CREATE INDEX IF NOT EXISTS temp.t_links_send ON msg_links (send_node, send_pid, send_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS temp.t_links_recv_id ON msg_links (recv_id)",
    "CREATE TEMP TABLE IF NOT EXISTS clocks (event_id INTEGER PRIMARY KEY, recording_id INTEGER "
    "NOT NULL, lamport INTEGER NOT NULL)",
    "CREATE TEMP TABLE IF NOT EXISTS causal_done (recording_id INTEGER PRIMARY KEY, upto INTEGER)",
]


def ensure_causal(rec: "Recording") -> None:
    """Compute (or refresh) msg_links and clocks for the recording if it has grown."""
    db = rec.db
    top = max(id_range(db, rec.id)[1], 0)  # the time blocks (store/timeblocks.py)
    if db.readonly:
        with db.lock:
            for stmt in _TEMP_DDL:
                db.conn.execute(stmt)
        row = db.query_one("SELECT upto FROM causal_done WHERE recording_id = ?", (rec.id,))
        done = row[0] if row else 0
    else:
        done = db.query_one("SELECT causal_upto FROM recordings WHERE id = ?", (rec.id,))[0]
    if done >= top:
        return
    step = _incremental(rec, done) if done > 0 else None
    if step is None:
        links = match_messages(rec)
        clocks = lamport_clocks(rec, links)
    else:
        links, clocks = step
    clocks.sort()  # insert in key order: appends to the B-trees instead of random inserts
    rows = sorted((s, rec.id, r, m, sn, sp, rn, rp) for (s, r, m, sn, sp, rn, rp) in links)
    rows = [(rid, s, r, m, sn, sp, rn, rp) for (s, rid, r, m, sn, sp, rn, rp) in rows]
    if db.readonly:
        with db.lock:
            c = db.conn
            if step is None:
                c.execute("DELETE FROM temp.msg_links WHERE recording_id = ?", (rec.id,))
                c.execute("DELETE FROM temp.clocks WHERE recording_id = ?", (rec.id,))
            c.executemany("INSERT INTO temp.msg_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            c.executemany("INSERT INTO temp.clocks VALUES (?, ?, ?)", [(e, rec.id, l) for e, l in clocks])
            c.execute("INSERT OR REPLACE INTO causal_done VALUES (?, ?)", (rec.id, top))
        return
    with db.write("storing causal order") as c:
        if step is None:
            c.execute("DELETE FROM msg_links WHERE recording_id = ?", (rec.id,))
            c.execute("DELETE FROM clocks WHERE recording_id = ?", (rec.id,))
        c.executemany("INSERT INTO msg_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        c.executemany("INSERT INTO clocks VALUES (?, ?, ?)", [(e, rec.id, l) for e, l in clocks])
        c.execute("UPDATE recordings SET causal_upto = ? WHERE id = ?", (top, rec.id))


def _incremental(rec: "Recording", done: int) -> tuple[list, list] | None:
    """Links and clocks of the events after ``done``, or None when they cannot be computed
    without revisiting earlier ones (then everything is recomputed). Safe only when every new
    event is later, in wall-clock time, than every already-analysed one — otherwise a late
    send could take the place of an earlier match (the matching is FIFO over time)."""
    db, wall = rec.db, wall_ns(rec)
    lo, hi = id_range(db, rec.id)  # the recording's part of the file (store/timeblocks.py)
    old_max = db.query("SELECT node_id, max(ts) FROM events WHERE recording_id = ? AND id BETWEEN ? AND ? "
                       "GROUP BY node_id", (rec.id, lo, done))
    new_min = db.query("SELECT node_id, min(ts) FROM events WHERE recording_id = ? AND id > ? AND id <= ? "
                       "GROUP BY node_id", (rec.id, done, hi))
    if not old_max or not new_min:
        return None
    if min(wall(n, t) for n, t in new_min) <= max(wall(n, t) for n, t in old_max):
        return None
    # the new message events, plus earlier sends / spawns still waiting for their other half
    rows = db.query(f"SELECT {MSG_COLUMNS} FROM events e WHERE recording_id = ? AND id BETWEEN ? AND ? "
                    "AND kind IN (4, 6, 7, 16) AND (id > ? OR (kind IN (4, 7) AND NOT EXISTS "
                    "(SELECT 1 FROM msg_links l WHERE l.send_id = e.id))) ORDER BY id", (rec.id, lo, hi, done))
    links = match_messages(rec, rows)
    if any(r[1] <= done for r in links):
        return None
    old_sends = [r[0] for r in links if r[0] <= done]
    known = {}
    for i in range(0, len(old_sends), 900):
        part = old_sends[i:i + 900]
        known.update(db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                              f"({','.join('?' * len(part))})", part))
    # each process's last event up to `done`, from the block index (store/blocks.py): blocks
    # that end by then give it directly, the few straddling `done` are read
    nodes = "SELECT id FROM nodes WHERE recording_id = ?"
    last_ids = db.query(
        "SELECT node_id, pid, max(m) FROM ("
        f"SELECT node_id, pid, last_id AS m FROM block_procs WHERE node_id IN ({nodes}) AND last_id <= ? "
        f"UNION ALL SELECT b.node_id, b.pid, max(e.id) FROM {PROC_FROM} WHERE b.node_id IN ({nodes}) "
        "AND b.first_id <= ? AND b.last_id > ? AND e.id <= ? GROUP BY b.node_id, b.pid, b.first_id"
        ") GROUP BY node_id, pid", (rec.id, done, rec.id, done, done, done))
    by_id = {eid: (n, p) for n, p, eid in last_ids}
    start = {}
    ids = list(by_id)
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        for eid, lam in db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                                 f"({','.join('?' * len(part))})", part):
            start[by_id[eid]] = lam
    return links, lamport_clocks(rec, links, done, start, known)

