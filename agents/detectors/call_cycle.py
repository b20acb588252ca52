"""GenServer call cycles and deadlocks.

``GenServer.call/3`` sends ``{:"$gen_call", {caller, tag}, request}`` and blocks until a
message ``{tag, reply}`` comes back (or the timeout fires). A call is *outstanding* from its
send until its reply reaches the caller, or the caller gives up. Outstanding calls are the
edges of a wait-for graph; a cycle in it at one moment is a deadlock: A waits on B while B
waits on A (or longer chains), and nobody can answer until a timeout breaks it.

Calls to a process on another node (a remote pid or ``{name, node}``) are edges like any other
when the recording holds both nodes (the view matches their sends and receives): a cycle
through several nodes is the same deadlock, named with each process's node.

The culprit is the call that *closed* the cycle — the callback that called a process which
was already waiting on it. Its request is the offending message.
"""

from __future__ import annotations

from ..findings import Culprit, Finding, MessageArrow
from ..view import Message, RecordingView, fmt, is_atom, mod_name

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("call:cycle", "call:nested_in_callback", "exception:timeout:GenServer.call")
ACROSS_NODES = "call:cycle:across_nodes"  # ... and the cycle's processes run on more than one node


def _gen_call(msg) -> tuple | None:
    """(tag, request) of a ``$gen_call`` message, else None."""
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_call"):
        frm = msg[1]
        if isinstance(frm, tuple) and len(frm) == 2:
            return frm[1], msg[2]
    return None


def _tag_key(tag) -> object:
    # OTP 24+ tags are [alias | Ref] improper lists; compare by the reference inside.
    items = getattr(tag, "items", None)
    if items is not None:
        return ("alias", getattr(tag, "tail", None))
    if isinstance(tag, list) and tag:
        return ("alias", tag[-1])
    return tag


def outstanding_calls(view: RecordingView) -> list[tuple[Message, int, int | None, Message | None]]:
    """Every ``$gen_call`` send with its interval: (send, start_ts, end_ts or None, reply)."""
    calls = []
    replies: dict[object, Message] = {}
    for m in view.messages:
        if isinstance(m.msg, tuple) and len(m.msg) == 2:
            replies.setdefault(_tag_key(m.msg[0]), m)
    for m in view.messages:
        gc = _gen_call(m.msg)
        if gc is None or m.send_ts is None or m.sender is None or m.receiver is None:
            continue
        reply = replies.get(_tag_key(gc[0]))
        end = None
        if reply is not None:
            end = reply.receive_ts or reply.send_ts
        else:
            # the caller gave up: its exception or exit ends the wait
            for c in view.calls_by_pid.get(m.sender, []):
                if c.outcome == "exception" and c.end_ts and c.end_ts > m.send_ts and "timeout" in fmt(c.value, 400):
                    end = c.end_ts
                    break
            if end is None:
                for e in view.exits:
                    if e.pid == m.sender and e.ts > m.send_ts:
                        end = e.ts
                        break
        calls.append((m, m.send_ts, end, reply))
    return calls


def _waits_at(calls: list[tuple[Message, int, int | None, Message | None]]) -> list[dict[int, tuple[Message, int]]]:
    """For each call, who waits on whom at the moment it starts: sender → (its call, start) of the
    first-listed call of that sender outstanding then (started at or before that moment, not
    ended by it). One sweep in start order — the calls open at a moment are kept as the moments
    advance, not found again among all calls for each one (quadratic in a busy recording)."""
    order = sorted(range(len(calls)), key=lambda i: calls[i][1])
    out: list[dict[int, tuple[Message, int]]] = [{} for _ in calls]
    open_: set[int] = set()
    j = k = 0
    while k < len(order):
        start = calls[order[k]][1]
        while j < len(order) and calls[order[j]][1] <= start:
            open_.add(order[j])
            j += 1
        open_ -= {i for i in open_ if calls[i][2] is not None and calls[i][2] <= start}   # ended: for good
        waits: dict[int, tuple[Message, int]] = {}
        for i in sorted(open_):
            waits.setdefault(calls[i][0].sender, (calls[i][0], calls[i][1]))
        while k < len(order) and calls[order[k]][1] == start:
            out[order[k]] = waits
            k += 1
    return out


