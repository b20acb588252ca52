"""Nodes that went away, and the messages and calls still addressed to them.

A message to a process on another node is lost without a word once that node is gone: ``send``
to a remote pid or ``{name, node}`` succeeds locally, a ``GenServer.cast`` too; only calls
fail (``{:nodedown, node}``) and links deliver ``:noconnection``. This module finds, in any
recording, when each node went away and who kept addressing it afterwards.

When a node went, as far as the recording shows (the earliest of):

- the recording itself lost it (a node of a multi-node recording whose part ended with
  ``node_down``: ``RecordingView.node_gone``);
- a process received ``{:nodedown, node}`` (``monitor_node``) or ``{:nodedown, node, info}``
  (``:net_kernel.monitor_nodes``);
- a process received ``{:DOWN, ref, :process, target, :noconnection}`` for a target on it;
- a call to it failed with ``{:nodedown, node}``;
- (for a pid) the node was recorded, but running under another ``creation``: the pid belongs to
  an earlier run of the node, gone since it restarted.

Fact made here (``Finding.detector``):

| kind | what | culprit |
| --- | --- | --- |
| ``send_to_gone_node`` | messages sent to a remote pid or ``{name, node}`` after that node was gone, never received (and calls that failed with ``{:nodedown, _}``, linked to it) | where the sender got the address: the callback that first put the stale pid (or the node name) into its state — ``init/1`` when it was there from the start — else the function that sent |

Calls that failed with ``{:nodedown, node}`` (``call_failed`` facts) and exits with
``:noconnection`` of the same process are linked to the fact: they are the same stale address.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom, Pid

from ..findings import Culprit, Evidence, Finding, MessageArrow
from ..view import Message, RecordingView, fmt, is_atom, mod_name
from . import reasons as R
from .book import FactBook
from .failures import _culprit, kept_since, pid_source

TOKENS = ["dist:send_to_gone_node", "dist:nodedown"]


def target_node(to: Any) -> str | None:
    """The node a send's ``To`` (or a call's target) names: a remote pid's node, or the node of
    ``{name, node}``; None for a local name or anything else."""
    if isinstance(to, Pid):
        return getattr(to.node, "name", None)
    if isinstance(to, tuple) and len(to) == 2 and isinstance(to[1], Atom) and isinstance(to[0], Atom):
        return to[1].name
    return None


def unrecorded_calls(view: RecordingView) -> list[tuple[str, str]]:
    """(node, caller) for every ``$gen_call`` to a process on a node the recording does not hold
    that got no reply in the recording: the caller waited on something out of sight. Callers by
    label, in order of the first such call."""
    recorded = set(view.nodes.values())
    if not recorded:
        return []
    replied = {fmt(m.msg[0], 200) for m in view.messages if isinstance(m.msg, tuple) and len(m.msg) == 2}
    out = []
    for m in view.messages:
        if m.receiver is not None or m.sender is None or not (
                isinstance(m.msg, tuple) and len(m.msg) == 3 and is_atom(m.msg[0], "$gen_call")):
            continue
        node = target_node(m.to)
        if node is None or node in recorded:
            continue
        frm = m.msg[1]
        tag = frm[1] if isinstance(frm, tuple) and len(frm) == 2 else None
        if tag is not None and fmt(tag, 200) in replied:
            continue
        out.append((node, view.label(m.sender)))
    return list(dict.fromkeys(out))


def _earlier_run(view: RecordingView, to: Any, node: str) -> bool:
    """A pid of ``node`` whose creation is not that of the node's recorded run."""
    current = view.node_creation.get(node)
    return isinstance(to, Pid) and current is not None and getattr(to, "creation", current) != current


def _down_message(msg: Any) -> tuple[str, str] | None:
    """(node, how) for ``{:nodedown, node[, info]}`` or ``{:DOWN, _, :process, target,
    :noconnection}``; else None."""
    if isinstance(msg, tuple) and len(msg) in (2, 3) and is_atom(msg[0], "nodedown") and isinstance(msg[1], Atom):
        return msg[1].name, f"received {{:nodedown, {fmt(msg[1])}}}"
    if isinstance(msg, tuple) and len(msg) == 5 and is_atom(msg[0], "DOWN") and is_atom(msg[4], "noconnection"):
        node = target_node(msg[3])
        if node:
            return node, f"a monitor on {fmt(msg[3], 60)} fired with :noconnection"
    return None


