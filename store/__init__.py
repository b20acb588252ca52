"""The recorded history: the embedded trace store (schema, ingest, export/import), time
travel, causal order and the query language. Never calls the live node.

Public names (pinned by tests/test_store.py)::

    TraceStore.open(path, readonly=False) -> TraceStore
    TraceStore.create_recording(name, spec=, limits=, meta=) -> RecordingWriter
    RecordingWriter.add_node / ingest_batch / add_gap / mark / finish
    TraceStore.recordings() -> [RecordingInfo];  TraceStore.recording(id) -> Recording
    Recording.events(...) -> EventList;  .processes(); .functions(); .gaps(); .stats
    Event, EventKind, MFA, ProcessInfo, StoreError and its subclasses (store/errors.py)
"""

from .errors import (
    ArchiveError,
    BatchFormatError,
    ExportError,
    RecordingClosedError,
    RecordingNotFound,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreOpenError,
    StoreReadOnlyError,
    StoreSchemaError,
)
from .events import MFA, Event, EventKind, NodeInfo, ProcessInfo

# The rest is imported on first use (PEP 562): importing the package for its errors or events
# - as the MCP server does while it starts - must not load SQLite, psutil and the ingest path.
_LAZY = {
    "Gap": "gaps",
    "RecordingWriter": "ingest",
    "EventList": "reader",
    "Recording": "reader",
    "RecordingInfo": "reader",
    "RecordingStats": "reader",
    "StatePolicy": "states",
    "TraceStore": "tracestore",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArchiveError",
    "BatchFormatError",
    "Event",
    "EventKind",
    "EventList",
    "ExportError",
    "Gap",
    "MFA",
    "NodeInfo",
    "ProcessInfo",
    "Recording",
    "RecordingClosedError",
    "RecordingInfo",
    "RecordingNotFound",
    "RecordingStats",
    "RecordingWriter",
    "StatePolicy",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreOpenError",
    "StoreReadOnlyError",
    "StoreSchemaError",
    "TraceStore",
]
