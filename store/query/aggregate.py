"""Aggregations: `count`, `rate`, `stats …` grouped by function, module, process, node, kind.

Items to aggregate come from the source as `Item`s (group columns + an optional duration);
when a plain event selection has no Python residual, counting runs as one SQL `GROUP BY`
over integer columns and only the (few) groups reach Python. Percentiles are nearest-rank
over the exact durations (no sketch: a recording's call count fits in memory). Durations are
reported in milliseconds; rates in events per `per` unit (default per second) over the
query's window, or over the whole recording when the query has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .context import QueryContext
from .errors import QuerySyntaxError
from .fields import MFA_KINDS
from .nodes import Agg, CountStage, RateStage, StatsStage
from .results import GroupRow
from .vocab import STORE_KINDS


@dataclass(slots=True)
class Item:
    node_id: int
    kind: int
    pid: int
    aux: int
    duration_ns: int | None = None
    weight: int = 1


def aggs_of(stage: CountStage | RateStage | StatsStage) -> tuple[Agg, ...]:
    if isinstance(stage, CountStage):
        return (Agg("count"),)
    if isinstance(stage, RateStage):
        return (Agg("rate"),)
    return stage.aggs


def needs_durations(stage) -> bool:
    return any(a.arg == "duration" for a in aggs_of(stage))


def check_durations(stage, has_durations: bool, text: str, what: str) -> None:
    if not has_durations:
        for a in aggs_of(stage):
            if a.arg == "duration":
                raise QuerySyntaxError(f"{a.name} needs durations, which {what} do not have", text,
                                       a.start, a.end, "durations exist for calls (call → return) "
                                       "and for sequence matches (first → last step)")


def key_of(qc: QueryContext, item: Item, by: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for k in by:
        if k in ("function", "module"):
            mfa = qc.ctx.functions.get((item.node_id, item.aux)) if item.kind in MFA_KINDS and item.aux else None
            if mfa is None:
                out.append("(none)")
            elif k == "function":
                out.append(str(mfa))
            else:
                out.append(mfa.module.removeprefix("Elixir.") if mfa.module.startswith("Elixir.")
                           else ":" + mfa.module)
        elif k == "process":
            p = qc.ctx.processes.get((item.node_id, item.pid))
            out.append(p.label if p else f"#{item.pid}")
        elif k == "node":
            out.append(qc.clocks[item.node_id].name)
        else:
            out.append(STORE_KINDS[item.kind - 1])
    return tuple(out)


def percentile(sorted_vals: list[int], p: float) -> int:
    if not sorted_vals:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[rank - 1]


def aggregate(qc: QueryContext, items: Iterable[Item], stage, span_ns: int | None) -> list[GroupRow]:
    by = stage.by
    aggs = aggs_of(stage)
    per = stage.per_ns if isinstance(stage, RateStage) else 1_000_000_000
    counts: dict[tuple[str, ...], int] = {}
    durs: dict[tuple[str, ...], list[int]] = {}
    want_durs = needs_durations(stage)
    for it in items:
        key = key_of(qc, it, by)
        counts[key] = counts.get(key, 0) + it.weight
        if want_durs and it.duration_ns is not None:
            durs.setdefault(key, []).append(it.duration_ns)
    if not by and not counts:
        counts[()] = 0
    groups = []
    for key, n in counts.items():
        values: dict[str, float | int | None] = {}
        ds = sorted(durs.get(key, []))
        for a in aggs:
            if a.func == "count":
                values[a.name] = n
            elif a.func == "rate":
                values[a.name] = (n * per / span_ns) if span_ns else None
            elif not ds:
                values[a.name] = None
            elif a.func == "avg":
                values[a.name] = sum(ds) / len(ds) / 1e6
            elif a.func == "min":
                values[a.name] = ds[0] / 1e6
            elif a.func == "max":
                values[a.name] = ds[-1] / 1e6
            elif a.func == "sum":
                values[a.name] = sum(ds) / 1e6
            else:
                p = float(a.func[1:]) if a.func != "p999" else 99.9
                values[a.name] = percentile(ds, p) / 1e6
        groups.append(GroupRow(dict(zip(by, key)), values))
    return groups


def sort_groups(groups: list[GroupRow], key: str | None, descending: bool, text: str,
                columns: tuple[str, ...], pos: tuple[int, int] = (0, 0)) -> list[GroupRow]:
    if key is None:
        first = columns[0] if columns else None
        return sorted(groups, key=lambda g: (-(g.values.get(first) or 0) if first else 0,
                                             tuple(g.key.values())))
    if key not in columns and key not in (groups[0].key if groups else {}):
        if not groups:
            return groups
        raise QuerySyntaxError(f"cannot sort by '{key}': it is not a column of this result", text,
                               pos[0], pos[1], "sort by one of: " + ", ".join(
                                   list(columns) + list(groups[0].key)))

    def k(g: GroupRow):
        v = g.values.get(key) if key in g.values else g.key.get(key)
        missing = v is None
        return (missing, v if not missing else 0)

    present = [g for g in groups if k(g)[0] is False]
    absent = [g for g in groups if k(g)[0] is True]
    present.sort(key=lambda g: k(g)[1], reverse=descending)
    return present + absent
