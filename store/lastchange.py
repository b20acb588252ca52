"""The last change of a process's state at or before a moment, with its cause.

``state_evolution`` pages *forward* from a start; a viewer scrubbing to a moment wants the
opposite: "what is the state now, what was it before the last change, and which message
changed it". This walks the process's state records *backwards* from the moment, rebuilding
each (one index seek + a few deltas), until one differs from the state in force — at most
``max_rows`` records, so a process whose state never changes costs a bounded amount.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .diff import same
from .state_changes import changes
from .states import STATE_ROW_COLUMNS
from .timetravel import _BIG, Transition, _cause, _state_from_row, moment

if TYPE_CHECKING:
    from .events import Event
    from .reader import ProcessRef, Recording


def last_change(rec: "Recording", process: "ProcessRef", t: "int | Event", *,
                max_rows: int = 200) -> Transition | None:
    """The most recent transition of ``process``'s state at or before ``t`` (``before`` →
    ``after``, structural changes, cause); None if the state did not change within the last
    ``max_rows`` state records (or none was recorded)."""
    proc = rec.resolve_process(process)
    ts, uniq = moment(t)
    rows = rec.db.query(
        f"SELECT {STATE_ROW_COLUMNS}, phase, event_id FROM states WHERE node_id = ? AND pid = ? "
        "AND (ts < ? OR (ts = ? AND uniq <= ?)) ORDER BY ts DESC, uniq DESC, id DESC LIMIT ?",
        (proc.node_id, proc.idx, ts, ts, uniq if uniq != _BIG else _BIG, max_rows))
    if not rows:
        return None
    newer = _state_from_row(rec, proc, rows[0], rows[0][3])
    for row in rows[1:]:
        older = _state_from_row(rec, proc, row, row[3])
        if not same(older.state, newer.state):
            cause = _cause(rec, proc, newer.event) if newer.source == "after" else None
            return Transition(older, newer, changes(older.state, newer.state), cause)
        newer = older
    return None
