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
_GENERIC = ("proc_lib", "erlang", ":erlang", "Elixir.Task", "Task.")
NORMAL = ("normal", "shutdown")

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("restart:loop", "exit:abnormal", "exit:reached_max_restart_intensity")


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


_STDLIB = ("erlang", "gen", "gen_server", "gen_statem", "proc_lib", "supervisor", "lists", "maps",
           "Elixir.String", "Elixir.Integer", "Elixir.Enum", "Elixir.Map", "Elixir.Keyword", "Elixir.Kernel",
           "Elixir.GenServer", "Elixir.Supervisor", "Elixir.Agent", "Elixir.Task", "Elixir.Application")


def _top_frame(reason, app_modules: set[str]) -> tuple[str, str, str] | None:
    """(module, function/arity, offending value) from ``{error, [{M, F, A, Loc} | _]}``: the
    first frame in the application's code, and the argument of the failing BIF above it
    (``:erlang.binary_to_integer("500ms")``) — or the error itself."""
    if not (isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[1], list) and reason[1]):
        return None
    frames = [f for f in reason[1] if isinstance(f, tuple) and len(f) >= 3]
    value = fmt(reason[0], 150)
    for i, (m, f, a, *_rest) in enumerate(frames):
        mod = str(getattr(m, "name", m))
        if i == 0 and isinstance(a, list) and a:
            value = fmt(a[0] if len(a) == 1 else a, 150)
        if mod in app_modules or (not app_modules and not mod.startswith(_STDLIB)):
            arity = len(a) if isinstance(a, list) else a
            return mod, f"{getattr(f, 'name', f)}/{arity}", value
    return None


def detect(view: RecordingView) -> list[Finding]:
    groups: dict[str, list] = defaultdict(list)
    for e in view.exits:
        if _abnormal(e.reason):
            ident = _identity(view, e.pid)
            if ident:
                groups[ident].append(e)
    findings = []
    parent_of = {s.child: s.parent for s in view.spawns}
    for ident, exits in groups.items():
        pids = {e.pid for e in exits}
        if len(exits) < MIN_CRASHES or len(pids) < MIN_CRASHES or ident.startswith(_GENERIC):
            continue
        # a loop is the same child restarted by its supervisor: one parent for most of them
        parents = [parent_of[e.pid] for e in exits if e.pid in parent_of]
        if parents and max(parents.count(p) for p in set(parents)) < MIN_CRASHES - 1:
            continue
        exits.sort(key=lambda e: e.ts)
        findings.append(_finding(view, ident, exits))
    return findings


def _finding(view: RecordingView, ident: str, exits) -> Finding:
    span = (exits[-1].ts - exits[0].ts) * 1000.0 / view.time_unit
    first = exits[0]
    app = {c.module for c in view.calls if c.module not in ("ets", "Elixir.Registry")}
    frame = next((fr for fr in (_top_frame(e.reason, app) for e in exits) if fr), None)
    mod = view.module_of_pid.get(first.pid)
    module = mod_name(frame[0]) if frame else (mod_name(mod) if mod else ident)
    function = frame[1] if frame else None
    if frame is None:  # init crashes show up as a call to init/1 ending in an exception
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
        signatures=list(SIGNATURES),
        fix_hint=(
            "Fix the crash itself (the reason is the same every time: bad configuration or input at start). "
            "Validate config before starting the child, return `{:stop, reason}`/`:ignore` from init for "
            "expected failures, and don't raise max_restarts to hide it."
        ),
    )
