"""gen_statem events postponed and never retried.

``:postpone`` keeps an event until the machine's *state* changes; a change of data alone
(``keep_state``) does not retry it. A machine that postpones an event in a state and then
stays in that state — it finishes its work with ``keep_state`` where it should have moved to
another state — holds the event forever: the request is lost without a trace.

| kind | what | culprit |
| --- | --- | --- |
| ``statem_postponed`` | a gen_statem callback postponed an event, the machine went on handling other events without ever leaving that state, and the event never came back | the callback after the postpone that ended its work and kept the state (the machine went idle in it), with its return; else the callback that postponed, with the event |

Both callback modes are read: ``handle_event/4`` (the state is its third argument) and state
functions (``name/3``, the state is the function).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .reasons import source_function
from .statem import event_type


def _is_callback(c: Call) -> bool:
    if not c.args or not is_app_module(c.module) or c.function.startswith("-") or c.outcome != "return":
        return False
    if event_type(c.args[0]) is None:
        return False
    if c.arity == 4:
        return c.function == "handle_event"
    return c.arity == 3 and not c.function.startswith("handle_")


def _state(c: Call) -> str:
    return fmt(c.args[2], 80) if c.arity == 4 else c.function


def _actions(v: Any) -> list:
    """The actions of a state callback's return (the last element of the tuple)."""
    if not isinstance(v, tuple) or len(v) < 2 or not isinstance(v[0], Atom):
        return []
    tag, n = v[0].name, len(v)
    last = None
    if tag in ("keep_state_and_data", "repeat_state_and_data") and n == 2:
        last = v[1]
    elif tag in ("keep_state", "repeat_state") and n == 3:
        last = v[2]
    elif tag == "next_state" and n == 4:
        last = v[3]
    if last is None:
        return []
    return last if isinstance(last, list) else [last]


def _postpones(v: Any) -> bool:
    return any(is_atom(a, "postpone") or (isinstance(a, tuple) and len(a) == 2 and is_atom(a[0], "postpone")
                                          and is_atom(a[1], "true")) for a in _actions(v))


def _changes_state(c: Call) -> bool:
    v = c.value
    if isinstance(v, tuple) and len(v) >= 2 and is_atom(v[0], "next_state"):
        if c.arity == 4:
            return fmt(v[1], 80) != _state(c)
        return not is_atom(v[1], c.function)
    return is_atom(v, "stop") or (isinstance(v, tuple) and v and is_atom(v[0], "stop"))


def _goes_idle(c: Call) -> bool:
    """A return that keeps the state and schedules nothing: the machine waits for the next
    outside event in the same state."""
    v = c.value
    if is_atom(v, "keep_state_and_data"):
        return True
    if not isinstance(v, tuple) or not v or not isinstance(v[0], Atom) or v[0].name not in ("keep_state", "keep_state_and_data"):
        return False
    acts = _actions(v)
    return not any((isinstance(a, tuple) and a and isinstance(a[0], Atom)
                    and a[0].name in ("state_timeout", "timeout", "next_event", "reply")) or is_atom(a, "postpone")
                   for a in acts)


def postponed_events(view: RecordingView, book: FactBook) -> None:
    by_pid: dict[int, list[Call]] = defaultdict(list)
    for c in view.calls:
        if _is_callback(c):
            by_pid[c.pid].append(c)
    for pid in sorted(by_pid):
        calls = sorted(by_pid[pid], key=lambda c: c.ts)
        reported: set[str] = set()
        for i, p in enumerate(calls):
            if not _postpones(p.value) or _changes_state(p):
                continue
            state, event = _state(p), fmt(p.args[1], 200)
            later = calls[i + 1:]
            if len(later) < 2 or event in reported:
                continue
            # a retry re-delivers the same event; any state change would have retried it
            if any(fmt(x.args[1], 200) == event for x in later):
                continue
            if any(_changes_state(x) or _state(x) != state for x in later):
                continue
            reported.add(event)
            idle = next((x for x in later if _goes_idle(x)), None)
            culprit_call = idle or p
            detail = idle.value if idle is not None else p.args[1]
            ev = [view.call_evidence(p, f"{p.mfa} got {fmt(p.args[1], 60)} in state {state}"),
                  view.end_evidence(p, f"… and postponed it: {fmt(p.value, 60)}")]
            if idle is not None:
                ev.append(view.end_evidence(idle, f"{idle.mfa} ended its work still in state {state}: "
                                                  f"{fmt(idle.value, 80)}"))
            ev.append(view.call_evidence(later[-1], f"{len(later)} event(s) later the machine is still in state {state}"))
            how = (f"; {idle.mfa} finished its work with {fmt(idle.value, 80)}, keeping the state, so the machine "
                   f"went idle in {state}" if idle is not None else "")
            book.add(Finding(
                detector="statem_postponed",
                title=f"{mod_name(p.module)} postponed {fmt(p.args[1], 50)} in state {state} and never left it",
                summary=(f"{p.mfa} postponed {fmt(p.args[1], 100)} in state {state}. A postponed event is retried only "
                         f"when the state changes, and the machine handled {len(later)} more event(s) without ever "
                         f"leaving {state}{how}: the event was never handled."),
                severity="high", confidence=0.8 if idle is not None else 0.65,
                culprit=Culprit(module=mod_name(culprit_call.module),
                                function=source_function(culprit_call.function, culprit_call.arity),
                                detail=fmt(detail, 150), process=view.label(pid)),
                evidence=ev, signatures=["statem:postponed_never_retried"],
                fix_hint=("Leave the state when the work that made you postpone is done ({:next_state, :idle, data} "
                          "instead of {:keep_state, data}), or stop postponing and queue the request in the data; "
                          "keep_state never retries postponed events.")),
                pid=pid, ts=p.ts)
