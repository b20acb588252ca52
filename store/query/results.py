"""Typed results of a query, and the opaque paging cursor.

A `QueryResult` holds either `rows` (events, sequence matches, or unanswered events) or
`groups` (aggregations), the `columns` a table view shows, `next_cursor` (None on the last
page), and — always — whether the examined window crosses a gap: a gap means events were
dropped there, so "no return", "never received" or a low count may be an artefact of the
recording rather than of the system. Rows say so individually where it matters
(`EventRow.near_gap`, `MatchRow.crosses_gap`, `AbsenceRow.gap_after`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from .errors import QueryCursorError

if TYPE_CHECKING:
    from elixir_scope.store.events import Event

__all__ = ["EventRow", "MatchRow", "AbsenceRow", "GroupRow", "GapSummary", "QueryResult",
           "encode_cursor", "decode_cursor"]


@dataclass(slots=True)
class EventRow:
    """One event. `time_ns` is recording time (ns since the recording began); for a call,
    `closing` is its return/exception event when recorded and `duration_ns` the time between."""
    event: "Event"
    time_ns: int
    node: str
    pid: str
    process_name: str | None
    function: str | None
    closing: "Event | None" = None
    duration_ns: int | None = None

    @property
    def kind(self) -> str:
        return self.event.kind.name.lower()

    @property
    def id(self) -> int:
        return self.event.id

    def as_dict(self, payloads: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "time_ms": self.time_ns / 1e6,
                             "node": self.node, "pid": self.pid, "process": self.process_name,
                             "function": self.function}
        if self.duration_ns is not None:
            d["duration_ms"] = self.duration_ns / 1e6
        if self.closing is not None:
            d["closing"] = {"id": self.closing.id, "kind": self.closing.kind.name.lower()}
        if payloads:
            d["payload"] = _shown(self.event)
            if self.closing is not None:
                d["closing"]["payload"] = _shown(self.closing)
        return d


def _shown(event: "Event") -> str:
    """A payload as Elixir prints it, bounded; a damaged payload must not hide the row."""
    from elixir_scope.instrument.etf.inspect import inspect

    try:
        return inspect(event.payload)
    except Exception as exc:  # noqa: BLE001 — report, do not fail the whole page
        return f"<undecodable payload: {exc}>"


@dataclass(slots=True)
class MatchRow:
    """One match of `sequence A then B …`: its events in order, the time from first to last,
    and whether events were dropped between them."""
    steps: tuple[EventRow, ...]
    span_ns: int
    crosses_gap: bool = False

    def as_dict(self, payloads: bool = True) -> dict[str, Any]:
        return {"span_ms": self.span_ns / 1e6, "crosses_gap": self.crosses_gap,
                "steps": [s.as_dict(payloads) for s in self.steps]}


@dataclass(slots=True)
class AbsenceRow:
    """An event whose expected follower was not recorded (`calls without return`, `sends never
    received`, `A without B`). `gap_after`: events were dropped after it (the follower may be
    among them); `window_complete`: the recording lasted the whole `within` window after it."""
    event: EventRow
    missing: str
    gap_after: bool = False
    window_complete: bool = True

    def as_dict(self, payloads: bool = True) -> dict[str, Any]:
        return {"missing": self.missing, "gap_after": self.gap_after,
                "window_complete": self.window_complete, **self.event.as_dict(payloads)}


@dataclass(slots=True)
class GroupRow:
    """One group of an aggregation: its key (by grouping field) and its values (by column)."""
    key: dict[str, str]
    values: dict[str, float | int | None]

    def as_dict(self, payloads: bool = True) -> dict[str, Any]:
        return {**self.key, **self.values}


Row = Union[EventRow, MatchRow, AbsenceRow]


@dataclass(slots=True)
class GapSummary:
    """Gaps inside the examined window: how many, how many events they dropped, and why."""
    count: int = 0
    dropped: int = 0
    reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.count:
            return "no gaps: every event in the window was recorded"
        return (f"{self.count} gap(s) in the window, {self.dropped} events dropped "
                f"({', '.join(self.reasons)}): absent events may not have been recorded")


@dataclass(slots=True)
class QueryResult:
    """The answer to one query (one page of it)."""
    shape: str                      # 'events' | 'matches' | 'absences' | 'groups'
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    next_cursor: str | None = None
    crosses_gaps: bool = False
    gap_summary: GapSummary = field(default_factory=GapSummary)
    total_estimate: int | None = None
    total_is_exact: bool = False
    notes: list[str] = field(default_factory=list)
    recording_id: int = 0
    query: str = ""

    def __len__(self) -> int:
        return len(self.groups) if self.shape == "groups" else len(self.rows)

    def as_dict(self, payloads: bool = True) -> dict[str, Any]:
        """A JSON-ready view (for the CLI and MCP): bounded, with the cursor and gap facts."""
        items = self.groups if self.shape == "groups" else self.rows
        return {
            "query": self.query, "recording_id": self.recording_id, "shape": self.shape,
            "columns": list(self.columns),
            "items": [i.as_dict(payloads) for i in items],
            "next_cursor": self.next_cursor,
            "crosses_gaps": self.crosses_gaps, "gaps": self.gap_summary.describe(),
            "total_estimate": self.total_estimate, "total_is_exact": self.total_is_exact,
            "notes": list(self.notes),
        }


def fingerprint(text: str, recording_id: int) -> str:
    return hashlib.sha1(f"{recording_id}\0{' '.join(text.split())}".encode()).hexdigest()[:16]


def encode_cursor(text: str, recording_id: int, position: list[Any]) -> str:
    raw = json.dumps({"v": 1, "q": fingerprint(text, recording_id), "p": position},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, text: str, recording_id: int) -> list[Any]:
    """The position inside a cursor; QueryCursorError if it is malformed or from another query."""
    try:
        pad = "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(cursor + pad))
        position = data["p"]
        ok = data.get("v") == 1 and isinstance(position, list)
    except (ValueError, KeyError, TypeError):
        raise QueryCursorError("the cursor is not one this query engine produced; pass the "
                               "next_cursor of the previous page unchanged") from None
    if not ok:
        raise QueryCursorError("the cursor is malformed; pass next_cursor unchanged")
    if data["q"] != fingerprint(text, recording_id):
        raise QueryCursorError("this cursor belongs to a different query or recording; run the "
                               "same query text with it, or start again without a cursor")
    return position
