"""Export one recording to one file, import it into another store.

Format choice: the export is itself a trace store file (SQLite, same schema, exactly one
recording). Why not a compressed archive of JSON/CSV: a second format would need its own
writer, reader, versioning and tests, and would lose the binary payloads' exactness or cost a
re-encode; an SQLite file is one self-describing file that any store code — or the ``sqlite3``
shell — can open and query directly, it carries its schema version (so an export made by an
older ElixirScope is migrated on import like any older store), and SQLite's page format is
checksummed by ``PRAGMA integrity_check``. Payloads are already compact ETF; to ship it small,
compress the file with any tool (xz typically shrinks a trace to 10–20 %).

Import remaps every id (recording, nodes, events, states, gaps, causal links) past the target
store's highest ids, in one transaction: a failed import leaves the target as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArchiveError, StoreError, translate

if TYPE_CHECKING:
    from .db import Database

_TABLES = {
    # table: (columns, where-clause selecting one recording's rows)
    "recordings": ("id, name, spec_json, limits_json, meta_json, created_at, ended_at, end_reason, "
                   "stats_json, writer_pid, writer_host, writer_started, event_count, dropped_count, "
                   "causal_upto", "id = ?"),
    "nodes": ("id, recording_id, name, otp_release, time_unit, time_offset, mono_at_start", "recording_id = ?"),
    "processes": ("recording_id, node_id, idx, pid_text, pid_node, pid_id, pid_serial, pid_creation, "
                  "reg_name, init_module, init_function, init_arity, born_ts, died_ts, exit_event_id",
                  "recording_id = ?"),
    "functions": ("recording_id, node_id, idx, module, function, arity", "recording_id = ?"),
    "events": ("id, recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload", "recording_id = ?"),
    "states": ("id, recording_id, node_id, pid, event_id, ts, uniq, phase, callback, encoding, anchor_id, "
               "size, data", "recording_id = ?"),
    "gaps": ("id, recording_id, node_id, event_id, ts, count, reason, detail", "recording_id = ?"),
    "msg_links": ("recording_id, send_id, recv_id, method, send_node, send_pid, recv_node, recv_pid",
                  "recording_id = ?"),
    "clocks": ("event_id, recording_id, lamport", "recording_id = ?"),
}


def export_recording(db: "Database", recording_id: int, path: Path) -> Path:
    """Write recording ``recording_id`` of ``db`` to a new store file at ``path``."""
    from .db import open_database

    if path.exists():
        raise ArchiveError(f"{path} already exists; choose a new file name (exports never overwrite).")
    if db.query_one("SELECT 1 FROM recordings WHERE id = ?", (recording_id,)) is None:
        raise ArchiveError(f"no recording {recording_id} in {db.path} to export; see TraceStore.recordings().")
    partial = path.with_name(path.name + ".partial")
    for p in (partial, Path(str(partial) + "-wal"), Path(str(partial) + "-shm")):
        if p.exists():
            p.unlink()
    out = open_database(partial)
    try:
        conn = out.conn
        conn.execute("ATTACH DATABASE ? AS src", (str(db.path),))
        conn.execute("BEGIN IMMEDIATE")
        for table, (cols, where) in _TABLES.items():
            conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table} WHERE {where}",
                         (recording_id,))
        conn.execute("UPDATE main.recordings SET writer_pid = NULL, writer_host = NULL, writer_started = NULL, "
                     "end_reason = coalesce(end_reason, 'interrupted')")
        _copy_elements(conn, recording_id)
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    except ArchiveError:
        out.close()
        partial.unlink(missing_ok=True)
        raise
    except sqlite3.Error as exc:
        out.close()
        partial.unlink(missing_ok=True)
        raise ArchiveError(f"exporting recording {recording_id} to {path} failed: {translate(exc, 'export')}") from exc
    out.close()
    os.replace(partial, path)
    return path


def _copy_elements(conn: sqlite3.Connection, recording_id: int) -> None:
    """The ``blobs`` rows the exported skeletons refer to (store/blobs.py), and only those."""
    from .blobs import delta_base, referenced

    wanted: set[bytes] = set()
    for sql in ("SELECT payload FROM main.events WHERE substr(payload, 1, 1) = X'00'",
                "SELECT data FROM main.states WHERE substr(data, 1, 1) = X'00'"):
        for (data,) in conn.execute(sql):
            wanted.update(referenced(data))
    todo = list(wanted)
    while todo:  # and the elements they are deltas against, transitively
        h = todo.pop()
        row = conn.execute("SELECT data FROM src.blobs WHERE hash = ?", (h,)).fetchone()
        base = delta_base(row[0]) if row else None
        if base is not None and base not in wanted:
            wanted.add(base)
            todo.append(base)
    conn.executemany("INSERT OR IGNORE INTO main.blobs (hash, data) SELECT hash, data FROM src.blobs "
                     "WHERE hash = ?", [(h,) for h in wanted])
    got = conn.execute("SELECT count(*) FROM main.blobs").fetchone()[0]
    if got != len(wanted):
        raise ArchiveError(f"recording {recording_id} refers to {len(wanted) - got} stored element(s) "
                           "missing from its store: the store file is damaged (run PRAGMA "
                           "integrity_check); nothing was exported.")


def import_recording(db: "Database", path: Path) -> int:
    """Import the single recording of the store file at ``path``; returns its new id."""
    from .db import open_database
    from .schema import SCHEMA_VERSION

    if not path.is_file():
        raise ArchiveError(f"no recording file at {path}")
    try:
        src = open_database(path, readonly=True)
        version_ok = True
    except StoreError as exc:
        if "older schema" not in str(exc):
            raise ArchiveError(f"{path} is not a readable ElixirScope recording: {exc}") from exc
        version_ok = False
    tmpdir = None
    if not version_ok:  # migrate a copy, never the user's file
        tmpdir = tempfile.mkdtemp(prefix="es-import-")
        copy = Path(tmpdir) / path.name
        shutil.copyfile(path, copy)
        src = open_database(copy)
        path = copy
    try:
        ids = src.query("SELECT id FROM recordings")
        if len(ids) != 1:
            raise ArchiveError(f"{path} holds {len(ids)} recordings; a recording file holds exactly one "
                               "(export one with TraceStore.export_recording).")
        src_version = int(src.query_one("SELECT value FROM meta WHERE key='schema_version'")[0])
        if src_version != SCHEMA_VERSION:
            raise ArchiveError(f"{path} has schema {src_version}, expected {SCHEMA_VERSION}")
        src.close()
        return _copy_in(db, path, ids[0][0])
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _copy_in(db: "Database", path: Path, old_rid: int) -> int:
    with db.lock:
        try:
            db.conn.execute("ATTACH DATABASE ? AS src", (str(path),))
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot read {path}: {exc}") from exc
        try:
            with db.write("importing a recording") as c:
                return _insert_all(c, old_rid)
        finally:
            db.conn.execute("DETACH DATABASE src")


def _insert_all(c: sqlite3.Connection, old_rid: int) -> int:
    def top(table: str) -> int:
        return c.execute(f"SELECT coalesce(max(id), 0) FROM main.{table}").fetchone()[0]

    rid = top("recordings") + 1
    node_off, ev_off, st_off = top("nodes"), top("events"), top("states")
    c.execute(
        "INSERT INTO main.recordings (id, name, spec_json, limits_json, meta_json, created_at, ended_at, "
        "end_reason, stats_json, event_count, dropped_count, causal_upto) SELECT ?, name, spec_json, "
        "limits_json, meta_json, created_at, ended_at, coalesce(end_reason, 'interrupted'), stats_json, "
        "event_count, dropped_count, CASE WHEN causal_upto > 0 THEN causal_upto + ? ELSE 0 END "
        "FROM src.recordings WHERE id = ?", (rid, ev_off, old_rid))
    c.execute("INSERT INTO main.nodes SELECT id + ?, ?, name, otp_release, time_unit, time_offset, "
              "mono_at_start FROM src.nodes", (node_off, rid))
    c.execute("INSERT INTO main.processes SELECT ?, node_id + ?, idx, pid_text, pid_node, pid_id, pid_serial, "
              "pid_creation, reg_name, init_module, init_function, init_arity, born_ts, died_ts, "
              "exit_event_id + ? FROM src.processes", (rid, node_off, ev_off))
    c.execute("INSERT INTO main.functions SELECT ?, node_id + ?, idx, module, function, arity "
              "FROM src.functions", (rid, node_off))
    c.execute("INSERT INTO main.events SELECT id + ?, ?, node_id + ?, kind, flags, ts, uniq, pid, aux, "
              "payload FROM src.events ORDER BY id", (ev_off, rid, node_off))
    c.execute("INSERT INTO main.states SELECT id + ?, ?, node_id + ?, pid, event_id + ?, ts, uniq, phase, "
              "callback, encoding, anchor_id + ?, size, data FROM src.states ORDER BY id",
              (st_off, rid, node_off, ev_off, st_off))
    c.execute("INSERT INTO main.gaps (recording_id, node_id, event_id, ts, count, reason, detail) "
              "SELECT ?, node_id + ?, event_id + ?, ts, count, reason, detail FROM src.gaps ORDER BY id",
              (rid, node_off, ev_off))
    c.execute("INSERT INTO main.msg_links SELECT ?, send_id + ?, recv_id + ?, method, send_node + ?, send_pid, "
              "recv_node + ?, recv_pid FROM src.msg_links", (rid, ev_off, ev_off, node_off, node_off))
    c.execute("INSERT INTO main.clocks SELECT event_id + ?, ?, lamport FROM src.clocks", (ev_off, rid))
    # large elements are stored by content: ones this store already holds are shared
    c.execute("INSERT OR IGNORE INTO main.blobs (hash, data) SELECT hash, data FROM src.blobs")
    return rid
