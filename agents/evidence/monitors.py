"""Monitor notices that change nothing: a ``{:DOWN, …}`` for a process the watcher still keeps.

A process that monitors another keeps its pid (to call it, to send it updates) and must act on
its ``{:DOWN, ref, :process, object, reason}``: forget the pid, look the process up again,
subscribe anew. When the notice arrives and the handler changes nothing and sends nothing, the
state goes on holding a dead pid and whatever the watcher did through it stops for good. One
notice is enough to see it — unlike a swallowed message of another shape, a ``:DOWN`` comes once
per monitor. The usual causes: a monitor set by registered name (``Process.monitor(Name)``), whose
notice names ``{Name, node}`` and never matches the clause that expects the stored pid; a clause
matching the wrong ref; a catch-all that takes it.

| kind | what | culprit |
| --- | --- | --- |
| ``down_ignored`` | ``handle_info/2`` got a ``:DOWN`` for a process whose pid is in the state it ran with (by pid, or by the registered name the notice names) and returned that state unchanged, sending nothing; the state still holds the pid at the end of the recording. Stronger when the notice names ``{Name, node}`` while the state keeps the pid registered under that name: a monitor by name whose notice the clause for the pid cannot match | the handler, and the notice |
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom, Pid

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_atom, mod_name
from .book import FactBook
from .common import callback_states, culprit_of

MAX_PIDS = 64        # pids collected from one state
MAX_NODES = 4000     # terms walked in one state
MAX_LATER = 500      # later callbacks of the watcher checked
MAX_FACTS = 3


def _pids(term: Any) -> set[str]:
    """The pids a state holds (printed ``<0.Id.Serial>``), bounded."""
    out: set[str] = set()
    stack, seen = [term], 0
    while stack and seen < MAX_NODES and len(out) < MAX_PIDS:
        t = stack.pop()
        seen += 1
        if isinstance(t, Pid):
            out.add(str(t))
        elif isinstance(t, dict):
            stack.extend(t.keys())
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return out


def _down(msg: Any) -> tuple[Any, Any] | None:
    """``(object, reason)`` of a ``{:DOWN, ref, :process, object, reason}`` notice, else None."""
    if isinstance(msg, tuple) and len(msg) == 5 and is_atom(msg[0], "DOWN") and is_atom(msg[2], "process"):
        return msg[3], msg[4]
    return None


def _named(view: RecordingView, name: Atom, before: int) -> set[str]:
    """The pids the recording saw registered under ``name``, and those of processes that ended
    before ``before`` (a process's name is known only when an event showed it registered)."""
    wanted = {mod_name(str(name)), str(name)}
    ended = {e.pid for e in view.exits if e.ts <= before}
    return {p.pid for idx, p in view.procs.items() if p.name in wanted or idx in ended}


def _still_held(view: RecordingView, c: Call, pid: str, pairs: dict) -> bool:
    """The process's later callbacks all left ``pid`` in its state (it never let go of it)."""
    later = [x for x in view.calls_by_pid.get(c.pid, []) if x.ts > c.ts and x.call_id in pairs]
    return all(pid in _pids(pairs[x.call_id][1]) for x in later[:MAX_LATER])


def downs_ignored(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    if not pairs:
        return
    named = 0
    for c in view.calls:
        if named >= MAX_FACTS:
            return
        if c.function != "handle_info" or c.arity != 2 or not c.args or c.call_id not in pairs:
            continue
        down = _down(c.args[0])
        if down is None:
            continue
        obj, reason = down
        before, after = pairs[c.call_id]
        if fmt(before, 4000) != fmt(after, 4000) or view.sent_during(c.pid, c.ts, c.end_ts or c.ts):
            continue
        held = _pids(before)
        by_name = isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], Atom)
        gone = _named(view, obj[0], c.ts) if by_name else ({str(obj)} if isinstance(obj, Pid) else set())
        kept = sorted(p for p in gone & held if _still_held(view, c, p, pairs))
        if not kept:
            continue
        pid = kept[0]
        named += 1
        who = view.label(c.pid)
        dead = f"{pid} ({mod_name(str(obj[0]))})" if by_name else pid
        how = (f"The notice names {fmt(obj, 60)}, a monitor set by registered name, while the state keeps the pid "
               f"{pid}: a clause that matches the stored pid never matches it, and a catch-all takes it."
               if by_name else "The handler took it without forgetting the pid or looking the process up again.")
        book.add(Finding(
            detector="down_ignored",
            title=f"{who} ignores the :DOWN of {dead}, which its state still holds",
            summary=(f"{who} got {fmt(c.args[0], 140)} in {c.mfa} and returned its state unchanged, sending nothing; "
                     f"its state still holds {pid} to the end of the recording, so whatever it did through that "
                     f"process (updates, calls, a subscription) has stopped for good. {how}"),
            severity="high", confidence=0.65 if by_name else 0.5,
            culprit=culprit_of(view, c, c.args[0]),
            evidence=[view.call_evidence(c, f"{c.mfa} got the :DOWN of {dead} ({fmt(reason, 40)}): no state change, "
                                            "nothing sent")],
            signatures=["monitor:down_unhandled", "message:no_effect"],
            fix_hint=("Monitor the pid (Process.monitor(pid), e.g. from GenServer.whereis/1) or match the :DOWN by its "
                      "ref, and on the notice forget the pid and look the process up again (re-subscribe)."),
            weak=None if by_name else ("a watcher may rightly leave a dead pid in place until its next use looks the "
                                       "process up again")),
            pid=c.pid, ts=c.ts, calls=[c.call_id])
