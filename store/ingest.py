"""Writing a recording: nodes, batches of records, gaps, marks, the end.

The hot path is ``RecordingWriter.ingest_batch``: store/records.py reads the events binary
(the record headers as one numpy array, one payload slice per record) and inserts the
rows with multi-row INSERT statements, all in one transaction (so a batch is stored entirely
or not at all — a crash mid-batch leaves the previous batches intact). Only the rare kinds are
looked at more closely: ``state`` (stored full or as a delta, store/states.py), ``gap``
(decoded into the gaps table), ``spawned``/``exit`` (process lifetimes); and large ``call``,
``return`` and ``state`` payloads, whose large elements are stored once by content
(store/blobs.py).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import blobs as _blobs
from . import records as _records
from .blocks import batch_blocks, insert_blocks
from .timeblocks import batch_times, insert_times
from .planner_stats import refresh_statistics
from .errors import BatchFormatError, RecordingClosedError, RecordingNotFound, StoreCorruptError
from .app_names import app_names_blob
from .events import EventKind
from .states import StateIngestor, StatePolicy

if TYPE_CHECKING:
    from .db import Database

_K_STATE, _K_GAP, _K_SPAWNED = _records.K_STATE, _records.K_GAP, _records.K_SPAWNED

_INSERT_EVENTS = ("INSERT INTO events (id, recording_id, node_id, kind, flags, ts, uniq, pid, aux, "
                  "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _name(x: Any) -> str:
    """Text of an atom-like value from the decoded Dict (Atom, str or bytes)."""
    name = getattr(x, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return str(x)


def _undefined(x: Any) -> bool:
    return x is None or (getattr(x, "name", None) == "undefined")


def _mfa(x: Any) -> tuple[str, str, int] | None:
    if _undefined(x):
        return None
    if not (isinstance(x, tuple) and len(x) == 3 and isinstance(x[2], int)):
        raise BatchFormatError(f"expected {{Module, Function, Arity}} in the batch Dict, got {x!r}")
    return _name(x[0]), _name(x[1]), x[2]


def parse_records(buf: bytes | bytearray | memoryview) -> list[tuple]:
    """Split an events binary into (kind, flags, ts, uniq, pid, aux, payload) tuples.
    Raises BatchFormatError (naming the offset) on a cut segment, an unknown kind or another
    format (store/records.py)."""
    walked = _records.walk(bytearray(buf))
    v, per = walked.values, _records.VALUES_PER_RECORD
    return [(*v[i:i + per - 1], bytes(v[i + per - 1])) for i in range(0, len(v), per)]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch walked and ready to be written (``RecordingWriter.prepare_batch``)."""

    node_id: int
    procs: list
    funcs: list
    values: list  # store/records.py: VALUES_PER_RECORD per record
    special: list[int]  # record numbers of state/gap/spawned/exit records (side tables)
    late_cuts: list[int]  # large state records: cut once the state history has read them
    elements: dict[bytes, bytes]  # large elements of the call/return payloads already cut
    blocks: tuple[list, list]  # block rows, ids relative to the batch's first (store/blocks.py)
    times: list  # time block rows, ids relative to the batch's first (store/timeblocks.py)

    @property
    def count(self) -> int:
        return len(self.values) // _records.VALUES_PER_RECORD


