"""Event density: how many events each process had in each slice of a time window.

This is the aggregate a timeline draws (one swimlane per process, one cell per bucket), so a
viewer of a million-event recording receives a few thousand numbers instead of the events.
The busiest processes of the window become the lanes, then each lane is counted per bucket,
with the error-ish events (exceptions, exits) counted apart so they can be drawn in another colour.
Gaps in the window come along, capped, so a viewer can show where events were dropped
instead of an innocent-looking empty stretch.

A window of more than ``EXACT_MAX`` events is counted *by position*, from the block index
(store/blocks.py): the window and the bucket boundaries are mapped to event ids (one walk over
the time blocks, store/timeblocks.py), lanes and their totals come from the per-process blocks over that id
range (a block's count ``n``; only blocks straddling the range's ends are read), and each
lane's blocks are placed between the boundary ids (a block straddling a boundary is read, up
to ``STRADDLE_READ_MAX`` rows in all; past that its count is split in proportion to its ids on
either side). Ids are the order events were
stored, which is time order except for the few records stored later than their time (a state
checkpoint taken as the capture starts, say): such an event is drawn with the events stored
around it rather than at its own time, and at a window's edges it can fall just inside or
outside. Lane totals of the whole recording are exact. About 4–10× faster than reading the
rows on a million events. Windows of up to ``EXACT_MAX`` events are counted exactly by time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .blocks import KIND_FROM, PROC_FROM, kind_where, reach
from .events import ProcessInfo
from .gaps import Gap
from .timeblocks import first_at_or_after, first_ids_at, id_bounds, ts_bounds, window_source

if TYPE_CHECKING:
    from .reader import Recording

MAX_BUCKETS = 2000
MAX_LANES = 200
MAX_GAPS = 500
MAX_ERRORS = 200_000
EXACT_MAX = 50_000
"""Windows with up to this many events are counted exactly by time; bigger ones by position."""
STRADDLE_READ_MAX = 200_000
"""Counting by position reads the events of blocks that straddle a bucket boundary, up to this
many rows in all; beyond it a straddling block's count is split in proportion to its ids."""


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


def _first_id_at(rec: "Recording", ts: int) -> int | None:
    """Id of the first event (in time, then id) at or after ``ts``: through the time blocks."""
    row = first_at_or_after(rec.db, rec.id, ts, "e.id")
    return row[0] if row else None


