"""A timer armed again while the one armed before it for the same message is still pending.

| kind | what | culprit |
| --- | --- | --- |
| ``timer_rearmed`` | ``Process.send_after``/``:erlang.send_after``/``:erlang.start_timer``/``:timer.send_after``/``:timer.send_interval`` called for the same message to the same destination while a timer an earlier call started for it had neither expired nor been cancelled (and was never cancelled later: it fired) — so the message arrives once per timer and its handling repeats (a page sent twice, a charge retried three times, a heartbeat counted double) | the callback the timer was armed again in without cancelling the one pending (past a helper that arms it: ``handle_cast/2`` around ``arm/1``), and the message it handled — of those re-arms, the ones not made by the handler of the timer's own message (that one only carries a chain on); outside any callback, the application function that armed it, and the timer's message |

A periodic tick that re-arms itself once per fire is healthy: the new timer starts after the old
one expired. A debounce that cancels the old timer (before or after arming the new one) is
healthy too: only timers that were never cancelled count. What is pending is taken from the arm
(its delay; an interval until it is cancelled) and the cancels, not from the deliveries, so the
fact holds when message events were shed. The planner traces the timer calls with their returned
references when the symptom speaks of things happening again (:data:`~elixir_scope.agents.planner.TIMER_SPECS`).
Bounded: the first :data:`MAX_ARMS` timer calls.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_generated, named_app_caller

__all__ = ["timers_rearmed"]

MAX_ARMS = 20_000
MAX_FACTS = 2
MAX_UP = 12

#: (module, function, arity) → (position of the delay, of the destination or None for the caller, of the message, interval?)
ARMS: dict[tuple[str, str, int], tuple[int, int | None, int, bool]] = {
    ("erlang", "send_after", 3): (0, 1, 2, False), ("erlang", "send_after", 4): (0, 1, 2, False),
    ("erlang", "start_timer", 3): (0, 1, 2, False), ("erlang", "start_timer", 4): (0, 1, 2, False),
    ("timer", "send_after", 2): (0, None, 1, False), ("timer", "send_after", 3): (0, 1, 2, False),
    ("timer", "send_interval", 2): (0, None, 1, True), ("timer", "send_interval", 3): (0, 1, 2, True),
}
CANCELS = {("erlang", "cancel_timer", 1), ("erlang", "cancel_timer", 2), ("timer", "cancel", 1)}


@dataclass
class _Timer:
    arm: Call
    armer: Call
    start: int
    end: int            # expiry (or the recording's end for an interval); a cancel ends it earlier
    msg: Any = None
    cancelled: bool = False



def _ref(c: Call) -> str | None:
    """The timer reference a call returned (``{:ok, tref}`` from ``:timer``)."""
    v = c.value
    if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok":
        v = v[1]
    return fmt(v, 200) if c.outcome == "return" else None


def _timers(view: RecordingView) -> dict[tuple[str, str], list[_Timer]]:
    ms = view.time_unit / 1000.0
    end_of_recording = max((c.end_ts or c.ts for c in view.calls), default=0)
    by_ref: dict[str, _Timer] = {}
    groups: dict[tuple[str, str], list[_Timer]] = defaultdict(list)
    cancels: list[Call] = []
    n = 0
    for c in view.calls:
        key = (c.module, c.function, c.arity)
        if key in CANCELS:
            cancels.append(c)
            continue
        how = ARMS.get(key)
        if how is None:
            continue
        n += 1
        if n > MAX_ARMS:
            break
        at, dest, msg, interval = how
        delay = c.args[at] if len(c.args) > at else None
        armer = named_app_caller(c, MAX_UP)
        if armer is None or not isinstance(delay, int) or isinstance(delay, bool):
            continue
        to = fmt(c.args[dest], 120) if dest is not None and len(c.args) > dest else view.proc(c.pid).pid if view.proc(c.pid) else "self"
        t = _Timer(c, armer, c.ts, end_of_recording if interval else c.ts + int(delay * ms), c.args[msg])
        groups[(to, fmt(c.args[msg], 200))].append(t)
        ref = _ref(c)
        if ref:
            by_ref[ref] = t
    for c in cancels:
        t = by_ref.get(fmt(c.args[0], 200)) if c.args else None
        if t is not None and c.ts >= t.start:
            t.cancelled = True
            t.end = min(t.end, c.ts)
    return groups


def _handled(view: RecordingView, msg_term: Any, pid: int, since: int) -> list[Call]:
    """The application calls of the destination process that took the message after ``since``: a
    handler given exactly it (``handle_info/2``), or a function given exactly its payload (what a
    receive loop calls with the fields of ``{:beat, device}``)."""
    msg = fmt(msg_term, 200)
    payload = fmt(list(msg_term[1:]), 200) if isinstance(msg_term, tuple) and len(msg_term) > 1 else None
    out = []
    for c in view.calls_by_pid.get(pid, []):
        if c.ts < since or not is_app_module(c.module) or is_generated(c.function) or not c.args:
            continue
        if fmt(c.args[0], 200) == msg or (payload is not None and fmt(list(c.args), 200) == payload):
            out.append(c)
            if len(out) >= 20:
                break
    return out


def _dest_pid(view: RecordingView, arm: Call, to: str) -> int | None:
    """The process a timer's message goes to, when the recording knows it (``self()``, a name)."""
    for idx, p in view.procs.items():
        if to in (p.pid, "#PID" + p.pid) or (p.name and to.lstrip(":") in (p.name, p.name.removeprefix("Elixir."))):
            return idx
    return arm.pid


