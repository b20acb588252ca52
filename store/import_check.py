"""Checking a recording file before anything is read from it (``.esrec`` files are untrusted).

A recording file is an SQLite store, and SQLite files can do more than hold data: a VIEW
named like a table can run a recursive CTE that eats the machine when selected from, a
TRIGGER can run on the migration's writes, a damaged page can make a read fail half-way
through an import and look like the *target* store's fault. So an import first:

1. checks the size (``ImportLimits.max_bytes``) before opening;
2. opens the file read-only (``mode=ro``; never the writable path, never migrated in place),
   with ``trusted_schema = OFF``, a disk temp store and a progress handler that enforces the
   time budget (``ImportLimits.max_seconds``) on every statement;
3. runs ``PRAGMA integrity_check`` (a bit-flipped file is refused here, naming the file);
4. compares the schema with the exact layout this ElixirScope writes (``sqlite_master``
   entry by entry: the same tables, indexes and view with the same SQL, no triggers, nothing
   else) - only then is any table read;
5. counts the rows of each table against ``ImportLimits.max_rows``.

Every refusal is an ``ArchiveError`` that names the file and what is wrong with it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import ArchiveError
from .schema import create_statements

__all__ = ["ImportLimits", "readonly_uri", "open_checked", "expected_master", "check_schema", "budget"]

# SQLite's own bookkeeping tables that a healthy file may hold.
_INTERNAL_TABLES = {"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}


@dataclass(frozen=True)
class ImportLimits:
    # Largest recording file accepted (bytes); SQLite stores what it holds uncompressed, so
    # this also bounds every row and blob.
    max_bytes: int = 8 * 1024 ** 3
    # Most rows accepted in any one table of the file.
    max_rows: int = 200_000_000
    # Wall-clock budget of the whole check and of the copy (seconds).
    max_seconds: float = 900.0


def readonly_uri(path: Path) -> str:
    """An SQLite URI that opens ``path`` read-only (also valid in ``ATTACH``)."""
    return path.resolve().as_uri() + "?mode=ro"


class budget:
    """A progress handler that interrupts statements once ``seconds`` have passed.

    Use as a context manager on a connection; ``expired`` tells afterwards whether it fired."""

    def __init__(self, conn: sqlite3.Connection, seconds: float) -> None:
        self.conn, self.deadline, self.expired = conn, time.monotonic() + seconds, False

    def _tick(self) -> int:
        if time.monotonic() > self.deadline:
            self.expired = True
            return 1
        return 0

    def __enter__(self) -> "budget":
        self.conn.set_progress_handler(self._tick, 10_000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.set_progress_handler(None, 0)


def _master(conn: sqlite3.Connection, schema: str = "main") -> Iterator[tuple[str, str, str, str | None]]:
    yield from conn.execute(f"SELECT type, name, tbl_name, sql FROM {schema}.sqlite_master ORDER BY name")


def expected_master() -> dict[str, tuple[str, str, str | None]]:
    """``name -> (type, tbl_name, sql)`` of a fresh store of the current schema."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(create_statements())
        return {name: (kind, tbl, sql) for kind, name, tbl, sql in _master(conn)}
    finally:
        conn.close()


