"""gen_statem events handled in one state and dropped in another.

| kind | what | culprit |
| --- | --- | --- |
| ``statem_dropped_event`` | an event of one shape is answered with ``keep_state_and_data`` (no reply, no postpone) in a state, while another state acts on it | the state function that drops it |

:func:`event_type` (which argument of a state function is the event type) is also what
:mod:`.postponed` reads.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .common import culprit_of, message_shape


_EVENT_TYPES = ("cast", "info", "internal", "timeout", "state_timeout")


def event_type(arg: Any) -> str | None:
    """The gen_statem event type a state function's first argument names, else None."""
    if isinstance(arg, Atom) and arg.name in _EVENT_TYPES:
        return arg.name
    if isinstance(arg, tuple) and arg and isinstance(arg[0], Atom) and arg[0].name in ("call", "timeout"):
        return arg[0].name
    return None


def _statem_effect(c: Call) -> bool | None:
    """Whether a state function's return did anything: None when it did not return."""
    v = c.value
    if c.outcome != "return":
        return None
    if is_atom(v, "keep_state_and_data") or is_atom(v, "repeat_state_and_data"):
        return False
    if isinstance(v, tuple) and v and isinstance(v[0], Atom):
        tag = v[0].name
        if tag in ("keep_state_and_data", "repeat_state_and_data"):
            # a reply answers the event; a postpone keeps it for the next state (not a drop)
            return any((isinstance(a, tuple) and a and is_atom(a[0], "reply")) or is_atom(a, "postpone")
                       for a in (v[1] if isinstance(v[1], list) else [v[1]]))
        if tag in ("keep_state", "repeat_state"):
            return fmt(v[1], 4000) != fmt(c.args[-1], 4000) if c.args else True
        if tag == "next_state":
            return True
    return True


def statem_events(view: RecordingView, book: FactBook) -> None:
    """Per-state handling of a gen_statem: an event the machine acts on in one state but drops
    (``keep_state_and_data``) in another."""
    groups: dict[tuple, list[tuple[Call, bool]]] = defaultdict(list)
    for c in view.calls:
        if c.arity not in (3, 4) or not c.args or not is_app_module(c.module) or c.function.startswith(("handle_", "-")):
            continue
        etype = event_type(c.args[0])
        if etype is None:
            continue
        eff = _statem_effect(c)
        if eff is None:
            continue
        state = c.function if c.arity == 3 else fmt(c.args[2], 40)
        groups[(c.module, message_shape(c.args[1]), etype)].append((c, eff, state))
    for key in sorted(groups, key=str):
        items = groups[key]
        acted = sorted({st for _c, eff, st in items if eff})
        for state in sorted({st for _c, _e, st in items}):
            dropped = [c for c, eff, st in items if st == state and not eff]
            if not dropped or any(eff for _c, eff, st in items if st == state):
                continue
            c = dropped[0]
            other = f" — in {', '.join(acted)} the same event changes the machine" if acted else ""
            book.add(Finding(
                detector="statem_dropped_event",
                title=f"{mod_name(c.module)} drops {key[1]} in state {state}",
                summary=(f"{mod_name(c.module)} got {len(dropped)} {key[2]} event(s) {fmt(c.args[1], 100)} in state "
                         f"{state} and did nothing with them (kept state and data, no reply){other}. The event is "
                         "swallowed, most likely by a catch-all clause of that state."),
                severity="high", confidence=0.75 if acted else 0.45,
                culprit=culprit_of(view, c, c.args[1]),
                evidence=[view.call_evidence(x, f"{x.mfa} in state {state} got {fmt(x.args[1], 60)}") for x in dropped[:3]]
                         + [view.end_evidence(x, f"… and returned {fmt(x.value, 60)}") for x in dropped[:3]],
                signatures=["statem:unhandled_event", "message:no_effect"],
                fix_hint=("Handle the event in every state where it can arrive (match its current shape), and make the "
                          "catch-all clause log or postpone unexpected events instead of dropping them.")),
                pid=c.pid, ts=c.ts)