def _bucket_by_position(rec: "Recording", lo: int, hi: int, buckets: int, ids: tuple[int, int],
                        cells: dict[tuple[int, int], tuple[list[int], list[int]]]) -> None:
    """Counts per bucket from the block index (see the module docs): each bucket boundary is
    mapped to the id of the first event at or after it (one walk over the time blocks), then each lane's blocks
    in the window's id range are placed by id: a block between two boundaries adds its count,
    only a block that straddles a boundary has its events' ids read. Exits and exceptions
    (rare) are placed by their own time."""
    span = hi - lo + 1
    bounds: list[int] = []
    top = ids[0]
    # the first time whose exact bucket, (ts - lo) * buckets // span, is i: all in one walk
    for found in first_ids_at(rec.db, rec.id, [lo - (-span * i // buckets) for i in range(1, buckets)]):
        top = max(top, found if found is not None else ids[1])
        bounds.append(top)
    budget = STRADDLE_READ_MAX
    for (node_id, pid), (counts, _) in cells.items():
        for first, last, n in rec.db.query(
                "SELECT first_id, last_id, n FROM block_procs WHERE node_id = ? AND pid = ? "
                f"AND {reach('?', 'block_procs')} AND first_id < ?", (node_id, pid, ids[0], ids[0], ids[1])):
            at = bisect.bisect_right(bounds, first)
            inside = first >= ids[0] and last < ids[1]
            if inside and at == bisect.bisect_right(bounds, last):
                counts[at] += n  # the whole block lies in one bucket
            elif inside and last - first >= budget:
                _spread(counts, bounds, first, last, n)
            else:
                lo_id, hi_id = max(first, ids[0]), min(last, ids[1] - 1)
                budget -= hi_id - lo_id + 1
                for (eid,) in rec.db.query("SELECT id FROM events WHERE id BETWEEN ? AND ? AND node_id = ? "
                                           "AND pid = ?", (lo_id, hi_id, node_id, pid)):
                    counts[bisect.bisect_right(bounds, eid)] += 1
    for node_id, pid, ts in rec.db.query(
            f"SELECT e.node_id, e.pid, e.ts FROM {KIND_FROM} WHERE {kind_where((3, 8))} "
            "AND e.ts >= ? AND e.ts <= ? LIMIT ?", (rec.id, lo, hi, MAX_ERRORS)):
        cell = cells.get((node_id, pid))
        if cell is not None:
            cell[1][min(max((ts - lo) * buckets // span, 0), buckets - 1)] += 1


def _spread(counts: list[int], bounds: list[int], first: int, last: int, n: int) -> None:
    """Place a block's ``n`` events over the buckets its id range crosses, in proportion to the
    ids on each side of each boundary (cumulative rounding: the parts add up to ``n``)."""
    span = last - first + 1
    done = 0
    b = bisect.bisect_right(bounds, first)
    while True:
        end = bounds[b] if b < len(bounds) and bounds[b] <= last else last + 1
        upto = (n * (end - first) + span // 2) // span
        counts[b] += upto - done
        done = upto
        if end > last:
            return
        b += 1


def _totals_by_position(rec: "Recording", node_ids: list[int], ids: tuple[int, int]) -> list[tuple]:
    """(node_id, pid, events) of each process in the id range, busiest first, from the block
    index: blocks inside the range add their counts, the few straddling its ends are read."""
    nodes = ",".join("?" * len(node_ids))
    return rec.db.query(
        "SELECT node_id, pid, sum(c) AS total FROM ("
        f"SELECT node_id, pid, n AS c FROM block_procs WHERE node_id IN ({nodes}) AND first_id >= ? "
        "AND last_id < ? UNION ALL "
        f"SELECT b.node_id, b.pid, count(*) FROM {PROC_FROM} WHERE b.node_id IN ({nodes}) "
        "AND b.first_id < ? AND b.last_id >= ? "
        "AND (b.first_id < ? OR b.last_id >= ?) AND e.id >= ? AND e.id < ? "
        "GROUP BY b.node_id, b.pid, b.first_id"
        ") GROUP BY node_id, pid ORDER BY total DESC",
        [*node_ids, ids[0], ids[1], *node_ids, ids[1], ids[0], ids[0], ids[1], ids[0], ids[1]])


def time_bounds(rec: "Recording") -> tuple[int, int] | None:
    """First and last event time of the recording (node monotonic units), None if empty."""
    return ts_bounds(rec.db, rec.id)


def event_density(rec: "Recording", since: int | None = None, until: int | None = None, *,
                  buckets: int = 400, max_lanes: int = 60,
                  processes: list | None = None, pinned: list | None = None,
                  exact_max: int = EXACT_MAX) -> Density:
    """Events per process per bucket in ``[since, until]`` (default: the whole recording).

    ``processes`` (any ProcessRef) are the lanes; otherwise the ``max_lanes`` busiest processes
    of the window, after the ``pinned`` ones (shown first even when idle in the window). Windows of more than ``exact_max`` events are counted
    by position (see the module docs). Raises ValueError on a bad window or sizes."""
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
    node_ids = [n.id for n in rec.nodes()] or [-1]
    # the event ids of the window: big windows are counted by position (index-only), small ones
    # (up to EXACT_MAX events) exactly by time
    last = (id_bounds(rec.db, rec.id) or (0, 0))[1]
    if bounds is None or (lo <= bounds[0] and hi >= bounds[1]):
        ids = (0, last + 1)  # the whole recording, whatever order its events were stored in
    else:
        first_id = _first_id_at(rec, lo)
        after_id = _first_id_at(rec, hi + 1)
        ids = (first_id if first_id is not None else last + 1, after_id if after_id is not None else last + 1)
    positional = ids[1] - ids[0] > exact_max
    if positional:  # from the block index (store/blocks.py)
        totals = _totals_by_position(rec, node_ids, ids)
    else:
        src, params = window_source(rec.id, lo, hi)
        totals = rec.db.query(f"SELECT node_id, pid, count(*) AS n FROM {src} GROUP BY node_id, pid "
                              "ORDER BY n DESC", params)
    all_events = sum(r[2] for r in totals)
    if processes:
        wanted = [(p.node_id, p.idx) for ref in processes for p in rec.resolve_processes(ref)]
        by_key = {(n, p): c for n, p, c in totals}
        chosen = [(k, by_key.get(k, 0)) for k in dict.fromkeys(wanted)][:max_lanes]
    else:  # events of no process (gap and mark records) are counted but get no lane
        by_key = {(n, p): c for n, p, c in totals}
        pins = [(p.node_id, p.idx) for ref in pinned or [] for p in rec.resolve_processes(ref)]
        pins = list(dict.fromkeys(pins))[:max_lanes]
        chosen = [(k, by_key.get(k, 0)) for k in pins]
        chosen += [((n, p), c) for n, p, c in totals if (n, p) in procs and (n, p) not in pins][
            :max_lanes - len(chosen)]
    span = hi - lo + 1
    cells: dict[tuple[int, int], tuple[list[int], list[int]]] = {
        k: ([0] * buckets, [0] * buckets) for k, _ in chosen}
    if chosen and positional:
        _bucket_by_position(rec, lo, hi, buckets, ids, cells)
    elif chosen:  # at most EXACT_MAX rows: read the window through the time blocks, exactly
        src, params = window_source(rec.id, lo, hi)
        for node_id, pid, b, n, errs in rec.db.query(
                f"SELECT node_id, pid, ((ts - ?) * ?) / ? AS b, count(*), sum(kind IN (3, 8)) FROM {src} "
                "GROUP BY node_id, pid, b", (lo, buckets, span, *params)):
            cell = cells.get((node_id, pid))
            if cell is None:
                continue
            i = min(max(int(b), 0), buckets - 1)
            cell[0][i] += n
            cell[1][i] += errs or 0
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

