"""Slow callbacks and caller timeouts — and the function inside where the time went.

A GenServer handles one message at a time: a ``handle_call`` that takes longer than its
callers' timeout (5 s by default) makes every caller exit with
``{:timeout, {GenServer, :call, [server, request, timeout]}}`` — and the callers queued behind
it wait too. The same holds for every waiter that gives up on a process: ``:gen_statem.call``,
``Agent.get``, ``Task.await`` (``{:timeout, {Task, :await, [%Task{pid: …}, t]}}``). The proof is
a waiter's timeout whose target process was, at that moment, inside one long run: a callback,
or (a Task, a state function) the outermost application call it was running.

The culprit is not that run but the function inside it where the time went (``hot_path``):
from the run down, the traced application call nested in it (same process, inside its span)
that alone covers most of its parent's time, as deep as one does; when that innermost
function was waiting on a ``GenServer.call`` to another process, the search goes on in the
callback that process was running then (a slow dependency). A function whose time is spread
over many calls of its callees (a loop, a quadratic pairing) is itself the end: the fix is in
the loop. The callback and the request it handled stay the context.

When the long callback was itself blocked calling another process in a cycle, the
``call_cycle`` detector explains it better; this one then steps back.
"""

from __future__ import annotations

from elixir_scope.instrument.etf import Pid

from ..evidence.reasons import gen_call
from ..findings import Culprit, Finding, MessageArrow
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from . import slow_parts, slow_retries
from .call_cycle import outstanding_calls

CALLBACKS = ("handle_call", "handle_cast", "handle_info", "handle_continue", "init")

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("callback:slow", "exception:timeout:GenServer.call", "exception:timeout:Task.await")


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


def waited_on(reason) -> tuple[object, object, object, str] | None:
    """(target, request, timeout, api) of a waiter's timeout: ``GenServer.call`` and the calls
    built on it (``:gen_statem.call``, ``Agent.get`` …), and ``Task.await`` (the target is the
    task's process)."""
    t = timeout_target(reason)
    gc = gen_call(reason)
    if gc is None or gc.why != "timeout":
        return (*t, "GenServer.call") if t else None
    if gc.api == "Task.await":
        task = gc.target
        pid = next((v for k, v in task.items() if is_atom(k, "pid")), None) if isinstance(task, dict) else None
        if pid is None:
            return None
        args = _args(reason)
        return pid, None, args[1] if len(args) > 1 else None, "Task.await"
    if t:
        return (*t, gc.api)
    return None


def _args(reason) -> list:
    while isinstance(reason, tuple) and len(reason) == 2 and not (isinstance(reason[1], tuple) and len(reason[1]) == 3):
        reason = reason[1]
    if isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[1], tuple) and isinstance(reason[1][2], list):
        return reason[1][2]
    return []


def _timeouts(view: RecordingView):
    """(caller pid, ts, event id, event kind, target, request, timeout, api) of every waiter's timeout."""
    out = []
    for c in view.calls:
        if c.outcome == "exception":
            t = waited_on(c.value)
            if t:
                out.append((c.pid, c.end_ts, c.end_id, "exception", *t))
    for e in view.exits:
        t = waited_on(e.reason)
        if t:
            out.append((e.pid, e.ts, e.event_id, "exit", *t))
    seen = {o[0] for o in out}
    out.extend(o for o in caught_timeouts(view) if o[0] not in seen)
    return out


#: a caught timeout is a wait of at least this long (a call's default timeout is 5 s; a short one
#: is rarely under 100 ms)
MIN_CAUGHT_WAIT_MS = 100.0


def timed_out(v) -> bool:
    """``v`` is ``:timeout`` or a small tuple holding it (``{:error, :timeout}``)."""
    return is_atom(v, "timeout") or (isinstance(v, tuple) and 0 < len(v) <= 3 and any(is_atom(x, "timeout") for x in v))


def _from_pid(c: Call):
    """The caller's pid in a ``handle_call(request, {pid, tag}, state)``'s ``from``."""
    frm = c.args[1] if c.function == "handle_call" and len(c.args) == 3 else None
    return frm[0] if isinstance(frm, tuple) and len(frm) == 2 and isinstance(frm[0], Pid) else None


