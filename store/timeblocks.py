"""The time blocks: where a recording's events lie in time, as id ranges with their ts bounds.

Why not a per-event index on ``(recording_id, ts)``
===================================================
An index entry per event costs its B-tree insert at every commit (~0.3-0.5 µs of the writer's
CPU per event, benchmarks/bench_store.py). Events arrive in batches of one node, nearly in ts
order, so the store keeps instead, per stored batch (cut into pieces of at most ``ROWS`` ids),
one row::

    block_time (recording_id, first_id, last_id, node_id, min_ts, max_ts, n)

— every event of the recording with an id in ``first_id .. last_id`` belongs to ``node_id``
and has ``min_ts <= ts <= max_ts``; ``n`` counts them. A batch that directly follows the
previous batch of the same recording and node (consecutive ids) extends that row while it
spans at most ``ROWS`` ids, so a slow capture of tiny batches does not grow one row per
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


TABLES = """
CREATE TABLE IF NOT EXISTS block_time (
    recording_id  INTEGER NOT NULL,
    first_id      INTEGER NOT NULL,
    last_id       INTEGER NOT NULL,
    node_id       INTEGER NOT NULL,
    min_ts        INTEGER NOT NULL,
    max_ts        INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    ordered       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (recording_id, first_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS block_time_by_ts ON block_time (recording_id, min_ts, last_id, max_ts, node_id,
                                                           ordered, n);

CREATE TABLE IF NOT EXISTS time_spans (
    recording_id  INTEGER PRIMARY KEY,
    span          INTEGER NOT NULL
);
"""
"""``ordered`` is 1 when the row's ts never decrease with id (nearly always: one node's batch
arrives in time order), so a seek inside it reads the row in id order and stops at its first
hit instead of sorting the row. ``block_time_by_ts`` walks a recording's rows in ``min_ts``
order from any ts and covers what a seek reads of them (no lookup of the row itself);
``time_spans`` holds the greatest ``max_ts - min_ts`` of a recording's rows, which bounds how
far back a row that reaches a ts can start (``min_ts >= ts - span``)."""

TIME_FROM = "block_time t CROSS JOIN events e ON e.id BETWEEN t.first_id AND t.last_id"
"""FROM clause joining time blocks to their events by rowid range (bind through ``TIME_WHERE``)."""

def _span_of(recording: str) -> str:
    """The recording's span as a scalar subquery, from ``time_spans`` (or its rows, for a file
    without that row); ``recording`` is how the statement names the recording's id."""
    return (f"coalesce((SELECT span FROM time_spans WHERE recording_id = {recording}), "
            f"(SELECT max(max_ts - min_ts) FROM block_time WHERE recording_id = {recording}), 0)")


SPAN_OF = _span_of("t.recording_id")
"""The span of the recording of the time row ``t``."""

_SPAN1 = _span_of("?1")
"""The recording's span (``span``) in a statement binding its id as ``?1``."""

ROWS = 256
"""A time row spans at most ROWS ids: a seek reads at most that many events per row."""

MERGE = ROWS
"""A batch extends the previous row of its recording (consecutive ids, same node) while the
merged row spans at most MERGE ids."""

NO_LO = -(1 << 63)
NO_HI = (1 << 63) - 1


def batch_times(tss: Any, first: int) -> list[tuple[int, int, int, int, int, int]]:
    """Time block rows ``(first_id, last_id, min_ts, max_ts, n, ordered)`` of one batch, given
    its ts column (a numpy array or a list, ids ``first, first + 1, …``): one per ``ROWS`` ids;
    ``ordered`` is 1 when the row's ts never decrease with id."""
    import numpy as np

    ts = np.asarray(tss, dtype=np.int64)
    down = np.flatnonzero(ts[1:] < ts[:-1])  # i: ts[i + 1] < ts[i]
    out = []
    for start in range(0, len(ts), ROWS):
        part = ts[start:start + ROWS]
        stop = start + len(part) - 1  # a decrease inside the row: some i with start <= i < stop
        at = int(np.searchsorted(down, start))
        ordered = int(at == len(down) or down[at] >= stop)
        out.append((first + start, first + stop, int(part.min()), int(part.max()), len(part), ordered))
    return out


