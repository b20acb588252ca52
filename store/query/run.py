"""`run_query`: parse, plan, read, page — the one entry point the Python API, the CLI and MCP
share, so the same text gives the same answer everywhere."""

from __future__ import annotations

from typing import Any

from elixir_scope.store.errors import StoreError
from elixir_scope.store.gaps import gaps_in

from . import absences, temporal
from . import aggregate as agg
from .context import QueryContext
from .engine import COLS, Engine, ScanState
from .errors import QueryCursorError, QueryError, QueryStoreError, QuerySyntaxError
from .evaluate import evaluate
from .limits import Limiter, QueryLimits, installed
from .fields import Row
from .nodes import (
    AbsenceSource, CountStage, EventsSource, LimitStage, Query, RateStage, SequenceSource,
    SortStage, StatsStage,
)
from .parser import parse
from .results import (
    AbsenceRow, EventRow, GapSummary, MatchRow, QueryResult, decode_cursor, encode_cursor,
)

MAX_PAGE = 1000
SCAN_BUDGET = 200_000
EVENT_COLUMNS = ("time_ms", "kind", "node", "pid", "process", "function", "payload")


def _recording(target: Any):
    """A store `Recording`, from a Recording or a TraceStore (its most recent recording)."""
    from elixir_scope.store.reader import Recording
    from elixir_scope.store.tracestore import TraceStore

    if isinstance(target, Recording):
        return target, None
    if isinstance(target, TraceStore):
        infos = target.recordings()
        if not infos:
            raise QueryStoreError(f"the store {target.path} has no recordings yet: record one first")
        latest = max(infos, key=lambda i: i.id)
        note = None
        if len(infos) > 1:
            note = (f"the store holds {len(infos)} recordings; this queried the most recent one "
                    f"(id {latest.id}, {latest.name!r}). Pass store.recording(id) for another.")
        return target.recording(latest.id), note
    raise QueryStoreError(f"run_query needs a TraceStore or a Recording, got {type(target).__name__}")


