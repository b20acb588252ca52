"""Opening the store file: WAL, pragmas, schema creation and migration, writer liveness.

Why SQLite in WAL mode: it is an embedded single file with no server; WAL lets readers (the
query language, MCP tools) read while the capture writes; with ``synchronous=NORMAL`` a commit
is durable against a crash of the *process* (the only thing that can kill our writer mid-batch
short of a power cut), and each batch is one transaction, so a reader or a reopen after
``kill -9`` sees whole batches or nothing. See docs/store.md.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psutil

from .checkpoints import BackgroundCheckpointer, held_rows_for
from .errors import StoreError, StoreOpenError, StoreReadOnlyError, StoreSchemaError, translate
from .planner_stats import refresh_statistics  # noqa: F401  (re-exported: store.db.refresh_statistics)
from .schema import SCHEMA_VERSION, create_statements

APPLICATION_ID = 0x45534350  # 'ESCP' in the SQLite header: marks our files
PAGE_SIZE = 16384
"""Page size of a new store, in bytes (see ``open_database``)."""

Migration = Callable[[sqlite3.Connection], None]


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Schema 2 adds process columns to ``msg_links``. The causal tables are derived data
    (recomputed lazily from ``events``), so they are dropped and rebuilt on first use."""
    conn.execute("DROP INDEX IF EXISTS msg_links_by_recv")
    conn.execute("DROP TABLE IF EXISTS msg_links")
    conn.execute("DELETE FROM clocks")
    conn.execute("UPDATE recordings SET causal_upto = 0")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Schema 3 adds the ``blobs`` table (created with the current DDL right after this); the
    recorded payloads stay as they are (plain ETF is still read as such)."""


NODE_COLUMNS_ADDED = ("clock_skew INTEGER", "clock_error INTEGER", "clock_skew_end INTEGER",
                  "clock_error_end INTEGER", "end_reason TEXT", "end_detail TEXT", "stats_json TEXT")


def _add_node_columns(conn: sqlite3.Connection) -> None:
    """Schema 4 adds per-node clock estimates and per-node ends to ``nodes`` (NULL for the
    recordings made before: not probed, one node whose end is the recording's). Adds only the
    columns missing, so it is safe whichever migration runs before it."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(nodes)")}
    for col in NODE_COLUMNS_ADDED:
        if col.split()[0] not in have:
            conn.execute(f"ALTER TABLE nodes ADD COLUMN {col}")


def _add_app_names(conn: sqlite3.Connection) -> None:
    """Schema 5 adds ``processes.app_names`` (process labels and Registry names; NULL for the
    processes recorded before)."""
    if "app_names" not in {r[1] for r in conn.execute("PRAGMA table_info(processes)")}:
        conn.execute("ALTER TABLE processes ADD COLUMN app_names BLOB")


def _build_block_index(conn: sqlite3.Connection) -> None:
    """Schema 6 replaces the per-event indexes ``events_by_process`` and ``events_by_kind`` by
    the block index (store/blocks.py): its rows are built from the stored events, a chunk of
    ids at a time, then the two indexes are dropped. No recorded data changes."""
    from .blocks import TABLES, build_blocks

    for stmt in _split(TABLES):
        conn.execute(stmt)
    conn.execute("DELETE FROM block_procs")
    conn.execute("DELETE FROM block_kinds")
    lo, hi = conn.execute("SELECT min(id), max(id) FROM events").fetchone()
    if lo is not None:
        build_blocks(conn, lo, hi)
    conn.execute("DROP INDEX IF EXISTS events_by_process")
    conn.execute("DROP INDEX IF EXISTS events_by_kind")


def _build_time_blocks(conn: sqlite3.Connection) -> None:
    """Schema 7 replaces the per-event index ``events_by_time`` by the time blocks
    (store/timeblocks.py): their rows are built from the stored events, then the index is
    dropped. One transaction, like every migration: a file whose migration was cut off is
    still at schema 6 and is migrated again on the next writable open. No recorded data changes."""
    from .timeblocks import TABLES, build_times

    for stmt in _split(TABLES):
        conn.execute(stmt)
    conn.execute("DELETE FROM block_time")
    conn.execute("DELETE FROM time_spans")
    lo, hi = conn.execute("SELECT min(id), max(id) FROM events").fetchone()
    if lo is not None:
        build_times(conn, lo, hi)
    conn.execute("DROP INDEX IF EXISTS events_by_time")


