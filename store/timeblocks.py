"""The time blocks: where a recording's events lie in time, as id ranges with their ts bounds.

Why not a per-event index on ``(recording_id, ts)``
===================================================
An index entry per event costs its B-tree insert at every commit (~0.3-0.5 µs of the writer's
CPU per event, benchmarks/bench_store.py). Events arrive in batches of one node, nearly in ts
order, so the store keeps instead, per stored batch (cut into pieces of at most ``SPAN`` ids),
one row::

    block_time (recording_id, first_id, last_id, node_id, min_ts, max_ts, n)

— every event of the recording with an id in ``first_id .. last_id`` belongs to ``node_id``
and has ``min_ts <= ts <= max_ts``; ``n`` counts them. A batch that directly follows the
previous batch of the same recording and node (consecutive ids) extends that row while it
spans fewer than ``SPAN`` ids, so a slow capture of tiny batches does not grow one row per
batch. The rows are written in the batch's own transaction (whole or not at all).

Reading through it
==================
"Events with lo <= ts <= hi" are the events of the blocks overlapping [lo, hi], read by rowid
range and filtered by ts (``window_source``); "the first event at or after ts" and "the last
before" read the candidate blocks in min_ts (max_ts) order and stop as soon as no later block
can hold a better event (``first_at_or_after``, ``last_at_or_before``); a time-ordered walk
cuts the recording into consecutive disjoint ts intervals of about ``n`` events each
(``time_slices``) whose events are each sorted alone: no sort of the whole selection and no
statement reads past what a page needs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator

from .blocks import SPAN

TABLES = """
CREATE TABLE IF NOT EXISTS block_time (
    recording_id  INTEGER NOT NULL,
    first_id      INTEGER NOT NULL,
    last_id       INTEGER NOT NULL,
    node_id       INTEGER NOT NULL,
    min_ts        INTEGER NOT NULL,
    max_ts        INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (recording_id, first_id)
) WITHOUT ROWID;
"""

TIME_FROM = "block_time t CROSS JOIN events e ON e.id BETWEEN t.first_id AND t.last_id"
"""FROM clause joining time blocks to their events by rowid range (bind through ``TIME_WHERE``)."""

TIME_WHERE = "t.recording_id = ? AND t.max_ts >= ? AND t.min_ts <= ? AND e.ts >= ? AND e.ts <= ?"
"""WHERE for ``TIME_FROM``: binds recording id, lo, hi, lo, hi (a ts window, bounds included)."""

MERGE = SPAN
"""A batch extends the previous row of its recording (consecutive ids, same node) while the
merged row spans fewer than MERGE ids (at most ``SPAN``: "blocks that reach id X" stays a
range on the key)."""

NO_LO = -(1 << 63)
NO_HI = (1 << 63) - 1


def batch_times(tss: Any, first: int) -> list[tuple[int, int, int, int, int]]:
    """Time block rows ``(first_id, last_id, min_ts, max_ts, n)`` of one batch, given its ts
    column (a numpy array or a list, ids ``first, first + 1, …``): one per ``SPAN`` ids."""
    import numpy as np

    ts = np.asarray(tss, dtype=np.int64)
    out = []
    for start in range(0, len(ts), SPAN):
        part = ts[start:start + SPAN]
        out.append((first + start, first + start + len(part) - 1, int(part.min()), int(part.max()),
                    len(part)))
    return out


def insert_times(c: sqlite3.Connection, recording_id: int, node_id: int, rows: list) -> None:
    """Store time block rows ``(first_id, last_id, min_ts, max_ts, n)`` of one node's events
    (inside the caller's transaction). The first one extends the recording's last row when it
    directly follows it on the same node and the merged row spans fewer than ``SPAN`` ids."""
    if not rows:
        return
    first_id, last_id, lo, hi, n = rows[0]
    prev = c.execute("SELECT first_id, last_id, node_id, min_ts, max_ts, n FROM block_time "
                     "WHERE recording_id = ? ORDER BY first_id DESC LIMIT 1", (recording_id,)).fetchone()
    if prev is not None and prev[1] + 1 == first_id and prev[2] == node_id and last_id - prev[0] < MERGE:
        c.execute("UPDATE block_time SET last_id = ?, min_ts = ?, max_ts = ?, n = ? "
                  "WHERE recording_id = ? AND first_id = ?",
                  (last_id, min(lo, prev[3]), max(hi, prev[4]), n + prev[5], recording_id, prev[0]))
        rows = rows[1:]
    if rows:
        c.executemany("INSERT INTO block_time (recording_id, first_id, last_id, node_id, min_ts, "
                      "max_ts, n) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [(recording_id, a, b, node_id, mn, mx, k) for a, b, mn, mx, k in rows])


def build_times(c: sqlite3.Connection, lo: int, hi: int, chunk: int = SPAN) -> None:
    """Time block rows for the events with ids ``lo .. hi`` already in ``events`` (a migration
    from an older schema, an imported recording): one row per run of consecutive ids of one
    recording and node, at most ``SPAN`` ids each. Inside the caller's transaction."""
    start = lo
    run: list | None = None  # [recording_id, node_id, first_id, last_id, min_ts, max_ts, n]
    while start <= hi:
        stop = min(start + chunk - 1, hi)
        for eid, rid, node, ts in c.execute("SELECT id, recording_id, node_id, ts FROM events "
                                            "WHERE id BETWEEN ? AND ? ORDER BY id", (start, stop)):
            if (run is not None and run[0] == rid and run[1] == node and run[3] + 1 == eid
                    and eid - run[2] < MERGE):
                run[3] = eid
                run[4] = min(run[4], ts)
                run[5] = max(run[5], ts)
                run[6] += 1
                continue
            if run is not None:
                insert_times(c, run[0], run[1], [tuple(run[2:])])
            run = [rid, node, eid, eid, ts, ts, 1]
        start = stop + 1
    if run is not None:
        insert_times(c, run[0], run[1], [tuple(run[2:])])


# -- reading -----------------------------------------------------------------------------------


def _node_sql(node_id: int | None) -> tuple[str, list]:
    return ("", []) if node_id is None else (" AND t.node_id = ?", [int(node_id)])


def window_source(recording_id: int, lo: int | None, hi: int | None,
                  node_id: int | None = None) -> tuple[str, list]:
    """A FROM item named ``e`` holding the recording's events with ``lo <= ts <= hi`` (None:
    open), optionally of one node, read through the time blocks; and its parameters."""
    lo = NO_LO if lo is None else int(lo)
    hi = NO_HI if hi is None else int(hi)
    nsql, np_ = _node_sql(node_id)
    # LIMIT -1 keeps SQLite from flattening it into the outer query (see blocks.kind_source)
    return (f"(SELECT e.* FROM {TIME_FROM} WHERE {TIME_WHERE}{nsql} LIMIT -1) e",
            [int(recording_id), lo, hi, lo, hi, *np_])


def time_from(lo: bool = False, hi: bool = False) -> str:
    """``TIME_FROM`` with an id cursor: each block's rowid range clipped to ``id >= ?`` (``lo``)
    and/or ``id <= ?`` (``hi``); binds lo, then hi, before the WHERE's parameters. A
    recording's blocks never overlap, so ``ORDER BY t.first_id, e.id`` is id order, no sort."""
    return (f"block_time t CROSS JOIN events e ON e.id BETWEEN {'max(t.first_id, ?)' if lo else 't.first_id'} "
            f"AND {'min(t.last_id, ?)' if hi else 't.last_id'}")


def time_where(recording_id: int, since: int | None, until: int | None, node_id: int | None = None,
               lo_id: int | None = None, hi_id: int | None = None) -> tuple[str, list]:
    """WHERE terms over ``t`` for ``time_from``: the recording's blocks that may hold events of
    ``since <= ts <= until`` (of one node; ids in ``lo_id .. hi_id``), and their parameters.
    The caller still filters ``e.ts``."""
    where, params = ["t.recording_id = ?"], [int(recording_id)]
    for cond, value in (("t.max_ts >= ?", since), ("t.min_ts <= ?", until), ("t.node_id = ?", node_id),
                        ("t.last_id >= ?", lo_id), ("t.first_id <= ?", hi_id)):
        if value is not None:
            where.append(cond)
            params.append(int(value))
    return " AND ".join(where), params


def ts_bounds(db: Any, recording_id: int, node_id: int | None = None) -> tuple[int, int] | None:
    """(first ts, last ts) of the recording's events (of one node), None when it has none."""
    nsql, np_ = _node_sql(node_id)
    row = db.query_one(f"SELECT min(t.min_ts), max(t.max_ts) FROM block_time t WHERE t.recording_id = ?{nsql}",
                       (int(recording_id), *np_))
    return None if row is None or row[0] is None else (row[0], row[1])


def id_bounds(db: Any, recording_id: int) -> tuple[int, int] | None:
    """(lowest, highest) event id of the recording, None when it has none: a rowid range that
    holds all its events (and those of recordings written at the same time)."""
    row = db.query_one("SELECT min(first_id), max(last_id) FROM block_time WHERE recording_id = ?",
                       (int(recording_id),))
    return None if row is None or row[0] is None else (row[0], row[1])


def id_range(db: Any, recording_id: int) -> tuple[int, int]:
    """``id_bounds`` for ``e.id BETWEEN ? AND ?`` (an empty range when the recording has no
    event): bounds a rowid walk to the recording's part of the file."""
    return id_bounds(db, recording_id) or (0, -1)


def first_at_or_after(db: Any, recording_id: int, ts: int, columns: str = "e.id",
                      node_id: int | None = None, where: str = "", params: tuple = (),
                      order: tuple[str, ...] = ("e.ts", "e.id")) -> tuple | None:
    """``columns`` of the first event in ``order`` (which starts with ``e.ts``) of the recording
    (of one node) with ``ts`` >= ``ts`` and the extra ``where`` over ``e`` (binding ``params``);
    None when there is none. The candidate blocks are read in min_ts order; it stops at the
    first block whose min_ts is above the best event's ts."""
    return _nearest(db, recording_id, ts, columns, node_id, where, params, order, True)


def last_at_or_before(db: Any, recording_id: int, ts: int, columns: str = "e.id",
                      node_id: int | None = None, where: str = "", params: tuple = (),
                      order: tuple[str, ...] = ("e.ts", "e.id")) -> tuple | None:
    """The last event in ``order`` with ``ts`` <= ``ts``: ``first_at_or_after`` backwards."""
    return _nearest(db, recording_id, ts, columns, node_id, where, params, order, False)


def _nearest(db: Any, recording_id: int, ts: int, columns: str, node_id: int | None, where: str,
             params: tuple, order: tuple[str, ...], forward: bool) -> tuple | None:
    nsql, np_ = _node_sql(node_id)
    extra = f" AND {where}" if where else ""
    k = len(order)
    if forward:
        blocks = db.query(f"SELECT t.first_id, t.last_id, t.min_ts FROM block_time t WHERE t.recording_id = ? "
                          f"AND t.max_ts >= ?{nsql} ORDER BY t.min_ts", (int(recording_id), int(ts), *np_))
        sql = (f"SELECT {', '.join(order)}, {columns} FROM events e WHERE e.id BETWEEN ? AND ? "
               f"AND e.ts >= ?{extra} ORDER BY {', '.join(order)} LIMIT 1")
    else:
        blocks = db.query(f"SELECT t.first_id, t.last_id, t.max_ts FROM block_time t WHERE t.recording_id = ? "
                          f"AND t.min_ts <= ?{nsql} ORDER BY t.max_ts DESC", (int(recording_id), int(ts), *np_))
        sql = (f"SELECT {', '.join(order)}, {columns} FROM events e WHERE e.id BETWEEN ? AND ? "
               f"AND e.ts <= ?{extra} ORDER BY {' DESC, '.join(order)} DESC LIMIT 1")
    best: tuple | None = None
    for first_id, last_id, edge in blocks:
        if best is not None and (edge > best[0] if forward else edge < best[0]):
            break  # no event of this block or a later one comes before the best
        row = db.query_one(sql, (first_id, last_id, int(ts), *params))
        if row is not None and (best is None or (row[:k] < best[:k] if forward else row[:k] > best[:k])):
            best = row
    return None if best is None else tuple(best[k:])


@dataclass(frozen=True, slots=True)
class Slice:
    """A ts interval ``lo .. hi`` (bounds included) of a time-ordered walk."""

    lo: int
    hi: int


def time_slices(db: Any, recording_id: int, lo: int | None = None, hi: int | None = None, *,
                size: int = 5000, first: int | None = None, backward: bool = False,
                node_id: int | None = None) -> Iterator[Slice]:
    """Consecutive disjoint ts intervals covering ``lo .. hi`` (None: open), in ts order (or
    backwards), each holding about ``size`` events (the first about ``first``), cut at block
    bounds: the events of a time-ordered walk, read interval by interval, each interval sorted
    alone. An interval never splits one ts value."""
    nsql, np_ = _node_sql(node_id)
    lo = NO_LO if lo is None else int(lo)
    hi = NO_HI if hi is None else int(hi)
    if lo > hi:
        return
    key = "t.max_ts" if backward else "t.min_ts"
    rows = db.query(f"SELECT {key}, t.n FROM block_time t WHERE t.recording_id = ? AND t.max_ts >= ? "
                    f"AND t.min_ts <= ?{nsql} ORDER BY {key} {'DESC' if backward else ''}",
                    (int(recording_id), lo, hi, *np_))
    if not rows:
        return
    want = size if first is None else max(1, first)
    got = 0
    cut = hi if backward else lo  # the open end of the next interval
    for edge, n in rows:
        # a block starting (ending) beyond the events gathered so far opens the next interval
        if got >= want and (edge > cut if not backward else edge < cut):
            if backward:
                yield Slice(max(lo, edge + 1), cut)
                cut = edge
            else:
                yield Slice(cut, min(hi, edge - 1))
                cut = edge
            got, want = 0, size
        got += n
    yield Slice(lo, cut) if backward else Slice(cut, hi)
