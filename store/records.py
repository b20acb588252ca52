"""The ingest hot path: a records binary walked into flat values, inserted many rows at a time.

A batch's records (docs/event-format.md: a 30-byte header ``kind, flags, ts, uniq, pid, aux,
len`` then ``len`` payload bytes) become one flat list of ``VALUES_PER_RECORD`` values per
record: the seven header fields as the precompiled ``struct`` unpack returns them, then the
payload. ``len`` rides along unused (dropping it would rebuild a tuple per record, which costs
more than binding one integer).

Why flat values and multi-row INSERTs: ``executemany`` pays Python's per-row statement cost
(bind, step, reset, the GIL released and taken again around each step) once per event; an
``INSERT … VALUES (…), (…), …`` of ``CHUNK`` rows pays it once per chunk. Measured on 200k rows
of the capture shape into a bare table: 1.2 µs per row with ``executemany``, 0.57 µs with
256-row statements. The recording and the node are bound once per statement (``?1``, ``?2``).

Why payloads are bytearray slices: Python's sqlite3 sends every ``bytes`` parameter through its
adapter registry (a dict miss and an AttributeError raised and cleared inside the C module)
while a bytearray is bound directly: 1.79 -> 1.13 µs per row measured with ``executemany``.
The rare records Python looks into (side tables, large payloads) get their payload as
``bytes``.

Event ids stay arrival order: the rows of a statement are inserted in their VALUES order, the
statements in batch order, and ``RecordingWriter`` checks that the batch got consecutive ids.
"""

from __future__ import annotations

import sqlite3
import struct
from functools import lru_cache
from typing import Callable

from . import blobs as _blobs
from .errors import BatchFormatError
from .events import EventKind

HEADER = struct.Struct(">BBqqIII")
HEADER_SIZE = HEADER.size  # 30
VALUES_PER_RECORD = 8  # kind, flags, ts, uniq, pid, aux, len, payload
PAYLOAD = 7  # offset of the payload among a record's values
K_STATE, K_GAP, K_SPAWNED, K_EXIT = 13, 14, 16, 8
SPECIAL = frozenset({K_STATE, K_GAP, K_SPAWNED, K_EXIT})
MAX_KIND = max(EventKind)
CHUNK = 256
"""Rows per INSERT statement (2 + 8 x 256 = 2,050 parameters; SQLite allows 32,766 since 3.32).
A batch's remainder goes in statements of 64, 16, 4 and 1 rows: five statement shapes in all,
shared by every recording, so they stay in the connection's statement cache. A SQLite built
with a lower parameter limit (999 before 3.32) gets only the shapes that fit."""
_SIZES = (CHUNK, 64, 16, 4, 1)
PAUSE_BYTES = 8192
"""``walk`` with a ``pause``: bytes of records walked between two pauses (~150 records, ~60 µs)."""


def walk(buf: bytearray, pause: Callable[[], object] | None = None) -> tuple[list, list[int], list[int]]:
    """Flat values of a records binary (``VALUES_PER_RECORD`` per record), the record numbers
    of the rare kinds needing side tables, and those of payloads large enough to be cut
    (store/blobs.py). Raises BatchFormatError on a cut record or an unknown kind.
    ``pause``: called after every ``PAUSE_BYTES`` of the binary (the capture's pipeline lets
    its writer thread take the GIL there: instrument/ingest_pipeline.py)."""
    unpack = HEADER.unpack_from
    n = len(buf)
    off = 0
    values: list = []
    extend = values.extend
    append = values.append
    special: list[int] = []
    big: list[int] = []
    min_big = _blobs.MIN_PAYLOAD
    step = PAUSE_BYTES if pause is not None else n
    try:
        while off < n:
            limit = min(n, off + step)
            while off < limit:
                h = unpack(buf, off)
                start = off + HEADER_SIZE
                ln = h[6]
                off = start + ln
                kind = h[0]
                if kind >= 8 or kind == 0:
                    if kind > MAX_KIND or kind == 0:
                        raise BatchFormatError(f"bad record at byte {start - HEADER_SIZE}: unknown kind "
                                               f"{kind}; see docs/event-format.md")
                    if kind in SPECIAL:
                        special.append(len(values) >> 3)  # record number: VALUES_PER_RECORD is 8
                if ln >= min_big:
                    big.append(len(values) >> 3)
                extend(h)
                append(buf[start:off])
            if pause is not None and off < n:
                pause()
    except struct.error as exc:
        raise BatchFormatError(f"events binary cut inside a record header at byte {off} of {n}") from exc
    if off != n:
        raise BatchFormatError(f"the last record's payload runs past the end of the events "
                               f"binary ({off} > {n} bytes); see docs/event-format.md")
    for i in special + big:
        p = VALUES_PER_RECORD * i + PAYLOAD
        values[p] = bytes(values[p])
    return values, special, big


def record(values: list, i: int) -> list:
    """Record ``i`` of ``walk``'s values: ``[kind, flags, ts, uniq, pid, aux, len, payload]``."""
    return values[VALUES_PER_RECORD * i:VALUES_PER_RECORD * (i + 1)]


def set_payload(values: list, i: int, payload: bytes | None) -> None:
    values[VALUES_PER_RECORD * i + PAYLOAD] = payload


@lru_cache(maxsize=len(_SIZES))
def _insert_sql(rows: int) -> str:
    per = VALUES_PER_RECORD
    one = "(?1, ?2, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})"
    return ("INSERT INTO events (recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload) VALUES "
            + ", ".join(one.format(*(3 + per * r + k for k in (0, 1, 2, 3, 4, 5, PAYLOAD)))
                        for r in range(rows)))


def insert(c, recording_id: int, node_id: int, values: list) -> int:
    """Insert ``walk``'s values as event rows (ids left to SQLite: max(id)+1, +2, … in order,
    inside the caller's transaction). Returns the number of rows."""
    total = len(values) // VALUES_PER_RECORD
    head = [int(recording_id), int(node_id)]
    most = c.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    pos, left = 0, total
    for size in _SIZES:
        if len(head) + VALUES_PER_RECORD * size > most:
            continue
        sql = None
        step = VALUES_PER_RECORD * size
        while left >= size:
            if sql is None:
                sql = _insert_sql(size)
            c.execute(sql, head + values[pos:pos + step])
            pos += step
            left -= size
    return total
