"""Crash loops and exhausted restart intensity.

A supervisor restarts a crashing child; if it crashes more than ``max_restarts`` times in
``max_seconds`` (3 in 5 s by default) the supervisor gives up, terminates its other children
and exits with ``:shutdown`` — its own supervisor may then restart it, and the loop climbs
the tree. Proof: the same child (same initial call or registered name) exiting abnormally
again and again, each time replaced by a fresh process, and finally its supervisor exiting.
The child's crash reason (and the function at the top of its stacktrace) is the culprit.
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding, MessageArrow
from ..view import RecordingView, fmt, is_atom, mod_name

MIN_CRASHES = 3
NORMAL = ("normal", "shutdown")


def _abnormal(reason) -> bool:
    """Anything but ``:normal``, ``:shutdown`` and ``{:shutdown, _}`` (how OTP ends processes on purpose)."""
    if isinstance(reason, tuple) and reason and is_atom(reason[0], "shutdown"):
        return False
    return not any(is_atom(reason, n) for n in NORMAL)


def _identity(view: RecordingView, pid: int) -> str | None:
    p = view.proc(pid)
    if p is None:
        return None
    mod = view.module_of_pid.get(pid)
    return p.name or (mod_name(mod) if mod else None) or p.initial_call


def _top_frame(reason) -> tuple[str, str, str] | None:
    """(module, function/arity, error) from ``{error, [{M, F, A, Loc} | _]}``."""
    if isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[1], list) and reason[1]:
        frame = reason[1][0]
        if isinstance(frame, tuple) and len(frame) >= 3:
            m, f, a = frame[0], frame[1], frame[2]
            arity = len(a) if isinstance(a, list) else a
            return str(getattr(m, "name", m)), f"{getattr(f, 'name', f)}/{arity}", fmt(reason[0], 150)
    return None


def detect(view: RecordingView) -> list[Finding]:
    groups: dict[str, list] = defaultdict(list)
    for e in view.exits:
        if _abnormal(e.reason):
            ident = _identity(view, e.pid)
            if ident:
                groups[ident].append(e)
    findings = []
    for ident, exits in groups.items():
        pids = {e.pid for e in exits}
        if len(exits) < MIN_CRASHES or len(pids) < MIN_CRASHES:
            continue
        exits.sort(key=lambda e: e.ts)
        findings.append(_finding(view, ident, exits))
    return findings


def _finding(view: RecordingView, ident: str, exits) -> Finding:
    span = (exits[-1].ts - exits[0].ts) * 1000.0 / view.time_unit
    first = exits[0]
    frame = _top_frame(first.reason)
    mod = view.module_of_pid.get(first.pid)
    module = mod_name(frame[0]) if frame and not frame[0].startswith(("gen", "proc_lib")) else (mod_name(mod) if mod else ident)
    function = frame[1] if frame and not frame[0].startswith(("gen", "proc_lib")) else None
    # init crashes show up as a call to init/1 ending in an exception
    for c in view.calls_by_pid.get(first.pid, []):
        if c.function == "init" and c.outcome == "exception":
            module, function = mod_name(c.module), "init/1"
            break
    reason = frame[2] if frame else fmt(first.reason, 150)
    # who gave up: a supervisor (the spawner of the crashing processes) exiting afterwards
    parents = {s.parent for s in view.spawns if s.child in {e.pid for e in exits}}
    sup_exit = next((e for e in view.exits if e.pid in parents and e.ts >= first.ts), None)
    evidence = [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{ident} exited: {fmt(e.reason, 150)}") for e in exits[:6]]
    restarts = [s for s in view.spawns if s.child in {e.pid for e in exits}]
    for s in restarts[:3]:
        evidence.append(view.evidence(s.event_id, "spawn", s.ts, s.parent, f"restarted {ident} as {view.label(s.child)}"))
    gave_up = ""
    if sup_exit is not None:
        evidence.append(view.evidence(sup_exit.event_id, "exit", sup_exit.ts, sup_exit.pid,
                                      f"supervisor exited: {fmt(sup_exit.reason)} (restart intensity reached)"))
        gave_up = f" Its supervisor {view.label(sup_exit.pid)} then gave up and exited with {fmt(sup_exit.reason)}."
    arrows = [MessageArrow(sender=view.label(e.pid), receiver=view.label(sup_exit.pid) if sup_exit else "supervisor",
                           message=f"EXIT {fmt(e.reason, 40)}", at_ms=view.at_ms(e.ts), kind="exit") for e in exits[:5]]
    return Finding(
        detector="crash_loop",
        title=f"Crash loop: {ident} crashed {len(exits)} times",
        summary=(
            f"{ident} crashed {len(exits)} times in {span:.0f} ms, each time with {reason}; every restart "
            f"crashed the same way, so restarting cannot help.{gave_up}"
        ),
        severity="critical",
        confidence=0.9 if sup_exit else 0.8,
        culprit=Culprit(module=module, function=function, detail=reason, process=ident),
        evidence=evidence,
        causal_chain=evidence[:3],
        messages=arrows,
        signatures=["exit:repeated", "exit:reached_max_restart_intensity", "supervisor:restart_loop"],
        fix_hint=(
            "Fix the crash itself (the reason is the same every time: bad configuration or input at start). "
            "Validate config before starting the child, return `{:stop, reason}`/`:ignore` from init for "
            "expected failures, and don't raise max_restarts to hide it."
        ),
    )