def gone_nodes(view: RecordingView, book: FactBook) -> dict[str, tuple[int, str, Evidence | None]]:
    """node name → (when it was known gone, how, the evidence that shows it) — the earliest sign."""
    out: dict[str, tuple[int, str, Evidence | None]] = {}

    def note(node: str, ts: int | None, how: str, ev: Evidence | None) -> None:
        if ts is not None and (node not in out or ts < out[node][0]):
            out[node] = (ts, how, ev)

    for node, ts in view.node_gone.items():
        note(node, ts, "the recording lost the node (its capture ended with node_down)", None)
    for m in view.messages:
        down = _down_message(m.msg) if m.receive_id is not None else None
        if down is not None:
            note(down[0], m.receive_ts, down[1],
                 view.evidence(m.receive_id, "receive", m.receive_ts, m.receiver, f"{down[0]} gone: {down[1]}"))
    for f in book.of_kind("call_failed"):
        gc = book.meta[f.id].get("gc")
        if gc is not None and gc.why == "nodedown":
            node = _nodedown_node(book.meta[f.id].get("reason")) or target_node(gc.target)
            if node:
                note(node, book.meta[f.id].get("ts"), f"a call to {fmt(gc.target, 60)} failed with nodedown",
                     f.evidence[0] if f.evidence else None)
    return out


def _nodedown_node(reason: Any) -> str | None:
    """The node of ``{{:nodedown, node}, {Mod, :call, _}}`` (possibly wrapped)."""
    r = R.core(reason)
    if isinstance(r, tuple) and len(r) == 2 and R.atom_name(r[0]) == "exit":
        r = R.core(r[1])
    if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], tuple) and len(r[0]) == 2 \
            and R.atom_name(r[0][0]) == "nodedown" and isinstance(r[0][1], Atom):
        return r[0][1].name
    return None


def _address_source(view: RecordingView, pid: int, to: Any, node: str, before: int) -> Culprit | None:
    """Where ``pid`` got the address it sent to: a stale remote pid kept in its state
    (:func:`~.failures.pid_source`), else the node name held in its state — the callback that
    first wrote it, ``init/1`` when it was there from the first recorded state."""
    if isinstance(to, Pid):
        found = pid_source(view, pid, to, before)
        if found is not None:
            return found
    found = kept_since(view, pid, fmt(Atom(node), 200), to, before)
    return found or None


