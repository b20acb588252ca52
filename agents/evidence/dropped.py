"""Processes an owner drops: a process it started, kept in its state, then replaced there by
another one without being ended.

A leak is not where the resource is made (the ``spawn`` or ``start_link`` line runs for every
request, leaking or not) but in the owner that should end it and does not: the callback that
overwrote the state field holding the previous pid. Proof, from the recorded states of a
process: a callback's state before held a pid at some place (a struct field, a map key, a tuple
position — not inside a list, where a pid is one of many) and its state after holds another pid
there; the old process was the owner's — it spawned it, is linked to it, or it was started (by a
``DynamicSupervisor``, a pool) while a callback of the owner ran that then kept it — and it never
exited — it was alive when the recording ended, with nothing in the state referring to it.
Two or more such dropped processes of one owner, one callback and one place make the fact
(``reference_dropped``); a single one may be a process finishing its work on its own.

| kind | what | culprit |
| --- | --- | --- |
| ``reference_dropped`` | a callback replaced a pid its state kept with a new one, and the old process, which the owner started, never ended | that callback, and the place in the state (``sessions[_]``, ``ticker``) |

A ``process_leak`` whose leaked processes are those dropped is its effect.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from elixir_scope.instrument.etf import Atom, Pid

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import callback_states, culprit_of

__all__ = ["KIND", "references_dropped"]

KIND = "reference_dropped"
MIN_DROPPED = 2
_BUDGET = 4000   # term nodes looked at per state


def _pids(term: Any) -> Iterator[tuple[tuple, Pid]]:
    """(place, pid) for the pids in ``term`` outside lists: a place is the path of map keys
    and tuple positions to it."""
    stack: list[tuple[tuple, Any]] = [((), term)]
    n = 0
    while stack and n < _BUDGET:
        path, t = stack.pop()
        n += 1
        if isinstance(t, Pid):
            yield path, t
        elif isinstance(t, dict):
            for k, v in t.items():
                if not (isinstance(k, Atom) and k.name == "__struct__"):
                    stack.append((path + (k,), v))
        elif isinstance(t, tuple):
            for i, v in enumerate(t):
                stack.append((path + (i,), v))


def _place(path: tuple, *, general: bool) -> str:
    """``sessions["ana"]``, ``ticker``; ``general``: the keys that are data, not field names,
    as ``_`` (``sessions[_]``: one place for every user)."""
    out = ""
    for k in path:
        if isinstance(k, Atom):
            out += ("." if out else "") + k.name
        elif isinstance(k, int) and not isinstance(k, bool):
            out += f"{{{k}}}"
        else:
            out += "[_]" if general else f"[{fmt(k, 40)}]"
    return out or "state"


def references_dropped(view: RecordingView, book: FactBook) -> None:
    states = callback_states(view)
    if not states:
        return
    by_id = {c.call_id: c for c in view.calls if c.call_id in states}
    procs: dict[tuple[str | None, str], int] = {}
    for idx, p in view.procs.items():
        procs[(p.node, p.pid)] = idx
        procs.setdefault((None, p.pid), idx)
    exited = {e.pid for e in view.exits}
    spawned = {s.child: s for s in view.spawns}
    owners = {s.parent for s in view.spawns} | {ln.pid for ln in view.links if ln.made}

    def proc_of(pid: Pid) -> int | None:
        return procs.get((pid.node.name, str(pid))) if view.multi_node else procs.get((None, str(pid)))

    # a process that started or linked another, or during one of whose callbacks a process was
    # started, may own one; the other processes' states are not walked
    spawn_ts = sorted(s.ts for s in view.spawns)

    def spawn_during(c: Call) -> bool:
        i = bisect.bisect_left(spawn_ts, c.ts)
        return i < len(spawn_ts) and spawn_ts[i] <= (c.end_ts or c.ts)

    candidates = set(owners) | {c.pid for c in by_id.values() if spawn_during(c)}
    walked = []
    for cid, (before, after) in sorted(states.items()):
        c = by_id.get(cid)
        if c is not None and c.pid in candidates:
            walked.append((c, list(_pids(before)), dict(_pids(after))))
    # a process started while a callback ran (by whichever process: a DynamicSupervisor, a pool)
    # and put in the state by that callback is that owner's too: it asked for it
    asked: dict[int, int] = {}
    for c, was, now in walked:
        had = {p for _q, p in was}
        for p in now.values():
            o = proc_of(p)
            s = spawned.get(o) if o is not None else None
            if p not in had and s is not None and c.ts <= s.ts <= (c.end_ts or s.ts):
                asked.setdefault(o, c.pid)
    owners |= set(asked.values())
    groups: dict[tuple, list] = defaultdict(list)
    for c, was, now in walked:
        if c.pid not in owners:
            continue
        kept = set(now.values())
        for path, old in was:
            new = now.get(path)
            if new is None or new == old:
                continue
            o = proc_of(old)
            if o is None or o in exited or o == c.pid:
                continue
            s = spawned.get(o)
            if not ((s is not None and s.parent == c.pid) or asked.get(o) == c.pid or view.linked(o, c.pid)):
                continue   # not the owner's to end
            if old in kept:
                continue   # still kept elsewhere in the state
            groups[(c.pid, c.module, c.function, c.arity, _place(path, general=True))].append((c, path, o, s))
    for (owner, _m, _f, _a, place), drops in groups.items():
        dropped = list(dict.fromkeys(o for _c, _p, o, _s in drops))
        if len(dropped) < MIN_DROPPED:
            continue
        c, path, o, s = drops[0]
        counts = [r.process_count for r in view.samples]
        grew = len(counts) >= 2 and counts[-1] > counts[0]
        evidence = []
        for cc, pp, oo, ss in drops[:4]:
            evidence.append(view.call_evidence(cc, f"{cc.mfa} replaced {_place(pp, general=False)} "
                                                   f"({view.label(oo)}) with another process"))
            if ss is not None:
                evidence.append(view.evidence(ss.event_id, "spawn", ss.ts, ss.parent,
                                              f"{view.label(ss.parent)} started {view.label(oo)}, which never exited"))
        growth = f" The node's process count went from {counts[0]} to {counts[-1]}." if grew else ""
        book.add(Finding(
            detector=KIND,
            title=f"{c.mfa} replaced the process kept in {place} without ending it ({len(dropped)} left running)",
            summary=(f"{view.label(owner)} started processes and kept each in its state at {place}; {c.mfa} put a "
                     f"new one there {len(drops)} time(s) while the one it replaced — started by "
                     f"{view.label(owner)} — was still running, and none of the {len(dropped)} replaced processes "
                     f"ever exited: nothing refers to them any more, nothing will stop them.{growth}"),
            severity="high", confidence=min(0.85, 0.7 + 0.05 * (len(dropped) - MIN_DROPPED)),
            culprit=culprit_of(view, c, place), evidence=evidence, causal_chain=evidence[:2],
            signatures=["process:orphaned"] + (["process:count_growing"] if grew else []),
            fix_hint=("End what the state held before replacing it: stop the old process (GenServer.stop/2, "
                      "DynamicSupervisor.terminate_child/2, a :stop message its loop handles) in the callback "
                      "that puts the new one in its place — or reuse it.")),
            pid=owner, ts=c.ts, dropped=set(dropped), spawns={x.event_id for *_r, x in drops if x is not None})
    _link_leaks(book)


def _link_leaks(book: FactBook) -> None:
    """A process leak whose spawns are those of dropped processes is the drop's effect."""
    for f in book.of_kind(KIND):
        spawns = book.meta[f.id].get("spawns") or set()
        for leak in book.of_kind("process_leak"):
            if spawns & {e.event_id for e in leak.evidence if e.kind == "spawn"}:
                book.link(leak, f, "the owner replaced these processes in its state without ending them")
