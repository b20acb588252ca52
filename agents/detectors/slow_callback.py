"""Slow callbacks and caller timeouts.

A GenServer handles one message at a time: a ``handle_call`` that takes longer than its
callers' timeout (5 s by default) makes every caller exit with
``{:timeout, {GenServer, :call, [server, request, timeout]}}`` — and the callers queued behind
it wait too. The proof is a caller's timeout whose target process was, at that moment, inside
one long callback. The request that callback was handling is the offending value.

When the long callback was itself blocked calling another process in a cycle, the
``call_cycle`` detector explains it better; this one then steps back.
"""

from __future__ import annotations

from ..findings import Culprit, Finding, MessageArrow
from ..view import Call, RecordingView, fmt, is_atom, mod_name
from .call_cycle import outstanding_calls

CALLBACKS = ("handle_call", "handle_cast", "handle_info", "handle_continue", "init")

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("callback:slow", "exception:timeout:GenServer.call")


def timeout_target(reason) -> tuple[object, object, object] | None:
    """``{:timeout, {GenServer|:gen_server, :call, [target, request, timeout]}}`` → parts."""
    if isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[1], tuple):
        if is_atom(reason[0], "timeout") and len(reason[1]) == 3 and is_atom(reason[1][1], "call"):
            args = reason[1][2]
            if isinstance(args, list) and len(args) >= 2:
                return args[0], args[1], args[2] if len(args) > 2 else None
    if isinstance(reason, tuple) and len(reason) == 2 and is_atom(reason[0], "exit"):
        return timeout_target(reason[1])
    return None


def _timeouts(view: RecordingView):
    """(caller pid, ts, event id, event kind, target, request, timeout) of every caller timeout."""
    out = []
    for c in view.calls:
        if c.outcome == "exception":
            t = timeout_target(c.value)
            if t:
                out.append((c.pid, c.end_ts, c.end_id, "exception", *t))
    for e in view.exits:
        t = timeout_target(e.reason)
        if t:
            out.append((e.pid, e.ts, e.event_id, "exit", *t))
    return out


def _resolve(view: RecordingView, target) -> int | None:
    text = fmt(target)
    for idx, p in view.procs.items():
        if p.pid == str(target) or (p.name and (p.name == text.lstrip(":") or p.name == text)):
            return idx
    name = getattr(target, "name", None)
    if name:
        for idx, p in view.procs.items():
            if p.name in (name, mod_name(name)):
                return idx
    return None


def detect(view: RecordingView) -> list[Finding]:
    cycle_pids = set()
    for m, _s, end, reply in outstanding_calls(view):
        if reply is None and end is not None:
            cycle_pids.add(m.receiver)
    findings: dict[tuple, Finding] = {}
    timeouts = _timeouts(view)
    for caller, ts, ev_id, ev_kind, target, request, timeout in timeouts:
        tgt = _resolve(view, target)
        if tgt is None:
            continue
        slow = _long_callback(view, tgt, ts)
        if slow is None:
            continue
        if tgt in cycle_pids and _makes_calls(view, slow):
            continue  # blocked in a call cycle: call_cycle explains it
        key = (slow.module, slow.function, slow.call_id)
        if key in findings:
            findings[key].evidence.append(
                view.evidence(ev_id, ev_kind, ts, caller, f"caller timed out waiting for {view.label(tgt)}"))
            continue
        findings[key] = _finding(view, slow, caller, ts, ev_id, ev_kind, request, timeout, tgt)
    out = list(findings.values())
    for f in out:
        f.confidence = min(0.95, 0.7 + 0.05 * len(f.evidence))
    return out


def _long_callback(view: RecordingView, pid: int, ts: int) -> Call | None:
    best = None
    for c in view.calls_by_pid.get(pid, []):
        if c.function in CALLBACKS and c.ts <= ts and (c.end_ts is None or c.end_ts >= ts):
            if best is None or c.ts < best.ts:
                best = c
    return best


def _makes_calls(view: RecordingView, c: Call) -> bool:
    for m in view.messages:
        if m.sender == c.pid and m.send_ts and c.ts <= m.send_ts and (c.end_ts is None or m.send_ts <= c.end_ts):
            if isinstance(m.msg, tuple) and len(m.msg) == 3 and is_atom(m.msg[0], "$gen_call"):
                return True
    return False


def _finding(view, slow: Call, caller, ts, ev_id, ev_kind, request, timeout, tgt) -> Finding:
    dur = slow.duration(view.time_unit)
    dur_text = f"{dur:.0f} ms" if dur is not None else "longer than the recording"
    req = slow.args[0] if slow.args else request
    others = [c.duration(view.time_unit) for c in view.calls_by_pid.get(tgt, [])
              if c.function == slow.function and c is not slow and c.duration(view.time_unit) is not None]
    typical = f" (the other {len(others)} calls took at most {max(others):.0f} ms)" if others else ""
    evidence = [
        view.call_evidence(slow, f"{slow.mfa} started handling {fmt(req)}"),
        view.evidence(ev_id, ev_kind, ts, caller,
                      f"caller exited: timeout after {fmt(timeout)} ms waiting for {view.label(tgt)}"),
    ]
    if slow.end_id is not None:
        evidence.append(view.end_evidence(slow, f"{slow.mfa} finished after {dur_text}"))
    return Finding(
        detector="slow_callback",
        title=f"Slow callback {slow.mfa} makes callers time out",
        summary=(
            f"{view.label(tgt)} spent {dur_text} in {slow.mfa} handling {fmt(req)}{typical}; its caller "
            f"{view.label(caller)} gave up after {fmt(timeout)} ms with a GenServer.call timeout. While the "
            f"callback runs, the server handles nothing else."
        ),
        severity="high",
        confidence=0.8,
        culprit=Culprit(module=mod_name(slow.module), function=f"{slow.function}/{slow.arity}",
                        detail=fmt(req), process=view.label(tgt)),
        evidence=evidence,
        causal_chain=evidence[:2],
        messages=[
            MessageArrow(sender=view.label(caller), receiver=view.label(tgt), message=f"call {fmt(req, 50)}",
                         at_ms=view.at_ms(slow.ts), kind="call"),
            MessageArrow(sender=view.label(caller), receiver=view.label(caller), message="timeout",
                         at_ms=view.at_ms(ts), kind="exit"),
        ],
        signatures=list(SIGNATURES),
        fix_hint=(
            f"Keep {slow.function} fast: move the slow work for {fmt(req, 60)} out of the server "
            "(a Task under a Task.Supervisor replying later with GenServer.reply/2), or cache/precompute it; "
            "raising the call timeout only hides the stall."
        ),
    )
