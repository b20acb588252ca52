"""Who waits on whom when calls never return: chains of blocked processes and the frame at the
end of the chain that holds everyone up.

A call that has not returned by the end of the recording (or until its caller gave up) makes
its process wait. Wait-for edges come from three kinds of evidence:

- a ``$gen_call`` sent and not answered (sender waits on receiver);
- a client function of a server's module running in another process (``MyApp.Admin.sign_up/2``
  running in a caller waits on the process registered as ``MyApp.Admin`` — on the node the
  function's arguments name, else on the caller's node: a cluster may run it on every node);
- a process that spawned a child whose ``init`` is still running (``start_link`` /
  ``start_child`` wait for ``init`` to return).

In a recording of several nodes the edges cross nodes like any other (the view matches a call
to a remote pid or ``{name, node}`` with its receive on the other node). A call to a node the
recording does not hold is named in the fact, with the advice to record that node too.

Following the edges from the processes that were kept waiting leads to a process that waits
on nobody the recording can see: its innermost running application frame — a blocking
``receive``, an ``init`` that calls back into its supervisor, a slow operation — is where the
time goes, and the culprit.
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .nodes import target_node
from .reasons import source_function

MIN_BLOCKED_MS = 500.0


def _open_frames(view: RecordingView, end: int) -> dict[int, list[Call]]:
    """process → its application calls still running at ``end`` (outermost first). A call whose
    return the capture dropped (``Call.broken``: a loop's step that seemed to hold every later
    step inside it, agents/view_gaps.py) had ended: it is not where the process is stuck."""
    out: dict[int, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.open and is_app_module(c.module) and c.ts <= end:
            out[c.pid].append(c)
    for frames in out.values():
        frames.sort(key=lambda c: (c.depth, c.ts))
    return out


def _server_of(view: RecordingView) -> dict[str, dict[str | None, int]]:
    """module (as the node names it) → node → the process that runs it as a server there (a
    cluster may run the same server on every node)."""
    out: dict[str, dict[str | None, int]] = defaultdict(dict)
    for pid, mod in view.module_of_pid.items():
        out[mod].setdefault(view.node_of(pid), pid)
    for pid, p in view.procs.items():
        if p.name:
            out["Elixir." + p.name].setdefault(p.node, pid)
    return out


def _server_for(view: RecordingView, servers: dict[str, dict[str | None, int]], c: Call) -> int | None:
    """The server a client function running in a caller waits on: on the node its arguments
    name (``Directory.lookup(:"accounts@host", key)``), else on the caller's own node, else the
    only one there is."""
    where = servers.get(c.module)
    if not where:
        return None
    for a in c.args:
        name = getattr(a, "name", None)
        if isinstance(name, str) and name in where:
            return where[name]
    own = view.node_of(c.pid)
    if own in where:
        return where[own]
    return next(iter(where.values())) if len(where) == 1 else None


def _unrecorded_targets(view: RecordingView, pid: int, since: int) -> list[str]:
    """``$gen_call``s of ``pid`` (since ``since``) to a process on a node this recording does not
    hold: where its wait leads, out of sight."""
    recorded = set(view.nodes.values())
    out = []
    for m in view.messages:
        if m.sender != pid or m.receiver is not None or m.send_ts is None or m.send_ts < since:
            continue
        if not (isinstance(m.msg, tuple) and len(m.msg) == 3 and getattr(m.msg[0], "name", None) == "$gen_call"):
            continue
        node = target_node(m.to)
        if node and recorded and node not in recorded:
            out.append(f"{fmt(m.to, 80)} on {node}")
    return list(dict.fromkeys(out))


def _stuck_frame(view: RecordingView, frames: list[Call], end: int) -> Call:
    """Where a blocked process spends its time: the innermost of its open ``frames`` (outermost
    first), past frames that are one step of a loop above them — a frame that started in the
    last half of the wait while calls of the same function, in the same process, returned during
    it (``Enum.flat_map(items, &check(&1, items))`` over a long list: the check running at the end
    is the latest of many; the function iterating is where the time goes)."""
    start = frames[0].ts
    if end <= start:
        return frames[-1]
    returned = {(c.module, c.function, c.arity) for c in view.calls_by_pid.get(frames[0].pid, [])
                if c.outcome is not None and c.ts >= start and c.end_ts is not None}
    i = len(frames) - 1
    while i > 0 and (frames[i].module, frames[i].function, frames[i].arity) in returned \
            and (end - frames[i].ts) * 2 < (end - start):
        i -= 1
    return frames[i]


def blocked_chains(view: RecordingView, book: FactBook) -> None:
    ends = [c.ts for c in view.calls] + [e.ts for e in view.exits]
    if not ends:
        return
    end = max(ends)
    ms = view.time_unit / 1000.0
    frames = _open_frames(view, end)
    # processes that have exited are not waiting any more
    dead = {e.pid for e in view.exits}
    blocked = {pid: fs for pid, fs in frames.items() if pid not in dead and (end - fs[0].ts) >= MIN_BLOCKED_MS * ms}
    if not blocked:
        return
    servers = _server_of(view)
    waits: dict[int, set[int]] = defaultdict(set)
    for m in view.messages:
        if m.sender in blocked and m.receiver is not None and m.receiver != m.sender and isinstance(m.msg, tuple) \
                and len(m.msg) == 3 and getattr(m.msg[0], "name", None) == "$gen_call" \
                and m.send_ts is not None and m.send_ts >= blocked[m.sender][0].ts:
            waits[m.sender].add(m.receiver)
    for pid, fs in blocked.items():
        for c in fs:
            srv = _server_for(view, servers, c)
            if srv is not None and srv != pid and not c.function.startswith(("handle_", "init", "-")):
                waits[pid].add(srv)
    for s in view.spawns:
        if s.parent in blocked and s.child in blocked and s.ts >= blocked[s.parent][0].ts:
            waits[s.parent].add(s.child)
    waited_on: dict[int, set[int]] = defaultdict(set)
    for a, bs in waits.items():
        for b in bs:
            waited_on[b].add(a)
    seen: set[int] = set()
    for pid in sorted(blocked, key=lambda p: blocked[p][0].ts):
        if waits.get(pid) and any(b in blocked for b in waits[pid]):
            continue  # it waits on another blocked process: not the end of a chain
        if pid in seen or not waited_on.get(pid):
            continue
        # everyone who (transitively) waits on pid
        victims, todo = set(), [pid]
        while todo:
            for w in waited_on.get(todo.pop(), ()):
                if w not in victims and w != pid:
                    victims.add(w)
                    todo.append(w)
        seen.add(pid)
        inner = blocked[pid][-1]
        named = [c for c in blocked[pid] if not c.function.startswith("-")]
        culprit_call = _stuck_frame(view, named, end) if named else inner
        held = (end - blocked[pid][0].ts) / ms
        detail = culprit_call.args[0] if culprit_call.function.startswith(("handle_", "init")) and culprit_call.args \
            else (culprit_call.args if culprit_call.args else None)
        tokens = ["call:blocked_waiting"]
        if culprit_call.function == "init":
            tokens.append("callback:slow_init")
        if any(c.function.startswith("handle_") for c in blocked[pid]):
            tokens.append("callback:slow")
        chain = [view.call_evidence(blocked[v][0], f"{view.label(v)} waits in {blocked[v][-1].mfa}")
                 for v in sorted(victims, key=lambda v: blocked[v][0].ts) if v in blocked][:5]
        beyond = _unrecorded_targets(view, pid, blocked[pid][0].ts)
        book.add(Finding(
            detector="blocked_chain",
            title=f"{culprit_call.mfa} never returns and {len(victims)} process(es) wait on it",
            summary=(f"{view.label(pid)} has been inside {culprit_call.mfa} for {held:.0f} ms without returning, and "
                     f"{', '.join(view.label(v) for v in sorted(victims)[:4])} wait on it (calls, or a start that "
                     "waits for init): everything behind it hangs until a timeout."
                     + (f" It is itself waiting in a call to {', '.join(beyond[:2])}, a node this recording does not "
                        "hold: record that node too (diagnose --node for each, or --cluster) to see what holds it."
                        if beyond else "")),
            severity="critical", confidence=min(0.8, 0.55 + 0.08 * len(victims)),
            culprit=Culprit(module=mod_name(culprit_call.module),
                            function=source_function(culprit_call.function, culprit_call.arity),
                            detail=fmt(detail, 150) if detail is not None else None, process=view.label(pid)),
            evidence=[view.call_evidence(culprit_call, f"{culprit_call.mfa} started and never returned")] + chain,
            signatures=tokens,
            fix_hint=("Do not block a process that others call or start: no blocking receive or synchronous call "
                      "back into a waiting process inside a callback or init; move slow work out (handle_continue, "
                      "a Task) and give waits a timeout.")),
            pid=pid, ts=culprit_call.ts)
