"""The block index: where a process's or a function's events lie, as exact id ranges.

Why not per-event index entries
===============================
An index entry per event on ``(node_id, pid)`` and on ``(recording_id, kind, aux)`` cost more
than the events themselves: their upkeep at commit was ~90 % of what storing a batch cost
(benchmarks/bench_store.py: 7.4 µs per event with them, 0.8 µs into the bare table). Events
arrive in batches of one node, and a batch holds few processes and few functions, so the store
keeps instead, per stored batch, one row per (process) and one per (kind, function) it holds:

``block_procs`` (node_id, pid, first_id, last_id, n) and
``block_kinds`` (recording_id, kind, aux, first_id, last_id, n)

— every event of that process (or of that kind and ``aux``) in the batch has an id in
``first_id .. last_id``; ``n`` counts them. They are written in the batch's own transaction,
so a batch is stored with its block rows, whole or not at all.

Reading through it
==================
A reader that seeks one process's events joins the block rows to ``events`` by rowid range::

    FROM block_procs b CROSS JOIN events e ON e.id BETWEEN b.first_id AND b.last_id
                                         AND +e.node_id = b.node_id AND +e.pid = b.pid
    WHERE b.node_id = ? AND b.pid = ?
    ORDER BY b.first_id, e.id

(``PROC_FROM`` / ``PROC_WHERE`` / ``PROC_ORDER``): the blocks of one key never overlap and come
in id order, so that order is the events' id order with no sort. ``CROSS JOIN`` keeps the
block rows the outer loop and the unary ``+`` keeps the planner from building an automatic
index on ``events`` for the key columns: the only access to ``events`` is the rowid range
(checked with EXPLAIN QUERY PLAN in tests/test_store.py). Two bounds keep the rows read
per block small:

* ``GAP``: a block is closed when the next event of its key is more than ``GAP`` rows further
  on, so a block is at least ~1/GAP dense in its key (a rare process or function gets short
  blocks instead of one spanning the whole batch);
* ``SPAN``: no block spans more than ``SPAN`` ids, so "blocks that reach id X" is a range on
  the primary key: ``first_id > X - SPAN`` (``reach``).
"""

from __future__ import annotations

import sqlite3

GAP = 256
"""Close a block when its key's next event is more than this many rows further on."""

SPAN = 4096
"""No block spans more than this many ids (``last_id - first_id < SPAN``)."""

TABLES = """
CREATE TABLE IF NOT EXISTS block_procs (
    node_id   INTEGER NOT NULL,
    pid       INTEGER NOT NULL,
    first_id  INTEGER NOT NULL,
    last_id   INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (node_id, pid, first_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS block_kinds (
    recording_id  INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    aux           INTEGER NOT NULL,
    first_id      INTEGER NOT NULL,
    last_id       INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (recording_id, kind, aux, first_id)
) WITHOUT ROWID;
"""

PROC_FROM = ("block_procs b CROSS JOIN events e ON e.id BETWEEN b.first_id AND b.last_id "
             "AND +e.node_id = b.node_id AND +e.pid = b.pid")
"""FROM clause for one process's events (bind node_id, pid through ``PROC_WHERE``)."""

PROC_WHERE = "b.node_id = ? AND b.pid = ?"

PROC_ORDER = "b.first_id, e.id"
"""ORDER BY for id order (``b.first_id DESC, e.id DESC`` backwards): no sort needed."""

KIND_FROM = ("block_kinds k CROSS JOIN events e ON e.id BETWEEN k.first_id AND k.last_id "
             "AND +e.kind = k.kind AND +e.aux = k.aux")
"""FROM clause for events of given kinds (and functions) of a recording: bind through
``kind_where``. Blocks of different keys overlap, so id order needs ``ORDER BY e.id``."""


def kind_where(kinds: tuple[int, ...] | list[int], *, aux: bool = False) -> str:
    """WHERE for ``KIND_FROM``: binds the recording id, then (with ``aux``) one aux value.
    Kinds are integers of EventKind, inlined."""
    ks = ",".join(str(int(k)) for k in kinds)
    sql = f"k.recording_id = ? AND k.kind IN ({ks})"
    return sql + " AND k.aux = ?" if aux else sql


def reach(lo: str = "?", alias: str = "b") -> str:
    """Blocks that may hold ids >= ``lo`` (an SQL expression, default a bound parameter): a
    range on the primary key plus the exact test."""
    return f"{alias}.first_id > {lo} - {SPAN} AND {alias}.last_id >= {lo}"