def caught_timeouts(view: RecordingView) -> list[tuple]:
    """Waiters that caught their own call's timeout (``catch :exit, {:timeout, _}`` around a
    ``GenServer.call``) and returned a value holding ``:timeout``: an application call of at
    least :data:`MIN_CAUGHT_WAIT_MS` that returned so while a ``handle_call`` of another process,
    serving a call from the waiter's process (its ``from``) made during the wait, was still
    running — the exit never unwound through a traced call, but the wait and the callback it
    waited on are both in the recording. Same tuples as :func:`_timeouts` (the target as the
    serving process's pid text); the timeout is the wait, in ms."""
    served: dict[str, list[Call]] = {}
    for c in view.calls:
        pid = _from_pid(c)
        if pid is not None:
            served.setdefault(str(pid), []).append(c)
    if not served:
        return []
    out: dict[tuple, tuple] = {}   # (waiter's process, callback) → the innermost waiter's tuple
    for w in view.calls:
        if w.outcome != "return" or w.end_ts is None or not timed_out(w.value) or not is_app_module(w.module) \
                or w.function.startswith("-") or (w.duration(view.time_unit) or 0.0) < MIN_CAUGHT_WAIT_MS:
            continue
        p = view.proc(w.pid)
        if p is None:
            continue
        cbs = [c for c in served.get(p.pid, []) if c.pid != w.pid and w.ts <= c.ts <= w.end_ts
               and c.running_at(w.end_ts) and (p.node is None or view.node_of(c.pid) in (None, p.node))]
        if cbs:
            cb = cbs[0]
            target = view.proc(cb.pid).pid if view.proc(cb.pid) else None
            key = (w.pid, cb.call_id)
            if key not in out or out[key][1] > w.end_ts:   # a caller returning the waiter's value waited longer
                out[key] = (w.pid, w.end_ts, w.end_id, "return", target, cb.args[0],
                            round(w.duration(view.time_unit) or 0.0), "GenServer.call")
    return list(out.values())


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
    for caller, ts, ev_id, ev_kind, target, request, timeout, api in timeouts:
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
        findings[key] = _finding(view, slow, caller, ts, ev_id, ev_kind, request, timeout, tgt, api)
    out = list(findings.values())
    for f in out:
        f.confidence = min(0.95, 0.7 + 0.05 * len(f.evidence))
    return out


def _long_callback(view: RecordingView, pid: int, ts: int) -> Call | None:
    """The callback ``pid`` was running at ``ts`` — else (a Task, a state function of a
    :gen_statem) its outermost application call then, unless that is one round of a loop the
    recording saw start again (a process's receive loop is not a slow call); an anonymous
    function (a Task's) is passed over for the named function it runs."""
    best = None
    for c in view.calls_by_pid.get(pid, []):
        if c.function in CALLBACKS and c.running_at(ts):
            if best is None or c.ts < best.ts:
                best = c
    if best is not None:
        return best
    calls = view.calls_by_pid.get(pid, [])
    for c in calls:
        if c.running_at(ts) and is_app_module(c.module) \
                and not c.function.startswith("-") and (best is None or c.ts < best.ts):
            best = c
    if best is not None and best.open and any(
            o is not best and (o.module, o.function, o.arity) == (best.module, best.function, best.arity) for o in calls):
        return None
    return best


#: the share of its parent's time a nested call must cover to be where the parent's time went
HOT_SHARE = 0.6


def _horizon(view: RecordingView, pid: int, end: int) -> int:
    """How far a call still open in ``pid`` is measured: to the process's exit, else to the
    recording's end ``end`` (it was still running then)."""
    return min([e.ts for e in view.exits if e.pid == pid] or [end])


def _recording_end(view: RecordingView) -> int:
    return max([c.end_ts or c.ts for c in view.calls] + [e.ts for e in view.exits], default=0)


def _span(c: Call, horizon: int) -> int:
    """How long ``c`` ran, measured to ``horizon`` when it had not ended; a call whose end the
    capture dropped (``broken``) measures nothing: where its time went is unknown."""
    if c.broken:
        return 0
    return (c.end_ts if c.end_ts is not None else horizon) - c.ts


