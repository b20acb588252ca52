"""Calls answered before the server finished its own set-up.

An ``init/1`` that starts its set-up in another process (``Task.async``, ``spawn``) and returns
at once makes the server look started: the supervisor goes on, clients call it — and get
answers from the empty state until the set-up's result arrives. Nothing fails: the answers
are just wrong (raw keys instead of translations, empty lists, defaults).

| kind | what | culprit |
| --- | --- | --- |
| ``answered_before_ready`` | ``init/1`` spawned a process and returned; calls were answered before a later message (after that process finished) filled the state | that ``init/1``, and what it spawned |
"""

from __future__ import annotations

from typing import Any

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .reasons import source_function


def _after_state(c: Call) -> Any:
    """The state a callback left (from its return value), or ``None`` when unknown."""
    v = c.value
    if c.outcome != "return" or not isinstance(v, tuple) or not v:
        return None
    if c.function == "init" and is_atom(v[0], "ok") and len(v) >= 2:
        return v[1]
    if is_atom(v[0], "reply") and len(v) >= 3:
        return v[2]
    if is_atom(v[0], "noreply") and len(v) >= 2:
        return v[1]
    return None


def _ended(view: RecordingView, child: int) -> int | None:
    """When the spawned process finished: its exit, else the end of its last top-level call."""
    for e in view.exits:
        if e.pid == child:
            return e.ts
    ends = [c.end_ts for c in view.calls_by_pid.get(child, []) if c.depth == 0 and c.end_ts is not None]
    return max(ends) if ends else None


def _what_it_runs(view: RecordingView, spawn) -> str:
    """The spawned process's work: its first named application call, else its initial call."""
    named = [c for c in view.calls_by_pid.get(spawn.child, []) if is_app_module(c.module) and not c.function.startswith("-")]
    if named:
        return named[0].mfa
    child = view.proc(spawn.child)
    return child.initial_call if child is not None and child.initial_call else fmt(spawn.mfa, 80)


def answered_before_ready(view: RecordingView, book: FactBook) -> None:
    for pid in sorted(view.calls_by_pid):
        calls = [c for c in view.calls_by_pid[pid] if c.depth == 0]
        init = next((c for c in calls if c.function == "init" and c.end_ts is not None
                     and _after_state(c) is not None), None)
        if init is None:
            continue
        children = [s for s in view.spawns if s.parent == pid and init.ts <= s.ts <= init.end_ts]
        if not children:
            continue
        done = [t for t in (_ended(view, s.child) for s in children) if t is not None]
        if not done:
            continue
        finished = min(done)
        state = fmt(_after_state(init), 20000)
        ready: Call | None = None
        early: list[Call] = []
        for c in calls:
            if c.ts <= init.end_ts or c.function not in ("handle_call", "handle_info", "handle_cast", "handle_continue"):
                continue
            after = _after_state(c)
            text = fmt(after, 20000) if after is not None else state
            if c.function == "handle_call" and ready is None:
                early.append(c)
            elif c.ts >= finished and text != state and ready is None:
                ready = c
                break
            state = text
        if ready is None or not early:
            continue
        spawn = next(s for s in children if _ended(view, s.child) == finished)
        what = _what_it_runs(view, spawn)
        ev = [view.call_evidence(init, f"{init.mfa} returned {fmt(init.value, 80)} right after spawning {what}"),
              view.evidence(spawn.event_id, "spawn", spawn.ts, pid, f"{view.label(pid)} spawned {what} in init/1")]
        for c in early[:4]:
            ev.append(view.call_evidence(c, f"{c.mfa} answered {fmt(c.value[1] if isinstance(c.value, tuple) and len(c.value) > 1 else c.value, 60)} "
                                            f"to {fmt(c.args[0] if c.args else None, 60)} before the set-up finished"))
        ev.append(view.call_evidence(ready, f"{ready.mfa} got the set-up's result: the state changed only now"))
        wait_ms = (ready.ts - init.end_ts) * 1000.0 / view.time_unit
        book.add(Finding(
            detector="answered_before_ready",
            title=f"{view.label(pid)} answered {len(early)} call(s) before its set-up finished",
            summary=(f"{init.mfa} spawned {what} and returned at once; {len(early)} call(s) "
                     f"(e.g. {fmt(early[0].args[0] if early[0].args else None, 80)}) were answered from the state "
                     f"init left, and only {wait_ms:.0f} ms later {ready.mfa} filled the state with the set-up's "
                     "result. Those callers got answers from an unfinished server."),
            severity="high", confidence=min(0.75, 0.6 + 0.02 * len(early)),
            culprit=Culprit(module=mod_name(init.module), function=source_function(init.function, init.arity),
                            detail=what, process=view.label(pid)),
            evidence=ev,
            signatures=["callback:answered_before_ready"],
            fix_hint=("Finish the set-up before answering: do it in init/1 (or in handle_continue/2, which runs "
                      "before any call is handled), or keep a `loading` flag and queue/refuse calls "
                      "until the result arrives.")),
            pid=pid, ts=init.ts)