def insert_times(c: sqlite3.Connection, recording_id: int, node_id: int, rows: list) -> None:
    """Store time block rows ``(first_id, last_id, min_ts, max_ts, n, ordered)`` of one node's
    events (inside the caller's transaction). The first one extends the recording's last row
    when it directly follows it on the same node and the merged row spans at most ``MERGE`` ids
    (still ordered when both are and the new one starts at or after the old one's end)."""
    if not rows:
        return
    first_id, last_id, lo, hi, n, ordered = rows[0]
    prev = c.execute("SELECT first_id, last_id, node_id, min_ts, max_ts, n, ordered FROM block_time "
                     "WHERE recording_id = ? ORDER BY first_id DESC LIMIT 1", (recording_id,)).fetchone()
    if prev is not None and prev[1] + 1 == first_id and prev[2] == node_id and last_id - prev[0] < MERGE:
        # an ordered row starts with its least ts
        merged = int(bool(ordered and prev[6] and prev[4] <= lo))
        c.execute("UPDATE block_time SET last_id = ?, min_ts = ?, max_ts = ?, n = ?, ordered = ? "
                  "WHERE recording_id = ? AND first_id = ?",
                  (last_id, min(lo, prev[3]), max(hi, prev[4]), n + prev[5], merged, recording_id, prev[0]))
        span = max(hi, prev[4]) - min(lo, prev[3])
        rows = rows[1:]
    else:
        span = 0
    if rows:
        c.executemany("INSERT INTO block_time (recording_id, first_id, last_id, node_id, min_ts, "
                      "max_ts, n, ordered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [(recording_id, a, b, node_id, mn, mx, k, o) for a, b, mn, mx, k, o in rows])
        span = max(span, max(r[3] - r[2] for r in rows))
    c.execute("INSERT INTO time_spans (recording_id, span) VALUES (?, ?) ON CONFLICT (recording_id) "
              "DO UPDATE SET span = max(span, excluded.span)", (recording_id, span))


def build_times(c: sqlite3.Connection, lo: int, hi: int, chunk: int = 4096) -> None:
    """Time block rows for the events with ids ``lo .. hi`` already in ``events`` (a migration
    from an older schema, an imported recording): one row per run of consecutive ids of one
    recording and node, at most ``ROWS`` ids each. Inside the caller's transaction."""
    start = lo
    run: list | None = None  # [recording_id, node_id, first_id, last_id, min_ts, max_ts, n, ordered, ts]
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
                run[7] = int(run[7] and ts >= run[8])
                run[8] = ts
                continue
            if run is not None:
                insert_times(c, run[0], run[1], [tuple(run[2:8])])
            run = [rid, node, eid, eid, ts, ts, 1, 1, ts]
        start = stop + 1
    if run is not None:
        insert_times(c, run[0], run[1], [tuple(run[2:8])])


# -- reading -----------------------------------------------------------------------------------


def _node_sql(node_id: int | None) -> tuple[str, list]:
    return ("", []) if node_id is None else (" AND t.node_id = ?", [int(node_id)])


def window_source(recording_id: int, lo: int | None, hi: int | None,
                  node_id: int | None = None) -> tuple[str, list]:
    """A FROM item named ``e`` holding the recording's events with ``lo <= ts <= hi`` (None:
    open), optionally of one node, read through the time blocks; and its parameters."""
    where, params = _overlap(recording_id, lo, hi, node_id)
    lo = NO_LO if lo is None else int(lo)
    hi = NO_HI if hi is None else int(hi)
    # LIMIT -1 keeps SQLite from flattening it into the outer query (see blocks.kind_source)
    return (f"(SELECT e.* FROM {TIME_FROM} WHERE {where} AND e.ts >= ? AND e.ts <= ? LIMIT -1) e",
            [*params, lo, hi])


def _overlap(recording_id: int, lo: int | None, hi: int | None, node_id: int | None) -> tuple[str, list]:
    """WHERE over ``t``: the rows that may hold events of ``lo <= ts <= hi`` — a range of
    ``block_time_by_ts`` (a row reaching ``lo`` starts at most the recording's span before it)."""
    where, params = ["t.recording_id = ?"], [int(recording_id)]
    if lo is not None:
        where.append(f"t.min_ts >= ? - {SPAN_OF} AND t.max_ts >= ?")
        params += [int(lo), int(lo)]
    if hi is not None:
        where.append("t.min_ts <= ?")
        params.append(int(hi))
    if node_id is not None:
        where.append("t.node_id = ?")
        params.append(int(node_id))
    return " AND ".join(where), params


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
                        ("t.last_id >= ?", lo_id), ("t.first_id <= ?", hi_id)):  # id order: the key
        if value is not None:
            where.append(cond)
            params.append(int(value))
    return " AND ".join(where), params