_CALLBACKS = ("handle_call", "handle_cast", "handle_info", "handle_continue", "handle_event", "init")


def _callback(armer: Call, msg: str) -> tuple[Call, bool]:
    """The callback the arming ran in (``handle_cast/2`` around an ``arm/1`` helper; the armer
    itself outside any), and whether it was handling the timer's own message (a tick re-armed
    on its fire)."""
    p, up = armer, 0
    while p is not None and up < MAX_UP:
        if p.function in _CALLBACKS and is_app_module(p.module):
            return p, bool(p.args) and fmt(p.args[0], 200) == msg
        p, up = p.parent, up + 1
    return armer, False


def timers_rearmed(view: RecordingView, book: FactBook) -> None:
    slack = int(view.time_unit / 2000.0)    # half a millisecond: a tick re-armed right at its expiry
    found = []
    for (to, msg), timers in _timers(view).items():
        fired = sorted((t for t in timers if not t.cancelled), key=lambda t: t.start)
        if len(fired) < 2:
            continue
        rearms: list[tuple[_Timer, list[_Timer]]] = []
        most = 1
        for i, t in enumerate(fired):
            pending = [p for p in fired[:i] if p.end - slack > t.start]
            if pending:
                rearms.append((t, pending))
                most = max(most, len(pending) + 1)
        if rearms:
            found.append((to, msg, fired, rearms, most))
    found.sort(key=lambda x: (-x[4], x[3][0][0].start))
    for to, msg, fired, rearms, most in found[:MAX_FACTS]:
        blamed = [(t, p, *_callback(t.armer, msg)) for t, p in rearms]
        # a tick re-armed by the handler of its own message only carries on a chain; the
        # re-arms made elsewhere (a reconfigure, a reconnect) are where the extra chains began
        elsewhere = [b for b in blamed if not b[3]] or blamed
        by_fun = Counter((cb.module, cb.function, cb.arity) for _t, _p, cb, _own in elsewhere)
        top = by_fun.most_common(1)[0][0]
        t, pending, armer, _own = next(b for b in elsewhere if (b[2].module, b[2].function, b[2].arity) == top)
        handled = _handled(view, t.msg, _dest_pid(view, t.arm, to), fired[0].start)
        first = pending[0]
        delay = fmt(t.arm.args[0], 20)
        ev = [view.call_evidence(first.arm, f"{first.armer.mfa} armed a timer for {msg} ({fmt(first.arm.args[0], 20)} ms)"),
              view.call_evidence(t.arm, f"{armer.mfa} armed another timer for {msg} ({delay} ms) while "
                                        f"{len(pending)} armed earlier was still pending, none cancelled")]
        ev += [view.call_evidence(h, f"{h.mfa} handled {msg} again") if i else
               view.call_evidence(h, f"{h.mfa} handled {msg}") for i, h in enumerate(handled[:4])]
        handling = (f" The message was handled {len(handled)} times ({handled[0].mfa})." if handled else "")
        book.add(Finding(
            detector="timer_rearmed",
            title=f"{armer.mfa} arms a timer for {msg} again while an earlier one is pending: {most} at once",
            summary=(f"{len(fired)} timers were armed for {msg} to {to} and none was cancelled; "
                     f"{len(rearms)} of them were armed while an earlier one had not fired yet (up to {most} pending "
                     f"at once), {by_fun[top]} of those by {armer.mfa}. Each timer delivers the message, so what its "
                     f"handler does happens once per timer.{handling} A periodic tick re-armed on its own fire, or a "
                     "timer whose previous one is cancelled first, would have left one pending."),
            severity="high", confidence=0.76 if len(handled) >= 2 else 0.62,
            culprit=culprit_of(view, armer, armer.args[0] if armer is not t.armer and armer.args else msg),
            evidence=ev, causal_chain=ev[:2],
            signatures=["timer:leak", "timer:leak:rearmed"],
            fix_hint=("Keep the reference the timer call returns (in the state, by message) and "
                      "Process.cancel_timer/1 it before arming a new one — or arm only when none is pending "
                      "(a map of pending timers), and drop it when its message is handled.")),
            pid=armer.pid, ts=t.arm.ts)
