"""Detectors: each proves one kind of problem from a :class:`~elixir_scope.agents.view.RecordingView`
and returns typed :class:`~elixir_scope.agents.findings.Finding` values whose evidence names
recorded events.

| detector | proves | from |
| --- | --- | --- |
| ``call_cycle`` | GenServer call cycles and deadlocks | ``$gen_call`` sends outstanding at once, forming a cycle in the wait-for graph |
| ``slow_callback`` | slow callbacks and caller timeouts | callback durations vs callers' ``{:timeout, {GenServer, :call, _}}`` exits |
| ``mailbox_growth`` | mailbox overload | sampled queue lengths growing, receive rate vs callback rate |
| ``exception_state`` | an exception, the state that caused it and the earlier transition that corrupted it | callback exceptions + state history |
| ``lost_update`` | read-modify-write races on ETS | interleaved ``:ets.lookup``/``:ets.insert`` of the same key by different processes |
| ``unheard_pubsub`` | messages published where nobody listens | ``Registry.dispatch`` topics vs registered keys |
| ``process_leak`` | process leaks | spawns without exits grouped by initial call, process count growth |
"""

from __future__ import annotations

from collections.abc import Callable

from ..findings import Finding
from ..view import RecordingView
from . import (
    call_cycle,
    exception_state,
    lost_update,
    mailbox_growth,
    process_leak,
    slow_callback,
    unheard_pubsub,
)

Detector = Callable[[RecordingView], list[Finding]]

DETECTORS: dict[str, Detector] = {
    "call_cycle": call_cycle.detect,
    "slow_callback": slow_callback.detect,
    "mailbox_growth": mailbox_growth.detect,
    "exception_state": exception_state.detect,
    "lost_update": lost_update.detect,
    "unheard_pubsub": unheard_pubsub.detect,
    "process_leak": process_leak.detect,
}

_SEVERITY = {"critical": 3, "high": 2, "medium": 1, "low": 0}


def run_all(view: RecordingView, only: list[str] | None = None) -> list[Finding]:
    """Every detector's findings, the most certain and severe first."""
    findings: list[Finding] = []
    for name, det in DETECTORS.items():
        if only and name not in only:
            continue
        findings.extend(det(view))
    findings.sort(key=lambda f: (f.confidence, _SEVERITY[f.severity]), reverse=True)
    return findings