def ts_bounds(db: Any, recording_id: int, node_id: int | None = None) -> tuple[int, int] | None:
    """(first ts, last ts) of the recording's events (of one node), None when it has none: the
    least ``min_ts`` and the greatest ``max_ts``, both seeks on ``block_time_by_ts`` (a row
    ending last starts at most the recording's span before the last start)."""
    nsql = "" if node_id is None else " AND t.node_id = ?2"
    args = (int(recording_id),) if node_id is None else (int(recording_id), int(node_id))
    rows = "FROM block_time t WHERE t.recording_id = ?1" + nsql
    first, last = db.query_one(  # one statement: three seeks
        f"SELECT (SELECT t.min_ts {rows} ORDER BY t.min_ts LIMIT 1), (SELECT max(t.max_ts) {rows} "
        f"AND t.min_ts >= (SELECT t.min_ts {rows} ORDER BY t.min_ts DESC LIMIT 1) - {_SPAN1})", args)
    return None if first is None else (first, last)


def id_bounds(db: Any, recording_id: int) -> tuple[int, int] | None:
    """(lowest, highest) event id of the recording, None when it has none: a rowid range that
    holds all its events (and those of recordings written at the same time). Two seeks on the
    key (a recording's rows never overlap)."""
    lo = db.query_one("SELECT first_id FROM block_time WHERE recording_id = ? ORDER BY first_id LIMIT 1",
                      (int(recording_id),))
    if lo is None:
        return None
    hi = db.query_one("SELECT last_id FROM block_time WHERE recording_id = ? ORDER BY first_id DESC LIMIT 1",
                      (int(recording_id),))
    return lo[0], hi[0]


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


_SPAN = _span_of("?")
"""The recording's span as a scalar subquery binding its id twice (see ``span``)."""

PEEK = 4
"""A seek inside an ordered row reads its first PEEK hits in id order: the best ts is the
first one's, and unless all PEEK share it, every event of that ts is among them."""


