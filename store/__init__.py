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
from .gaps import Gap
from .ingest import RecordingWriter
from .reader import EventList, Recording, RecordingInfo, RecordingStats
from .states import StatePolicy
from .tracestore import TraceStore

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