def hot_path(view: RecordingView, run: Call, _depth: int = 0, _end: int | None = None) -> list[Call]:
    """The calls from ``run`` (excluded) down to the function where its time went, each
    covering at least HOT_SHARE of its parent's — following a ``GenServer.call`` it was
    waiting on into the callback the called process ran meanwhile (at most 3 processes)."""
    path: list[Call] = []
    end_of_recording = _recording_end(view) if _end is None else _end
    horizon = _horizon(view, run.pid, end_of_recording)
    cur = run
    while True:
        total = _span(cur, horizon)
        if total <= 0:
            break
        # a nested call measured no further than its parent (a return lost to the recording's
        # end or a gap must not make it outlast the call it ran in)
        limit = cur.end_ts if cur.end_ts is not None else horizon
        kids = slow_parts.app_children(view, cur)
        top = max(kids, key=lambda k: _span(k, limit), default=None)
        if top is None or min(_span(top, limit), limit - top.ts) < HOT_SHARE * total:
            break
        if _loop_step_across_gap(view, top, kids, limit):
            break   # its span measures no one call: the function calling it over and over holds the time
        path.append(top)
        cur = top
    if _depth < 2:
        end = cur.end_ts if cur.end_ts is not None else horizon
        for m in view.messages:
            if m.sender == cur.pid and m.send_ts is not None and cur.ts <= m.send_ts <= end \
                    and isinstance(m.msg, tuple) and len(m.msg) == 3 and is_atom(m.msg[0], "$gen_call") \
                    and m.receiver is not None and m.receiver != cur.pid:
                at = m.receive_ts or m.send_ts
                served = next((c for c in view.calls_by_pid.get(m.receiver, []) if c.function in CALLBACKS
                               and at <= c.ts <= end), None)
                if served is None or _span(served, _horizon(view, m.receiver, end_of_recording)) \
                        < HOT_SHARE * _span(cur, horizon):
                    continue
                return path + [served] + hot_path(view, served, _depth + 1, end_of_recording)
    return path


def _loop_step_across_gap(view: RecordingView, top: Call, kids: list[Call], limit: int) -> bool:
    """``top`` is one of several calls of one function made by the same caller, and events were
    dropped while it ran: its return (or its end at the recording's end) may belong to a later
    call whose call event was lost, so its span measures many calls, not one — where the time
    went is the caller's loop, not that function."""
    end = top.end_ts if top.end_ts is not None else limit
    if not any(top.ts <= g.ts <= end for g in view.gaps):
        return False
    key = (top.module, top.function, top.arity)
    return sum(1 for k in kids if (k.module, k.function, k.arity) == key) >= 2


def _makes_calls(view: RecordingView, c: Call) -> bool:
    for m in view.messages:
        if m.sender == c.pid and m.send_ts and c.ts <= m.send_ts and (c.end_ts is None or m.send_ts <= c.end_ts):
            if isinstance(m.msg, tuple) and len(m.msg) == 3 and is_atom(m.msg[0], "$gen_call"):
                return True
    return False


