"""The store's one error hierarchy. Every message says what happened and what to do.

::

    StoreError
    ├── StoreOpenError          the file can't be opened / is not a trace store
    │   └── StoreSchemaError    made by a newer ElixirScope, or an unknown old layout
    ├── StoreReadOnlyError      a write on a read-only store or path
    ├── StoreFullError          disk (or the database's size limit) is full; the batch was not stored
    ├── StoreCorruptError       SQLite reports corruption
    ├── RecordingNotFound       no recording / node / process / event with that id or name
    ├── RecordingClosedError    writing to a recording that already finished
    ├── BatchFormatError        an events binary or Dict that violates docs/event-format.md
    ├── ArchiveError            export / import of a recording file failed
    └── ExportError             an OTLP or Parquet export failed (endpoint, directory, missing extra)

SQLite's own exceptions are translated at the boundary (``translate``) so callers never need
to know the store is SQLite.
"""

from __future__ import annotations

import sqlite3


class StoreError(Exception):
    """Base of every trace-store error."""


class StoreOpenError(StoreError):
    pass


class StoreSchemaError(StoreOpenError):
    pass


class StoreReadOnlyError(StoreError):
    pass


class StoreFullError(StoreError):
    pass


class StoreCorruptError(StoreError):
    pass


class RecordingNotFound(StoreError, LookupError):
    pass


class RecordingClosedError(StoreError):
    pass


class BatchFormatError(StoreError, ValueError):
    pass


class ArchiveError(StoreError):
    pass


class ExportError(StoreError):
    """Export to OpenTelemetry (OTLP) or Parquet failed; the message names the endpoint or
    directory and what to do."""


def translate(exc: sqlite3.Error, doing: str, path: object = None) -> StoreError:
    """Turn a sqlite3 error raised while ``doing`` something into a StoreError with advice."""
    msg = str(exc).lower()
    where = f" ({path})" if path else ""
    if "disk is full" in msg or "database or disk is full" in msg:
        return StoreFullError(
            f"{doing} failed: the disk or the store's size limit is full{where}. Nothing already "
            "stored was lost (the failed batch was rolled back as a whole). Free disk space or "
            "export the recording and start a new store, then retry.")
    if "readonly" in msg or "read-only" in msg or "attempt to write a readonly" in msg:
        return StoreReadOnlyError(
            f"{doing} failed: the store is read-only{where}. Open it with readonly=False on a "
            "writable path, or copy the file somewhere writable.")
    if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
        return StoreCorruptError(
            f"{doing} failed: SQLite reports the file as damaged or not a database{where}: "
            f"{exc}. Check the path; run `sqlite3 FILE 'PRAGMA integrity_check'` and export what "
            "is still readable.")
    if "unable to open" in msg:
        return StoreOpenError(
            f"{doing} failed: cannot open the store file{where}: {exc}. Check that the directory "
            "exists and is writable (or open with readonly=True).")
    if "locked" in msg or "busy" in msg:
        return StoreError(
            f"{doing} failed: the store is locked by another writer{where}: {exc}. Retry; only "
            "one process should write a store at a time.")
    return StoreError(f"{doing} failed{where}: {exc}")
