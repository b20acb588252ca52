"""Event density: how many events each process had in each slice of a time window.

This is the aggregate a timeline draws (one swimlane per process, one cell per bucket), so a
viewer of a million-event recording receives a few thousand numbers instead of the events.
The busiest processes of the window become the lanes (for the whole recording a covering
scan of the per-process index ``(node_id, pid)``, no table reads; for a narrower window the
``events_by_time`` index), then each lane is counted per bucket — for the whole recording by
event position (see ``_bucket_by_position``: index-only, about 4× faster on a million events),
for a zoomed window exactly by time — with the
error-ish events (exceptions, exits) counted apart so they can be drawn in another colour.
Gaps in the window come along, capped, so a viewer can show
where events were dropped instead of an innocent-looking empty stretch.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .events import ProcessInfo
from .gaps import Gap

if TYPE_CHECKING:
    from .reader import Recording

MAX_BUCKETS = 2000
MAX_LANES = 200
MAX_GAPS = 500
MAX_ERRORS = 200_000


@dataclass(frozen=True, slots=True)
class Lane:
    """One process's row: its total in the window and the count in each bucket."""

    process: ProcessInfo
    total: int
    counts: list[int]
    errors: list[int]
    """Exceptions and exits per bucket (a subset of ``counts``)."""


@dataclass(slots=True)
class Density:
    """Counts per (process, bucket) over ``[since, until]``, split into ``buckets`` equal
    slices. ``lanes`` are the busiest processes (or the ones asked for), busiest first;
    ``other_processes`` / ``other_events`` summarise the processes left out."""

    since: int
    until: int
    buckets: int
    lanes: list[Lane]
    total_events: int
    other_processes: int
    other_events: int
    gaps: list[Gap] = field(default_factory=list)
    gaps_total: int = 0

    @property
    def bucket_width(self) -> float:
        return (self.until - self.since + 1) / self.buckets


def _bucket_by_position(rec: "Recording", lo: int, span: int, buckets: int,
                        cells: dict[tuple[int, int], tuple[list[int], list[int]]]) -> None:
    """The whole-recording overview without reading the events table: each bucket boundary is
    mapped to the id of the first event at or after it (one seek each in ``events_by_time``),
    then each lane's ids come from a covering scan of ``events_by_process`` and are placed by
    id. Ids follow the order events were stored, which is time order up to events that
    arrived slightly out of order: such an event can land in the neighbouring bucket. Exits
    and exceptions (rare) are placed by their own time."""
    bounds: list[int] = []
    top = 0
    for i in range(1, buckets):
        row = rec.db.query_one("SELECT id FROM events WHERE recording_id = ? AND ts >= ? ORDER BY ts LIMIT 1",
                               (rec.id, lo + span * i // buckets))
        top = max(top, row[0] if row else 2**63 - 1)
        bounds.append(top)
    for (node_id, pid), (counts, _) in cells.items():
        for (eid,) in rec.db.query("SELECT id FROM events WHERE node_id = ? AND pid = ?", (node_id, pid)):
            counts[bisect.bisect_right(bounds, eid)] += 1
    for node_id, pid, ts in rec.db.query(
            "SELECT node_id, pid, ts FROM events WHERE recording_id = ? AND kind IN (3, 8) LIMIT ?",
            (rec.id, MAX_ERRORS)):
        cell = cells.get((node_id, pid))
        if cell is not None:
            cell[1][min(max((ts - lo) * buckets // span, 0), buckets - 1)] += 1


def time_bounds(rec: "Recording") -> tuple[int, int] | None:
    """First and last event time of the recording (node monotonic units), None if empty."""
    first = rec.db.query_one("SELECT ts FROM events WHERE recording_id = ? ORDER BY ts LIMIT 1", (rec.id,))
    if first is None:
        return None
    last = rec.db.query_one("SELECT ts FROM events WHERE recording_id = ? ORDER BY ts DESC LIMIT 1",
                            (rec.id,))
    return first[0], last[0]


def event_density(rec: "Recording", since: int | None = None, until: int | None = None, *,
                  buckets: int = 400, max_lanes: int = 60,
                  processes: list | None = None) -> Density:
    """Events per process per bucket in ``[since, until]`` (default: the whole recording).

    ``processes`` (any ProcessRef) pins the lanes; otherwise the ``max_lanes`` busiest
    processes of the window are the lanes. Raises ValueError on a bad window or sizes."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1..{MAX_BUCKETS}, got {buckets}")
    if not 1 <= max_lanes <= MAX_LANES:
        raise ValueError(f"max_lanes must be 1..{MAX_LANES}, got {max_lanes}")
    bounds = time_bounds(rec)
    lo = since if since is not None else (bounds[0] if bounds else 0)
    hi = until if until is not None else (bounds[1] if bounds else 0)
    if hi < lo:
        raise ValueError(f"the window ends ({hi}) before it starts ({lo}); swap since and until")
    procs = rec.context.processes
    whole = bounds is None or (lo <= bounds[0] and hi >= bounds[1])
    node_ids = [n.id for n in rec.nodes()] or [-1]
    if whole:  # the whole recording: a covering scan of the per-process index, no table reads
        window, wparams = f"node_id IN ({','.join('?' * len(node_ids))})", node_ids
    else:
        window, wparams = "recording_id = ? AND ts >= ? AND ts <= ?", [rec.id, lo, hi]
    totals = rec.db.query(f"SELECT node_id, pid, count(*) AS n FROM events WHERE {window} "
                          "GROUP BY node_id, pid ORDER BY n DESC", wparams)
    all_events = sum(r[2] for r in totals)
    if processes:
        wanted = [(p.node_id, p.idx) for ref in processes for p in rec.resolve_processes(ref)]
        by_key = {(n, p): c for n, p, c in totals}
        chosen = [(k, by_key.get(k, 0)) for k in dict.fromkeys(wanted)][:max_lanes]
    else:  # events of no process (gap and mark records) are counted but get no lane
        chosen = [((n, p), c) for n, p, c in totals if (n, p) in procs][:max_lanes]
    span = hi - lo + 1
    cells: dict[tuple[int, int], tuple[list[int], list[int]]] = {
        k: ([0] * buckets, [0] * buckets) for k, _ in chosen}
    if chosen and whole:
        _bucket_by_position(rec, lo, span, buckets, cells)
    elif chosen:
        keys = [k for k, _ in chosen]
        cond = " OR ".join("(node_id = ? AND pid = ?)" for _ in keys)
        params: list = [lo, buckets, span]
        for n, p in keys:
            params += [n, p]
        for node_id, pid, b, n, errs in rec.db.query(
                "SELECT node_id, pid, ((ts - ?) * ?) / ? AS b, count(*), sum(kind IN (3, 8)) "
                f"FROM events WHERE ({cond}) AND ts >= ? AND ts <= ? GROUP BY node_id, pid, b",
                params + [lo, hi]):
            counts, errors = cells[(node_id, pid)]
            i = min(max(int(b), 0), buckets - 1)
            counts[i] += n
            errors[i] += errs or 0
    lanes = []
    for key, total in chosen:
        proc = procs.get(key) or ProcessInfo(key[0], key[1], f"#{key[1]}", None, None)
        counts, errors = cells[key]
        lanes.append(Lane(proc, total, counts, errors))
    shown = sum(lane.total for lane in lanes)
    gaps = rec.gaps(lo, hi)
    known = sum(1 for n, p, _ in totals if (n, p) in procs)
    return Density(lo, hi, buckets, lanes, all_events, max(known - len(lanes), 0),
                   max(all_events - shown, 0), gaps[:MAX_GAPS], len(gaps))

