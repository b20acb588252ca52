"""What a query needs to know about one recording: names, clocks, the recording's time span.

Times in the language are *recording time*: nanoseconds since the recording began (the
earliest capture start, or first event, over its nodes). The store keeps each node's
monotonic clock in native units plus the node's time offset, so this module converts in both
directions and turns a window into per-node `ts` bounds that SQL can use with the
`(recording_id, ts)` index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from elixir_scope.store.timeblocks import id_range, ts_bounds

from .errors import QueryStoreError

if TYPE_CHECKING:
    from elixir_scope.store.events import EventContext
    from elixir_scope.store.reader import Recording

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class NodeClock:
    id: int
    name: str
    time_unit: int
    time_offset: int
    first_ts: int | None
    last_ts: int | None

    def wall_ns(self, ts: int) -> int:
        return (ts + self.time_offset) * NS // self.time_unit

    def ts_at_or_after(self, wall_ns: int) -> int:
        """Smallest node ts whose wall time is ≥ wall_ns."""
        native = -((-wall_ns * self.time_unit) // NS)
        return native - self.time_offset

    def ts_at_or_before(self, wall_ns: int) -> int:
        return (wall_ns * self.time_unit) // NS - self.time_offset

    def to_ns(self, native: int) -> int:
        return native * NS // self.time_unit


class QueryContext:
    """One recording seen by the query engine. Built once per `run_query` call."""

    def __init__(self, recording: "Recording") -> None:
        self.recording = recording
        self.db = recording.db
        self.rid = recording.id
        self.ctx: "EventContext" = recording.context
        clocks: dict[int, NodeClock] = {}
        for node in self.ctx.nodes.values():
            span = ts_bounds(self.db, self.rid, node.id)  # the time blocks (store/timeblocks.py)
            first_ts, last_ts = span if span is not None else (None, None)
            if node.mono_at_start is not None and (first_ts is None or node.mono_at_start < first_ts):
                first_ts = node.mono_at_start
            clocks[node.id] = NodeClock(node.id, node.name, node.time_unit, node.time_offset,
                                        first_ts, last_ts)
        self.clocks = clocks
        self.id_range = id_range(self.db, self.rid)
        """The recording's lowest and highest event id (an empty range when it has none)."""
        starts = [c.wall_ns(c.first_ts) for c in clocks.values() if c.first_ts is not None]
        ends = [c.wall_ns(c.last_ts) for c in clocks.values() if c.last_ts is not None]
        self.start_wall_ns: int = min(starts) if starts else 0
        self.total_events: int = recording.info.event_count
        self._decoded: dict[bytes, tuple] = {}
        self._changed: set[int] | None = None
        self.end_wall_ns: int = max(ends) if ends else 0

    def payload_of(self, event) -> Any:
        """An event's decoded payload for matching, memoised by its bytes for this query:
        recordings repeat themselves (the same message, the same arguments) and a decode costs
        tens of µs. Matching never mutates terms, so sharing one decoded term is safe."""
        data = event.payload_bytes
        if data is None:
            return event.payload  # large states: rebuilt by the store from snapshots/deltas
        hit = self._decoded.get(data)
        if hit is None:
            if len(self._decoded) >= 50_000:
                self._decoded.clear()
            from elixir_scope.instrument.etf import decode

            hit = self._decoded[data] = (decode(data),)
        return hit[0]

    def changed_state_ids(self) -> set[int]:
        """State events whose state differs from the previous one (see compile.CHANGED_SQL)."""
        if self._changed is None:
            from .compile import CHANGED_SQL

            self._changed = {r[0] for r in self.db.query(CHANGED_SQL, (self.rid,))}
        return self._changed

    @property
    def single_node(self) -> bool:
        return len(self.clocks) <= 1

    @property
    def span_ns(self) -> int:
        return max(0, self.end_wall_ns - self.start_wall_ns)

    def offset_ns(self, node_id: int, ts: int) -> int:
        """Recording time (ns since the recording began) of a node timestamp."""
        return self.clocks[node_id].wall_ns(ts) - self.start_wall_ns

    def wall_ns(self, node_id: int, ts: int) -> int:
        return self.clocks[node_id].wall_ns(ts)

    def node_ids(self, names: tuple[str, ...]) -> list[int]:
        """Node ids for `on` names; QueryStoreError naming the recording's nodes otherwise."""
        out = []
        for name in names:
            found = [c.id for c in self.clocks.values() if c.name == name]
            if not found:
                known = ", ".join(sorted(c.name for c in self.clocks.values())) or "none"
                raise QueryStoreError(f"no node {name!r} in recording {self.rid}; its nodes are: "
                                      f"{known}")
            out.extend(found)
        return out

    def wall_order_sql(self, alias: str = "e") -> tuple[str, list[Any]]:
        """A SQL expression ordering events of any node by wall time (ns); plain `ts` when the
        recording has one node (so the `(recording_id, ts)` index serves ORDER BY)."""
        if self.single_node:
            return f"{alias}.ts", []
        parts, params = [], []
        for c in self.clocks.values():
            parts.append("WHEN ? THEN ((" + alias + ".ts + ?) * ? / ?)")
            params += [c.id, c.time_offset, NS, c.time_unit]
        return f"(CASE {alias}.node_id {' '.join(parts)} END)", params

    def order_value(self, node_id: int, ts: int) -> int:
        """The Python value of `wall_order_sql` for one event (keyset cursors)."""
        if self.single_node:
            return ts
        return self.clocks[node_id].wall_ns(ts)

    def ensure_nonempty(self) -> None:
        if not self.clocks:
            raise QueryStoreError(f"recording {self.rid} has no nodes yet: nothing to query")