def check_schema(conn: sqlite3.Connection, path: Path, *, migrated_from: int | None = None) -> None:
    """Refuse ``path`` unless its schema is exactly ours (indexes may be missing: an export
    made while its event indexes were deferred lacks them, and the target has its own)."""
    want = expected_master()
    have = {name: (kind, tbl, sql) for kind, name, tbl, sql in _master(conn)}
    for name, (kind, tbl, sql) in sorted(have.items()):
        if kind == "table" and name in _INTERNAL_TABLES:
            continue
        if kind in ("trigger", "view") and name not in want:
            raise ArchiveError(
                f"{path} is not a recording file this ElixirScope can trust: it defines the {kind} "
                f"{name!r}, which recording files never have. Nothing was imported; export the "
                "recording again from the store that made it.")
        expected = want.get(name)
        if expected is None:
            raise ArchiveError(
                f"{path} has an unexpected {kind} {name!r}; a recording file holds exactly the "
                "store's tables. Nothing was imported.")
        if kind == "table" and migrated_from is not None:
            # a migrated older file keeps its tables' original DDL text: compare columns
            if _columns(conn, name) != _expected_columns(name):
                raise ArchiveError(f"{path}: table {name!r} has columns {_columns(conn, name)}, not the "
                                   "layout this ElixirScope writes. Nothing was imported.")
            continue
        if expected != (kind, tbl, sql):
            raise ArchiveError(
                f"{path}: the {kind} {name!r} differs from the layout this ElixirScope writes "
                f"({'after migrating from schema ' + str(migrated_from) if migrated_from else 'same schema version'}). "
                "Nothing was imported; the file was altered or made by another tool.")
    missing = sorted(n for n, (kind, _, _) in want.items() if kind == "table" and n not in have)
    if missing:
        raise ArchiveError(f"{path} lacks the tables {', '.join(missing)}; it is not a complete recording file.")


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple]:
    return [tuple(r[1:]) for r in conn.execute("SELECT cid, name, type, \"notnull\", pk FROM pragma_table_info(?)", (table,))]


def _expected_columns(table: str) -> list[tuple]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(create_statements())
        return _columns(conn, table)
    finally:
        conn.close()


def reject_active_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Before migrating a copy of an older file: no triggers at all (they would run on the
    migration's writes); views are dropped from the copy by the caller."""
    for kind, name, _, _ in _master(conn):
        if kind == "trigger":
            raise ArchiveError(
                f"{path} is not a recording file this ElixirScope can trust: it defines the trigger "
                f"{name!r}, which recording files never have. Nothing was imported.")


def open_checked(path: Path, limits: ImportLimits) -> sqlite3.Connection:
    """Open ``path`` read-only after the size check, and run ``integrity_check`` on it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ArchiveError(f"cannot read the recording file {path}: {exc}") from exc
    if size > limits.max_bytes:
        raise ArchiveError(
            f"{path} is {size} bytes, above the import limit of {limits.max_bytes} bytes "
            "(ImportLimits.max_bytes); raise it if the file is trusted.")
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ArchiveError(f"{path} is not a readable ElixirScope recording: {exc}") from exc
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("PRAGMA cell_size_check = ON")
        with budget(conn, limits.max_seconds) as b:
            try:
                rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
            except sqlite3.Error as exc:
                if b.expired:
                    raise ArchiveError(f"checking {path} took longer than {limits.max_seconds} s "
                                       "(ImportLimits.max_seconds); nothing was imported.") from exc
                raise ArchiveError(f"{path} is not a readable ElixirScope recording: {exc}. "
                                   "Nothing was imported.") from exc
        if [r[0] for r in rows] != ["ok"]:
            problems = "; ".join(str(r[0]) for r in rows[:5])
            raise ArchiveError(
                f"{path} is damaged: SQLite's integrity check failed ({problems}). Nothing was "
                "imported and your store was not touched; export the recording again or use a "
                "good copy of the file.")
        return conn
    except BaseException:
        conn.close()
        raise


def check_rows(conn: sqlite3.Connection, path: Path, tables: list[str], limits: ImportLimits) -> None:
    """Count each table's rows (bounded by the time budget) against ``max_rows``."""
    with budget(conn, limits.max_seconds) as b:
        for table in tables:
            try:
                (n,) = conn.execute(f"SELECT count(*) FROM main.{table}").fetchone()
            except sqlite3.Error as exc:
                why = f"took longer than {limits.max_seconds} s" if b.expired else str(exc)
                raise ArchiveError(f"counting the rows of {table} in {path} failed ({why}); nothing was imported.") from exc
            if n > limits.max_rows:
                raise ArchiveError(
                    f"{path}: table {table} has {n} rows, above the import limit of {limits.max_rows} "
                    "(ImportLimits.max_rows); raise it if the file is trusted.")