def run_query(store_or_recording: Any, text: str, *, limit: int = 100,
              cursor: str | None = None, scan_budget: int = SCAN_BUDGET,
              limits: QueryLimits | None = None, count_total: bool = False) -> QueryResult:
    """Run one query and return one page of its result.

    `limit` is the page size (1..1000); pass `next_cursor` back as `cursor` (with the same
    text) for the next page. `scan_budget` bounds how many candidate rows a payload condition
    examines per page before handing out a cursor. An event listing reads only its page (keyset
    on the time index): its `total_estimate` is exact on the last page and None before it,
    unless `count_total=True` asks for a count of every match (which reads them all: at a
    million events that is a large share of the page's cost). Raises `QuerySyntaxError` for a wrong query (position, caret and
    a suggested fix), `QueryCursorError` for a foreign cursor, `QueryStoreError` when the
    store cannot answer, `QueryLimitError` when the query outruns `limits` (time budget,
    rows held in memory; see limits.py).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise QueryError(f"limit must be between 1 and {MAX_PAGE}, got {limit}; page with the cursor")
    query = parse(text)
    recording, note = _recording(store_or_recording)
    qc = QueryContext(recording)
    engine = Engine(qc, query)
    engine.limiter = limiter = Limiter(limits)
    position = decode_cursor(cursor, text, qc.rid) if cursor else None
    try:
        with installed(qc.db.conn, limiter):
            result = _Runner(engine, query, limit, position, scan_budget, count_total).run()
    except StoreError as exc:
        if limiter.expired:  # SQLite interrupted a statement at the deadline
            raise limiter.time_error() from exc
        raise
    except OverflowError as exc:  # a number too large for SQLite's 64-bit integers
        raise QueryError(f"a number in the query is out of range for the store ({exc}); use a smaller one") from exc
    if note:
        result.notes.insert(0, note)
    result.notes = list(dict.fromkeys(result.notes))
    result.recording_id = qc.rid
    result.query = text
    _gap_facts(engine, result)
    return result


def _gap_facts(engine: Engine, result: QueryResult) -> None:
    qc = engine.qc
    lo, hi = engine.compiler.window_bounds(engine.query.window)
    nodes = engine.node_ids or list(qc.clocks)
    found = []
    for nid in nodes:
        c = qc.clocks[nid]
        found += gaps_in(qc.db, qc.rid, c.ts_at_or_after(lo) if lo is not None else None,
                         c.ts_at_or_before(hi) if hi is not None else None, nid)
    if found:
        result.crosses_gaps = True
        result.gap_summary = GapSummary(len(found), sum(g.count for g in found),
                                        tuple(sorted({g.reason for g in found})))


class _Runner:
    def __init__(self, engine: Engine, query: Query, limit: int, position: list | None,
                 scan_budget: int = SCAN_BUDGET, count_total: bool = False) -> None:
        self.engine = engine
        self.count_total = count_total
        self.scan_budget = scan_budget
        self.qc = engine.qc
        self.query = query
        self.text = query.text
        self.page = limit
        self.position = position
        self.grouping = next((s for s in query.stages
                              if isinstance(s, (CountStage, RateStage, StatsStage))), None)
        self.sort = next((s for s in query.stages if isinstance(s, SortStage)), None)
        self.cap = min((s.count for s in query.stages if isinstance(s, LimitStage)), default=None)
        self.notes: list[str] = []

    # -------------------------------------------------------------- dispatch
    def run(self) -> QueryResult:
        src = self.query.source
        if self.grouping is not None:
            return self.groups()
        if isinstance(src, EventsSource):
            return self.events(src)
        if isinstance(src, SequenceSource):
            return self.matches(src)
        return self.absences(src)

    def _offset(self) -> int:
        if self.position is None:
            return 0
        if len(self.position) != 1 or not isinstance(self.position[0], int):
            raise QueryCursorError("this cursor does not fit this query; start without a cursor")
        return self.position[0]

    def _page_bounds(self, total: int) -> tuple[int, int, str | None]:
        start = self._offset()
        end = min(start + self.page, total if self.cap is None else min(total, self.cap))
        nxt = encode_cursor(self.text, self.qc.rid, [end]) if end < (
            total if self.cap is None else min(total, self.cap)) else None
        return start, end, nxt

    # -------------------------------------------------------------- events / absences
    def events(self, src: EventsSource) -> QueryResult:
        e = self.engine
        step = src.step
        plan = e.plan(step)
        self.notes += plan.notes
        if self.sort is not None and (self.sort.key != "time" or self.sort.descending):
            return self._sorted_events(plan, step)
        after = None
        emitted = 0
        if self.position is not None:
            if len(self.position) != 3:
                raise QueryCursorError("this cursor does not fit this query; start without a cursor")
            after, emitted = (self.position[0], self.position[1]), self.position[2]
        want = self.page if self.cap is None else max(0, min(self.page, self.cap - emitted))
        rows: list[Row] = []
        state = ScanState()
        budget = self.scan_budget if plan.residual is not None else None
        if want:
            for row in e.scan(plan, step, payload=True, state=state, after=after, budget=budget,
                              first_chunk=want + 1):
                rows.append(row)
                if len(rows) > want:
                    break
        more = len(rows) > want
        rows = rows[:want]
        nxt = None
        if more:
            last = rows[-1].event
            nxt = [self.qc.order_value(last.node_id, last.ts), last.id, emitted + len(rows)]
        elif not state.exhausted and state.last_key is not None and want:
            nxt = [state.last_key[0], state.last_key[1], emitted + len(rows)]
            self.notes.append(f"examined {state.scanned} events without filling the page; "
                              "pass next_cursor to continue the search")
        if self.cap is not None and nxt is not None and nxt[2] >= self.cap:
            nxt = None
        e.attach_closings(rows)
        total = None
        if nxt is None and (plan.residual is None or state.exhausted):
            total = emitted + len(rows)  # the last page: every match has been seen
        elif plan.residual is None and self.count_total:
            total = e.count(plan)
            if self.cap is not None:
                total = min(total, self.cap)
        return QueryResult("events", EVENT_COLUMNS, rows=[e.event_row(r) for r in rows],
                           next_cursor=encode_cursor(self.text, self.qc.rid, nxt) if nxt else None,
                           total_estimate=total, total_is_exact=total is not None, notes=self.notes)

    def _sorted_events(self, plan, step) -> QueryResult:
        """`| sort duration …` / `| sort time desc`: every candidate is ordered, then only the
        page is read in full. Without a payload condition candidates are bare tuples and
        durations come from the pairing; with one, the rows are scanned and filtered."""
        e = self.engine
        key = self.sort.key if self.sort else "time"
        desc = bool(self.sort and self.sort.descending)
        if key == "duration" and step.kinds != ("call",):
            raise QuerySyntaxError("only calls have a duration to sort by", self.text,
                                   self.sort.start, self.sort.end, "sort by time instead")
        if plan.residual is None and key == "time":
            # the time blocks serve both directions (one node): read just the page
            start = self._offset()
            want = self.page if self.cap is None else max(0, min(self.page, self.cap - start))
            ids = self._time_page(plan, desc, start, want + 1) if want else []
            more = len(ids) > want and (self.cap is None or start + want < self.cap)
            ids = ids[:want]
            page = self._rows_by_id(ids)
            end = start + len(ids)
            nxt = encode_cursor(self.text, self.qc.rid, [end]) if more else None
            total = end if nxt is None else None
            if nxt is not None and self.count_total:
                total = e.count(plan) if self.cap is None else min(e.count(plan), self.cap)
        elif plan.residual is None:
            cands = temporal.light_candidates(e, plan)
            durations: dict[int, int] = {}
            if key == "duration":
                pairs = e.pairs(plan)
                for c in cands:
                    closing = pairs.get(c.id)
                    if closing is not None:
                        durations[c.id] = self.qc.clocks[c.node_id].to_ns(closing[2] - c.ts)
                timed = sorted((c for c in cands if c.id in durations),
                               key=lambda c: (durations[c.id], c.okey, c.id), reverse=desc)
                ordered = timed + [c for c in cands if c.id not in durations]
            else:
                ordered = cands[::-1] if desc else cands
            start, end, nxt = self._page_bounds(len(ordered))
            page_ids = [c.id for c in ordered[start:end]]
            page = self._rows_by_id(page_ids)
            total = len(ordered) if self.cap is None else min(len(ordered), self.cap)
        else:
            state = ScanState()
            rows = list(e.scan(plan, step, payload=False, state=state,
                               pairing=plan.needs_pairing or key == "duration"))
            if key == "duration":
                timed = [r for r in rows if r.duration_ns is not None]
                timed.sort(key=lambda r: r.duration_ns, reverse=desc)
                rows = timed + [r for r in rows if r.duration_ns is None]
            elif desc:
                rows.reverse()
            start, end, nxt = self._page_bounds(len(rows))
            page = rows[start:end]
            self._load_payloads(page)
            total = len(rows) if self.cap is None else min(len(rows), self.cap)
        e.attach_closings(page)
        return QueryResult("events", EVENT_COLUMNS, rows=[e.event_row(r) for r in page],
                           next_cursor=nxt, total_estimate=total, total_is_exact=total is not None,
                           notes=self.notes)

    def _time_page(self, plan, desc: bool, start: int, count: int) -> list[int]:
        """Ids of rows ``start .. start + count - 1`` of the step in time order (or backwards):
        one node through its time blocks, interval by interval (no sort of every match);
        several nodes sorted on their common clock."""
        e = self.engine
        way = "DESC" if desc else "ASC"
        if not e._sliceable(plan):
            order_sql, order_params = self.qc.wall_order_sql("e")
            return [r[0] for r in self.qc.db.query(
                f"SELECT e.id, {order_sql} AS okey FROM events e WHERE {plan.sql()} "
                f"ORDER BY okey {way}, e.id {way} LIMIT ? OFFSET ?", order_params + plan.params + [count, start])]
        ids: list[int] = []
        for rows in e.sliced(plan, "e.id", first=start + count, backward=desc):
            if start >= len(rows):
                start -= len(rows)
                continue
            ids += [r[0] for r in rows[start:start + count - len(ids)]]
            start = 0
            if len(ids) >= count:
                break
        return ids

    def _rows_by_id(self, ids: list[int]) -> list[Row]:
        """Full rows (with payloads) for event ids, in the given order."""
        byid: dict[int, Row] = {}
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            raw = self.qc.db.query(f"SELECT {COLS}, e.payload FROM events e WHERE e.id IN "
                                   f"({','.join('?' * len(part))})", part)
            for row in self.engine.rows_from(raw, pairs=None, closing_payloads=True):
                byid[row.event.id] = row
        return [byid[i] for i in ids if i in byid]

    def _load_payloads(self, rows: list[Row]) -> None:
        evs = [r.event for r in rows if r.event.payload_bytes is None]
        evs += [r.closing for r in rows if r.closing is not None and r.closing.payload_bytes is None]
        byid = {ev.id: ev for ev in evs}
        ids = list(byid)
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            for eid, payload in self.qc.db.query(
                    f"SELECT id, payload FROM events WHERE id IN ({','.join('?' * len(part))})", part):
                byid[eid].payload_bytes = self.qc.db.blobs.real(payload)

    def _functions_without_returns(self, keys) -> set[tuple[int, int]]:
        from .pairing import functions_without_closings

        silent, once = functions_without_closings(self.qc, keys)

        def shown(ks):
            names = sorted({str(self.qc.ctx.functions[k]) for k in ks if k in self.qc.ctx.functions})
            return len(names), ", ".join(names[:5]) + (" …" if len(names) > 5 else "")

        if silent:
            n, text = shown(silent)
            self.notes.append(f"{n} function(s) were called repeatedly but never returned nor "
                              f"raised anywhere in the recording ({text}): they were traced "
                              "without return tracing, so they are left out")
        if once:
            n, text = shown(once)
            self.notes.append(f"{n} function(s) were called once and never returned ({text}): "
                              "a hang — or traced without return tracing")
        return silent

    # -------------------------------------------------------------- sequences
    def matches(self, src: SequenceSource) -> QueryResult:
        found = temporal.sequence_matches(self.engine, src)
        if self.sort is not None and self.sort.key == "duration":
            found.sort(key=lambda m: self._span(m), reverse=self.sort.descending)
        elif self.sort is not None and self.sort.descending:
            found.reverse()
        start, end, nxt = self._page_bounds(len(found))
        page = found[start:end]
        events = self._events_by_id({c.id for m in page for c in m})
        rows = []
        for m in page:
            steps = tuple(events[c.id] for c in m)
            crosses = self.engine.gap_between(m[0].node_id, m[0].ts, m[-1].ts) or any(
                self.engine.gap_between(c.node_id, m[0].ts, c.ts) for c in m[1:] if c.node_id != m[0].node_id)
            rows.append(MatchRow(steps, self._span(m), crosses))
        for s in src.steps:
            self.notes += self.engine.plan(s).notes
        total = len(found) if self.cap is None else min(len(found), self.cap)
        return QueryResult("matches", ("span_ms", "crosses_gap", "steps"), rows=rows, next_cursor=nxt,
                           total_estimate=total, total_is_exact=True, notes=self.notes)

    def _span(self, m) -> int:
        return self.qc.wall_ns(m[-1].node_id, m[-1].ts) - self.qc.wall_ns(m[0].node_id, m[0].ts)

    def _events_by_id(self, ids: set[int]) -> dict[int, EventRow]:
        out: dict[int, EventRow] = {}
        lst = sorted(ids)
        for i in range(0, len(lst), 900):
            part = lst[i:i + 900]
            for r in self.qc.db.query(f"SELECT {COLS}, e.payload FROM events e WHERE e.id IN "
                                      f"({','.join('?' * len(part))})", part):
                out[r[0]] = self.engine.event_row(Row(self.engine._event(r, r[9])))
        return out

    def absence_list(self, src: AbsenceSource) -> list[tuple[temporal.Cand, bool]]:
        """(event, window_complete) of every A whose B is missing, in recording order."""
        e = self.engine
        if src.mode == "generic":
            return temporal.generic_absences(e, src)
        plan = e.plan(src.step)
        self.notes += plan.notes
        if src.mode == "return":
            silent = self._functions_without_returns(plan.function_keys)
            found = absences.return_absences(e, plan, src.within_ns, silent)
        else:
            found = absences.receive_absences(e, plan, src.within_ns, self.notes)
        if plan.residual is None or not found:
            return found
        byid = {c.id: (c, ok) for c, ok in found}
        kept = []
        ids = list(byid)
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            raw = self.qc.db.query(f"SELECT {COLS}, e.payload FROM events e WHERE e.id IN "
                                   f"({','.join('?' * len(part))})", part)
            rows = e.rows_from(raw, pairs=None, closing_payloads=True)
            if src.mode == "return":
                e.attach_closings(rows)  # a late closing (`within`) can still be read
            for row in rows:
                if evaluate(plan.residual, row, self.qc):
                    kept.append(byid[row.event.id])
        kept.sort(key=lambda x: x[0].key)
        return kept

    def absences(self, src: AbsenceSource) -> QueryResult:
        found = self.absence_list(src)
        if self.sort is not None and self.sort.descending:
            found.reverse()
        start, end, nxt = self._page_bounds(len(found))
        page = found[start:end]
        events = self._events_by_id({c.id for c, _ in page})
        what = {"return": "return", "receive": "receive"}.get(
            src.mode, self.text[src.missing.start:src.missing.end])
        if src.within_ns is not None:
            what += " within the window"
        rows = [AbsenceRow(events[c.id], what, self.engine.gap_between(c.node_id, c.ts, None), ok)
                for c, ok in page]
        total = len(found) if self.cap is None else min(len(found), self.cap)
        return QueryResult("absences", ("missing",) + EVENT_COLUMNS, rows=rows, next_cursor=nxt,
                           total_estimate=total, total_is_exact=True, notes=self.notes)

    # -------------------------------------------------------------- aggregations
    def groups(self) -> QueryResult:
        from .aggregate_sources import items_for

        stage = self.grouping
        items, span = items_for(self, stage)
        columns = tuple(a.name for a in agg.aggs_of(stage))
        groups = agg.aggregate(self.qc, items, stage, span)
        groups = agg.sort_groups(groups, self.sort.key if self.sort else None,
                                 bool(self.sort and self.sort.descending), self.text, columns,
                                 (self.sort.start, self.sort.end) if self.sort else (0, 0))
        start, end, nxt = self._page_bounds(len(groups))
        total = len(groups) if self.cap is None else min(len(groups), self.cap)
        return QueryResult("groups", tuple(stage.by) + columns, groups=groups[start:end],
                           next_cursor=nxt, total_estimate=total, total_is_exact=True,
                           notes=self.notes)
