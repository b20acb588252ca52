"""Reading a step's events: SQL first, then the Python residual on the survivors.

`Engine.scan` yields `Row`s in recording order, chunk by chunk, so a page stops reading as
soon as it is full; payloads are fetched only when the residual or the output needs them and
decoded only when a condition reads them (`Event.payload` is lazy).
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass
from typing import Iterator

from elixir_scope.store.app_names import first_app_name
from elixir_scope.store.events import Event, EventKind

from .compile import RECORDING_TERM, StepCompiler, StepPlan
from .context import QueryContext
from .evaluate import evaluate
from .fields import Row
from .limits import Limiter
from .nodes import Query, Step
from .pairing import Pairs, closings_for, pair_calls
from .results import EventRow

COLS = "e.id, e.recording_id, e.node_id, e.kind, e.flags, e.ts, e.uniq, e.pid, e.aux"
_SOURCE_CACHE: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
"""Per recording object: a step's SQL -> the source its pages read (``_time_ordered_source``),
keyed with the recording's event count so a growing recording decides again."""
KINDS = {int(k): k for k in EventKind}
CHUNK = 5_000
SLICED = "sliced"
"""The source of a time-ordered walk of a one-node recording through its time blocks
(store/timeblocks.py): interval after interval, each sorted alone (``Engine.sliced``)."""


@dataclass(slots=True)
class ScanState:
    """Where a scan stopped: the order key of the last examined event and how many it read."""
    last_key: tuple[int, int] | None = None
    scanned: int = 0
    exhausted: bool = False


