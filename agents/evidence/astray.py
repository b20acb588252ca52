"""A result sent with plain ``send/2`` that never reached the wait it was meant for.

A process starts or asks a worker (spawns it, gives it its pid) and waits for the answer in a
``receive … after`` (or a helper that does). The worker runs fine and sends its result — to the
wrong place: to itself (``self()`` evaluated *inside* the spawned function or ``Task``), to a
pid captured from somewhere else (the parent's parent, a stale pid kept in a state, a registered
name that is another process), or to the waiter but in a shape its receive does not match (a
tag, a wrapping tuple, a fresh ``make_ref()`` instead of the ref the waiter holds). The waiter
sits out its timeout and goes on with its fallback: "every read times out".

The planner records ``send/2`` calls of tuples (``:erlang.send/2``, what Elixir's ``send/2``
is; casts excluded) when the symptom speaks of timeouts or missing answers
(:data:`~elixir_scope.agents.planner.SEND_SPECS`), so each send's sender, destination and
message are in the recording even for processes no message trace covers.

| kind | what | culprit |
| --- | --- | --- |
| ``result_astray`` | a process the waiter spawned, or was given the waiter's pid, sent a message while the waiter was inside an application function; that function then went on waiting — no application work in the waiter — until it returned, long after the send (no send reached it just before), with a value that does not hold the whole message: the message went to the sender itself, to another process, or reached the waiter and did not match its receive | the application function that made the send (the closure's enclosing function), with the message and where it went |

A wait answered in time ends right after the send (the fixed twin); a wait some send reached
just before it ended was ended by it (a gather waiting on a slower worker); a sender that sent to
itself and went on working scheduled its own message. None of these is the fact. A worker that never sends
is slow or stuck (:mod:`.waits`, :mod:`.gaveup`), not this. Bounded: the first
:data:`MAX_SENDS` sends, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import app_caller, culprit_of, is_generated

__all__ = ["results_astray", "TOKENS"]

MAX_SENDS = 5_000
MAX_FACTS = 3
#: the wait went on this long after the answer was sent (a wait the answer matched ends within
#: microseconds of it)
LATE_MS = 30.0
TOKENS = ["message:result_astray", "call:reply_misdirected"]
_PID = re.compile(r"<\d+\.\d+\.\d+>")


def _pid_text(x: Any) -> str:
    return fmt(x, 80).removeprefix("#PID")


def _is_send(c: Call) -> bool:
    return c.module in ("erlang", ":erlang") and c.function == "send" and c.arity == 2 and len(c.args) == 2


def _sending_frame(view: RecordingView, s: Call) -> Call | None:
    """The application function that made the send: its direct caller, past library frames."""
    return app_caller(s) or view.open_call_at(s.pid, s.ts)


def _waiting_frame(view: RecordingView, pid: int, ts: int) -> Call | None:
    """The innermost named application function running in ``pid`` at ``ts`` whose return the
    recording holds (past closures, and past loops traced without their returns)."""
    c = view.open_call_at(pid, ts)
    while c is not None and (is_generated(c.function) or not is_app_module(c.module) or c.outcome is None):
        c = c.parent
    return c


def _dest(view: RecordingView, to: Any, by_pid: dict[str, int], by_name: dict[str, int]) -> int | None:
    if isinstance(to, Atom):
        return by_name.get(to.name.removeprefix("Elixir."))
    return by_pid.get(_pid_text(to))


def _payload_texts(msg: Any) -> list[str]:
    """What of the message a waiter that took it would hand on: its elements past the tag."""
    parts = list(msg[1:]) if isinstance(msg, tuple) and msg and isinstance(msg[0], Atom) else [msg]
    out = []
    for p in parts:
        t = fmt(p, 200)
        if len(t) >= 2 and not isinstance(p, Atom):
            out.append(t)
    return out


def results_astray(view: RecordingView, book: FactBook) -> None:
    sends = [c for c in view.calls if _is_send(c)][:MAX_SENDS]
    if not sends:
        return
    by_pid = {p.pid.removeprefix("#PID"): idx for idx, p in view.procs.items() if p.pid}
    by_name = {p.name.removeprefix("Elixir."): idx for idx, p in view.procs.items() if p.name}
    parent_of = {s.child: s.parent for s in view.spawns}
    unit_ms = view.time_unit / 1000.0
    late = LATE_MS * unit_ms
    # sender pid → its sends, to know whether a later one answered; process → when sends reached it
    by_sender: dict[int, list[Call]] = defaultdict(list)
    arrivals: dict[int, list[int]] = defaultdict(list)
    dest_of: dict[int, int | None] = {}
    for s in sends:
        by_sender[s.pid].append(s)
        dest_of[s.call_id] = _dest(view, s.args[0], by_pid, by_name)
        if dest_of[s.call_id] is not None:
            arrivals[dest_of[s.call_id]].append(s.ts)
    for ts in arrivals.values():
        ts.sort()
    groups: dict[tuple, list[tuple[Call, Call, Call, int, str, int | None]]] = defaultdict(list)
    for s in sends:
        frame = _sending_frame(view, s)
        if frame is None or not is_app_module(frame.module):
            continue
        to, msg = s.args
        dest = dest_of[s.call_id]
        # the waiters this sender answers to: the process that spawned it, those whose pid it was given
        given = fmt(frame.args, 2_000) + " " + fmt(_outermost(frame).args, 2_000)
        waiters = {parent_of[s.pid]} if s.pid in parent_of else set()
        waiters |= {by_pid[t] for t in _PID.findall(given) if t in by_pid and by_pid[t] != s.pid}
        for w in waiters:
            wait = _waiting_frame(view, w, s.ts)
            if wait is None or wait.outcome != "return" or wait.end_ts is None or wait.end_ts - s.ts < late:
                continue
            # it only waited: no application work in the waiter between the send and its return
            if any(s.ts < k.ts < wait.end_ts and is_app_module(k.module) for k in view.calls_by_pid.get(w, [])):
                continue
            # not all of the message is in what the wait returned: it never got it (a key the
            # waiter knew anyway may be)
            shown = fmt(wait.value, 2_000)
            parts = _payload_texts(msg)
            if parts and all(t in shown for t in parts):
                continue
            # a later send of the same sender to the waiter may be the real answer; a send of
            # anyone to the waiter just before the wait ended is what ended it (a gather that
            # waited on a slower worker, not a wait that gave up)
            if any(o.ts > s.ts and dest_of[o.call_id] == w for o in by_sender[s.pid]):
                continue
            came = arrivals.get(w, [])
            i = bisect_right(came, wait.end_ts)
            if i > 0 and came[i - 1] > wait.end_ts - late:
                continue
            # sent to itself: it was done — no application work of its own after the send
            # takes it (a worker that schedules itself a message goes on working)
            if dest == s.pid and any(k.ts > s.ts and is_app_module(k.module) for k in view.calls_by_pid.get(s.pid, [])):
                continue
            if dest == w:
                where = "the waiter, whose receive did not match it"
            elif dest == s.pid:
                where = "its own sender"
            elif dest is not None:
                where = f"another process ({view.label(dest)})"
            else:
                where = f"{fmt(to, 60)}, a pid or name no live process of the recording holds"
            groups[(frame.module, frame.function, frame.arity, where)].append((s, frame, wait, w, where, dest))
    made = 0
    for key in sorted(groups, key=lambda k: -len(groups[k])):
        if made >= MAX_FACTS:
            return
        hits = groups[key]
        s, frame, wait, w, where, _ = hits[0]
        to, msg = s.args
        waited = (wait.end_ts - wait.ts) / unit_ms
        after = (wait.end_ts - s.ts) / unit_ms
        why = ("inside a spawned function `self()` is that new process, not the one that started it"
               if where == "its own sender" else
               "its receive waits for another shape (a different tag or tuple, a ref it holds rather than a new one)"
               if where.startswith("the waiter") else
               "the pid or name it was sent to is not the waiting process (captured from the wrong place, a stale "
               "pid kept in a state, a name that belongs to another process)")
        culprit = culprit_of(view, frame, f"{fmt(msg, 80)} sent to {where}")
        made += 1
        fact = book.add(Finding(
            detector="result_astray",
            title=(f"{culprit.module}.{culprit.function}"
                   + (" (in the function it spawned)" if is_generated(frame.function) else "")
                   + f" sends its result {fmt(msg, 60)} to {where}; {wait.mfa} waits for it in vain"),
            summary=(f"{view.label(w)} waited in {wait.mfa} while {view.label(s.pid)} — which it "
                     f"{'started' if parent_of.get(s.pid) == w else 'gave its pid to'} — sent {fmt(msg, 100)} to "
                     f"{fmt(to, 60)}: {where}. {wait.mfa} went on waiting and returned {fmt(wait.value, 60)} "
                     f"{after:.0f} ms after the send ({waited:.0f} ms in all), with nothing of that message: "
                     f"the answer never reached the wait ({why}). {len(hits)} such send(s)."),
            severity="high", confidence=min(0.8, 0.7 + 0.04 * (len(hits) - 1)),
            culprit=culprit,
            evidence=[view.call_evidence(s, f"{frame.mfa} sends {fmt(msg, 100)} to {fmt(to, 60)} ({where})"),
                      view.end_evidence(wait, f"{wait.mfa} in {view.label(w)} kept waiting and returned "
                                              f"{fmt(wait.value, 80)} {after:.0f} ms later"),
                      *[view.call_evidence(x, f"{fr.mfa} sends {fmt(x.args[1], 80)} to {where}")
                        for x, fr, _, _, _, _ in hits[1:4]]],
            signatures=TOKENS,
            fix_hint=("Capture the waiter's pid before starting the worker (`parent = self()` outside the "
                      "`fn`) and send to it; send exactly the shape the receive matches, with the ref the "
                      "waiter made (`ref = make_ref()` passed in, not a new one).")),
            pid=s.pid, ts=s.ts, waiter=w)
        _link_effects(view, book, fact, hits)


def _link_effects(view: RecordingView, book: FactBook, fact: Finding, hits: list) -> None:
    """A send of these that reached a process no longer alive (``dead_send``) is this mistake
    seen from the destination: its effect."""
    sent = {(x.pid, _pid_text(x.args[0])) for x, _, _, _, _, _ in hits}
    for f in book.of_kind("dead_send"):
        meta = book.meta.get(f.id, {})
        if any(pid == meta.get("pid") and to in f.title for pid, to in sent):
            book.link(f, fact, "the result meant for a waiting process was sent to this dead one")
    # another process that got the result and ignored it (no_effect_message) shows the same
    # mistake from the receiving side
    others = {view.label(d) for x, _, _, w, _, d in hits if d is not None and d not in (x.pid, w)}
    mine = (fact.culprit.module, fact.culprit.function) if fact.culprit is not None else None
    for f in book.of_kind("no_effect_message"):
        if f.culprit is not None and (f.culprit.process in others or (f.culprit.module, f.culprit.function) == mine):
            book.link(f, fact, "the result meant for a waiting process was sent here, where nothing uses it")


def _outermost(c: Call) -> Call:
    while c.parent is not None:
        c = c.parent
    return c
