"""Stopped without its clean-up: a process shut down while its state held work not yet handed on.

A supervisor stops a child with an exit signal (``:shutdown``). A GenServer runs ``terminate/2``
on that signal only when it traps exits; one that does not dies at once, and whatever its state
held — buffered lines, pending writes, accumulated counts — is gone. The recording shows it as an
exit with reason ``:shutdown`` in a process whose callbacks were traced, no ``terminate/2`` call
before it, and a last state with entries its callbacks had added (and that the module elsewhere
hands on and empties: a buffer).

| kind | what | culprit |
| --- | --- | --- |
| ``terminate_skipped`` | a process stopped with ``:shutdown`` without ``terminate/2`` running, its state holding entries its callbacks had collected | the module's ``init/1`` (it does not trap exits), with the field and what was lost |
| ``terminate_cut`` | a process killed (``:killed``) at shutdown — during its ``terminate/2`` (the child's shutdown time ran out), or with no ``terminate/2`` at all under ``shutdown: :brutal_kill`` — its state holding collected entries | the cut ``terminate/2`` with the shutdown time; for ``:brutal_kill`` the supervisor's ``init/1`` (the child spec), or the child's ``child_spec/1`` under a supervisor started inline |

A stop that a sibling's crash caused (a ``sibling_restart`` fact cites the exit) is linked to it:
the restart is the first cause.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList

from ..findings import Culprit, Finding
from ..view import RecordingView, StateStep, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .reasons import source_function


def _is_shutdown(reason: Any) -> bool:
    return is_atom(reason, "shutdown") or (isinstance(reason, tuple) and len(reason) == 2
                                            and is_atom(reason[0], "shutdown"))


def _pending(state: Any) -> dict[str, int]:
    """Collections in a state (the whole state, a map's fields, a tuple's elements) → how many
    entries they hold."""
    if isinstance(state, list) or (isinstance(state, dict) and not all(isinstance(k, Atom) for k in state)):
        return {"state": len(state)} if state else {}
    out = {}
    if isinstance(state, dict):
        for k, v in state.items():
            if isinstance(v, (list, dict)) and v:
                out[f"state.{k.name}"] = len(v)
    elif isinstance(state, tuple) and not isinstance(state, FrozenList):
        for i, v in enumerate(state):
            if isinstance(v, (list, dict)) and v:
                out[f"elem(state, {i})"] = len(v)
    return out


def _emptied(steps: list[StateStep], field: str) -> StateStep | None:
    """The first step at which ``field`` went from holding entries to empty (a flush)."""
    prev = None
    for s in steps:
        n = _pending(s.state).get(field, 0)
        if prev is not None and prev > 0 and n == 0:
            return s
        prev = n
    return None


def terminate_skipped(view: RecordingView, book: FactBook) -> None:
    steps_by_pid = view.state_steps(("before", "after", "checkpoint"))
    for e in view.exits:
        if not _is_shutdown(e.reason):
            continue
        module = view.module_of_pid.get(e.pid)
        if module is None or not is_app_module(module):
            continue
        calls = [c for c in view.calls_by_pid.get(e.pid, []) if c.module == module and c.ts <= e.ts]
        callbacks = [c for c in calls if c.function.startswith("handle_")]
        if not callbacks or any(c.function == "terminate" for c in calls):
            continue  # callbacks not traced here (nothing to tell), or terminate/2 did run
        steps = [s for s in steps_by_pid.get(e.pid, []) if s.ts <= e.ts]
        if not steps:
            continue
        last = steps[-1]
        held = _pending(last.state)
        grown = {}
        for field_name, n in held.items():
            before = [_pending(s.state).get(field_name, 0) for s in steps]
            if any(b > a for a, b in zip(before, before[1:])):
                grown[field_name] = n   # callbacks added the entries it held at the end
        if not grown:
            continue
        field_name = max(sorted(grown), key=lambda f: grown[f])
        n = grown[field_name]
        # the same module emptying that field elsewhere (a flush that hands it on) says it is a buffer
        flush = None
        for pid, other in sorted(steps_by_pid.items()):
            if view.module_of_pid.get(pid) == module:
                flush = _emptied(other, field_name)
                if flush is not None:
                    break
        adders = [c for c in callbacks if c.end_ts is not None and c.end_ts <= last.ts + 1][-3:]
        mod = mod_name(module)
        proc = view.label(e.pid)
        detail = (f"no Process.flag(:trap_exit, true) in init/1: terminate/2 did not run when {proc} was stopped "
                  f"({fmt(e.reason, 40)}); the {n} entries in {field_name} were lost")
        ev = [view.call_evidence(c, f"{c.mfa} added to {field_name}") for c in adders]
        ev.append(view.evidence(last.event_id, "state", last.ts, e.pid, f"{field_name} holds {n} entries: "
                                f"{fmt(_field(last.state, field_name), 80)}"))
        ev.append(view.evidence(e.event_id, "exit", e.ts, e.pid,
                                f"{proc} exited {fmt(e.reason, 40)} with no terminate/2 call"))
        if flush is not None:
            ev.append(view.evidence(flush.event_id, "state", flush.ts, flush.pid,
                                    f"elsewhere {mod} empties {field_name} (hands the entries on)"))
        fact = book.add(Finding(
            detector="terminate_skipped",
            title=f"{proc} was stopped ({fmt(e.reason, 30)}) with {n} entries in {field_name}; terminate/2 never ran",
            summary=(f"{proc} ({mod}) exited with {fmt(e.reason, 40)} — the signal a supervisor stops a child with — "
                     f"while {field_name} held {n} entries its callbacks had collected"
                     + (f", entries that {mod} otherwise hands on and empties" if flush is not None else "")
                     + ". No terminate/2 ran before the exit: a GenServer that does not trap exits dies on the "
                     "shutdown signal at once, so its clean-up (a final flush) is skipped and the entries are lost."),
            severity="high", confidence=0.75 if flush is not None else 0.5,
            culprit=Culprit(module=mod, function="init/1", detail=detail, process=proc),
            evidence=ev, signatures=["exit:terminate_skipped", "exit:shutdown"],
            fix_hint=("Trap exits in init/1 (Process.flag(:trap_exit, true)) so that the supervisor's shutdown "
                      "runs terminate/2, and keep the child's shutdown time long enough for the flush — or hand "
                      "the entries on as they come instead of holding them in the state.")),
            pid=e.pid, ts=e.ts)
        # stopped because a sibling crashed and the strategy restarts the others: that restart comes first
        for restart in book.of_kind("sibling_restart"):
            if e.event_id in restart.event_ids:
                book.link(fact, restart, "it was stopped by the restart another child's crash caused")


def _field(state: Any, field_name: str) -> Any:
    if field_name == "state":
        return state
    if field_name.startswith("elem(state, ") and isinstance(state, tuple):
        return state[int(field_name[len("elem(state, "):-1])]
    key = field_name.removeprefix("state.")
    return next((v for k, v in state.items() if isinstance(k, Atom) and k.name == key), None) \
        if isinstance(state, dict) else None


def _held(steps: list[StateStep]) -> tuple[str, int] | None:
    """The largest collection the last state holds, when callbacks had added to it."""
    if not steps:
        return None
    grown = {}
    for field_name, n in _pending(steps[-1].state).items():
        before = [_pending(s.state).get(field_name, 0) for s in steps]
        if any(b > a for a, b in zip(before, before[1:])):
            grown[field_name] = n
    if not grown:
        return None
    field_name = max(sorted(grown), key=lambda f: grown[f])
    return field_name, grown[field_name]


def terminate_cut(view: RecordingView, book: FactBook) -> None:
    from .supervision import _module_of_supervisor

    steps_by_pid = view.state_steps(("before", "after", "checkpoint"))
    for e in view.exits:
        if not is_atom(e.reason, "killed"):
            continue
        module = view.module_of_pid.get(e.pid)
        if module is None or not is_app_module(module):
            continue
        calls = [c for c in view.calls_by_pid.get(e.pid, []) if c.module == module and c.ts <= e.ts]
        if not any(c.function.startswith("handle_") for c in calls):
            continue
        held = _held([s for s in steps_by_pid.get(e.pid, []) if s.ts <= e.ts])
        cut = next((c for c in calls if c.function == "terminate" and c.outcome != "return"), None)
        found = view.supervisor_of(e.pid)
        shutdown = found[1].shutdown if found else None
        mod, proc = mod_name(module), view.label(e.pid)
        lost = f"; the {held[1]} entries in {held[0]} were lost" if held else ""
        ev = [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{proc} was killed")]
        if cut is not None:
            ms = (e.ts - cut.ts) * 1000.0 / view.time_unit
            limit = f" (its shutdown time: {shutdown} ms)" if isinstance(shutdown, int) else ""
            culprit = Culprit(module=mod, function=source_function(cut.function, cut.arity), process=proc,
                              detail=f"killed {ms:.0f} ms into terminate/2{limit}, before it returned{lost}")
            ev.insert(0, view.call_evidence(cut, f"{cut.mfa} started the clean-up"))
            title = f"{proc} was killed {ms:.0f} ms into terminate/2: its clean-up was cut off"
            why = (f"{proc} ({mod}) was running terminate/2 when it was killed {ms:.0f} ms later{limit}: a supervisor "
                   "waits only the child's shutdown time for terminate/2 and then kills it, so the clean-up never "
                   "finished" + (f" and the {held[1]} entries in {held[0]} were lost." if held else "."))
        elif shutdown == "brutal_kill" and held is not None:
            sup, detail = found[0], f"shutdown: :brutal_kill for {found[1].id}{lost}"
            sup_mod = _module_of_supervisor(view, sup.proc)
            # a supervisor module of the application: its init/1 lists the spec
            if sup_mod[:1].isupper() and is_app_module("Elixir." + sup_mod):
                culprit = Culprit(module=sup_mod, function="init/1", process=view.label(sup.proc), detail=detail)
            else:   # started inline (Supervisor.start_link(children, opts)): the child's own spec
                culprit = Culprit(module=mod, function="child_spec/1", process=proc, detail=detail)
            title = f"{proc} is stopped with shutdown: :brutal_kill, holding {held[1]} entries in {held[0]}"
            why = (f"{proc} ({mod}) was killed at shutdown — its child spec says shutdown: :brutal_kill — while "
                   f"{held[0]} held {held[1]} entries its callbacks had collected: a killed process runs no "
                   "terminate/2, even when it traps exits, so they were lost.")
        else:
            continue
        if held is not None:
            last = [s for s in steps_by_pid.get(e.pid, []) if s.ts <= e.ts][-1]
            ev.insert(-1, view.evidence(last.event_id, "state", last.ts, e.pid, f"{held[0]} holds {held[1]} entries"))
        fact = book.add(Finding(
            detector="terminate_cut", title=title, summary=why, severity="high",
            confidence=0.75 if held is not None else 0.6, culprit=culprit, evidence=ev,
            signatures=(["exit:shutdown_timeout", "exit:killed"] if cut is not None
                        else ["exit:killed", "exit:terminate_skipped"]),
            fix_hint=("Give the child the shutdown time its clean-up needs (use GenServer, shutdown: 10_000, or the "
                      "child spec's :shutdown), keep terminate/2 short, and do not rely on it alone: flush as you go.")),
            pid=e.pid, ts=e.ts)
        # the kill shows as an exception unwinding terminate/2 and as an exit: both are its effects
        for other in book.of_kind("exception", "exit"):
            if other.id != fact.id and book.meta[other.id].get("pid") == e.pid and "killed" in other.title:
                book.link(other, fact, "the process was killed at shutdown")
