"""A supervised child that did not die on its own: the application asked its supervisor to stop
it (``Supervisor.terminate_child/2``), and perhaps to start it again.

A child stopped that way exits with ``:shutdown`` and no restart follows — by design. So a
``not_restarted`` fact about it says nothing about the child's own code (its last callback
ran normally). What decides the outcome is the application code that talked to the
supervisor: the callback that asked for the child to be started again, whose request the
supervisor refused (``{:error, :already_present}``: the stopped child's spec is still there, to
be restarted with ``restart_child``, not started anew), or — when nobody asked — the callback
that stopped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..view import Call, RecordingView, fmt, is_app_module
from . import reasons as R
from .failures import CALLBACKS

__all__ = ["StopRequest", "stopped_on_request"]

_STOP = ("terminate_child", "delete_child")
_START = ("start_child", "restart_child")


@dataclass(frozen=True)
class StopRequest:
    """Who stopped the child (``stopper``, the callback that sent the request) and who asked for
    it again afterwards (``starter``, with the supervisor's ``answer``), when anyone did."""

    stopper: Call
    request: Any
    starter: Call | None = None
    start_request: Any = None
    answer: Any = None


def _gen_call(msg: Any) -> tuple[Any, Any] | None:
    """(the call's reference, its request) of a ``$gen_call`` message."""
    if isinstance(msg, tuple) and len(msg) == 3 and R.atom_name(msg[0]) == "$gen_call" \
            and isinstance(msg[1], tuple) and len(msg[1]) == 2:
        return msg[1][1], msg[2]
    return None


def _callback_at(view: RecordingView, pid: int, ts: int) -> Call | None:
    """The outermost application callback ``pid`` was running at ``ts``."""
    for c in view.calls_by_pid.get(pid, []):
        if c.function in CALLBACKS and is_app_module(c.module) and c.ts <= ts <= (c.end_ts or ts):
            return c
    return None


def _answer(view: RecordingView, supervisor: int, ref: Any) -> Any:
    for m in view.messages:
        if m.sender == supervisor and isinstance(m.msg, tuple) and len(m.msg) == 2 and fmt(m.msg[0], 200) == fmt(ref, 200):
            return m.msg[1]
    return None


def stopped_on_request(view: RecordingView, supervisor: int, exit_ts: int) -> StopRequest | None:
    """The request that stopped a child of ``supervisor`` which exited at ``exit_ts``: the last
    ``terminate_child``/``delete_child`` call an application callback sent the supervisor before
    that exit, and the first ``start_child``/``restart_child`` one sent after it, if any."""
    stop = start = stopper = None
    for m in sorted((m for m in view.messages if m.receiver == supervisor and m.send_ts is not None
                     and m.sender is not None), key=lambda m: m.send_ts):
        gc = _gen_call(m.msg)
        if gc is None or not isinstance(gc[1], tuple) or not gc[1]:
            continue
        verb = R.atom_name(gc[1][0])
        if verb in _STOP and m.send_ts <= exit_ts:
            # the call waits for the child to be gone: this child's exit falls inside the asking callback
            by = _callback_at(view, m.sender, m.send_ts)
            if by is not None and by.end_ts is not None and exit_ts <= by.end_ts:
                stop, stopper = (m, gc), by
        elif verb in _START and m.send_ts > exit_ts and stop is not None and start is None:
            start = (m, gc)
    if stop is None or stopper is None:
        return None
    if start is None:
        return StopRequest(stopper, stop[1][1])
    starter = _callback_at(view, start[0].sender, start[0].send_ts)
    return StopRequest(stopper, stop[1][1], starter, start[1][1], _answer(view, supervisor, start[1][0]))