def _rows(db: Any, recording_id: int, start: int, stop: int | None, node_id: int | None,
          backward: bool, page: int = 4, *, spanned: bool = False,
          ending: int | None = None) -> Iterator[tuple[int, int, int, int, int, int, int]]:
    """The recording's rows ``(first_id, last_id, min_ts, max_ts, n, ordered, span)`` with
    ``min_ts`` from ``start`` (less the recording's span when ``spanned``) towards ``stop``
    (None: to the end) and ``max_ts >= ending`` (None: any), in ``min_ts`` order (descending
    when ``backward``), read lazily a page at a time along ``block_time_by_ts`` (which covers
    them); ``span`` is the recording's span (``span``), the same on every row."""
    rid = int(recording_id)
    nsql, np_ = _node_sql(node_id)
    op, way = ("<", "DESC") if backward else (">", "ASC")
    bound = "" if stop is None else (" AND t.min_ts >= ?" if backward else " AND t.min_ts <= ?")
    bp = [] if stop is None else [int(stop)]
    if ending is not None:
        bound += " AND t.max_ts >= ?"
        bp.append(int(ending))
    key: tuple | None = None
    while True:
        if key is None:
            cond = "t.min_ts <= ?" if backward else f"t.min_ts >= ?{f' - {_SPAN}' if spanned else ''}"
            cp = [int(start), rid, rid] if spanned else [int(start)]
        else:
            cond, cp = f"(t.min_ts, t.last_id) {op} (?, ?)", list(key)
        rows = db.query(f"SELECT t.first_id, t.last_id, t.min_ts, t.max_ts, t.n, t.ordered, {_SPAN} "
                        f"FROM block_time t WHERE t.recording_id = ? AND {cond}{bound}{nsql} "
                        f"ORDER BY t.min_ts {way}, t.last_id {way} LIMIT ?",
                        (rid, rid, rid, *cp, *bp, *np_, page))
        yield from rows
        if len(rows) < page:
            return
        key = (rows[-1][2], rows[-1][1])
        page = min(page * 4, 1024)


def span(db: Any, recording_id: int) -> int:
    """The greatest ``max_ts - min_ts`` of the recording's rows (0 when it has none)."""
    return db.query_one(f"SELECT {_SPAN}", (int(recording_id), int(recording_id)))[0]


def _nearest(db: Any, recording_id: int, ts: int, columns: str, node_id: int | None, where: str,
             params: tuple, order: tuple[str, ...], forward: bool) -> tuple | None:
    extra = f" AND {where}" if where else ""
    k = len(order)
    ts = int(ts)
    if forward:  # rows reaching ts in min_ts order, from the earliest that can
        rows = _rows(db, recording_id, ts, None, node_id, False, spanned=True, ending=ts)
    else:  # rows in descending min_ts order from ts
        rows = _rows(db, recording_id, ts, None, node_id, True)
    best: tuple | None = None
    for row in rows:
        min_ts, max_ts, reach = row[2], row[3], row[6]
        if forward:
            if best is not None and min_ts > best[0]:
                break  # this row and every later one start after the best event
        else:
            # (the first row holds an event at or before ts: its least one)
            if best is not None and min_ts + reach < best[0]:
                break  # this row and every earlier one end before the best event
            if best is not None and max_ts < best[0]:
                continue
        got = _in_row(db, row, ts, columns, extra, params, order, forward)
        if got is not None and (best is None or (got[:k] < best[:k] if forward else got[:k] > best[:k])):
            best = got
    return None if best is None else tuple(best[k:])


def _in_row(db: Any, row: tuple, ts: int, columns: str, extra: str, params: tuple,
            order: tuple[str, ...], forward: bool) -> tuple | None:
    """``order`` then ``columns`` of the first event (last, backwards) in ``order`` of one row
    with ts at or after (at or before) ``ts`` and ``extra``. An ordered row is read in id
    order (backwards: descending), whose first hit has the best ts: its first ``PEEK`` hits
    hold every event of that ts unless all of them share it; otherwise the row is sorted."""
    first_id, last_id, ordered = row[0], row[1], row[5]
    keys = ", ".join(order)
    cmp, way = (">=", "ASC") if forward else ("<=", "DESC")
    base = f"SELECT {keys}, {columns} FROM events e WHERE e.id BETWEEN ? AND ? AND e.ts {cmp} ?{extra}"
    args = (first_id, last_id, ts, *params)
    if ordered:
        got = db.query(f"{base} ORDER BY e.id {way} LIMIT {PEEK}", args)
        if not got:
            return None
        if len(got) < PEEK or got[-1][0] != got[0][0]:
            k = len(order)
            tied = [r for r in got if r[0] == got[0][0]]
            return min(tied, key=lambda r: r[:k]) if forward else max(tied, key=lambda r: r[:k])
    return db.query_one(f"{base} ORDER BY {', '.join(f'{c} {way}' for c in order)} LIMIT 1", args)