class RecordingWriter:
    """The write side of one recording. Obtain it from ``TraceStore.create_recording``."""

    def __init__(self, db: "Database", recording_id: int, policy: StatePolicy | None = None) -> None:
        self._db = db
        self.id = recording_id
        self._states = StateIngestor(policy)
        self._nodes: set[int] = set()
        self._finished = False
        self._known_blobs: set[bytes] = set()  # hashes this writer already stored
        self._deltas = _blobs.DeltaWriter()
        self._batch_lock = threading.Lock()

    @property
    def store_path(self):
        """The store's database file (a capture's spill file goes beside it)."""
        return self._db.path

    # -- nodes -------------------------------------------------------------------------------
    def add_node(self, name: str, *, otp_release: str, time_unit: int, time_offset: int,
                 mono_at_start: int | None = None) -> int:
        """Register a traced node; returns its id (the ``node_id`` of every later call)."""
        self._check_open()
        if time_unit <= 0:
            raise ValueError(f"time_unit must be the node's native units per second (> 0), got {time_unit}")
        with self._db.write("adding a node to the recording") as c:
            cur = c.execute(
                "INSERT INTO nodes (recording_id, name, otp_release, time_unit, time_offset, "
                "mono_at_start) VALUES (?, ?, ?, ?, ?, ?)",
                (self.id, str(name), str(otp_release), int(time_unit), int(time_offset), mono_at_start))
            node_id = cur.lastrowid
        self._nodes.add(node_id)
        return node_id

    def set_node_clock(self, node_id: int, *, at: str, skew: int, error: int) -> None:
        """Store a clock estimate of a node (instrument/clock.py): ``skew`` = node system time
        minus host system time, ``error`` its bound, both in the node's native units; ``at`` is
        ``start`` or ``end`` (of the capture)."""
        if at not in ("start", "end"):
            raise ValueError(f"at must be 'start' or 'end', got {at!r}")
        if int(error) < 0:
            raise ValueError(f"a clock error bound is >= 0, got {error}")
        self._check_node(node_id)
        cols = ("clock_skew", "clock_error") if at == "start" else ("clock_skew_end", "clock_error_end")
        with self._db.write("storing a node's clock estimate") as c:
            c.execute(f"UPDATE nodes SET {cols[0]} = ?, {cols[1]} = ? WHERE id = ?",
                      (int(skew), int(error), int(node_id)))

    def finish_node(self, node_id: int, end_reason: str, stats: dict | None = None,
                    detail: str | None = None) -> None:
        """End one node's part of a multi-node recording (the recording itself goes on until
        ``finish``): its end reason, detail and agent counters."""
        self._check_open()
        self._check_node(node_id)
        with self._db.write("ending a node's part of the recording") as c:
            c.execute("UPDATE nodes SET end_reason = ?, end_detail = ?, stats_json = ? WHERE id = ?",
                      (str(end_reason), detail, json.dumps(stats or {}, default=str), int(node_id)))

    # -- batches -----------------------------------------------------------------------------
    def ingest_batch(self, node_id: int, dict_entries: list, events: bytes) -> int:
        """Store one agent batch (its Dict entries and records binary) in one transaction.
        Returns the number of records stored. The same as ``store_prepared(prepare_batch(…))``."""
        return self.store_prepared(self.prepare_batch(node_id, dict_entries, events))

    def prepare_batch(self, node_id: int, dict_entries: list, events: bytes | bytearray,
                      pause: Callable[[], object] | None = None) -> PreparedBatch:
        """The part of storing a batch that needs no database: the Dict rows, the header walk,
        the block rows (relative to the batch's first id) and the large call/return elements.
        Pure Python, holding the GIL; safe to run in another thread than ``store_prepared``
        (the capture's pipeline prepares the next batch while the previous one is written:
        instrument/ingest_pipeline.py). Raises BatchFormatError on a malformed batch."""
        self._check_open()
        self._check_node(node_id)
        procs, funcs = self._dict_rows(node_id, dict_entries)
        # payload slices of a bytearray bind without an adapter lookup (store/records.py); a
        # bytearray given (the capture's joined batches) is read as it is, never changed
        buf = events if type(events) is bytearray else bytearray(events)
        walked = _records.walk(buf, pause)
        values = walked.values
        elements: dict[bytes, bytes] = {}
        late = []  # state records: cut after the state history has read them (_special)
        for i in walked.big:
            if values[_records.VALUES_PER_RECORD * i] == _K_STATE:
                late.append(i)
            else:
                self._cut(values, i, elements)
        blocks = batch_blocks(walked.kinds, walked.pids, walked.auxs, 0, self.id, node_id)
        times = batch_times(walked.tss, 0)
        return PreparedBatch(node_id, procs, funcs, values, walked.special, late, elements, blocks, times)

    def store_prepared(self, *batches: PreparedBatch) -> int:
        """Write batches made by ``prepare_batch``, in order, in one transaction (stored whole
        or not at all); returns the number of records stored."""
        self._check_open()
        # several nodes' sessions may share this writer (instrument/cluster.py), each storing
        # from its own thread: the delta and blob bookkeeping below is per writer
        with self._batch_lock:
            saved = self._deltas.save()
            states = self._states.save() if any(b.special for b in batches) else None
            try:
                with self._db.write("storing a batch of trace events") as c:
                    done = [self._write_batch(c, batch) for batch in batches]
            except BaseException:
                self._deltas.restore(saved)  # a rolled-back batch stored no element
                if states is not None:  # nor any state: deltas go against the last stored one
                    self._states.restore(states)
                raise
            hashes = [h for _, stored in done for h in stored]
            if hashes:
                self._remember(hashes)
        return sum(count for count, _ in done)

    def _write_batch(self, c, batch: PreparedBatch) -> tuple[int, list[bytes]]:
        """One batch's rows, inside the caller's transaction: its event count and the hashes of
        the elements it stored."""
        rid, node_id, values = self.id, batch.node_id, batch.values
        procs, funcs = batch.procs, batch.funcs
        elements = dict(batch.elements)  # the batch can be stored again after a rollback
        first = (c.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        if procs:
            c.executemany(
                "INSERT OR REPLACE INTO processes (recording_id, node_id, idx, pid_text, pid_node, "
                "pid_id, pid_serial, pid_creation, reg_name, init_module, init_function, "
                "init_arity, app_names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [p for p in procs if len(p) == 13])
            c.executemany("UPDATE processes SET app_names = ? WHERE node_id = ? AND idx = ?",
                          [p for p in procs if len(p) == 3])
        if funcs:
            c.executemany("INSERT OR REPLACE INTO functions (recording_id, node_id, idx, module, "
                          "function, arity) VALUES (?, ?, ?, ?, ?, ?)", funcs)
        if batch.special:
            values = list(values)  # _special may drop large state payloads: not in the batch
        dropped = self._special(c, node_id, first, values, batch.special, elements) if batch.special else 0
        for i in batch.late_cuts:
            self._cut(values, i, elements)
        stored = self._store_elements(c, elements) if elements else []
        count = _records.insert(c, rid, node_id, values)
        last = c.execute("SELECT max(id) FROM events").fetchone()[0]
        if count and last != first + count - 1:  # never expected: ids are sequential here
            raise StoreCorruptError(f"event ids of the batch are not {first}..{first + count - 1} "
                                    f"(max is {last}); the batch was rolled back")
        bp, bk = batch.blocks
        insert_blocks(c, [(n, p, lo + first, hi + first, k) for n, p, lo, hi, k in bp],
                      [(r, kd, a, lo + first, hi + first, k) for r, kd, a, lo, hi, k in bk])
        insert_times(c, rid, node_id, [(lo + first, hi + first, a, b, k, o) for lo, hi, a, b, k, o in batch.times])
        c.execute("UPDATE recordings SET event_count = event_count + ?, dropped_count = "
                  "dropped_count + ? WHERE id = ?", (count, dropped, rid))
        return count, stored

    @staticmethod
    def _cut(values: list, i: int, elements: dict) -> None:
        """A large call/return/state payload -> its skeleton; its large elements -> ``elements``."""
        kind, *_, payload = _records.record(values, i)
        if kind in _blobs.CUT_KINDS and payload is not None:
            got = _blobs.cut(payload)
            if got is not None:
                _records.set_payload(values, i, got[0])
                elements.update(got[1])

    def _store_elements(self, c, elements: dict) -> list[bytes]:
        """Insert the elements this writer has not stored yet; returns their hashes (to be
        remembered once the transaction has committed, never before: a rolled-back batch must
        not make a later one skip an element)."""
        known = self._known_blobs
        new = [h for h in elements if h not in known]
        if new:
            have = set()
            for i in range(0, len(new), 500):  # stored by another writer or an earlier capture
                part = new[i:i + 500]
                have.update(r[0] for r in c.execute(
                    f"SELECT hash FROM blobs WHERE hash IN ({','.join('?' * len(part))})", part))
            form = self._deltas.stored_form
            c.executemany("INSERT INTO blobs (hash, data) VALUES (?, ?)",
                          [(h, form(h, elements[h])) for h in new if h not in have])
        return new

    def _remember(self, hashes: list[bytes]) -> None:
        if len(self._known_blobs) + len(hashes) > 100_000:
            self._known_blobs.clear()
        self._known_blobs.update(hashes)

    def _special(self, c, node_id: int, first: int, values: list, special: list, elements: dict) -> int:
        """State, gap, spawned and exit records: side tables (same transaction). Returns the
        number of events the batch's gap records say were dropped."""
        from .gaps import decode_gap_payload

        states, gaps, born, died = [], [], [], []
        for pos in special:
            kind, flags, ts, uniq, pid, aux, payload = _records.record(values, pos)
            eid = first + pos
            if kind == _K_STATE:
                states.append((pos, (eid, ts, uniq, pid, aux, payload)))
            elif kind == _K_GAP:
                reason, count, detail = decode_gap_payload(payload)
                gaps.append((self.id, node_id, eid, ts, count, reason, detail))
            elif kind == _K_SPAWNED:
                born.append((ts, node_id, pid))
            else:
                died.append((ts, eid, node_id, pid))
        if states:
            first_sid = (c.execute("SELECT max(id) FROM states").fetchone()[0] or 0) + 1
            srows, large = self._states.rows(first_sid, self.id, node_id, [s for _, s in states])
            for i, srow in enumerate(srows):  # full states: stored once, by content
                if srow[9] == "full":
                    got = _blobs.cut_whole(srow[12])
                    if got is not None:
                        srows[i] = srow[:12] + (got[0],)
                        elements.update(got[1])
            c.executemany("INSERT INTO states (id, recording_id, node_id, pid, event_id, ts, uniq, "
                          "phase, callback, encoding, anchor_id, size, data) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", srows)
            for pos, s in states:
                if s[0] in large:
                    _records.set_payload(values, pos, None)
        if gaps:
            c.executemany("INSERT INTO gaps (recording_id, node_id, event_id, ts, count, reason, "
                          "detail) VALUES (?, ?, ?, ?, ?, ?, ?)", gaps)
        if born:
            c.executemany("UPDATE processes SET born_ts = ? WHERE node_id = ? AND idx = ? "
                          "AND born_ts IS NULL", born)
        if died:
            c.executemany("UPDATE processes SET died_ts = ?, exit_event_id = ? WHERE node_id = ? "
                          "AND idx = ?", died)
        return sum(g[4] for g in gaps)

    def _dict_rows(self, node_id: int, entries: list) -> tuple[list, list]:
        procs, funcs = [], []
        for entry in entries:
            if not isinstance(entry, tuple) or not entry:
                raise BatchFormatError(f"batch Dict entry is not a tagged tuple: {entry!r}")
            tag = _name(entry[0])
            if tag == "pid" and len(entry) in (5, 6):
                _, idx, pid, reg, initial = entry[:5]
                mfa = _mfa(initial) or (None, None, None)
                procs.append((self.id, node_id, int(idx), str(pid), _name(getattr(pid, "node", "")) or None,
                              getattr(pid, "id", None), getattr(pid, "serial", None),
                              getattr(pid, "creation", None), None if _undefined(reg) else _name(reg),
                              *mfa, app_names_blob(entry[5]) if len(entry) == 6 else None))
            elif tag == "names" and len(entry) == 3:  # names read a batch after the pid was interned
                procs.append((app_names_blob(entry[2]), node_id, int(entry[1])))
            elif tag == "mfa" and len(entry) == 3:
                _, idx, mfa = entry
                m = _mfa(mfa)
                if m is None:
                    raise BatchFormatError(f"batch Dict mfa entry {idx} has no MFA")
                funcs.append((self.id, node_id, int(idx), *m))
            else:
                raise BatchFormatError(
                    f"unknown batch Dict entry {entry!r}: expected {{pid, Idx, Pid, RegName, "
                    "InitialCall[, Names]}}, {names, Idx, Names} or {mfa, Idx, {M, F, A}} (docs/event-format.md)")
        return procs, funcs

    # -- while a capture stores ---------------------------------------------------------------
    def hold_checkpoints(self) -> None:
        """A capture starts storing into this recording: the store's WAL checkpoints wait for
        its ``release_checkpoints`` (bounded: store/checkpoints.py), so their CPU does not
        compete with the traced node while it runs. Holds nest."""
        if self._db.checkpoints is not None:
            self._db.checkpoints.hold()

    def release_checkpoints(self) -> None:
        """The capture has stored its last batch: the checkpoint that came due meanwhile runs."""
        if self._db.checkpoints is not None:
            self._db.checkpoints.release()

    # -- python-side events ------------------------------------------------------------------
    def add_gap(self, node_id: int, *, ts: int, count: int, reason: str, detail: str | None = None) -> int:
        """Record a gap detected on the Python side (e.g. the node was lost): ``count`` events
        (0 if unknown) are missing at ``ts``. Returns the gap id."""
        self._check_node(node_id)
        if count < 0:
            raise ValueError(f"gap count must be ≥ 0, got {count}")
        with self._db.write("recording a gap") as c:
            cur = c.execute("INSERT INTO gaps (recording_id, node_id, event_id, ts, count, reason, "
                            "detail) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                            (self.id, node_id, int(ts), int(count), str(reason), detail))
            c.execute("UPDATE recordings SET dropped_count = dropped_count + ? WHERE id = ?",
                      (int(count), self.id))
            return cur.lastrowid

    def mark(self, node_id: int, *, ts: int, term_bytes: bytes) -> int:
        """Store a ``mark`` event (payload: ETF bytes with version byte) at ``ts``; returns its id."""
        self._check_open()
        self._check_node(node_id)
        if not term_bytes or term_bytes[0] != 131:
            raise BatchFormatError("mark term_bytes must be ETF (term_to_binary / etf.encode output)")
        with self._db.write("storing a mark") as c:
            eid = (c.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
            c.execute(_INSERT_EVENTS, (eid, self.id, node_id, int(EventKind.MARK), 0, int(ts), 0, 0, 0,
                                       bytes(term_bytes)))
            insert_blocks(c, [(node_id, 0, eid, eid, 1)], [(self.id, int(EventKind.MARK), 0, eid, eid, 1)])
            insert_times(c, self.id, node_id, [(eid, eid, int(ts), int(ts), 1, 1)])
            c.execute("UPDATE recordings SET event_count = event_count + 1 WHERE id = ?", (self.id,))
        return eid

    def finish(self, end_reason: str, stats: dict | None = None) -> None:
        """End the recording (it stays readable): ``stopped``, ``max_events``, ``node_down`` …
        One small transaction: the event indexes are already up to date (schema.EVENT_INDEXES).
        The planner's statistics are refreshed when the store has doubled since they were
        last gathered (``db.refresh_statistics``): constant cost per stored event."""
        self._check_open()
        with self._db.write("finishing the recording") as c:
            c.execute("UPDATE recordings SET ended_at = ?, end_reason = ?, stats_json = ? WHERE id = ?",
                      (time.time(), str(end_reason), json.dumps(stats or {}, default=str), self.id))
        self._finished = True
        refresh_statistics(self._db)

    @property
    def finished(self) -> bool:
        return self._finished

    def _check_open(self) -> None:
        if self._finished:
            raise RecordingClosedError(f"recording {self.id} is finished; create a new recording "
                                       "to record more.")

    def _check_node(self, node_id: int) -> None:
        if node_id in self._nodes:
            return
        row = self._db.query_one("SELECT recording_id FROM nodes WHERE id = ?", (node_id,))
        if row is None or row[0] != self.id:
            raise RecordingNotFound(f"node {node_id} is not part of recording {self.id}; call "
                                    "add_node() first and pass the id it returns.")
        self._nodes.add(node_id)
