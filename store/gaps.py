"""Gaps: where events were dropped, and whether a query's window crosses one.

Nothing is dropped silently (DESIGN.md decision 4): the agent sends a ``gap`` record with the
count of events it shed, and the Python side adds gaps it detects itself (a node lost, a batch
that could not be stored). Every read API that answers about a time window returns the gaps
inside that window, so a caller (or an LLM) is told when "no event" may mean "not recorded".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BatchFormatError

if TYPE_CHECKING:
    from .db import Database


@dataclass(frozen=True, slots=True)
class Gap:
    id: int
    node_id: int
    event_id: int | None
    ts: int
    count: int
    reason: str
    detail: str | None

    def describe(self) -> str:
        n = f"{self.count} events" if self.count else "an unknown number of events"
        return f"gap at ts {self.ts}: {n} dropped ({self.reason})"


def _text(x: Any) -> str:
    name = getattr(x, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return repr(x) if not isinstance(x, str) else x


def decode_gap_payload(payload: bytes) -> tuple[str, int, str]:
    """``{Reason, Count, Detail}`` ETF -> (reason text, count, detail text)."""
    from elixir_scope.instrument.etf import decode

    term = decode(payload)
    if not (isinstance(term, tuple) and len(term) == 3 and isinstance(term[1], int)):
        raise BatchFormatError(f"gap payload must be {{Reason, Count, Detail}}, got {term!r}")
    return _text(term[0]), term[1], _text(term[2])


_COLS = "id, node_id, event_id, ts, count, reason, detail"


def gaps_in(db: "Database", recording_id: int, t0: int | None = None, t1: int | None = None,
            node_id: int | None = None) -> list[Gap]:
    """Gaps of a recording with ``t0 <= ts <= t1`` (open ends when None), in time order."""
    sql = f"SELECT {_COLS} FROM gaps WHERE recording_id = ?"
    params: list = [recording_id]
    if node_id is not None:
        sql += " AND node_id = ?"
        params.append(node_id)
    if t0 is not None:
        sql += " AND ts >= ?"
        params.append(t0)
    if t1 is not None:
        sql += " AND ts <= ?"
        params.append(t1)
    return [Gap(*r) for r in db.query(sql + " ORDER BY ts, id", params)]
