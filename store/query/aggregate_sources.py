"""What each kind of source feeds into an aggregation (see aggregate.py).

Plain event selections without a Python residual are counted by SQL `GROUP BY` on integer
columns; call durations come from the SQL pairing; anything with a payload condition, and
the temporal sources, aggregate their rows or matches in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import aggregate as agg
from . import temporal
from .engine import ScanState
from .nodes import AbsenceSource, EventsSource, SequenceSource

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
        found = runner.absence_list(src)
        return [agg.Item(c.node_id, c.kind, c.pid, c.aux) for c, _ in found], span
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
        f"SELECT {', '.join(cols)}, count(*) FROM {runner.engine.compiler.source(plan)} "
        f"WHERE {plan.sql()} GROUP BY 1, 2, 3, 4",
        plan.params)
    return [agg.Item(n, k, p, a, None, c) for n, k, p, a, c in rows]


def _sql_durations(runner: "_Runner", plan) -> list[agg.Item]:
    """Calls of the plan with their durations from the pairing (None when unpaired)."""
    qc = runner.qc
    pairs = runner.engine.pairs(plan)
    out = []
    for c in temporal.light_candidates(runner.engine, plan):
        closing = pairs.get(c.id)
        dur = None if closing is None else qc.clocks[c.node_id].to_ns(closing[2] - c.ts)
        out.append(agg.Item(c.node_id, 1, c.pid, c.aux, dur))
    return out
