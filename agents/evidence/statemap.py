"""A process's state as the recording shows it in calls: the map of atom-keyed fields an
argument carries and a return holds (``{:noreply, s}``, ``{:reply, r, s}``) — what the
bookkeeping facts (:mod:`.counters`, :mod:`.demand`) compare before and after a call."""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit
from ..view import Call, RecordingView, is_app_module, mod_name
from .reasons import source_function


def fields(term: Any) -> dict[str, Any] | None:
    """A map state with atom keys as ``{field: value}``."""
    if isinstance(term, dict) and term and all(isinstance(k, Atom) for k in term):
        return {k.name: v for k, v in term.items()}
    return None


def state_in(term: Any) -> dict[str, Any] | None:
    """The state map a return holds: the map itself, or the last map of ``{:noreply, s}``,
    ``{:reply, r, s}``, ``{:ok, s}``."""
    f = fields(term)
    if f is not None:
        return f
    if isinstance(term, tuple):
        for x in reversed(term):
            f = fields(x)
            if f is not None:
                return f
    return None


def arg_state(c: Call) -> dict[str, Any] | None:
    for a in reversed(c.args):
        f = fields(a)
        if f is not None:
            return f
    return None


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def marker(v: Any) -> bool:
    """A status-like value: an atom (``nil``, ``:connected``) or a boolean — what a state goes back to."""
    return isinstance(v, (Atom, bool))


def culprit(view: RecordingView, c: Call, detail: str) -> Culprit:
    return Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity), detail=detail,
                   process=view.label(c.pid))


def app_calls(view: RecordingView, pid: int) -> list[Call]:
    return [c for c in view.calls_by_pid.get(pid, []) if c.outcome == "return" and is_app_module(c.module)]