NEAR = 4
"""``neighbour`` reads this many events of the event's own row around it."""


def neighbour(db: Any, recording_id: int, event: tuple[int, int, int, int], columns: str,
              forward: bool) -> tuple | None:
    """``columns`` of the event of the same node next to ``event`` = ``(id, node_id, ts, uniq)``
    in ``(ts, uniq, id)`` order (before it when not ``forward``), None at the end: the answer
    of ``first_at_or_after`` (``last_at_or_before``) with that order. One statement when the
    event's row is ordered, holds the answer among the few events around the event, and no
    other row of the node reaches between the event and that row's end (start); otherwise
    through ``first_at_or_after`` / ``last_at_or_before``."""
    eid, node_id, ts, uniq = (int(x) for x in event)
    # the NEAR ids from the event's predecessor on (back from its successor): contiguous in the row
    if forward:
        lo, hi, way = "?3", "r.max_ts", "ASC"
        a, b = "max(?2 - 1, r.first_id)", "min(max(?2 - 1, r.first_id) + ?5 - 1, r.last_id)"
    else:
        lo, hi, way = "r.min_ts", "?3", "DESC"
        a, b = "max(min(?2 + 1, r.last_id) - ?5 + 1, r.first_id)", "min(?2 + 1, r.last_id)"
    rows = db.query(
        "WITH r AS (SELECT first_id, last_id, min_ts, max_ts, ordered, node_id FROM block_time "
        "WHERE recording_id = ?1 AND first_id <= ?2 ORDER BY first_id DESC LIMIT 1), "
        "s AS MATERIALIZED (SELECT r.first_id, r.last_id, r.ordered AND r.node_id = ?4 AND r.last_id >= ?2 AND NOT EXISTS "
        f"(SELECT 1 FROM block_time t WHERE t.recording_id = ?1 AND t.min_ts >= {lo} - {_SPAN1} "
        f"AND t.min_ts <= {hi} AND t.max_ts >= {lo} AND t.node_id = ?4 AND t.first_id != r.first_id) AS ok, "
        f"{a} AS a, {b} AS b FROM r) "
        f"SELECT s.ok, s.first_id, s.last_id, e.ts, e.uniq, e.id, {columns} FROM s JOIN events e "
        f"ON e.id BETWEEN s.a AND s.b ORDER BY e.id {way}",
        (int(recording_id), eid, ts, node_id, NEAR))
    got = _near_in_row(rows, eid, ts, uniq, forward)
    if got is not False:
        return got
    near = first_at_or_after if forward else last_at_or_before
    return near(db, recording_id, ts, columns, node_id=node_id,
                where=f"(e.ts, e.uniq, e.id) {'>' if forward else '<'} (?, ?, ?)", params=(ts, uniq, eid),
                order=("e.ts", "e.uniq", "e.id"))


def _near_in_row(rows: list[tuple], eid: int, ts: int, uniq: int, forward: bool) -> tuple | None | bool:
    """``neighbour``'s answer from the events around the event in its row (rows of its
    statement, in id order away from the row's start when ``forward``), or False when they
    cannot tell."""
    if not rows or not rows[0][0]:
        return False
    at = next((i for i, r in enumerate(rows) if r[5] == eid), None)
    if at is None or at > 1 or (at == 1 and rows[0][3] == ts):
        return False  # the event not found, or an event of its ts on the other side of it
    key = (ts, uniq, eid)
    # past the event, ts only move away from its ts: the best ts is the first qualifying one
    hits = [r for r in rows[at + 1:] if (r[3:6] > key if forward else r[3:6] < key)]
    edge = rows[0][2] if forward else rows[0][1]  # the row's last (first) id
    reached = rows[-1][5] == edge
    if not hits:
        return False  # the answer, if any, lies in another row
    best_ts = hits[0][3]
    if not (reached or rows[-1][3] != best_ts):
        return False  # more events of that ts may follow
    tied = [r for r in hits if r[3] == best_ts]
    pick = min(tied, key=lambda r: r[3:6]) if forward else max(tied, key=lambda r: r[3:6])
    return tuple(pick[6:])


