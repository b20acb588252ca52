"""The ingest hot path: an events binary read into flat values, inserted many rows at a time.

An events binary (docs/event-format.md, agent format 20) is one or more *segments*: a 6-byte
segment header ``<<0, 20, Count:32>>``, ``Count`` record headers of 30 bytes back to back
(``kind, flags, ts, uniq, pid, aux, len``), then the ``Count`` payloads back to back. The
headers of a segment are one fixed-width array, read by numpy in C (one structured-dtype view,
one ``tolist`` per column); the payload offsets are a cumulative sum of the ``len`` column; so
no Python bytecode runs per record except the payload slice (``map`` over ``slice`` objects, also
in C). Measured on the capture's shape (8 processes, 1 function, 2,000-record batches, 6 Dec):
0.35-0.37 µs per record for the record-by-record ``struct`` walk of format 19, 0.32-0.33 µs
for this, of which the payload slices are 0.15 (one bytearray per record: the type SQLite's
module binds fastest, below) and the column ``tolist`` 0.06; the block rows from the numpy
columns cost 0.07 µs instead of 0.14.

A batch becomes one flat list of ``VALUES_PER_RECORD`` values per record - ``kind, flags, ts,
uniq, pid, aux, payload`` - assembled by seven slice assignments, plus the ``kind``, ``pid`` and
``aux`` columns as numpy arrays for the block index (store/blocks.py).

Why flat values and multi-row INSERTs: ``executemany`` pays Python's per-row statement cost
(bind, step, reset, the GIL released and taken again around each step) once per event; an
``INSERT … VALUES (…), (…), …`` of ``CHUNK`` rows pays it once per chunk. Measured on 200k rows
of the capture shape into a bare table: 1.2 µs per row with ``executemany``, 0.57 µs with
256-row statements. The recording and the node are literals of the statement (``_insert_sql``).
(Binding the payload region once per statement and cutting each row's payload in SQL with
``substr(?3, off, len)`` was measured too: +0.4-0.8 µs of CPU per row in SQLite, far more than
the Python slice it saves.)

Why payloads are bytearray slices: Python's sqlite3 sends every ``bytes`` parameter through its
adapter registry (a dict miss and an AttributeError raised and cleared inside the C module)
while a bytearray is bound directly: 1.79 -> 1.13 µs per row measured with ``executemany``.
The rare records Python looks into (side tables, large payloads) get their payload as
``bytes``.

Event ids stay arrival order: the rows of a statement are inserted in their VALUES order, the
statements in batch order, and ``RecordingWriter`` checks that the batch got consecutive ids.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from . import blobs as _blobs
from .errors import BatchFormatError
from .events import EventKind

HEADER = struct.Struct(">BBqqIII")
HEADER_SIZE = HEADER.size  # 30
SEGMENT = struct.Struct(">BBI")
"""A segment header: 0, the format (``FORMAT``), the number of records."""
SEGMENT_SIZE = SEGMENT.size  # 6
FORMAT = 20
"""The agent's events format this store reads (the agent's version since which it holds)."""
VALUES_PER_RECORD = 7  # kind, flags, ts, uniq, pid, aux, payload
PAYLOAD = 6  # offset of the payload among a record's values
K_STATE, K_GAP, K_SPAWNED, K_EXIT = 13, 14, 16, 8
SPECIAL = frozenset({K_STATE, K_GAP, K_SPAWNED, K_EXIT})
MAX_KIND = max(EventKind)
CHUNK = 256
"""Rows per INSERT statement (7 x 256 = 1,792 parameters; SQLite allows 32,766 since 3.32).
A batch's remainder goes in statements of 64, 16, 4 and 1 rows: five statement shapes per node
of a recording, so they stay in the connection's statement cache. A SQLite built
with a lower parameter limit (999 before 3.32) gets only the shapes that fit."""
_SIZES = (CHUNK, 64, 16, 4, 1)
PAUSE_RECORDS = 512
"""``walk`` with a ``pause``: payloads cut between two pauses (~80 µs of GIL-held work)."""


@lru_cache(maxsize=1)
def _header_dtype():
    """The 30-byte record header as a numpy structured type (numpy is imported on first use:
    it costs ~90 ms, which a CLI that never ingests should not pay; a capture imports it before
    the node starts tracing, ``preload``).

    numpy's bundled OpenBLAS starts a worker thread per core at import, which spins ~50 ms of
    CPU waiting for matrix work the store never gives it: imported here first, it gets none
    (``OPENBLAS_NUM_THREADS=1`` unless the user set it)."""
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np

    return np, np.dtype([("kind", "u1"), ("flags", "u1"), ("ts", ">i8"), ("uniq", ">i8"),
                         ("pid", ">u4"), ("aux", ">u4"), ("len", ">u4")])


def preload() -> None:
    """Import what reading a batch needs (numpy) now rather than at the first batch: a capture
    calls it before the agent sets its trace flags, so the import's CPU does not compete with
    the traced node (instrument/session.py)."""
    _header_dtype()


@dataclass
class Walked:
    """An events binary read by ``walk``."""

    values: list
    """``VALUES_PER_RECORD`` values per record: kind, flags, ts, uniq, pid, aux, payload."""
    special: list[int]
    """Record numbers of the rare kinds needing side tables (state, gap, spawned, exit)."""
    big: list[int]
    """Record numbers of the payloads large enough to be cut (store/blobs.py)."""
    kinds: Any
    """numpy arrays of the ``kind``, ``pid`` and ``aux`` columns (for the block index)."""
    pids: Any
    auxs: Any
    tss: Any
    """numpy array of the ``ts`` column (for the time blocks, store/timeblocks.py)."""

    @property
    def count(self) -> int:
        return len(self.values) // VALUES_PER_RECORD


def _wrong_format(buf: bytearray, off: int) -> str:
    first, second = buf[off], buf[off + 1]
    if off == 0 and 0 < first <= MAX_KIND:
        why = (f"it starts with a record of kind {first}: records back to back, the format of "
               "agents before version 20")
    else:
        why = f"its segment header starts with bytes {first}, {second}, not 0, {FORMAT}"
    return (f"events binary at byte {off} is not in agent format {FORMAT} ({why}); the store reads "
            f"format {FORMAT} only - reload the agent (it is replaced when its version differs) or "
            "fix the producer (docs/event-format.md)")


def _segments(buf: bytearray) -> list[tuple[Any, int]]:
    """The record headers (a numpy structured array) and the payloads' first byte of each
    segment; checks every header and length. Raises BatchFormatError naming the byte offset."""
    np, dtype = _header_dtype()
    n = len(buf)
    off = 0
    out = []
    while off < n:
        if n - off < SEGMENT_SIZE:
            raise BatchFormatError(f"events binary cut inside a segment header at byte {off} of {n} "
                                   f"(a segment header is {SEGMENT_SIZE} bytes); see docs/event-format.md")
        zero, fmt, count = SEGMENT.unpack_from(buf, off)
        if zero != 0 or fmt != FORMAT:
            raise BatchFormatError(_wrong_format(buf, off))
        first = off + SEGMENT_SIZE
        pstart = first + HEADER_SIZE * count
        if pstart > n:
            raise BatchFormatError(f"events binary cut inside a record header at byte {n}: the segment "
                                   f"at byte {off} announces {count} records ({HEADER_SIZE * count} header "
                                   f"bytes from byte {first}); see docs/event-format.md")
        heads = np.frombuffer(buf, dtype, count, first)
        kinds = heads["kind"]
        bad = np.flatnonzero((kinds == 0) | (kinds > MAX_KIND))
        if bad.size:
            i = int(bad[0])
            raise BatchFormatError(f"bad record at byte {first + HEADER_SIZE * i}: unknown kind "
                                   f"{int(kinds[i])}; see docs/event-format.md")
        off = pstart + int(heads["len"].sum(dtype=np.int64))
        if off > n:
            raise BatchFormatError(f"the last record's payload runs past the end of the events "
                                   f"binary ({off} > {n} bytes); see docs/event-format.md")
        out.append((heads, pstart))
    return out


def walk(buf: bytearray, pause: Callable[[], object] | None = None) -> Walked:
    """Read an events binary (one or more segments). Raises BatchFormatError on a cut segment,
    an unknown kind or a binary of another format. ``pause``: called after every
    ``PAUSE_RECORDS`` payloads cut (the capture's pipeline lets its writer thread take the GIL
    there: instrument/ingest_pipeline.py)."""
    np, _ = _header_dtype()
    segs = _segments(buf)
    if not segs:
        empty = np.zeros(0, np.int64)
        return Walked([], [], [], empty, empty, empty, empty)
    heads = segs[0][0] if len(segs) == 1 else np.concatenate([h for h, _ in segs])
    # a payload ends at its segment's payload start plus the lengths up to it, itself included
    ends = np.concatenate([np.cumsum(h["len"], dtype=np.int64) + pstart for h, pstart in segs])
    lens = heads["len"].astype(np.int64)
    total = len(heads)
    stops = ends.tolist()
    starts = (ends - lens).tolist()
    cut = buf.__getitem__
    if pause is None:
        payloads = list(map(cut, map(slice, starts, stops)))
    else:
        payloads = []
        for a in range(0, total, PAUSE_RECORDS):
            payloads += map(cut, map(slice, starts[a:a + PAUSE_RECORDS], stops[a:a + PAUSE_RECORDS]))
            if a + PAUSE_RECORDS < total:
                pause()
    per = VALUES_PER_RECORD
    kinds = heads["kind"]
    values: list = [None] * (per * total)
    values[0::per] = kinds.tolist()
    values[1::per] = heads["flags"].tolist()
    values[2::per] = heads["ts"].tolist()
    values[3::per] = heads["uniq"].tolist()
    values[4::per] = heads["pid"].tolist()
    values[5::per] = heads["aux"].tolist()
    values[PAYLOAD::per] = payloads
    special = [i for i in np.flatnonzero(kinds >= min(SPECIAL)).tolist() if values[per * i] in SPECIAL]
    big = np.flatnonzero(lens >= _blobs.MIN_PAYLOAD).tolist()
    for i in special + big:
        p = per * i + PAYLOAD
        values[p] = bytes(values[p])
    return Walked(values, special, big, kinds, heads["pid"], heads["aux"], heads["ts"])


def count_records(buf: bytes | bytearray) -> int:
    """The number of records of an events binary, checked as ``walk`` checks it (no payload
    is cut)."""
    return sum(len(heads) for heads, _ in _segments(buf if isinstance(buf, bytearray) else bytearray(buf)))


def record(values: list, i: int) -> list:
    """Record ``i`` of ``walk``'s values: ``[kind, flags, ts, uniq, pid, aux, payload]``."""
    return values[VALUES_PER_RECORD * i:VALUES_PER_RECORD * (i + 1)]


