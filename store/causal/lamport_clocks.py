"""Lamport clocks: one logical clock per event of a recording, from its happens-before edges.

A topological sweep: each process runs through its own events in order, adding one per event;
a receive (or ``spawned``) whose matched send (``matching``) has no clock yet waits for it,
then takes the larger of the two. Only contradictory edges (clock skew across nodes) can
block every process; the sweep then breaks the tie by taking the clocks known so far.
``derive`` runs it over a whole recording, or over the events after the analysed ones,
starting from each process's last clock.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..timeblocks import id_range

if TYPE_CHECKING:
    from ..reader import Recording


def lamport_clocks(rec: "Recording", links: list[tuple], after_id: int = 0,
                   start: dict | None = None, known: dict | None = None) -> list[tuple[int, int]]:
    """(event_id, lamport) for every event with id > ``after_id``: a topological sweep over
    process order plus links. ``start``: each process's clock before that point; ``known``:
    clocks of earlier sends that new receives depend on."""
    dep = {r[1]: r[0] for r in links}
    per_proc: dict[tuple[int, int], list[int]] = defaultdict(list)
    for eid, node_id, pid in rec.db.query(
            "SELECT id, node_id, pid FROM events WHERE recording_id = ? AND id > ? AND id <= ? ORDER BY id",
            (rec.id, after_id, id_range(rec.db, rec.id)[1])):
        per_proc[(node_id, pid)].append(eid)
    lam: dict[int, int] = dict(known or {})
    pos = dict.fromkeys(per_proc, 0)
    last = {p: (start or {}).get(p, 0) for p in per_proc}
    waiting: dict[int, list] = defaultdict(list)
    needed = set(dep.values())
    out: list[tuple[int, int]] = []
    stack = list(per_proc)
    forced = False
    while True:
        while stack:
            p = stack.pop()
            ids, i, c = per_proc[p], pos[p], last[p]
            while i < len(ids):
                eid = ids[i]
                d = dep.get(eid)
                if d is not None and not forced:
                    dc = lam.get(d)
                    if dc is None:
                        waiting[d].append(p)
                        break
                    c = max(c, dc)
                elif d is not None and d in lam:
                    c = max(c, lam[d])
                c += 1
                out.append((eid, c))
                if eid in needed:
                    lam[eid] = c
                    if eid in waiting:
                        stack.extend(waiting.pop(eid))
                i += 1
            pos[p], last[p] = i, c
        blocked = [p for p in per_proc if pos[p] < len(per_proc[p])]
        if not blocked:
            break
        # only possible if links contradict each other (clock skew across nodes): break the tie
        forced = True
        stack = blocked
        waiting.clear()
    return out