class Engine:
    def __init__(self, qc: QueryContext, query: Query) -> None:
        self.qc = qc
        self.query = query
        self.compiler = StepCompiler(qc, query.text)
        self.node_ids = qc.node_ids(query.nodes) if query.nodes else None
        self._gaps: dict[int, list[int]] | None = None
        self._pairs: dict[frozenset | None, Pairs] = {}
        self.limiter = Limiter()  # run_query installs the query's own limits

    # -------------------------------------------------------------- planning
    def plan(self, step: Step) -> StepPlan:
        return self.compiler.compile(step, self.query.window, self.node_ids)

    # -------------------------------------------------------------- SQL
    def _stream(self, plan: StepPlan, *, payload: bool, after: tuple | None,
                first_chunk: int = CHUNK) -> Iterator[list[tuple]]:
        """The step's rows in recording order after `after`, from ONE statement (re-issuing a
        keyset query per chunk would redo the index walk and the sort every time): first
        `first_chunk` rows (a page asks for just what it shows), then CHUNK rows at a time.
        The connection lock is held per fetch, never across a yield."""
        order_sql, order_params = self.qc.wall_order_sql("e")
        cols = COLS + (", e.payload" if payload else ", NULL")
        where = plan.sql()
        source = self._time_ordered_source(plan) if first_chunk < CHUNK else self._whole_source(plan)
        if source == SLICED:
            yield from self.sliced(plan, cols, after=after, first=first_chunk)
            return
        params = list(order_params) + list(plan.params)
        if after is not None:
            where += f" AND ({order_sql}, e.id) > (?, ?)"
            params += order_params + list(after)
        sql = f"SELECT {cols}, {order_sql} AS okey FROM {source} WHERE {where} ORDER BY okey, e.id"
        yield from self._fetch(sql, params, first_chunk)

    def _fetch(self, sql: str, params: list, first: int) -> Iterator[list[tuple]]:
        """The rows of one statement: ``first`` rows, then CHUNK at a time, checking the limits
        before each fetch. The connection lock is held per fetch, never across a yield."""
        import sqlite3

        from elixir_scope.store.errors import translate

        db = self.qc.db
        try:
            with db.lock:
                cur = db.conn.execute(sql, params)
            try:
                size = max(1, first)
                while True:
                    self.limiter.check()
                    with db.lock:
                        rows = cur.fetchmany(size)
                    size = CHUNK
                    if not rows:
                        return
                    yield rows
            finally:
                cur.close()
        except sqlite3.Error as exc:
            raise translate(exc, "reading the store", db.path) from exc

    def _whole_source(self, plan: StepPlan) -> str:
        """For a whole stream: the step's kinds/functions through their blocks when they are a
        small share of the recording (store/blocks.py), else the table in time order (one
        node: through the time blocks, ``sliced``; several: sorted on their common clock)."""
        if plan.empty or self.compiler.large(plan.kind_codes, plan.function_keys):
            return SLICED if self._sliceable(plan) else "events e"
        return self.compiler.source(plan)

    def _sliceable(self, plan: StepPlan) -> bool:
        """One node (its ts is the order key) and no list of event ids (rowid lookups)."""
        return self.qc.single_node and not plan.empty and not any("e.id IN (" in w for w in plan.where)

    def sliced(self, plan: StepPlan, cols: str, *, after: tuple | None = None, first: int = CHUNK,
               backward: bool = False) -> Iterator[list[tuple]]:
        """The step's rows (``cols`` plus the order key) of a one-node recording in time order
        (or backwards) after the key ``after``: its time blocks cut into consecutive ts
        intervals of about CHUNK events (the first about ``first``), each read and sorted
        alone (store/timeblocks.py), so no statement sorts the whole selection and a page
        stops after the intervals it needs. The connection lock is held per statement."""
        from elixir_scope.store.timeblocks import time_slices, window_source

        lo, hi = plan.ts_lo, plan.ts_hi
        if after is not None:  # the order key of one node is its ts
            if backward:
                hi = after[0] if hi is None else min(hi, after[0])
            else:
                lo = after[0] if lo is None else max(lo, after[0])
        way = "DESC" if backward else "ASC"
        where, params = plan.sql(), list(plan.params)
        if after is not None:
            where += f" AND (e.ts, e.id) {'<' if backward else '>'} (?, ?)"
            params += list(after)
        db = self.qc.db
        for part in time_slices(db, self.qc.rid, lo, hi, size=CHUNK, first=first, backward=backward):
            self.limiter.check()
            if part.ids is not None and plan.where[0] == RECORDING_TERM:  # in time order by id: no sort
                # the interval's id range instead of the recording's (one rowid range for SQLite)
                own = " AND ".join(["e.recording_id = ?", *plan.where[1:]]) + where[len(plan.sql()):]
                yield from self._id_ordered(part, cols, own, [params[0], *params[3:]], first)
                continue
            src, sparams = window_source(self.qc.rid, part.lo, part.hi)
            rows = db.query(f"SELECT {cols}, e.ts AS okey FROM {src} WHERE {where} "
                            f"ORDER BY okey {way}, e.id {way}", sparams + params)
            if rows:
                yield rows

    def _id_ordered(self, part, cols: str, where: str, params: list, first: int) -> Iterator[list[tuple]]:
        """The rows of one interval of ``sliced`` whose events are in time order by id
        (``Slice.ids``): one statement walking its id range, fetched ``first`` rows, then CHUNK
        at a time, so a page stops after its rows. The lock is held per fetch, never across a
        yield."""
        sql = (f"SELECT {cols}, e.ts AS okey FROM events e WHERE e.id BETWEEN ? AND ? AND e.ts >= ? "
               f"AND e.ts <= ? AND {where} ORDER BY e.id")
        yield from self._fetch(sql, [*part.ids, part.lo, part.hi, *params], first)

    def _time_ordered_source(self, plan: StepPlan) -> str:
        """For a page: walk the time index (no sort; the page stops after its rows) unless the
        step matches so few events that sorting them is cheaper than walking past the others.
        With planner statistics, SQLite would sort every match of a kind or function filter
        before the first row (the 145 ms page at 1M events); the decision here costs a count
        capped at 0.5 % of the recording, on the step's own index."""
        if not self._sliceable(plan):
            return "events e"
        if not plan.filtered:
            return SLICED
        cap = max(1000, self.qc.total_events // 200)
        key = (plan.sql(), tuple(plan.params), self.qc.total_events)
        known = _SOURCE_CACHE.setdefault(self.qc.recording, {})
        if key not in known:  # the next pages of the same query (and repeats) skip the count
            # a step of rare kinds/functions: their blocks, then a sort of the few matches
            n = self.compiler.block_count(plan.kind_codes, plan.function_keys)
            if n is not None and n < cap:
                src = self.compiler.source(plan)
            else:
                n = self.qc.db.query_one(f"SELECT count(*) FROM (SELECT 1 FROM events e WHERE {plan.sql()} "
                                         "LIMIT ?)", [*plan.params, cap])[0]
                src = SLICED if n >= cap else "events e"
            if len(known) >= 256:
                known.clear()
            known[key] = src
        return known[key]

    def pairs(self, plan: StepPlan) -> Pairs:
        """Call → closing pairs for the functions of a calls step (see pairing.py)."""
        key = frozenset(plan.function_keys) if plan.function_keys is not None else None
        if key not in self._pairs:
            self._pairs[key] = pair_calls(self.qc, plan.function_keys)
        return self._pairs[key]

    def count(self, plan: StepPlan) -> int:
        if plan.empty:
            return 0
        return self.qc.db.query_one(f"SELECT count(*) FROM events e WHERE {plan.sql()}",
                                    plan.params)[0]

    # -------------------------------------------------------------- rows
    def _event(self, r: tuple, payload: bytes | None) -> Event:
        if payload and payload[0] == 0:  # a skeleton: large elements stored once (store/blobs.py)
            payload = self.qc.db.blobs.real(payload)
        return Event(r[0], r[1], r[2], KINDS[r[3]], r[4], r[5], r[6], r[7], r[8], payload,
                     self.qc.ctx)

    def rows_from(self, raw: list[tuple], *, pairs: Pairs | None, closing_payloads: bool) -> list[Row]:
        closings: dict[int, Event] = {}
        if pairs is not None:
            ids = [pairs[r[0]][0] for r in raw if r[0] in pairs]
            cols = COLS + (", e.payload" if closing_payloads else ", NULL")
            for i in range(0, len(ids), 900):
                part = ids[i:i + 900]
                for c in self.qc.db.query(
                        f"SELECT {cols} FROM events e WHERE e.id IN ({','.join('?' * len(part))})", part):
                    closings[c[0]] = self._event(c, c[9])
        out = []
        for r in raw:
            ev = self._event(r, r[9])
            closing = dur = None
            if pairs is not None and r[0] in pairs:
                closing = closings.get(pairs[r[0]][0])
                if closing is not None:
                    dur = self.qc.clocks[ev.node_id].to_ns(closing.ts - ev.ts)
            out.append(Row(ev, closing, dur))
        return out

    def scan(self, plan: StepPlan, step: Step, *, payload: bool, state: ScanState,
             after: tuple | None = None, budget: int | None = None,
             pairing: bool | None = None, first_chunk: int = CHUNK) -> Iterator[Row]:
        """Rows of the step in recording order after `after`, residual applied. Updates `state`
        (last examined key, count) so a caller can stop and hand out a cursor."""
        if plan.empty:
            state.exhausted = True
            return
        pairing = plan.needs_pairing if pairing is None else pairing
        pairs = self.pairs(plan) if pairing else None
        need_payload = payload or plan.residual is not None
        for raw in self._stream(plan, payload=need_payload, after=after, first_chunk=first_chunk):
            rows = self.rows_from(raw, pairs=pairs, closing_payloads=need_payload)
            for r, row in zip(raw, rows):
                state.last_key = (r[-1], r[0])
                state.scanned += 1
                if plan.residual is None or evaluate(plan.residual, row, self.qc):
                    yield row
                if budget is not None and state.scanned >= budget:
                    return
        state.exhausted = True

    def attach_closings(self, rows: list[Row]) -> None:
        """Give page rows that are calls their closing and duration (cheap: a few rows)."""
        todo = [r for r in rows if int(r.event.kind) == 1 and r.closing is None]
        if not todo:
            return
        found = closings_for(self.qc, [(r.event.id, r.event.node_id, r.event.pid, r.event.aux)
                                       for r in todo])
        if not found:
            return
        cids = [c[0] for c in found.values()]
        events = {}
        for i in range(0, len(cids), 900):
            part = cids[i:i + 900]
            for c in self.qc.db.query(f"SELECT {COLS}, e.payload FROM events e WHERE e.id IN "
                                      f"({','.join('?' * len(part))})", part):
                events[c[0]] = self._event(c, c[9])
        for r in todo:
            hit = found.get(r.event.id)
            if hit is not None and hit[0] in events:
                r.closing = events[hit[0]]
                r.duration_ns = self.qc.clocks[r.event.node_id].to_ns(hit[2] - r.event.ts)

    def event_row(self, row: Row) -> EventRow:
        ev = row.event
        proc = self.qc.ctx.processes.get((ev.node_id, ev.pid))
        mfa = ev.mfa
        return EventRow(ev, self.qc.offset_ns(ev.node_id, ev.ts), self.qc.clocks[ev.node_id].name,
                        proc.pid_text if proc else f"#{ev.pid}",
                        (display_name(proc.reg_name) if proc.reg_name else first_app_name(proc.app_names)) if proc else None,
                        str(mfa) if mfa else None, row.closing, row.duration_ns)

    # -------------------------------------------------------------- gaps
    def gap_ts(self) -> dict[int, list[int]]:
        if self._gaps is None:
            out: dict[int, list[int]] = {}
            for node_id, ts in self.qc.db.query(
                    "SELECT node_id, ts FROM gaps WHERE recording_id = ? ORDER BY ts", (self.qc.rid,)):
                out.setdefault(node_id, []).append(ts)
            self._gaps = out
        return self._gaps

    def gap_between(self, node_id: int, t0: int, t1: int | None) -> bool:
        """Whether a gap of `node_id` lies in [t0, t1] (t1 None: until the end)."""
        lst = self.gap_ts().get(node_id)
        if not lst:
            return False
        i = bisect.bisect_left(lst, t0)
        return i < len(lst) and (t1 is None or lst[i] <= t1)


def display_name(name: str | None) -> str | None:
    """`Elixir.MyApp.Cart` → `MyApp.Cart` (as Elixir prints it); other names unchanged. In an
    Erlang `printing` block (instrument.etf.syntax) the name as Erlang writes the atom
    (`'Elixir.MyApp.Cart'`, `rabbit`)."""
    from elixir_scope.instrument.etf.syntax import in_force

    if name and in_force().erlang:
        return in_force().name(name)
    if name and name.startswith("Elixir."):
        return name[7:]
    return name