def detect(view: RecordingView) -> list[Finding]:
    calls = outstanding_calls(view)
    findings: list[Finding] = []
    seen: set[frozenset] = set()
    waits_at = _waits_at(calls)
    for i, (m, start, end, _reply) in enumerate(calls):
        # at the moment this call starts, follow waits from its receiver back to its sender
        waits = waits_at[i]
        chain = [(m, start)]
        cur = m.receiver
        visited = {m.sender}
        while cur in waits and cur not in visited:
            visited.add(cur)
            nxt, ts = waits[cur]
            chain.append((nxt, ts))
            cur = nxt.receiver
        if cur != m.sender or len(chain) < 2:
            continue
        members = frozenset(c.sender for c, _ in chain)
        if members in seen:
            continue
        seen.add(members)
        closing = max(chain, key=lambda x: x[1])[0]
        findings.append(_finding(view, chain, closing))
    return findings


def _finding(view: RecordingView, chain, closing: Message) -> Finding:
    closing_req = _gen_call(closing.msg)[1]
    callee_mod = view.module_of_pid.get(closing.sender)
    # the callback of the closing process that was running when it made the call
    func = None
    for c in view.calls_by_pid.get(closing.sender, []):
        if c.function.startswith("handle_") and c.running_at(closing.send_ts or 0):
            func = c
    module = mod_name(func.module) if func else (mod_name(callee_mod) if callee_mod else view.label(closing.sender))
    handled = fmt(func.args[0]) if func and func.args else None
    names = [view.label(c.sender) for c, _ in chain]
    nodes = list(dict.fromkeys(n for c, _ in chain if (n := view.node_of(c.sender))))
    if len(nodes) > 1:  # a cycle through several nodes: say where each process runs
        names = [f"{view.label(c.sender)} ({view.node_of(c.sender)})" for c, _ in chain]
    cycle = " → ".join(names + [names[0]])
    evidence = []
    arrows = []
    for c, _ts in sorted(chain, key=lambda x: x[1]):
        req = _gen_call(c.msg)[1]
        evidence.append(view.evidence(c.send_id, "send", c.send_ts, c.sender,
                                      f"GenServer.call to {view.label(c.receiver)} with {fmt(req)} — no reply"))
        arrows.append(MessageArrow(sender=view.label(c.sender), receiver=view.label(c.receiver),
                                   message=f"call {fmt(req, 50)}", send_event=c.send_id,
                                   receive_event=c.receive_id, at_ms=view.at_ms(c.send_ts), kind="call"))
    for pid in {c.sender for c, _ in chain}:
        for c in view.calls_by_pid.get(pid, []):
            if c.outcome == "exception" and "timeout" in fmt(c.value, 400):
                evidence.append(view.end_evidence(c, f"{c.mfa} exited: {fmt(c.value)}"))
                arrows.append(MessageArrow(sender=view.label(pid), receiver=view.label(pid),
                                           message="timeout", at_ms=view.at_ms(c.end_ts), kind="exit"))
                break
        for e in view.exits:
            if e.pid == pid and "timeout" in fmt(e.reason, 400):
                evidence.append(view.evidence(e.event_id, "exit", e.ts, e.pid, f"exited: {fmt(e.reason)}"))
                break
    summary = (
        f"Deadlock in a GenServer call cycle {cycle}: while {view.label(chain[0][0].sender)} waited for "
        f"{view.label(chain[0][0].receiver)}, {view.label(closing.sender)} called back into a process that "
        f"was already waiting on it (request {fmt(closing_req)}"
        + (f", made from {module}.{func.function}/{func.arity} handling {handled}" if func else "")
        + "). Neither can reply until a call timeout fires."
        + (f" The cycle runs across {len(nodes)} nodes ({', '.join(nodes)}): each node alone looks merely slow."
           if len(nodes) > 1 else "")
    )
    return Finding(
        detector="call_cycle",
        title=f"GenServer call cycle: {cycle}",
        summary=summary,
        severity="critical",
        confidence=0.95,
        culprit=Culprit(module=module, function=f"{func.function}/{func.arity}" if func else None,
                        detail=fmt(closing_req), process=view.label(closing.sender),
                        node=view.node_of(closing.sender) if len(nodes) > 1 else None),
        evidence=evidence,
        causal_chain=evidence[: len(chain)],
        messages=arrows,
        signatures=list(SIGNATURES) + ([ACROSS_NODES] if len(nodes) > 1 else []),
        fix_hint=(
            "Break the cycle: a callback must not synchronously call a process that may be calling it. "
            "Reply first and do the work after (`{:reply, :ok, state, {:continue, ...}}`), use `cast`/`send` "
            "for the back-edge, or move the shared work into a third process."
        ),
    )