def _finding(view, slow: Call, caller, ts, ev_id, ev_kind, request, timeout, tgt, api="GenServer.call") -> Finding:
    dur = slow.duration(view.time_unit)
    lost = view.dropped_in(slow.pid, slow.ts, slow.end_ts)
    dur_text = (f"{dur:.0f} ms" if dur is not None and not lost else
                "an unknown time (its end was lost in events the capture dropped)" if slow.broken else
                "an unknown time (events were dropped while it ran)" if lost else "longer than the recording")
    req = slow.args[0] if slow.args and slow.function in CALLBACKS else request
    others = [c.duration(view.time_unit) for c in view.calls_by_pid.get(tgt, [])
              if c.function == slow.function and c is not slow and c.duration(view.time_unit) is not None]
    typical = f" (the other {len(others)} calls took at most {max(others):.0f} ms)" if others else ""
    evidence = [
        view.call_evidence(slow, f"{slow.mfa} started handling {fmt(req)}"),
        view.evidence(ev_id, ev_kind, ts, caller,
                      f"caller gave up after {fmt(timeout)} ms waiting for {view.label(tgt)} and returned its timeout"
                      if ev_kind == "return" else
                      f"caller exited: timeout after {fmt(timeout)} ms waiting for {view.label(tgt)}"),
    ]
    if slow.end_id is not None:
        evidence.append(view.end_evidence(slow, f"{slow.mfa} finished after {dur_text}"))
    path = hot_path(view, slow)
    hot = path[-1] if path else slow
    named, kind, spread_text = one_level_down(view, slow, path)
    inside = ""
    if path:
        hdur = hot.duration(view.time_unit)
        hdur_text = (f"{hdur:.0f} ms" if hdur is not None and not view.dropped_in(hot.pid, hot.ts, hot.end_ts) else
                     "an unknown time: events were dropped while it ran" if hdur is not None or hot.broken else
                     "until the recording ended")
        inside = (f" The time went in {hot.mfa} ({hdur_text}"
                  + (f", in {view.label(hot.pid)}" if hot.pid != slow.pid else "") + "), reached through "
                  + " → ".join(c.mfa for c in [slow] + path) + ".")
        for c in path:
            if c.pid != slow.pid or c is hot:
                evidence.append(view.call_evidence(c, f"{c.mfa} ran inside {slow.mfa}" + (
                    f" in {view.label(c.pid)}" if c.pid != slow.pid else "")))
        if hot.end_id is not None:
            evidence.append(view.end_evidence(hot, f"{hot.mfa} returned after {hdur_text}"))
    retry = None
    if kind != "builder":   # a redundant collection is the cause whatever each item's call did
        retry = slow_retries.retry_loop(view, slow, _horizon(view, slow.pid, _recording_end(view)))
    if retry is not None:
        # the time went between attempts at a callee that kept failing: the function that kept
        # asking (and waiting before asking again) holds the wait, not the callee nor the callback
        named, spread_text = retry.retrier, ""
        inside += f" {retry.describe(view)}."
        evidence.append(view.call_evidence(retry.retrier, f"{retry.retrier.mfa} started retrying"))
        evidence.append(view.end_evidence(retry.callee, f"{retry.callee.mfa} returned {fmt(retry.callee.value, 60)} "
                                                        f"(attempt 1 of {retry.attempts})"))
    if spread_text:
        inside += f" {spread_text}."
        if named is not hot:
            evidence.append(view.end_evidence(named, f"{named.mfa} returned {fmt(named.value, 60)}")
                            if named.end_id is not None else view.call_evidence(named, f"{named.mfa} ran inside {hot.mfa}"))
    what = "callback" if slow.function in CALLBACKS else "call"
    return Finding(
        detector="slow_callback",
        title=(f"{named.mfa} kept retrying {retry.callee.mfa} ({retry.attempts} attempts) in {what} {slow.mfa}: "
               "callers time out" if retry is not None
               else f"{named.mfa} made {what} {slow.mfa} slow through {hot.mfa}'s loop: callers time out"
               if kind == "builder" else f"Slow {named.mfa} in {what} {slow.mfa} makes callers time out" if path or named is not hot
               else f"Slow {what} {slow.mfa} makes callers time out"),
        summary=(
            f"{view.label(tgt)} spent {dur_text} in {slow.mfa}" + (f" handling {fmt(req)}" if req is not None else "")
            + f"{typical}; its caller {view.label(caller)} gave up after {fmt(timeout)} ms with a {api} timeout."
            + inside + (" While the callback runs, the server handles nothing else." if what == "callback" else "")
        ),
        severity="high",
        confidence=0.8,
        culprit=Culprit(module=mod_name(named.module), function=f"{named.function}/{named.arity}",
                        detail=fmt(req) if req is not None else None,
                        process=view.label(named.pid)),
        evidence=evidence,
        causal_chain=evidence[:2],
        messages=[
            MessageArrow(sender=view.label(caller), receiver=view.label(tgt),
                         message=f"call {fmt(req, 50)}" if req is not None else api,
                         at_ms=view.at_ms(slow.ts), kind="call"),
            MessageArrow(sender=view.label(caller), receiver=view.label(caller), message="timeout",
                         at_ms=view.at_ms(ts), kind="exit"),
        ],
        signatures=[SIGNATURES[0], SIGNATURES[2] if api == "Task.await" else SIGNATURES[1]]
        + (["callback:slow:repeated_work"] if kind else []) + (["callback:slow:retry_loop"] if retry else []),
        fix_hint=(
            (f"Bound {named.mfa}'s retries (a few attempts, a capped backoff, within the caller's timeout) and "
             f"return the error when they run out, or " if retry is not None
             else f"Make {named.mfa} return only the elements the loop needs (each unordered set once, no item with "
             f"itself, no duplicates), or " if kind == "builder"
             else f"Make {named.mfa} fast (it is where {slow.mfa}'s time went), or " if path or named is not hot
             else f"Keep {slow.function} fast: ")
            + f"move the slow work for {fmt(req, 60)} out of the server "
            "(a Task under a Task.Supervisor replying later with GenServer.reply/2), or cache/precompute it; "
            "raising the call timeout only hides the stall."
        ),
    )


def one_level_down(view: RecordingView, slow: Call, path: list[Call]) -> tuple[Call, str, str]:
    """The function to name when the hot path ends at a loop (:mod:`.slow_parts`): the helper
    that built a redundant collection the loop went over (``"builder"``), or — the loop being the
    callback itself — the callee whose own time made most of it (``"callee"``); else the hot
    path's end (``""``). With the numbers that say so (empty when there is no loop)."""
    hot = path[-1] if path else slow
    limit = hot.end_ts if hot.end_ts is not None else _horizon(view, hot.pid, _recording_end(view))
    sp = slow_parts.spread(view, hot, limit)
    if sp is None:
        return hot, "", ""
    text = slow_parts.describe(view, sp)
    if sp.wasteful and sp.builder is not None:
        return sp.builder, "builder", text
    if not sp.wasteful and not path and sp.own >= slow_parts.SPREAD_SHARE * _span(hot, limit):
        return sp.callee, "callee", text + f", {sp.own * 1000.0 / view.time_unit:.0f} ms of it in {sp.callee.mfa} itself"
    return hot, "", text