BATCH = 256
"""Ids read per statement by ``first_ids_at``."""

PROBE = 6
"""``first_ids_at`` reads the ids within PROBE of its interpolated guess."""


def first_ids_at(db: Any, recording_id: int, edges: list[int]) -> list[int | None]:
    """``first_at_or_after(db, recording_id, edge)`` (the id) for each of ``edges``, in one
    walk over the recording's rows in min_ts order (``_first_ids_ascending``)."""
    edges = [int(e) for e in edges]
    if all(a <= b for a, b in zip(edges, edges[1:])):
        return _first_ids_ascending(db, recording_id, edges)
    order = sorted(set(edges))
    got = dict(zip(order, _first_ids_ascending(db, recording_id, order)))
    return [got[e] for e in edges]


def _first_ids_ascending(db: Any, recording_id: int, edges: list[int]) -> list[int | None]:
    """``first_ids_at`` of ascending ``edges``. An edge's answer lies in
    the first row reaching it unless a later row starts at or before the answer's ts; when
    that row is ordered and the next row starts after the answer, the answer is its first
    event at or after the edge in id order, found by interpolation and bisection on the id
    (primary key lookups, those of many edges in one statement). Any other
    edge (rows overlapping in time, an unordered row) is answered by ``first_at_or_after``."""
    out: list[int | None] = [None] * len(edges)
    if not edges:
        return out
    rows = _rows(db, recording_id, edges[0], None, None, False, 256, spanned=True)
    seen: list[tuple] = []  # rows read so far, min_ts order, that may still reach a later edge
    done = False
    plans: list[tuple[int, int, int, int | None]] = []  # (edge's index, first_id, last_id, next min_ts)
    edge_rows: dict[int, tuple[int, int]] = {}  # edge's index -> its row's (min_ts, max_ts)
    slow: list[int] = []
    for at, edge in enumerate(edges):
        seen = [r for r in seen if r[3] >= edge]  # a row ending before an edge ends before the later ones
        while not seen and not done:
            nxt = next(rows, None)
            if nxt is None:
                done = True
            elif nxt[3] >= edge:
                seen.append(nxt)
        if not seen:
            continue  # no event at or after this edge (nor after any later one)
        if len(seen) == 1 and not done:
            nxt = next(rows, None)
            if nxt is None:
                done = True
            else:
                seen.append(nxt)
        row = seen[0]
        if row[5]:
            plans.append((at, row[0], row[1], seen[1][2] if len(seen) > 1 else None))
            edge_rows[at] = (row[2], row[3])
        else:
            slow.append(at)
    # a search in every planned row at once (ts never decrease with id there): the answer is
    # the first id whose ts reaches the edge; each round reads a few ids of every open bracket,
    # one statement per BATCH of them
    known: dict[int, int] = {}  # id -> ts
    open_: dict[int, list[int]] = {}  # edge's index -> [L, H]: ts(L) < edge <= ts(H)
    found: dict[int, tuple[int, int]] = {}  # edge's index -> (id, ts)
    for at, first, last, _ in plans:
        lo_ts, hi_ts = edge_rows[at]
        if lo_ts >= edges[at]:
            found[at] = (first, lo_ts)  # an ordered row starts with its least ts
        else:
            known[first], known[last] = lo_ts, hi_ts
            open_[at] = [first, last]
    rounds = 0
    while open_:
        probes: dict[int, range] = {}
        for at, (lo, hi) in open_.items():
            if rounds % 2 == 0:  # interpolate (ts are nearly linear in id), read around the guess
                guess = lo + (edges[at] - known[lo]) * (hi - lo) // max(1, known[hi] - known[lo])
                probes[at] = range(max(lo + 1, guess - PROBE), min(hi, guess + PROBE + 1))
            else:  # halve: at most twice the rounds of a bisection
                probes[at] = range((lo + hi) // 2, (lo + hi) // 2 + 1)
        ids = sorted({i for r in probes.values() for i in r} - known.keys())
        for start in range(0, len(ids), BATCH):
            part = ids[start:start + BATCH]
            known.update(db.query(f"SELECT id, ts FROM events WHERE id IN ({','.join('?' * len(part))})", part))
        for at in list(open_):
            lo, hi = open_[at]
            edge = edges[at]
            for i in probes[at]:
                ts = known[i]
                if ts < edge:
                    lo = i
                else:
                    hi = i
                    break
            if hi - lo == 1:
                found[at] = (hi, known[hi])
                del open_[at]
            else:
                open_[at] = [lo, hi]
        rounds += 1
    for at, _first, _last, later in plans:
        hit = found.get(at)
        if hit is not None and (later is None or later > hit[1]):
            out[at] = hit[0]
        else:
            slow.append(at)
    for at in slow:
        row = first_at_or_after(db, recording_id, edges[at])
        out[at] = row[0] if row else None
    return out


@dataclass(frozen=True, slots=True)
class Slice:
    """A ts interval ``lo .. hi`` (bounds included) of a time-ordered walk; ``ids``: an id
    range holding all its events, in (ts, id) order when read in id order (None: unknown)."""

    lo: int
    hi: int
    ids: tuple[int, int] | None = None


def time_slices(db: Any, recording_id: int, lo: int | None = None, hi: int | None = None, *,
                size: int = 5000, first: int | None = None, backward: bool = False,
                node_id: int | None = None) -> Iterator[Slice]:
    """Consecutive disjoint ts intervals covering ``lo .. hi`` (None: open), in ts order (or
    backwards), each holding about ``size`` events (the first about ``first``, the next ones
    four times their previous one up to ``size``), cut at block bounds: the events of a
    time-ordered walk, read interval by interval, each interval sorted alone. An interval never
    splits one ts value. Walking forward, an interval whose rows are ordered, follow each other
    in ids and in ts (each ends at or before the next one starts) and that no earlier row
    reaches carries their id range: read in id order, its events need no sort."""
    lo = NO_LO if lo is None else int(lo)
    hi = NO_HI if hi is None else int(hi)
    if lo > hi:
        return
    early = NO_LO if lo == NO_LO else lo - span(db, recording_id)  # the earliest start of a row reaching lo
    if backward:
        rows = _rows(db, recording_id, hi, early, node_id, True)
    else:
        rows = _rows(db, recording_id, early, None if hi == NO_HI else hi, node_id, False)
    want = size if first is None else max(1, first)
    got, seen = 0, False
    cut = hi if backward else lo  # the open end of the next interval
    reached = NO_LO  # forward: the greatest max_ts of the earlier intervals' rows
    top = NO_LO  # forward: the greatest max_ts of this interval's rows
    chain: list | None = None  # forward: [first_id, last_id, max_ts] of this interval's rows, None: not a chain
    for first_id, last_id, edge, max_ts, n, ordered, _span in rows:
        if max_ts < lo:
            continue
        # a row starting beyond the events gathered so far opens the next interval
        if got >= want and (edge < cut and edge >= lo if backward else edge > cut):
            if backward:
                yield Slice(edge + 1, cut)
                cut = edge
            else:
                yield Slice(cut, edge - 1, (chain[0], chain[1]) if chain and reached < cut else None)
                reached, top = max(reached, top), NO_LO
                cut = edge
                seen = False
            got, want = 0, min(size, want * 4)  # growing: a filter may match few of them
        if not backward:
            if not seen:
                chain = [first_id, last_id, max_ts] if ordered else None
            elif chain is not None and ordered and chain[1] < first_id and chain[2] <= edge:
                chain[1:] = [last_id, max_ts]
            else:
                chain = None
            top = max(top, max_ts)
        seen = True
        got += n
    if seen:
        yield (Slice(lo, cut) if backward else
               Slice(cut, hi, (chain[0], chain[1]) if chain and reached < cut else None))