def batch_blocks(rows: list[tuple], first: int, recording_id: int, node_id: int) -> tuple[list, list]:
    """Block rows of one batch: ``rows`` are ``(kind, flags, ts, uniq, pid, aux, payload)`` with
    ids ``first, first + 1, …``. This loop runs once per stored event (the ingest hot path)."""
    procs: dict[int, list[int]] = {}
    kinds: dict[int, list[int]] = {}
    out_p: list[tuple] = []
    out_k: list[tuple] = []
    gap, span = GAP, SPAN
    i = 0
    for row in rows:
        pid = row[4]
        b = procs.get(pid)
        if b is None:
            procs[pid] = [i, i, 1]
        elif i - b[1] > gap or i - b[0] >= span:
            out_p.append((node_id, pid, first + b[0], first + b[1], b[2]))
            procs[pid] = [i, i, 1]
        else:
            b[1] = i
            b[2] += 1
        key = (row[5] << 5) | row[0]  # kind < 32
        b = kinds.get(key)
        if b is None:
            kinds[key] = [i, i, 1]
        elif i - b[1] > gap or i - b[0] >= span:
            out_k.append((recording_id, key & 31, key >> 5, first + b[0], first + b[1], b[2]))
            kinds[key] = [i, i, 1]
        else:
            b[1] = i
            b[2] += 1
        i += 1
    for pid, b in procs.items():
        out_p.append((node_id, pid, first + b[0], first + b[1], b[2]))
    for key, b in kinds.items():
        out_k.append((recording_id, key & 31, key >> 5, first + b[0], first + b[1], b[2]))
    return out_p, out_k


def insert_blocks(c: sqlite3.Connection, procs: list, kinds: list) -> None:
    """Store block rows (inside the caller's transaction)."""
    if procs:
        c.executemany("INSERT INTO block_procs (node_id, pid, first_id, last_id, n) "
                      "VALUES (?, ?, ?, ?, ?)", procs)
    if kinds:
        c.executemany("INSERT INTO block_kinds (recording_id, kind, aux, first_id, last_id, n) "
                      "VALUES (?, ?, ?, ?, ?, ?)", kinds)


def build_blocks(c: sqlite3.Connection, lo: int, hi: int, chunk: int = 2000) -> None:
    """Block rows for the events with ids ``lo .. hi`` already in ``events`` (a migration from
    an older schema, an imported recording), built a chunk of ids at a time as ingest would,
    one node's run of events per batch. Inside the caller's transaction."""
    start = lo
    while start <= hi:
        stop = min(start + chunk - 1, hi)
        rows = c.execute("SELECT id, recording_id, node_id, kind, pid, aux FROM events "
                         "WHERE id BETWEEN ? AND ? ORDER BY id", (start, stop)).fetchall()
        run: list[tuple] = []
        for row in rows:
            if run and (row[1] != run[0][1] or row[2] != run[0][2] or row[0] != run[-1][0] + 1):
                _store_run(c, run)
                run = []
            run.append(row)
        if run:
            _store_run(c, run)
        start = stop + 1


def _store_run(c: sqlite3.Connection, run: list[tuple]) -> None:
    """One contiguous run of ids of one recording and node."""
    rows = [(r[3], 0, 0, 0, r[4], r[5], None) for r in run]
    procs, kinds = batch_blocks(rows, run[0][0], run[0][1], run[0][2])
    insert_blocks(c, procs, kinds)


def qualified(columns: str, alias: str = "e") -> str:
    """``"id, kind"`` -> ``"e.id, e.kind"``: column lists for the block joins."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def step_sql(columns: str, forward: bool) -> str:
    """The next (``forward``) or previous event of one process after/before an id: binds
    (node_id, pid, id, id, id) forward and (node_id, pid, id, id) backward."""
    if forward:
        return (f"SELECT {qualified(columns)} FROM {PROC_FROM} WHERE {PROC_WHERE} AND {reach()} "
                f"AND e.id > ? ORDER BY {PROC_ORDER} LIMIT 1")
    return (f"SELECT {qualified(columns)} FROM {PROC_FROM} WHERE {PROC_WHERE} AND b.first_id < ? "
            "AND e.id < ? ORDER BY b.first_id DESC, e.id DESC LIMIT 1")
