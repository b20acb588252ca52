"""Temporal patterns: `sequence A then B … within D same process` and `A without B`.

Candidates of each step are read with the step's SQL (indexed by kind, function, process,
time) as bare `(order key, id, node, pid, ts)` tuples — no payload, no Event objects — unless
the step has a payload condition, in which case only that step's survivors are decoded.

Sequences then run one linear pass per partition (the process, the node, or the whole
recording) keeping, for each step, the latest partial match; see `sequence_matches` for the
exact semantics. Absences (`A without B`) judge every A on its own: the first B after it, by
binary search, decides.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .compile import StepPlan
from .engine import Engine, ScanState
from .nodes import AbsenceSource, SequenceSource, Step

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class Cand:
    key: tuple[int, int]   # (order key, id): recording order
    id: int
    node_id: int
    pid: int
    ts: int
    kind: int = 0
    aux: int = 0


def light_candidates(engine: Engine, plan: StepPlan) -> list[Cand]:
    """The events a step's SQL selects (its residual NOT applied), in recording order."""
    if plan.empty:
        return []
    order_sql, order_params = engine.qc.wall_order_sql("e")
    rows = engine.qc.db.query(
        f"SELECT {order_sql}, e.id, e.node_id, e.pid, e.ts, e.kind, e.aux FROM events e "
        f"WHERE {plan.sql()}", order_params + plan.params)
    out = [Cand((r[0], r[1]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
    out.sort(key=lambda c: c.key)
    return out


def candidates(engine: Engine, step: Step, plan: StepPlan) -> list[Cand]:
    """Every event of a step, in recording order, as light tuples."""
    if plan.empty:
        return []
    if plan.residual is None and not plan.needs_pairing:
        return light_candidates(engine, plan)
    state = ScanState()
    out = []
    for row in engine.scan(plan, step, payload=False, state=state):
        ev = row.event
        out.append(Cand((engine.qc.order_value(ev.node_id, ev.ts), ev.id), ev.id, ev.node_id,
                        ev.pid, ev.ts, int(ev.kind), ev.aux))
    return out


class _Index:
    """Candidates of one step split by partition, with their keys for bisect."""

    def __init__(self, cands: list[Cand], scope: str | None) -> None:
        self.scope = scope
        self.parts: dict[tuple, tuple[list[tuple[int, int]], list[Cand]]] = {}
        for c in cands:
            keys, items = self.parts.setdefault(self.part(c), ([], []))
            keys.append(c.key)
            items.append(c)

    def part(self, c: Cand) -> tuple:
        if self.scope == "process":
            return (c.node_id, c.pid)
        if self.scope == "node":
            return (c.node_id,)
        return ()

    def first_after(self, c: Cand, part: tuple) -> Cand | None:
        found = self.parts.get(part)
        if found is None:
            return None
        keys, items = found
        i = bisect.bisect_right(keys, c.key)
        return items[i] if i < len(items) else None


def sequence_matches(engine: Engine, src: SequenceSource) -> list[tuple[Cand, ...]]:
    """All matches of a sequence, ordered by their first event.

    Semantics (documented in docs/query-language.md): within a partition, events are read in
    order; a match is completed by the first event of the last step that follows a pending
    partial match, and a partial match always holds the *latest* candidate of each step (the
    tightest chain). An event completes at most one match, and each event of a match is
    consumed by it — so `call f then exception` pairs the exception with the call right
    before it, not with every earlier call, and a burst of identical events yields one match
    per completion rather than a product."""
    plans = [engine.plan(s) for s in src.steps]
    if any(p.empty for p in plans):
        return []
    k = len(src.steps)
    parts: dict[tuple, list[tuple[tuple[int, int], int, Cand]]] = {}
    for j, (step, plan) in enumerate(zip(src.steps, plans)):
        cands = candidates(engine, step, plan)
        if not cands:
            return []
        for c in cands:
            parts.setdefault(_part(c, src.scope), []).append((c.key, -j, c))
    qc = engine.qc
    within = src.within_ns
    out: list[tuple[Cand, ...]] = []
    for entries in parts.values():
        entries.sort(key=lambda e: (e[0], e[1]))  # same event: later steps first
        pending: list[tuple[Cand, ...] | None] = [None] * k
        for _key, neg_j, c in entries:
            j = -neg_j
            if j == 0:
                pending[0] = (c,)
                if k == 1:
                    out.append((c,))
                continue
            prev = pending[j - 1]
            if prev is None:
                continue
            pending[j - 1] = None
            if within is not None and qc.wall_ns(c.node_id, c.ts) - qc.wall_ns(prev[0].node_id, prev[0].ts) > within:
                continue
            chain = prev + (c,)
            if j == k - 1:
                out.append(chain)
            else:
                pending[j] = chain
    out.sort(key=lambda m: m[0].key)
    return out


def _part(c: Cand, scope: str | None) -> tuple:
    if scope == "process":
        return (c.node_id, c.pid)
    if scope == "node":
        return (c.node_id,)
    return ()


def generic_absences(engine: Engine, src: AbsenceSource) -> list[tuple[Cand, bool]]:
    """(A, window_complete) for each A with no B after it (within D, in scope)."""
    plan_a, plan_b = engine.plan(src.step), engine.plan(src.missing)
    first = candidates(engine, src.step, plan_a)
    if not first:
        return []
    idx = _Index(candidates(engine, src.missing, plan_b), src.scope)
    qc = engine.qc
    out = []
    for a in first:
        b = idx.first_after(a, idx.part(a))
        a_wall = qc.wall_ns(a.node_id, a.ts)
        if b is not None and (src.within_ns is None or
                              qc.wall_ns(b.node_id, b.ts) - a_wall <= src.within_ns):
            continue
        complete = src.within_ns is None or a_wall + src.within_ns <= qc.end_wall_ns
        out.append((a, complete))
    return out