MIGRATIONS: dict[int, Migration] = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _add_node_columns,
                                    4: _add_app_names, 5: _build_block_index, 6: _build_time_blocks}
"""``MIGRATIONS[v]`` upgrades a file from schema version v to v + 1, inside one transaction
(SQLite DDL is transactional: a failed migration leaves the file as it was)."""


def writer_identity() -> tuple[int, str, float]:
    """(pid, host, process start time) of this process: lets another process tell whether the
    writer of an unfinished recording is still alive (the start time defeats pid reuse)."""
    pid = os.getpid()
    return pid, socket.gethostname(), psutil.Process(pid).create_time()


def writer_alive(pid: int | None, host: str | None, started: float | None) -> bool:
    if pid is None:
        return False
    if host != socket.gethostname():
        return True  # another host: we cannot know, assume it is still writing
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - (started or 0.0)) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class Database:
    """One SQLite connection with a lock (the capture may call from an asyncio thread while a
    query runs in another) and error translation."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        from .blobs import BlobCache

        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.lock = threading.RLock()
        self.checkpoints = None if readonly else BackgroundCheckpointer(
            path, held_rows=held_rows_for(conn.execute("PRAGMA page_size").fetchone()[0]))
        """WAL checkpoints beside the writer, not in its commits (store/checkpoints.py)."""
        self.blobs = BlobCache(self.query_one)
        """Inflates stored skeletons back to their ETF (store/blobs.py): ``db.blobs.real(b)``."""

    @contextmanager
    def write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT); rolled back as a whole on error."""
        if self.readonly:
            raise StoreReadOnlyError(
                f"{doing}: this store was opened read-only ({self.path}). Open it with "
                "readonly=False to record into it.")
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, doing, self.path) from exc
            before = self.conn.total_changes
            try:
                yield self.conn
                self.conn.execute("COMMIT")
                if self.checkpoints is not None:
                    self.checkpoints.note_rows(self.conn.total_changes - before)
            except BaseException as exc:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise translate(exc, doing, self.path) from exc
                raise

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[tuple]:
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, "reading the store", self.path) from exc

    def query_one(self, sql: str, params: tuple | list | dict = ()) -> tuple | None:
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise translate(exc, "reading the store", self.path) from exc

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
        with self.lock:
            self.conn.close()


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        if not path.exists():
            raise StoreOpenError(f"no trace store at {path}: cannot open a missing file read-only. "
                                 "Check the path.")
        uri = path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL store in a directory we cannot write: SQLite cannot create the -shm file
            # it needs. With no (or an empty) -wal beside it the file alone is the whole
            # truth and nobody can be writing it (a writer would need the directory too), so
            # read it as immutable. A non-empty -wal holds committed data we could not see.
            wal = Path(str(path) + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreOpenError(
                    f"cannot read {path}: its directory is not writable and {wal.name} still holds "
                    "recent writes. Copy the store file together with its -wal file to a writable "
                    "directory and open the copy.") from None
            conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    else:
        if not path.parent.exists():
            raise StoreOpenError(f"cannot create a trace store at {path}: directory "
                                 f"{path.parent} does not exist. Create it first.")
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")  # a large batch or an import holds the write lock
    return conn


def open_database(path: str | Path, *, readonly: bool = False) -> Database:
    """Open or create a store file: WAL, synchronous=NORMAL, schema at SCHEMA_VERSION
    (older files migrated in one transaction, newer or foreign files refused)."""
    path = Path(path)
    try:
        conn = _connect(path, readonly)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise translate(exc, "opening the trace store", path) from exc
    try:
        if not readonly and not tables:
            # a new store: 16 KB pages (SQLite's default is 4 KB). Ingest appends rows of ~60
            # bytes and their block rows; a larger page is a quarter of the page splits, WAL
            # frames and b-tree descents: ~7 % less CPU per stored event, on the cores a
            # capture shares with its node (benchmarks/bench_staging.py, the page row); queries
            # and time travel read no slower (bench_query.py, bench_timetravel.py, 7 Dec 2026).
            # Set before anything is written: an existing store keeps its page size.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreOpenError(f"{path}: SQLite refused WAL mode (got {mode!r}); the store "
                                     "needs a local filesystem that supports shared memory.")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint every ~40 MB of WAL instead of every 4 MB: the live indexes dirty many
            # pages per batch, and a page rewritten by several batches is copied back once per
            # checkpoint: +40 % ingest rate measured (benchmarks/bench_store.py shape). A crash
            # loses nothing either way (WAL replay); the WAL file just grows larger between
            # checkpoints. Most of the copying (and its fsyncs) happens before, beside the
            # writer (Database.checkpoints, store/checkpoints.py): this one stays as the bound.
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
        conn.execute("PRAGMA temp_store = MEMORY")
        if not tables:
            if readonly:
                raise StoreOpenError(f"{path} is empty, not a trace store; open it writable to "
                                     "create one.")
            _create(conn)
        else:
            _check_version(conn, path, tables, readonly)
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc, "opening the trace store", path) from exc
    except StoreError:
        conn.close()
        raise
    return Database(conn, path, readonly)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in _split(create_statements()):
            conn.execute(stmt)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("created_at", repr(time.time())),
            ("created_by", "elixir_scope"),
        ])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    """Split DDL into statements (our DDL has no semicolons inside statements)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _check_version(conn: sqlite3.Connection, path: Path, tables: set[str], readonly: bool) -> None:
    if "meta" not in tables:
        raise StoreSchemaError(
            f"{path} is an SQLite file but not an ElixirScope trace store (no meta table). "
            "Use another path for the store, or import a recording with import_recording().")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    try:
        version = int(row[0]) if row else -1
    except ValueError:
        version = -1
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{path} was written by a newer ElixirScope (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION}). Upgrade elixir_scope to read it; the file was not modified.")
    missing = [v for v in range(max(version, 0), SCHEMA_VERSION) if v not in MIGRATIONS]
    if version < 0 or missing:
        raise StoreSchemaError(
            f"{path} has schema version {version if version >= 0 else 'unknown'}, which this "
            f"ElixirScope (schema {SCHEMA_VERSION}) cannot migrate. The file was not modified; "
            "open it with the ElixirScope version that wrote it and export the recordings.")
    if readonly:
        raise StoreSchemaError(
            f"{path} has the older schema {version} and needs a migration to {SCHEMA_VERSION}, "
            "but it was opened read-only. Open it writable once (the migration is one "
            "transaction: nothing recorded is lost), or open a copy.")
    migrate(conn, version)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply MIGRATIONS from ``version`` to SCHEMA_VERSION in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](conn)
        for stmt in _split(create_statements()):  # new indexes / views of the current layout
            conn.execute(stmt)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def live_writers(db: Database, exclude: int | None = None) -> list[int]:
    """Ids of unfinished recordings whose writer process is still alive."""
    rows = db.query("SELECT id, writer_pid, writer_host, writer_started FROM recordings "
                    "WHERE end_reason IS NULL")
    return [r[0] for r in rows if r[0] != exclude and writer_alive(r[1], r[2], r[3])]


def event_indexes_pending(db: Database) -> bool:
    row = db.query_one("SELECT value FROM meta WHERE key = 'event_indexes'")
    return bool(row and row[0] == "pending")


def build_event_indexes(db: Database, *, exclude_writer: int | None = None) -> bool:
    """Build the event indexes of a file written by an older ElixirScope, which dropped them
    while it captured (``meta.event_indexes = 'pending'``), unless one of its writers is still
    alive. Returns True if the indexes are in place afterwards. Stores written by this version
    keep them live at all times (schema.EVENT_INDEXES), so this is a no-op for them."""
    from .schema import EVENT_INDEXES

    if db.readonly or not event_indexes_pending(db):
        return not event_indexes_pending(db)
    if live_writers(db, exclude=exclude_writer):
        return False
    with db.write("building event indexes") as c:
        for stmt in EVENT_INDEXES.values():
            c.execute(stmt)
        c.execute("DELETE FROM meta WHERE key = 'event_indexes'")
    refresh_statistics(db, force=True)
    return True
