"""``TraceStore``: the entry point — open a store file, create recordings, read them back,
export one to a file and import it elsewhere.

Sample session::

    store = TraceStore.open("traces.db")
    rec = store.create_recording("cart bug", spec={"specs": ["MyApp.Cart"]}, limits={"max_events": 100_000})
    node = rec.add_node("app@host", otp_release="26", time_unit=1_000_000_000, time_offset=-5)
    rec.ingest_batch(node, dict_entries, events_binary)   # for each agent batch
    rec.finish("stopped", {"offered": 10, "sent": 10, "dropped": 0})
    r = store.recording(rec.id)
    r.events(kind="call", limit=50)

Structure: one SQLite file (WAL) per store, shared by any number of recordings; one writer
process at a time (the capture), any number of readers. A recording whose writer died without
``finish`` is marked ``interrupted`` the next time the store is opened writable (and shown as
such by a read-only open), with every batch it committed intact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from .db import Database, build_event_indexes, open_database, writer_alive, writer_identity
from .ingest import RecordingWriter
from .reader import RECORDING_COLUMNS, Recording, RecordingInfo, recording_info
from .states import StatePolicy

import typing

if typing.TYPE_CHECKING:
    from .import_check import ImportLimits


class TraceStore:
    """An open trace store file. Use ``TraceStore.open``; close it (or use ``with``)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._recordings: dict[int, Recording] = {}

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> "TraceStore":
        """Create or open the store at ``path`` (WAL, schema migrated if older). Writable opens
        mark recordings whose writer died as ``interrupted``."""
        store = cls(open_database(path, readonly=readonly))
        if not readonly:
            store._close_interrupted()
            build_event_indexes(store._db)
        return store

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def db(self) -> Database:
        return self._db

    @property
    def readonly(self) -> bool:
        return self._db.readonly

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "TraceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_interrupted(self) -> None:
        rows = self._db.query("SELECT id, writer_pid, writer_host, writer_started FROM recordings "
                              "WHERE end_reason IS NULL")
        dead = [r[0] for r in rows if not writer_alive(r[1], r[2], r[3])]
        if dead:
            with self._db.write("marking interrupted recordings") as c:
                c.executemany("UPDATE recordings SET end_reason = 'interrupted', ended_at = ? "
                              "WHERE id = ? AND end_reason IS NULL", [(time.time(), i) for i in dead])

    # -- writing -----------------------------------------------------------------------------
    def create_recording(self, name: str, *, spec: dict, limits: dict, meta: dict | None = None,
                         state_policy: StatePolicy | None = None) -> RecordingWriter:
        """Start a new recording; returns its writer (``.id`` is the recording id). The
        store's indexes stay live while it writes (schema.EVENT_INDEXES)."""
        pid, host, started = writer_identity()
        try:
            texts = [json.dumps(x, default=str) for x in (spec, limits, meta or {})]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"spec/limits/meta must be JSON-serialisable dicts: {exc}") from exc
        with self._db.write("creating a recording") as c:
            cur = c.execute(
                "INSERT INTO recordings (name, spec_json, limits_json, meta_json, created_at, "
                "writer_pid, writer_host, writer_started) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (str(name), *texts, time.time(), pid, host, started))
            rid = cur.lastrowid
        return RecordingWriter(self._db, rid, state_policy)

    def build_indexes(self) -> bool:
        """Build the event indexes of a file an older ElixirScope left without them, unless
        one of its writers is still alive (a no-op otherwise: see schema.EVENT_INDEXES).
        Returns True if they are in place afterwards."""
        return build_event_indexes(self._db)

    # -- reading -----------------------------------------------------------------------------
    def recordings(self) -> list[RecordingInfo]:
        return [recording_info(self._db, r) for r in
                self._db.query(f"SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY id")]

    def recording(self, recording_id: int) -> Recording:
        """The read side of a recording (cached per store object)."""
        rec = self._recordings.get(recording_id)
        if rec is None:
            rec = self._recordings[recording_id] = Recording(self._db, recording_id)
        return rec

    # -- sharing -----------------------------------------------------------------------------
    def export_recording(self, recording_id: int, path: str | Path) -> Path:
        """Write one recording to a standalone file (see store/archive.py)."""
        from .archive import export_recording

        return export_recording(self._db, recording_id, Path(path))

    def import_recording(self, path: str | Path, limits: ImportLimits | None = None) -> int:
        """Import a recording file made by ``export_recording``; returns its new id here.
        The file is checked first (read-only, integrity, exact schema, ``limits``: an
        ``import_check.ImportLimits``)."""
        from .archive import import_recording

        return import_recording(self._db, Path(path), limits)
