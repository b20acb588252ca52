"""Check-then-act across processes: a client reads a value from a server in one call and writes
what it decided in a second call, while another client's write lands in between.

A server serialises its callbacks, not its clients' logic. ``n = get(k)`` then ``put(k, n + 1)``
(``Agent.get`` then ``Agent.update`` with the value read, "is it free?" then "assign it") is two
calls; between them another client can read the same old value and write — both act on what
they read, and one update is lost or one resource is handed out twice.

| kind | what | culprit |
| --- | --- | --- |
| ``check_then_act`` | one client function made a read call (a call of a kind that never changed the server's state and answered a value) and then a write call (of a kind that changes it) to the same server, about the same key (one in both requests, or the value the read answered: "which is free?" → ``"214"``, then "take ``"214"``"); between the two, another client's write of that key changed the server's state, and the write undid it (wrote the state already there, or a value the other set is gone after it) — the write acted on a stale read | the client function that holds both calls (it must be one call to the server: compute inside the server, ``Agent.get_and_update``, an atomic check-and-set) |

The ETS form of the same race (``:ets.lookup`` then ``:ets.insert``) is the ``lost_update``
detector's (``agents/detectors/lost_update.py``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

from elixir_scope.store.state_changes import changes

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .calls import ServedCall, leaves, same, served_calls, show_leaf
from .common import culprit_of

TOKENS = ["state:check_then_act", "state:value_overwritten"]
MAX_SHOWN = 3


def _caller_frame(view: RecordingView, read: ServedCall, write: ServedCall) -> Call | None:
    """The innermost application function of the caller that was running through both calls."""
    idx = next((p.idx for p in view.procs.values() if p.pid and p.pid.removeprefix("#PID") == read.caller), None)
    if idx is None or read.step is None or write.step is None:
        return None
    best = None
    for c in view.calls_by_pid.get(idx, []):
        if not is_app_module(c.module) or c.ts > read.step.ts:
            continue
        if c.end_ts is not None and c.end_ts < write.step.ts:
            continue
        if best is None or c.ts >= best.ts:
            best = c
    return best


def _at(term: Any, path: tuple) -> tuple[bool, Any]:
    try:
        for k in path:
            term = term[k]
        return True, term
    except (KeyError, IndexError, TypeError):
        return False, None


def _lost(other: ServedCall, write: ServedCall) -> bool:
    """Whether ``write`` undid what ``other`` had written: it wrote the state that was already
    there (a value computed from the same old one as the other's), or a value ``other`` set is
    gone after it (overwritten, an added item dropped). A write that keeps the other's change
    (appending to a list the other appended to) lost nothing. Unknown states: assume it did."""
    if write.changed is False:
        return True
    if other.before is None or other.after is None or write.after is None:
        return True
    try:
        found = changes(other.before, other.after)
    except Exception:   # a state the differ cannot walk: say nothing against the race
        return True
    for ch in found[:50]:
        ok, now = _at(write.after, ch.path)
        if not ok:
            return True
        if not _kept(ch.new or [] if ch.kind.startswith("list_") else ch.new, now):
            return True
    return False


def _kept(new: Any, now: Any) -> bool:
    """Whether a value written is still in ``now``: the same value, or (a list, a map) all of
    its items still there."""
    if same(now, new):
        return True
    if isinstance(new, list) and isinstance(now, list):
        return all(x in now for x in new[:50])
    if isinstance(new, dict) and isinstance(now, dict):
        return all(k in now and _kept(v, now[k]) for k, v in list(new.items())[:50])
    return False


def check_then_act(view: RecordingView, book: FactBook) -> None:
    calls = [c for c in served_calls(view) if c.step is not None and c.reply_msg is not None]
    if len(calls) < 4:
        return
    writers = {c.kind for c in calls if c.changed}
    if not writers:
        return
    by_server: dict[int, list[ServedCall]] = defaultdict(list)
    for c in calls:
        by_server[c.server].append(c)
    for server, its in by_server.items():
        _server_races(view, book, server, its, writers)


def _answered(read: ServedCall) -> set:
    """The distinguishing values of a read's answer (a room number, an id it picked)."""
    return leaves(read.reply) if read.reply is not None else set()


def _is_read(c: ServedCall, writers: set) -> bool:
    return c.kind not in writers and c.changed is False and fmt(c.reply, 20) not in (":ok",)


def _server_races(view: RecordingView, book: FactBook, server: int, its: list[ServedCall], writers: set) -> None:
    its = sorted(its, key=lambda c: c.step.ts)
    writes = [o for o in its if o.changed and o.kind in writers]
    write_ts = [o.step.ts for o in writes]
    by_caller: dict[str, list[ServedCall]] = defaultdict(list)
    for c in its:
        by_caller[c.caller].append(c)
    races: dict[tuple, list[tuple]] = defaultdict(list)
    for caller, seq in by_caller.items():
        for i, read in enumerate(seq):
            if not _is_read(read, writers):
                continue
            j = next((j for j in range(i + 1, len(seq)) if seq[j].kind in writers), None)
            if j is None or any(_is_read(r, writers) for r in seq[i + 1:j]):
                continue
            write = seq[j]
            shared = read.keys() & write.keys()
            if not shared:
                # what the read *answered* is what the write is about: "which one is free?" → "214",
                # then "take 214" (an allocation: the key is the read's result, not its request)
                shared = _answered(read) & write.keys()
            if read.keys() and not shared:
                continue      # the write is about something else than what was read
            lo, hi = bisect.bisect_right(write_ts, read.step.ts), bisect.bisect_left(write_ts, write.step.ts)
            between = [o for o in writes[lo:hi] if o.caller != caller and (not shared or shared & o.keys())
                       and _lost(o, write)]
            if not between:
                continue
            frame = _caller_frame(view, read, write)
            if frame is None:
                continue
            races[(frame.module, frame.function, frame.arity)].append((frame, read, between[0], write, shared))
    for found in races.values():
        _fact(view, book, server, found)


def _fact(view: RecordingView, book: FactBook, server: int, found: list[tuple]) -> None:
    frame, read, other, write, shared = found[0]
    label = view.label(server)
    keys = ", ".join(show_leaf(k) for k in sorted(shared, key=str)[:3]) or "its value"
    same = fmt(write.after, 2000) == fmt(other.after, 2000)
    outcome = ("wrote the very state the other client's write had already made — one update counted once for two"
               if same else "overwrote what the other client had just written")
    callers = len({r[1].caller for r in found})
    book.add(Finding(
        detector="check_then_act",
        title=f"{frame.mfa} reads {keys} from {label} and writes it back in a second call; {len(found)} writes acted on a stale read",
        summary=(f"{frame.mfa} asks {label} {fmt(read.request if read.step.function == 'handle_call' else read.step.mfa, 80)} "
                 f"(answered {fmt(read.reply, 60)}) and then, in a separate call, {fmt(write.request if write.step.function == 'handle_call' else write.step.mfa, 80)}. "
                 f"Between the two, another client's {fmt(other.request if other.step.function == 'handle_call' else other.step.mfa, 80)} "
                 f"changed {keys} — the write then {outcome}. {len(found)} such read-then-write pairs from {callers} "
                 "callers overlapped: the check and the act are not one step, so concurrent clients all act on the same old value "
                 "(a lost update, a resource handed out twice)."),
        severity="high", confidence=0.8 if shared else 0.6,
        culprit=culprit_of(view, frame, frame.args),
        evidence=[view.call_evidence(frame, f"{frame.mfa} reads, then writes in a second call"),
                  view.call_evidence(read.step, f"read by {read.caller}: answered {fmt(read.reply, 60)}"),
                  view.call_evidence(other.step, f"another client ({other.caller}) writes: state now {fmt(other.after, 80)}"),
                  view.call_evidence(write.step, f"the first reader ({write.caller}) writes from its stale read: state now {fmt(write.after, 80)}"),
                  *[view.call_evidence(w.step, f"{w.caller} writes after a stale read") for _f, _r, _o, w, _s in found[1:MAX_SHOWN]]],
        signatures=TOKENS,
        fix_hint=("Make the check and the act one call: compute the new value inside the server (one handle_call "
                  "that reads and writes), Agent.get_and_update/Agent.update with a function of the current value, "
                  "or a compare-and-set that refuses a write whose read is no longer current.")),
        pid=frame.pid, ts=write.step.ts, server=server, pairs=len(found))
