"""What each kind of source feeds into an aggregation (see aggregate.py).

Plain event selections without a Python residual are counted by SQL `GROUP BY` on integer
columns; call durations come from the SQL pairing; anything with a payload condition, and
the temporal sources, aggregate their rows or matches in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from . import aggregate as agg
from . import temporal
from .engine import ScanState
from .nodes import AbsenceSource, EventsSource, SequenceSource
from .pairing import pairing_cte

if TYPE_CHECKING:
    from .run import _Runner


def window_span(runner: "_Runner") -> int | None:
    qc = runner.qc
    lo, hi = runner.engine.compiler.window_bounds(runner.query.window)
    lo = qc.start_wall_ns if lo is None else lo
    hi = qc.end_wall_ns if hi is None else hi
    return max(0, hi - lo) or None


def items_for(runner: "_Runner", stage) -> tuple[list[agg.Item], int | None]:
    src = runner.query.source
    span = window_span(runner)
    text = runner.text
    if isinstance(src, SequenceSource):
        found = temporal.sequence_matches(runner.engine, src)
        items = [agg.Item(m[0].node_id, m[0].kind, m[0].pid, m[0].aux, runner._span(m)) for m in found]
        return items, span
    if isinstance(src, AbsenceSource):
        agg.check_durations(stage, False, text, "unanswered events")
        if src.mode == "generic":
            found = temporal.generic_absences(runner.engine, src)
            return [agg.Item(c.node_id, c.kind, c.pid, c.aux) for c, _ in found], span
        return list(_absence_items(runner, src)), span
    assert isinstance(src, EventsSource)
    step = src.step
    agg.check_durations(stage, step.kinds == ("call",), text,
                        "these events" if step.kinds != ("call",) else "calls")
    plan = runner.engine.plan(step)
    runner.notes += plan.notes
    if plan.empty:
        return [], span
    want_durs = agg.needs_durations(stage)
    if plan.residual is None and not plan.needs_pairing and not want_durs:
        return _sql_counts(runner, plan, stage.by), span
    if plan.residual is None and want_durs:
        return _sql_durations(runner, plan), span
    state = ScanState()
    items = []
    for row in runner.engine.scan(plan, step, payload=False, state=state,
                                  pairing=plan.needs_pairing or want_durs):
        ev = row.event
        items.append(agg.Item(ev.node_id, int(ev.kind), ev.pid, ev.aux, row.duration_ns))
    return items, span


def _sql_counts(runner: "_Runner", plan, by: tuple[str, ...]) -> list[agg.Item]:
    cols = ["e.node_id",
            "e.kind" if ("kind" in by or "function" in by or "module" in by) else "0",
            "e.pid" if "process" in by else "0",
            "e.aux" if ("function" in by or "module" in by) else "0"]
    rows = runner.qc.db.query(
        f"SELECT {', '.join(cols)}, count(*) FROM events e WHERE {plan.sql()} GROUP BY 1, 2, 3, 4",
        plan.params)
    return [agg.Item(n, k, p, a, None, c) for n, k, p, a, c in rows]


def _sql_durations(runner: "_Runner", plan) -> list[agg.Item]:
    qc = runner.qc
    with_sql, with_params = pairing_cte(qc.rid, plan.function_keys)
    rows = qc.db.query(
        f"{with_sql} SELECT e.node_id, e.pid, e.aux, "
        "CASE WHEN pr.ckind IN (2, 3) THEN pr.cts - e.ts END "
        f"FROM events e LEFT JOIN pr ON pr.id = e.id WHERE {plan.sql()}",
        with_params + plan.params)
    units = {c.id: c.time_unit for c in qc.clocks.values()}
    out = []
    for n, p, a, d in rows:
        unit = units[n]
        out.append(agg.Item(n, 1, p, a, None if d is None else (d if unit == 1_000_000_000
                                                                  else d * 1_000_000_000 // unit)))
    return out


def _absence_items(runner: "_Runner", src: AbsenceSource) -> Iterator[agg.Item]:
    """Rows of `calls without return` / `sends never received`, through the events path."""
    saved_page, saved_cap, saved_pos, saved_sort = runner.page, runner.cap, runner.position, runner.sort
    runner.cap, runner.position, runner.sort = None, None, None
    try:
        cursor = None
        while True:
            runner.page = 1000
            from .results import decode_cursor

            runner.position = decode_cursor(cursor, runner.text, runner.qc.rid) if cursor else None
            res = runner.events(EventsSource(src.step), absence=src)
            for r in res.rows:
                ev = r.event.event  # type: ignore[union-attr]
                yield agg.Item(ev.node_id, int(ev.kind), ev.pid, ev.aux)
            if res.next_cursor is None:
                return
            cursor = res.next_cursor
    finally:
        runner.page, runner.cap, runner.position, runner.sort = saved_page, saved_cap, saved_pos, saved_sort
