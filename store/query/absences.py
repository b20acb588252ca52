"""`calls without return` and `sends never received`: the two absences judged by identity.

Both read the step's events as light tuples through its SQL, drop the ones whose follower is
known (the call's own closing from pairing.py; the send's own receive from the causal
analysis's msg_links, see messages.py), and only then decode payloads for the step's `where` condition — an absence is
rare, so few events are ever decoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages
from .pairing import unanswered_calls
from .temporal import Cand, light_candidates

if TYPE_CHECKING:
    from .compile import StepPlan
    from .engine import Engine


def return_absences(engine: "Engine", plan: "StepPlan", within_ns: int | None,
                    silent: set[tuple[int, int]]) -> list[tuple[Cand, bool]]:
    """Calls of the plan with no closing (or none within `within_ns`), minus functions that
    were never traced with returns at all (`silent`)."""
    qc = engine.qc
    if plan.empty:
        return []
    within_native = None if within_ns is None else {
        c.id: within_ns * c.time_unit // 1_000_000_000 for c in qc.clocks.values()}
    ids = unanswered_calls(qc, plan.function_keys, within_native)
    order_sql, order_params = qc.wall_order_sql("e")
    out = []
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        for r in qc.db.query(
                f"SELECT {order_sql}, e.id, e.node_id, e.pid, e.ts, e.kind, e.aux FROM events e "
                f"WHERE e.id IN ({','.join('?' * len(part))}) AND {plan.sql()}",
                order_params + part + plan.params):
            c = Cand._make(r)
            if (c.node_id, c.aux) in silent:
                continue
            complete = within_ns is None or qc.wall_ns(c.node_id, c.ts) + within_ns <= qc.end_wall_ns
            out.append((c, complete))
    out.sort(key=lambda x: x[0].key)
    return out


def receive_absences(engine: "Engine", plan: "StepPlan", within_ns: int | None,
                     notes: list[str]) -> list[tuple[Cand, bool]]:
    """Sends of the plan whose message was never received (or not within `within_ns`)."""
    qc = engine.qc
    receivers = messages.traced_receivers(qc)
    got = messages.received(qc)
    cands = light_candidates(engine, plan)
    judged = [c for c in cands if (c.aux != 0 and (c.node_id, c.aux) in receivers) or c.id in got]
    if len(judged) < len(cands):
        notes.append(f"{len(cands) - len(judged)} send(s) went to a process without receive "
                     "tracing, or to a name or remote process that could not be resolved: "
                     "they cannot be judged and are left out")
    out = []
    for c in judged:
        ts = got.get(c.id)
        if ts is not None and (within_ns is None or qc.clocks[c.node_id].to_ns(ts - c.ts) <= within_ns):
            continue
        complete = within_ns is None or qc.wall_ns(c.node_id, c.ts) + within_ns <= qc.end_wall_ns
        out.append((c, complete))
    return out
