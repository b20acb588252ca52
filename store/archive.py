"""Export one recording to one file, import it into another store.

Format choice: the export is itself a trace store file (SQLite, same schema, exactly one
recording). Why not a compressed archive of JSON/CSV: a second format would need its own
writer, reader, versioning and tests, and would lose the binary payloads' exactness or cost a
re-encode; an SQLite file is one self-describing file that any store code — or the ``sqlite3``
shell — can open and query directly, it carries its schema version (so an export made by an
older ElixirScope is migrated on import like any older store), and its structure is verified
by ``PRAGMA integrity_check`` (structure, not a checksum of the payloads). Payloads are already compact ETF; to ship it small,
compress the file with any tool (xz typically shrinks a trace to 10–20 %).

Import remaps every id (recording, nodes, events, states, gaps, causal links) past the target
store's highest ids, in one transaction: a failed import leaves the target as it was. An
imported file is untrusted: it is opened read-only, integrity-checked and compared with the
exact schema before a row is read (``import_check``), within ``ImportLimits``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .blocks import build_blocks
from .timeblocks import build_times
from .errors import ArchiveError, StoreCorruptError, StoreError, translate
from .schema import SCHEMA_VERSION
from .import_check import ImportLimits, budget, check_rows, check_schema, open_checked, readonly_uri, reject_active_schema

if TYPE_CHECKING:
    from .db import Database

_TABLES = {
    # table: (columns, where-clause selecting one recording's rows)
    "recordings": ("id, name, spec_json, limits_json, meta_json, created_at, ended_at, end_reason, "
                   "stats_json, writer_pid, writer_host, writer_started, event_count, dropped_count, "
                   "causal_upto", "id = ?"),
    "nodes": ("id, recording_id, name, otp_release, time_unit, time_offset, mono_at_start, clock_skew, "
              "clock_error, clock_skew_end, clock_error_end, end_reason, end_detail, stats_json", "recording_id = ?"),
    "processes": ("recording_id, node_id, idx, pid_text, pid_node, pid_id, pid_serial, pid_creation, "
                  "reg_name, init_module, init_function, init_arity, born_ts, died_ts, exit_event_id",
                  "recording_id = ?"),
    "functions": ("recording_id, node_id, idx, module, function, arity", "recording_id = ?"),
    # the recording's id range (its time blocks) bounds the rowid walk: events has no other index
    "events": ("id, recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload",
               "id BETWEEN (SELECT min(first_id) FROM src.block_time WHERE recording_id = ?1) "
               "AND (SELECT max(last_id) FROM src.block_time WHERE recording_id = ?1) AND recording_id = ?1"),
    "states": ("id, recording_id, node_id, pid, event_id, ts, uniq, phase, callback, encoding, anchor_id, "
               "size, data", "recording_id = ?"),
    "gaps": ("id, recording_id, node_id, event_id, ts, count, reason, detail", "recording_id = ?"),
    "msg_links": ("recording_id, send_id, recv_id, method, send_node, send_pid, recv_node, recv_pid",
                  "recording_id = ?"),
    "clocks": ("event_id, recording_id, lamport", "recording_id = ?"),
    # the block index (store/blocks.py) and the time blocks (store/timeblocks.py) are copied on
    # export; an import rebuilds them from the events
    "block_procs": ("node_id, pid, first_id, last_id, n", "node_id IN (SELECT id FROM src.nodes WHERE recording_id = ?)"),
    "block_kinds": ("recording_id, kind, aux, first_id, last_id, n", "recording_id = ?"),
    "block_time": ("recording_id, first_id, last_id, node_id, min_ts, max_ts, n, ordered", "recording_id = ?"),
    "time_spans": ("recording_id, span", "recording_id = ?"),
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
        _attach_source(conn, db)
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


def _attach_source(conn: sqlite3.Connection, db: "Database") -> None:
    """Attach the store being exported as ``src``; a store opened read-only (e.g. in a
    directory we may not write) is attached read-only, as immutable when SQLite cannot make
    its -shm file there and no -wal holds pending writes (db.py's rule for read-only opens)."""
    if not db.readonly:
        conn.execute("ATTACH DATABASE ? AS src", (str(db.path),))
        return
    uri = readonly_uri(db.path)
    try:
        conn.execute("ATTACH DATABASE ? AS src", (uri,))
        conn.execute("SELECT count(*) FROM src.sqlite_master").fetchone()
    except sqlite3.OperationalError:
        if _attached(conn, "src"):
            conn.execute("DETACH DATABASE src")
        wal = Path(str(db.path) + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
        conn.execute("ATTACH DATABASE ? AS src", (uri + "&immutable=1",))


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


def _attached(conn: sqlite3.Connection, name: str) -> bool:
    return any(r[1] == name for r in conn.execute("PRAGMA database_list"))


def import_recording(db: "Database", path: Path, limits: ImportLimits | None = None) -> int:
    """Import the single recording of the store file at ``path``; returns its new id.

    The file is untrusted: see ``import_check`` for what is checked before any of its rows
    is read. Errors name the file; the target store is left as it was."""
    limits = limits or ImportLimits()
    if not path.is_file():
        raise ArchiveError(f"no recording file at {path}")
    conn = open_checked(path, limits)
    tmpdir = None
    try:
        version = _file_version(conn, path)
        if version > SCHEMA_VERSION:
            raise ArchiveError(f"{path} was written by a newer ElixirScope (schema {version}; this one reads up "
                               f"to {SCHEMA_VERSION}). Upgrade elixir_scope to import it.")
        if version < SCHEMA_VERSION:
            # migrate a copy (in a temporary directory on disk), never the user's file
            reject_active_schema(conn, path)
            conn.close()
            tmpdir = tempfile.mkdtemp(prefix="es-import-")
            copy = Path(tmpdir) / "recording.esrec"
            shutil.copyfile(path, copy)
            _migrate_copy(copy, path, version)
            conn = open_checked(copy, limits)
            check_schema(conn, path, migrated_from=version)
            source = copy
        else:
            check_schema(conn, path)
            source = path
        check_rows(conn, path, list(_TABLES) + ["blobs"], limits)  # blobs: large terms stored once
        ids = conn.execute("SELECT id FROM recordings").fetchall()
        if len(ids) != 1:
            raise ArchiveError(f"{path} holds {len(ids)} recordings; a recording file holds exactly one "
                               "(export one with TraceStore.export_recording).")
        conn.close()
        return _copy_in(db, source, path, ids[0][0], limits)
    except sqlite3.Error as exc:
        raise ArchiveError(f"{path} could not be read as a recording file: {exc}. Nothing was imported.") from exc
    finally:
        conn.close()
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _file_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise ArchiveError(f"{path} is not a readable ElixirScope recording: an SQLite file without "
                               "the store's meta table.")
        if conn.execute("SELECT type FROM sqlite_master WHERE name = 'meta'").fetchone()[0] != "table":
            raise ArchiveError(f"{path} is not a recording file: 'meta' is not a table.")
        row = conn.execute("SELECT value FROM main.meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])
    except (sqlite3.Error, TypeError, ValueError) as exc:
        raise ArchiveError(f"{path} is not a readable ElixirScope recording (no schema version: {exc}).") from exc


def _migrate_copy(copy: Path, original: Path, version: int) -> None:
    from .db import MIGRATIONS, migrate

    if version < 1 or any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise ArchiveError(f"{original} has schema {version}, which this ElixirScope cannot migrate.")
    conn = sqlite3.connect(str(copy), isolation_level=None)
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("PRAGMA journal_mode = DELETE")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
            conn.execute(f'DROP VIEW "{name.replace(chr(34), chr(34) * 2)}"')  # derived; recreated as ours
        migrate(conn, version)
    except sqlite3.Error as exc:
        raise ArchiveError(f"migrating a copy of {original} from schema {version} failed: {exc}. "
                           "Nothing was imported.") from exc
    finally:
        conn.close()


def _copy_in(db: "Database", source: Path, shown: Path, old_rid: int, limits: ImportLimits) -> int:
    """Copy the checked file's rows into ``db`` in one transaction (read-only attach)."""
    with db.lock:
        conn = db.conn
        try:
            conn.execute("ATTACH DATABASE ? AS src", (readonly_uri(source),))
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot read {shown}: {exc}") from exc
        (temp_store,) = conn.execute("PRAGMA temp_store").fetchone()
        (trusted,) = conn.execute("PRAGMA trusted_schema").fetchone()
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("PRAGMA trusted_schema = OFF")
        try:
            with budget(conn, limits.max_seconds) as b:
                try:
                    with db.write("importing a recording") as c:
                        return _insert_all(c, old_rid)
                except StoreError as exc:
                    if b.expired:
                        raise ArchiveError(f"importing {shown} took longer than {limits.max_seconds} s "
                                           "(ImportLimits.max_seconds); nothing was imported.") from exc
                    if isinstance(exc, StoreCorruptError) and _healthy(conn):
                        raise ArchiveError(f"{shown} turned out damaged while it was copied ({exc}); "
                                           "your store is fine and unchanged. Nothing was imported.") from exc
                    raise
        finally:
            conn.execute(f"PRAGMA temp_store = {int(temp_store)}")
            conn.execute(f"PRAGMA trusted_schema = {int(trusted)}")
            conn.execute("DETACH DATABASE src")


def _healthy(conn: sqlite3.Connection) -> bool:
    try:
        return conn.execute("PRAGMA main.quick_check(1)").fetchone()[0] == "ok"
    except sqlite3.Error:
        return False


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
              "mono_at_start, clock_skew, clock_error, clock_skew_end, clock_error_end, end_reason, "
              "end_detail, stats_json FROM src.nodes", (node_off, rid))
    c.execute("INSERT INTO main.processes SELECT ?, node_id + ?, idx, pid_text, pid_node, pid_id, pid_serial, "
              "pid_creation, reg_name, init_module, init_function, init_arity, born_ts, died_ts, "
              "exit_event_id + ?, app_names FROM src.processes", (rid, node_off, ev_off))
    c.execute("INSERT INTO main.functions SELECT ?, node_id + ?, idx, module, function, arity "
              "FROM src.functions", (rid, node_off))
    c.execute("INSERT INTO main.events SELECT id + ?, ?, node_id + ?, kind, flags, ts, uniq, pid, aux, "
              "payload FROM src.events ORDER BY id", (ev_off, rid, node_off))
    last = top("events")
    if last > ev_off:
        build_blocks(c, ev_off + 1, last)  # the block index of the imported events (store/blocks.py)
        build_times(c, ev_off + 1, last)  # and their time blocks (store/timeblocks.py)
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
