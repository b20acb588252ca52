"""Process leaks.

A process spawned per request that never exits — waiting on a ``receive`` that never comes, or
looping — is a leak: the process count and memory grow with traffic until the node hits its
process limit. Proof: many ``spawn`` events with the same initial call and no matching
``exit`` by the end of the recording, and the node's process count rising in the samples. The
function that spawns them is the culprit — past start functions (``start_link``, ``spawn_…``),
which only make the process, to their caller (the callback starting a child per request and
never ending it); the initial call says what leaks. An OTP process that did its own work and
then waits for nothing is another matter (:func:`finished_work`): when every leaked process's last
callback is the same one, run on the process's own request (a ``handle_continue/2``, or a
``handle_info/2`` of a message no other process sent it) and returning ``{:noreply, state}``, the process
ended its work without stopping — that callback is the culprit, not the start function that made it
(an application caller that starts one per request, past the start functions, stays the culprit:
it could end what it started).
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..findings import Culprit, Finding
from elixir_scope.instrument.etf import Fun

from ..view import RecordingView, fmt, is_app_module, mod_name

MIN_LEAKED = 20
#: the fewest leaked processes that count when the user reports the process count growing: a
#: short capture of one reproduction shows a few per request, not the thousands watched for hours
MIN_LEAKED_STATED = 5

#: the symptom says processes pile up: "the process count kept climbing", "one process per ticket",
#: "thousands of processes that never go away"
PROCESSES_GROW = re.compile(
    r"\bprocess(?:es|'s)? (?:count|number)|\b(?:number|count) of (?:live |running )?processes"
    r"|\bprocess(?:es)? (?:\w+ ){0,3}?(?:climb|grow|pil|increas|leak|accumulat|never (?:exit|end|die|stop|go))\w*"
    r"|\b(?:one|a|an|\d+) (?:new |extra |more )?process(?:es)? (?:per|for each|for every|each)\b|\bleak\w* process",
    re.I)

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("process:count_growing", "message:unmatched", "process:orphaned")


def _mfa_text(mfa) -> str:
    if isinstance(mfa, tuple) and len(mfa) == 3:
        m, f, a = mfa
        arity = len(a) if isinstance(a, list) else a
        return f"{mod_name(str(getattr(m, 'name', m)))}.{getattr(f, 'name', f)}/{arity}"
    return fmt(mfa)


def _group(mfa) -> str:
    """What a spawn runs, to group them by: its initial call, and for a fun (``spawn(fn -> … end)``,
    ``{:erlang, :apply, [fun, []]}``) the module that defined the fun as well."""
    if isinstance(mfa, tuple) and len(mfa) == 3 and isinstance(mfa[2], list) and mfa[2] \
            and isinstance(mfa[2][0], Fun):
        try:
            return f"a fun of {mod_name(str(mfa[2][0].module))} ({_mfa_text(mfa)})"
        except Exception:   # an encoding the display cannot read: the initial call alone
            pass
    return _mfa_text(mfa)


def detect(view: RecordingView, symptom: str = "") -> list[Finding]:
    """Process leaks; ``symptom``: the user's words — when they report the process count growing,
    :data:`MIN_LEAKED_STATED` processes of one kind that all outlived the recording suffice."""
    exited = {e.pid for e in view.exits}
    groups: dict[str, list] = defaultdict(list)
    for s in view.spawns:
        groups[_group(s.mfa)].append(s)
    least = MIN_LEAKED_STATED if PROCESSES_GROW.search(symptom or "") else MIN_LEAKED
    findings = []
    for mfa, spawns in groups.items():
        alive = [s for s in spawns if s.child not in exited]
        if len(alive) < least or len(alive) < 0.8 * len(spawns):
            continue
        if len(alive) < MIN_LEAKED and len(alive) < len(spawns):
            continue   # a few, stated: every one of them must have outlived the recording
        findings.append(_finding(view, mfa, spawns, alive))
    return findings


def _owner_call(view: RecordingView, spawner):
    """Who made the process and never ends it: a start function (``start_link``, ``start_child``,
    ``spawn_worker``…) only makes it, so the culprit is the application call that called it —
    up to a callback of the owning process (a ``handle_*`` starting a child per request). Not
    above the trigger's own calls (an rpc worker's), which are the reproduction."""
    cur = spawner
    while (cur is not None and cur.function.startswith(("start", "spawn")) and cur.parent is not None
           and is_app_module(cur.parent.module) and cur.pid not in view.rpc_workers):
        cur = cur.parent
    return cur


def _self_driven(view: RecordingView, c) -> bool:
    """A callback run on the process's own request: ``handle_continue/2`` (asked for by its own
    ``init/1`` or callback), or ``handle_info/2`` of a message no other process is recorded
    sending it (its own ``send(self(), …)``, which the trace may not hold: a process started
    during the capture is not traced for its sends)."""
    if c.function == "handle_continue" and c.arity == 2:
        return True
    if c.function == "handle_info" and c.arity == 2 and c.args:
        return not any(m.receiver == c.pid and m.sender is not None and m.sender != c.pid and m.msg == c.args[0]
                       for m in view.messages)
    return False


def finished_work(view: RecordingView, alive):
    """The callback after which the leaked processes wait for nothing: every leaked process whose
    callbacks the recording holds (at least 4 in 5 of them) ran, as its last top-level call, one
    and the same callback of the application, run on its own request (:func:`_self_driven`),
    which returned ``{:noreply, state}`` (no timeout) and nothing reached it afterwards. Its first
    such call, else None."""
    lasts = []
    for s in alive:
        own = [c for c in view.calls_by_pid.get(s.child, []) if c.parent is None and is_app_module(c.module)]
        if not own:
            continue
        last = max(own, key=lambda c: (c.ts, c.call_id))
        if last.end_ts is None or last.outcome != "return" or not _self_driven(view, last):
            return None
        v = last.value
        if not (isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "noreply"):
            return None   # a timeout or hibernation, a stop: not waiting for nothing
        if any(m.receiver == s.child and (m.receive_ts or m.send_ts or 0) > last.end_ts for m in view.messages):
            return None   # something reached it later: it still serves
        lasts.append(last)
    if not lasts or len(lasts) < 0.8 * len(alive) or len({(c.module, c.function, c.arity) for c in lasts}) != 1:
        return None
    return min(lasts, key=lambda c: (c.ts, c.call_id))


def _finding(view: RecordingView, mfa: str, spawns, alive) -> Finding:
    first = alive[0]
    spawner = None
    for c in view.calls_by_pid.get(first.parent, []):
        if c.running_at(first.ts) and not c.module.startswith(("proc_lib", "erlang")):
            spawner = c
    spawner = _owner_call(view, spawner)
    # the process's own start function only made it: what it did last, on its own, kept it alive
    done = finished_work(view, alive) if spawner is None or spawner.function.startswith(("start", "spawn")) else None
    made_by = f" by {mod_name(spawner.module)}.{spawner.function}/{spawner.arity}" if spawner else ""
    if done is not None:
        spawner = done
    module = mod_name(spawner.module) if spawner else view.label(first.parent)
    function = f"{spawner.function}/{spawner.arity}" if spawner else None
    leaked = {s.child for s in alive}
    unmatched = [m for m in view.messages if m.receiver in leaked]
    counts = [s.process_count for s in view.samples]
    growth = f" The node's process count went from {counts[0]} to {counts[-1]} while recording." if len(counts) >= 2 else ""
    span = (alive[-1].ts - alive[0].ts) * 1000.0 / view.time_unit
    evidence = [view.evidence(s.event_id, "spawn", s.ts, s.parent, f"spawned {view.label(s.child)} running {mfa}")
                for s in alive[:5]]
    if spawner:
        evidence.insert(0, view.call_evidence(spawner))
    for m in unmatched[:3]:
        evidence.append(view.evidence(m.send_id or m.receive_id, "send", m.send_ts or m.receive_ts, m.sender,
                                      f"sent {fmt(m.msg)} to leaked {view.label(m.receiver)}: never matched by its receive"))
    waiting = (f" Each was sent {fmt(unmatched[0].msg)}, which its receive does not match, so it waits forever."
               if unmatched else "")
    if len(counts) >= 2:
        evidence.append(view.evidence(None, "sample", view.samples[-1].ts, None, f"process count {counts[-1]} (was {counts[0]})"))
    return Finding(
        detector="process_leak",
        title=f"Process leak: {len(alive)} processes running {mfa} never exit",
        summary=(
            f"{len(spawns)} processes running {mfa} were spawned in {span:.0f} ms{made_by}"
            + f", and {len(alive)} of them were still alive when the recording ended: they never exit.{waiting}"
            + (f" Each ran {done.mfa} on its own request as its last callback, which returned "
               f"{fmt(done.value, 50)}: the work was done and the process went on waiting for nothing."
               if done is not None else "") + growth
        ),
        severity="high",
        confidence=0.85 if len(counts) >= 2 and counts[-1] > counts[0] else 0.75,
        culprit=Culprit(module=module, function=function,
                        detail=fmt(unmatched[0].msg) if unmatched else mfa),
        evidence=evidence,
        causal_chain=evidence[:3],
        signatures=list(SIGNATURES),
        fix_hint=(
            f"Stop the process when its work is done: return {{:stop, :normal, state}} from {done.mfa}."
            if done is not None else
            "Give every spawned process a way to end: a timeout in its receive (`after`), a monitor on its "
            "requester, or run it under a Task.Supervisor with `Task.Supervisor.async_nolink` and a timeout."
        ),
    )
