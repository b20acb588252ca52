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

* ``GAP``: a block holds at least one event of its key per ``GAP`` rows of its span: a key
  that sparse in a batch gets one block per run of its events with no gap above ``GAP``
  instead of one spanning the whole batch (a rare process or function gets short blocks);
* ``SPAN``: no block spans more than ``SPAN`` ids, so "blocks that reach id X" is a range on
  the primary key: ``first_id > X - SPAN`` (``reach``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

GAP = 256
"""A block holds at least one event of its key per GAP rows (bounds the rows a reader skips)."""

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


def kind_source(recording_id: int, kinds: tuple[int, ...] | list[int], auxes: list[int] | None) -> str:
    """A FROM item named ``e`` holding the events of ``kinds`` (all if empty) and, when given,
    of these ``aux`` values, read through their blocks (integers inlined)."""
    where = [f"k.recording_id = {int(recording_id)}"]
    if kinds:
        where.append(f"k.kind IN ({','.join(str(int(k)) for k in kinds)})")
    if auxes is not None:
        where.append(f"k.aux IN ({','.join(str(int(a)) for a in auxes) or 'NULL'})")
    # LIMIT -1 (no limit) keeps SQLite from flattening it into the outer query, whose other
    # terms (an `e.id IN (…)` say) would otherwise drive a rowid probe per block
    return f"(SELECT e.* FROM {KIND_FROM} WHERE {' AND '.join(where)} LIMIT -1) e"


def proc_from(lo: bool = False, hi: bool = False) -> str:
    """``PROC_FROM`` with a cursor: the rowid range of each block clipped to ``id >= ?`` (``lo``)
    and/or ``id <= ?`` (``hi``), so a walk from an id starts there instead of at its block's
    first row. Binds lo, then hi — in the FROM clause, so before the WHERE's parameters."""
    return (f"block_procs b CROSS JOIN events e ON e.id BETWEEN {'max(b.first_id, ?)' if lo else 'b.first_id'} "
            f"AND {'min(b.last_id, ?)' if hi else 'b.last_id'} AND +e.node_id = b.node_id AND +e.pid = b.pid")


def kind_from(lo: bool = False, hi: bool = False) -> str:
    """``KIND_FROM`` with a cursor, as ``proc_from``."""
    return (f"block_kinds k CROSS JOIN events e ON e.id BETWEEN {'max(k.first_id, ?)' if lo else 'k.first_id'} "
            f"AND {'min(k.last_id, ?)' if hi else 'k.last_id'} AND +e.kind = k.kind AND +e.aux = k.aux")


def reach(lo: str = "?", alias: str = "b") -> str:
    """Blocks that may hold ids >= ``lo`` (an SQL expression, default a bound parameter): a
    range on the primary key plus the exact test."""
    return f"{alias}.first_id > {lo} - {SPAN} AND {alias}.last_id >= {lo}"


def batch_blocks(kinds: Any, pids: Any, auxs: Any, first: int, recording_id: int,
                 node_id: int) -> tuple[list, list]:
    """Block rows of one batch, given its records' ``kind``, ``pid`` and ``aux`` columns (numpy
    arrays or lists; ids ``first, first + 1, …``). This runs once per stored batch on the
    ingest hot path, so the per-row work is numpy's (a stable argsort per key column groups
    each key's positions in order; the blocks are cut where the key changes, or, inside a
    sparse key, where the gap between two of its events exceeds ``GAP``)."""
    import numpy as np

    kinds, pids, auxs = (np.asarray(x, dtype=np.int64) for x in (kinds, pids, auxs))
    out_p: list[tuple] = []
    out_k: list[tuple] = []
    total = len(kinds)
    for start in range(0, total, SPAN):  # no block spans more than SPAN ids
        stop = start + SPAN
        base = first + start
        key, lo, hi, n = _runs(np, pids[start:stop])
        out_p += zip([node_id] * len(key), key.tolist(), (lo + base).tolist(), (hi + base).tolist(),
                     n.tolist())
        key, lo, hi, n = _runs(np, (auxs[start:stop] << 5) | kinds[start:stop])  # kind < 32
        out_k += zip([recording_id] * len(key), (key & 31).tolist(), (key >> 5).tolist(),
                     (lo + base).tolist(), (hi + base).tolist(), n.tolist())
    return out_p, out_k


def _runs(np: Any, keys: Any) -> tuple[Any, Any, Any, Any]:
    """(keys, first positions, last positions, counts) of the blocks of a batch's keys (a
    non-empty int64 array): one block per key, or, for a key too sparse for that (fewer than
    one event per ``GAP`` rows of its span), one block per run of its events with no gap above
    ``GAP``."""
    total = len(keys)
    order = np.argsort(keys, kind="stable")  # each key's positions, in order, key after key
    ordered = keys[order]
    new_key = np.empty(total, dtype=bool)
    new_key[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_key[1:])
    starts = np.flatnonzero(new_key)
    stops = np.append(starts[1:], total)
    lo, hi, n = order[starts], order[stops - 1], stops - starts
    dense = (hi - lo) < GAP * n
    if dense.all():
        return ordered[starts], lo, hi, n
    far = np.zeros(total, dtype=bool)  # more than GAP rows after the key's previous event
    np.greater(order[1:] - order[:-1], GAP, out=far[1:])
    cut = new_key | (far & ~dense[np.cumsum(new_key) - 1])
    starts = np.flatnonzero(cut)
    stops = np.append(starts[1:], total)
    return ordered[starts], order[starts], order[stops - 1], stops - starts


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
    procs, kinds = batch_blocks([r[3] for r in run], [r[4] for r in run], [r[5] for r in run],
                                run[0][0], run[0][1], run[0][2])
    insert_blocks(c, procs, kinds)


def qualified(columns: str, alias: str = "e") -> str:
    """``"id, kind"`` -> ``"e.id, e.kind"``: column lists for the block joins."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def step_sql(columns: str, forward: bool) -> str:
    """The next (``forward``) or previous event of one process after/before an id: binds
    (id + 1, node_id, pid, id + 1, id + 1) forward and (id - 1, node_id, pid, id - 1) backward."""
    if forward:
        return (f"SELECT {qualified(columns)} FROM {proc_from(lo=True)} WHERE {PROC_WHERE} AND {reach()} "
                f"ORDER BY {PROC_ORDER} LIMIT 1")
    return (f"SELECT {qualified(columns)} FROM {proc_from(hi=True)} WHERE {PROC_WHERE} AND b.first_id <= ? "
            "ORDER BY b.first_id DESC, e.id DESC LIMIT 1")