def sends_to_gone_nodes(view: RecordingView, book: FactBook) -> None:
    gone = gone_nodes(view, book)
    if not gone and not view.node_creation:
        return
    restarted: dict[str, tuple[int, str, Evidence | None]] = {}   # node → the first send to an earlier run's pid
    groups: dict[tuple[int, str], list[Message]] = defaultdict(list)
    for m in view.messages:
        if m.send_id is None or m.sender is None or m.receive_id is not None or m.send_ts is None:
            continue
        node = target_node(m.to)
        if node is None:
            continue
        if _earlier_run(view, m.to, node):
            restarted.setdefault(node, (m.send_ts, f"the pid {fmt(m.to, 40)} is of an earlier run of {node}: the "
                                                   "node restarted since, and that process is gone with it", None))
        elif node not in gone or m.send_ts < gone[node][0]:
            continue
        if view.node_of(m.sender) == node:
            continue
        groups[(m.sender, node)].append(m)
    failed_calls: dict[tuple[int, str], list[Finding]] = defaultdict(list)
    for f in book.of_kind("call_failed"):
        meta = book.meta[f.id]
        gc = meta.get("gc")
        if gc is not None and gc.why == "nodedown":
            node = _nodedown_node(meta.get("reason")) or target_node(gc.target)
            if node:
                failed_calls[(meta.get("pid"), node)].append(f)
    for key in sorted(set(groups) | set(failed_calls), key=lambda k: _first_ts(groups.get(k), failed_calls.get(k))):
        sender, node = key
        sends = groups.get(key, [])
        calls = failed_calls.get(key, [])
        if not sends and not calls:
            continue
        when, how, down_event = gone[node] if node in gone and (node not in restarted or gone[node][0] <= restarted[node][0]) \
            else restarted[node]
        first = sends[0] if sends else None
        to = first.to if first else book.meta[calls[0].id]["gc"].target
        at = first.send_ts if first else book.meta[calls[0].id].get("ts") or when
        keeper = _address_source(view, sender, to, node, at)
        frame = view.open_call_at(sender, at)
        whose = _remote_name(view, to, node)
        if keeper is not None:
            culprit, where = keeper, f" The address was kept by {keeper.where}."
            if whose:
                culprit.detail = whose   # the remote process the stale address stood for
        elif frame is not None:
            culprit, where = _culprit(view, frame, first.msg if first else None), ""
        else:
            mod = view.module_of_pid.get(sender)
            culprit, where = Culprit(module=mod_name(mod) if mod else view.label(sender),
                                     detail=fmt(to, 150), process=view.label(sender)), ""
        culprit.node = view.node_of(sender)
        evidence = []
        if down_event is not None:
            evidence.append(down_event)
        evidence += [view.evidence(m.send_id, "send", m.send_ts, m.sender,
                                   f"sent {fmt(m.msg, 80)} to {fmt(m.to, 60)} after {node} was gone — never received")
                     for m in sends[:5]]
        for f in calls[:3]:
            evidence += f.evidence[:1]
        what = []
        if sends:
            what.append(f"sent {len(sends)} message(s) (e.g. {fmt(first.msg, 100)}) to {fmt(first.to, 60)}")
        if calls:
            what.append(f"made {len(calls)} call(s) that failed with {{:nodedown, {fmt(Atom(node))}}}")
        tokens = list(TOKENS) + (["exception:noconnection"] if calls else [])
        fact = book.add(Finding(
            detector="send_to_gone_node",
            title=f"{view.label(sender)} keeps addressing {node} after it was gone",
            summary=(f"{view.label(sender)}" + (f" (on {view.node_of(sender)})" if view.node_of(sender) else "")
                     + f" {' and '.join(what)} after {node} was gone ({how}, at +{view.at_ms(when) or 0:.0f} ms): "
                     "messages to a node that is down are dropped without an error, so the work they carried is "
                     "silently lost." + where),
            severity="high", confidence=0.7 if keeper is not None else 0.6, culprit=culprit,
            evidence=evidence, causal_chain=evidence[:3],
            messages=[MessageArrow(sender=view.label(m.sender), receiver=fmt(m.to, 60), message=fmt(m.msg, 50),
                                   send_event=m.send_id, at_ms=view.at_ms(m.send_ts), kind="send") for m in sends[:5]],
            signatures=tokens,
            fix_hint=("Do not keep another node's pid or name as if it were always there: monitor the remote process "
                      "(or the node, `Node.monitor/2` / `:net_kernel.monitor_nodes/1`) and drop or re-resolve the "
                      "address on :DOWN / :nodedown (`:global`, `:pg` or a Registry lookup per message); buffer or "
                      "fail loudly while the node is away.")),
            pid=sender, ts=at, node=node)
        for f in calls:
            book.link(f, fact, "the call addressed a node that was gone")
        for f in book.of_kind("exit"):
            e = book.meta[f.id]["exit"]
            if e.pid == sender and R.atom_name(R.core(e.reason)) == "noconnection":
                book.link(f, fact, "the process was linked to a process on the node that went away")


def _remote_name(view: RecordingView, to: Any, node: str) -> str | None:
    """The registered name of the process a remote pid stood for, when its node was recorded
    (``{name, node}`` names it already)."""
    if isinstance(to, tuple) and len(to) == 2 and isinstance(to[0], Atom):
        return mod_name(to[0].name)
    if isinstance(to, Pid):
        text = str(to)
        for p in view.procs.values():
            if p.node == node and p.pid == text and p.name:
                return p.name
    return None


def _first_ts(sends: list[Message] | None, calls: list[Finding] | None) -> int:
    ts = [m.send_ts for m in sends or [] if m.send_ts is not None]
    return min(ts) if ts else 0
