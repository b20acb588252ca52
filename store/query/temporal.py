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
from typing import TYPE_CHECKING, NamedTuple

from .compile import StepPlan
from .engine import Engine, ScanState
from .nodes import AbsenceSource, SequenceSource, Step

if TYPE_CHECKING:
    pass


class Cand(NamedTuple):
    """One candidate event, straight from SQL (a tuple: cheap to build, compare and sort)."""
    okey: int      # order key: node ts (one node) or wall-clock ns (several nodes)
    id: int
    node_id: int
    pid: int
    ts: int
    kind: int = 0
    aux: int = 0

    @property
    def key(self) -> tuple[int, int]:
        """Recording order."""
        return (self.okey, self.id)


def light_candidates(engine: Engine, plan: StepPlan) -> list[Cand]:
    """The events a step's SQL selects (its residual NOT applied), in recording order."""
    if plan.empty:
        return []
    order_sql, order_params = engine.qc.wall_order_sql("e")
    limiter = engine.limiter
    rows = engine.qc.db.query(
        f"SELECT {order_sql}, e.id, e.node_id, e.pid, e.ts, e.kind, e.aux "
        f"FROM {engine.compiler.source(plan)} WHERE {plan.sql()} LIMIT ?",
        order_params + plan.params + [limiter.allowance() + 1])
    limiter.take(len(rows))
    out = list(map(Cand._make, rows))
    out.sort()
    return out


def candidates(engine: Engine, step: Step, plan: StepPlan) -> list[Cand]:
    """Every event of a step, in recording order, as light tuples."""
    if plan.empty:
        return []
    if plan.residual is None and not plan.needs_pairing:
        return light_candidates(engine, plan)
    state = ScanState()
    out = []
    limiter = engine.limiter
    for row in engine.scan(plan, step, payload=False, state=state):
        if len(out) % 1024 == 0:
            limiter.take(1024)
        ev = row.event
        out.append(Cand(engine.qc.order_value(ev.node_id, ev.ts), ev.id, ev.node_id,
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
    scope = src.scope
    entries: list[tuple] = []
    for j, (step, plan) in enumerate(zip(src.steps, plans)):
        got = _entries(engine, step, plan, j, scope)
        if not got:
            return []
        entries += got
    # one sort: by partition, then recording order; the same event's later steps come first
    entries.sort()
    qc = engine.qc
    within = src.within_ns
    to_ns = None
    if qc.single_node:
        (clock,) = qc.clocks.values()
        to_ns = clock.to_ns
    out: list[tuple] = []
    part = None
    pending: list = [None] * k
    check = engine.limiter.check
    for n, e in enumerate(entries):
        if not n & 0xFFFF:
            check()
        if (e[0], e[1]) != part:
            part = (e[0], e[1])
            pending = [None] * k
        j = -e[4]
        if j == 0:
            pending[0] = (e,)
            continue
        prev = pending[j - 1]
        if prev is None:
            continue
        pending[j - 1] = None
        if within is not None:
            span = e[2] - prev[0][2]  # order keys: native ts (one node) or wall ns
            if (to_ns(span) if to_ns else span) > within:
                continue
        chain = prev + (e,)
        if j == k - 1:
            out.append(chain)
        else:
            pending[j] = chain
    out.sort(key=lambda m: (m[0][2], m[0][3]))
    return [tuple(Cand(x[2], x[3], x[5], x[6], x[7], x[8], x[9]) for x in m) for m in out]


def _entries(engine: Engine, step: Step, plan: StepPlan, j: int, scope: str | None) -> list[tuple]:
    """Sortable rows `(part1, part2, okey, id, -step, node, pid, ts, kind, aux)` of a step
    — built by SQL itself when no Python condition is involved (no per-row Python work)."""
    if plan.empty:
        return []
    part = {"process": ("e.node_id", "e.pid"), "node": ("e.node_id", "0")}.get(scope, ("0", "0"))
    if plan.residual is None and not plan.needs_pairing:
        order_sql, order_params = engine.qc.wall_order_sql("e")
        limiter = engine.limiter
        rows = engine.qc.db.query(
            f"SELECT {part[0]}, {part[1]}, {order_sql}, e.id, ?, e.node_id, e.pid, e.ts, e.kind, "
            f"e.aux FROM {engine.compiler.source(plan)} WHERE {plan.sql()} LIMIT ?",
            order_params + [-j] + plan.params + [limiter.allowance() + 1])
        limiter.take(len(rows))
        return rows
    out = []
    for c in candidates(engine, step, plan):
        p1 = c.node_id if scope in ("process", "node") else 0
        p2 = c.pid if scope == "process" else 0
        out.append((p1, p2, c.okey, c.id, -j, c.node_id, c.pid, c.ts, c.kind, c.aux))
    return out


def generic_absences(engine: Engine, src: AbsenceSource) -> list[tuple[Cand, bool]]:
    """(A, window_complete) for each A with no B after it (within D, in scope)."""
    plan_a, plan_b = engine.plan(src.step), engine.plan(src.missing)
    first = candidates(engine, src.step, plan_a)
    if not first:
        return []
    idx = _Index(candidates(engine, src.missing, plan_b), src.scope)
    qc = engine.qc
    out = []
    check = engine.limiter.check
    for n, a in enumerate(first):
        if not n & 0xFFFF:
            check()
        b = idx.first_after(a, idx.part(a))
        a_wall = qc.wall_ns(a.node_id, a.ts)
        if b is not None and (src.within_ns is None or
                              qc.wall_ns(b.node_id, b.ts) - a_wall <= src.within_ns):
            continue
        complete = src.within_ns is None or a_wall + src.within_ns <= qc.end_wall_ns
        out.append((a, complete))
    return out