def set_payload(values: list, i: int, payload: bytes | None) -> None:
    values[VALUES_PER_RECORD * i + PAYLOAD] = payload


@lru_cache(maxsize=8 * len(_SIZES))
def _insert_sql(rows: int, recording_id: int, node_id: int) -> str:
    """The INSERT of ``rows`` rows of one recording's node: the two ids are literals of the
    statement, the seven values of each row anonymous parameters. (Numbered parameters -
    ``?1, ?2`` bound once per statement - cost ~9 % more per row: SQLite and Python's module
    bind a numbered parameter by looking its name up; ~9 % per row in a scratch measurement on
    rows of the capture's shape, 7 Dec 2026.) The statements of a node's capture are few
    (``_SIZES``) and stay in the connection's statement cache."""
    one = f"({int(recording_id)}, {int(node_id)}, ?, ?, ?, ?, ?, ?, ?)"
    return ("INSERT INTO events (recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload) VALUES "
            + ", ".join([one] * rows))


def insert(c, recording_id: int, node_id: int, values: list) -> int:
    """Insert ``walk``'s values as event rows (ids left to SQLite: max(id)+1, +2, … in order,
    inside the caller's transaction). Returns the number of rows."""
    total = len(values) // VALUES_PER_RECORD
    most = c.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    pos, left = 0, total
    for size in _SIZES:
        if VALUES_PER_RECORD * size > most:
            continue
        sql = None
        step = VALUES_PER_RECORD * size
        while left >= size:
            if sql is None:
                sql = _insert_sql(size, recording_id, node_id)
            c.execute(sql, values[pos:pos + step])
            pos += step
            left -= size
    return total
