"""Building a :class:`~elixir_scope.agents.view.RecordingView` from a stored recording: the
only place the diagnosis reads the store — events read page by page, calls paired with their
returns, sends with their receives (across nodes too, on a common time frame), process
lifecycles, state steps, and the marks the diagnosis left while capturing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.store.app_names import first_app_name

from .marks import ResourceSample, SupervisorInfo, parse_resources, parse_supervisor
from .view_gaps import StaleFrames, close_frames, gap_times, mark_loop_steps
from .view import Call, DeadSend, Exit, Gap, Link, Message, Proc, RecordingView, Sample, Spawn, StateStep, fmt, is_atom


# ---------------------------------------------------------------------------------- building
# Observations the diagnosis makes from outside while recording are kept in the recording
# itself as ``mark`` events, so a saved recording can be diagnosed again later:
#   {es_sample, ProcessCount, [{PidText :: binary, QueueLen}]}
#   {es_registry_keys, RegistryName :: atom, [Key]}
#   {es_resources, ...} and {es_supervisor, Phase, ...}: see agents/marks.py
SAMPLE_TAG = "es_sample"
REGISTRY_TAG = "es_registry_keys"

_PAGE = 100_000


def _key(node_id: int, idx: int) -> int:
    return (node_id << 32) | idx


def _all(rec, kinds) -> list:
    out, cursor = [], None
    while True:
        page = rec.events(kind=kinds, limit=_PAGE, after_id=cursor)
        out.extend(page)
        cursor = page.next_after_id
        if not cursor:
            return out


class _Frames:
    """Every node's monotonic timestamps in the first node's frame: ``ts + time_offset`` is a
    node's wall clock (same unit), so ``ts' = (ts + offset_n) · unit_0/unit_n − offset_0``. One
    node: the identity. Several: order across nodes is as good as the hosts' clocks agree (the
    send → receive matches, not timestamps, carry causality)."""

    def __init__(self, nodes) -> None:
        first = nodes[0] if nodes else None
        self.unit = first.time_unit if first else 1_000_000_000
        self.off0 = first.time_offset if first else 0
        self.by_node = {n.id: (n.time_unit, n.time_offset) for n in nodes}
        self.first_id = first.id if first else None

    def __call__(self, node_id: int, ts: int) -> int:
        if node_id == self.first_id or node_id not in self.by_node:
            return ts
        unit, off = self.by_node[node_id]
        wall = ts + off
        if unit != self.unit:
            wall = wall * self.unit // unit
        return wall - self.off0


def _remote_aliases(rec, nodes) -> dict[int, int]:
    """A process of another recorded node, as one node's events name it (a remote pid interned
    on that node) → the key of the same process on its own node: one process, one key."""
    names = {n.name: n.id for n in nodes}
    rows = rec.db.query("SELECT node_id, idx, pid_text, pid_node FROM processes WHERE recording_id = ?", (rec.id,))
    home = {(node_id, text): idx for node_id, idx, text, pid_node in rows if names.get(pid_node) == node_id}
    out = {}
    for node_id, idx, text, pid_node in rows:
        owner = names.get(pid_node or "")
        if owner is None or owner == node_id:
            continue
        target = home.get((owner, text))
        if target is not None:
            out[_key(node_id, idx)] = _key(owner, target)
    return out


def _creations(rec, nodes) -> dict[str, int]:
    """node name → the ``creation`` of the run that was recorded (from its own processes' pids):
    a pid of that node with another creation belongs to an earlier run, gone since it restarted."""
    names = {n.id: n.name for n in nodes}
    out = {}
    for node_id, pid_node, creation in rec.db.query(
            "SELECT node_id, pid_node, max(pid_creation) FROM processes WHERE recording_id = ? "
            "GROUP BY node_id, pid_node", (rec.id,)):
        if names.get(node_id) == pid_node and creation is not None:
            out[pid_node] = int(creation)
    return out


def from_recording(rec) -> RecordingView:
    """Build the detectors' view of a stored recording (``elixir_scope.store.Recording``).

    A recording of several nodes gives one view: timestamps in the first node's frame
    (:class:`_Frames`), a process one key whichever node's events name it, and messages
    between nodes matched by their content when the store left them unmatched."""
    from elixir_scope.store import EventKind

    nodes = sorted(rec.nodes(), key=lambda n: n.id)
    unit = nodes[0].time_unit if nodes else 1_000_000_000
    frame = _Frames(nodes)
    node_names = {n.id: n.name for n in nodes}
    alias = _remote_aliases(rec, nodes) if len(nodes) > 1 else {}
    creation = _creations(rec, nodes) if len(nodes) > 1 else {}

    def key(node_id: int, idx: int) -> int:
        k = _key(node_id, idx)
        return alias.get(k, k)

    procs: dict[int, Proc] = {}
    by_text: dict[tuple[int, str], int] = {}   # (node id, pid text) → key
    for p in rec.processes():
        k = _key(p.node_id, p.idx)
        if k in alias:
            continue
        ic = p.initial_call
        procs[k] = Proc(k, p.pid_text, _short(p.reg_name), str(ic) if ic else None, ic.module if ic else None,
                        node=node_names.get(p.node_id), app_name=first_app_name(p.app_names))
        by_text.setdefault((p.node_id, p.pid_text), k)
    events = _all(rec, [EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION, EventKind.EXIT,
                        EventKind.SPAWN, EventKind.STATE, EventKind.MARK, EventKind.RECEIVE,
                        EventKind.LINK, EventKind.GETTING_LINKED, EventKind.UNLINK,
                        EventKind.GETTING_UNLINKED, EventKind.SEND_DEAD])
    raw_gaps = rec.gaps()
    dropped = gap_times(raw_gaps, frame)   # node id → when its agent dropped events (sorted)
    stale = StaleFrames()
    start = min((frame(e.node_id, e.ts) for e in events), default=0)
    if nodes and nodes[0].mono_at_start:
        start = min(start, nodes[0].mono_at_start) if events else nodes[0].mono_at_start
    calls: list[Call] = []
    stacks: dict[int, list[Call]] = defaultdict(list)
    exits: list[Exit] = []
    spawns: list[Spawn] = []
    states: list[StateStep] = []
    samples: list[Sample] = []
    registry: dict[str, set[str]] = defaultdict(set)
    resources: list[ResourceSample] = []
    supervisors: dict[str, list[SupervisorInfo]] = defaultdict(list)
    receives: dict[int, object] = {}
    links: list[Link] = []
    dead_sends: list[DeadSend] = []
    rpc_workers: set[int] = set()

    def pid_key(text: str, node_id: int | None = None) -> int:
        """A process a mark names by its pid text, on the node that wrote the mark."""
        node_id = node_id if node_id is not None else (nodes[0].id if nodes else 0)
        text_key = (node_id, text)
        if text_key not in by_text:
            k = -(len(by_text) + 1)
            by_text[text_key] = k
            procs[k] = Proc(k, text, None, None)
        return by_text[text_key]
    for e in events:
        pid = key(e.node_id, e.pid)
        kind = e.kind
        ts = frame(e.node_id, e.ts)
        if kind == EventKind.CALL:
            mfa = e.mfa
            # the argument list is a list, never text: [95] comes off the wire as the charlist '_'
            # (STRING_EXT), which would print — and be matched — as a character
            args = (list(e.payload) if type(e.payload) is not list else e.payload) \
                if isinstance(e.payload, list) else []
            stack = stacks[pid]
            if stack and e.node_id in dropped:
                stale.on_call(stack, pid, (mfa.module, mfa.function, mfa.arity), ts, dropped[e.node_id])
            c = Call(e.id, pid, mfa.module, mfa.function, mfa.arity, ts, args,
                     depth=len(stack), parent=stack[-1] if stack else None)
            stack.append(c)
            calls.append(c)
        elif kind in (EventKind.RETURN, EventKind.EXCEPTION):
            mfa = e.mfa
            stack = stacks[pid]
            for i in range(len(stack) - 1, -1, -1):
                c = stack[i]
                if (c.module, c.function, c.arity) == (mfa.module, mfa.function, mfa.arity):
                    c.end_id, c.end_ts = e.id, ts
                    c.outcome = "return" if kind == EventKind.RETURN else "exception"
                    c.value = e.payload
                    if e.node_id in dropped:
                        stale.on_return(stack, i, pid, dropped[e.node_id])
                    if i + 1 < len(stack):
                        close_frames(stack, i + 1, ts)   # an outer frame returned: the inner ones had ended
                    del stack[i:]
                    break
        elif kind == EventKind.EXIT:
            exits.append(Exit(e.id, pid, ts, e.payload))
        elif kind == EventKind.SPAWN:
            if procs.get(pid) is not None and procs[pid].name == "rex":
                rpc_workers.add(key(e.node_id, e.aux))
                continue  # a worker rex starts per rpc: the diagnosis's own calls (samples, supervisors, trigger)
            spawns.append(Spawn(e.id, pid, key(e.node_id, e.aux), ts, e.payload))
        elif kind == EventKind.STATE:
            phase, state = e.payload if isinstance(e.payload, tuple) and len(e.payload) == 2 else ("?", e.payload)
            cb = str(e.mfa) if e.aux else None
            states.append(StateStep(e.id, pid, ts, getattr(phase, "name", str(phase)), cb, state))
        elif kind == EventKind.MARK:
            term = e.payload
            if isinstance(term, tuple) and term and is_atom(term[0], SAMPLE_TAG) and len(term) == 3:
                queues = {}
                for item in term[2]:
                    text = item[0].decode() if isinstance(item[0], bytes) else str(item[0])
                    queues[pid_key(text, e.node_id)] = int(item[1])
                samples.append(Sample(ts, int(term[1]), queues))
            elif isinstance(term, tuple) and term and is_atom(term[0], REGISTRY_TAG) and len(term) == 3:
                registry[fmt(term[1])].update(fmt(k) for k in term[2])
            elif (res := parse_resources(e.id, ts, term, lambda t, n=e.node_id: pid_key(t, n))) is not None:
                resources.append(res)
            elif (sup := parse_supervisor(e.id, ts, term, lambda t, n=e.node_id: pid_key(t, n))) is not None:
                supervisors[sup.phase].append(sup)
        elif kind == EventKind.RECEIVE:
            receives[e.id] = e
        elif kind in (EventKind.LINK, EventKind.GETTING_LINKED, EventKind.UNLINK, EventKind.GETTING_UNLINKED):
            other = key(e.node_id, e.aux) if e.aux else None
            links.append(Link(e.id, pid, other, ts, kind in (EventKind.LINK, EventKind.GETTING_LINKED)))
        elif kind == EventKind.SEND_DEAD:
            payload = e.payload
            msg, to = (payload if isinstance(payload, tuple) and len(payload) == 2 else (payload, None))
            dead_sends.append(DeadSend(e.id, pid, ts, msg, to))
    messages: list[Message] = []
    matched: set[int] = set()
    cursor = None
    while True:
        flows = rec.message_flow(limit=_PAGE, after_id=cursor)
        for f in flows.messages:
            r = f.receive
            if r is not None:
                matched.add(r.id)
            messages.append(Message(
                f.send.id, r.id if r else None, key(f.send.node_id, f.send.pid),
                key(f.receiver.node_id, f.receiver.idx) if f.receiver else None,
                f.message, frame(f.send.node_id, f.send.ts), frame(r.node_id, r.ts) if r else None,
                to=f.send.payload[1] if isinstance(f.send.payload, tuple) and len(f.send.payload) == 2 else None))
        cursor = flows.next_after_id
        if not cursor:
            break
    if len(nodes) > 1:
        _match_across_nodes(messages, receives, matched, node_names, frame, key)
    for rid, r in receives.items():
        if rid not in matched:
            messages.append(Message(None, rid, None, key(r.node_id, r.pid), r.payload, None, frame(r.node_id, r.ts)))
    messages.sort(key=lambda m: (m.send_ts if m.send_ts is not None else m.receive_ts or 0))
    if dropped:
        mark_loop_steps(calls, dropped)
    gaps = [Gap(frame(g.node_id, g.ts), g.count, g.reason, node_names.get(g.node_id)) for g in raw_gaps]
    gone = {}
    for g in raw_gaps:
        if g.reason == "node_down" and g.node_id in node_names:
            gone.setdefault(node_names[g.node_id], frame(g.node_id, g.ts))
    earlier = _earlier_names(rec, dead_sends)
    traced = None if rec.info.spec.get("message_procs", "all") == "all" else \
        {key(r.node_id, r.pid) for r in receives.values()}
    return RecordingView(rec.id, unit, start, procs, calls, messages, exits, spawns, states,
                         samples, gaps, registry_keys=dict(registry), links=links, dead_sends=dead_sends,
                         resources=resources, supervisors=dict(supervisors), rpc_workers=rpc_workers,
                         nodes=node_names, node_gone=gone, node_creation=creation,
                         earlier_names=earlier, receivers_traced=traced)


def _target_node(to: Any) -> str | None:
    """The node a send's ``To`` names: a remote pid's node, or ``{Name, Node}``'s."""
    from elixir_scope.instrument.etf import Pid

    if isinstance(to, Pid):
        return getattr(to.node, "name", None)
    if isinstance(to, tuple) and len(to) == 2 and isinstance(to[1], Atom):
        return to[1].name
    return None


def _match_across_nodes(messages: list[Message], receives: dict, matched: set[int], node_names: dict[int, str],
                        frame, key) -> None:
    """Pair sends to another recorded node that the store left unmatched with that node's
    unmatched receives of the same message, first come first served (a mailbox is FIFO per
    sender). ``$gen_call``s carry a unique tag, so a call pairs exactly."""
    ids = {name: nid for nid, name in node_names.items()}
    waiting: dict[tuple[int, str], list] = defaultdict(list)
    for rid in sorted(receives):
        if rid not in matched:
            r = receives[rid]
            waiting[(r.node_id, fmt(r.payload, 4000))].append(r)
    if not waiting:
        return
    for m in messages:
        if m.receive_id is not None or m.send_id is None:
            continue
        target = ids.get(_target_node(m.to) or "")
        if target is None:
            continue
        queue = waiting.get((target, fmt(m.msg, 4000)))
        if not queue:
            continue
        r = queue.pop(0)
        matched.add(r.id)
        m.receive_id, m.receive_ts, m.receiver = r.id, frame(r.node_id, r.ts), key(r.node_id, r.pid)


def _earlier_names(rec, dead_sends) -> dict[str, str]:
    """Pid text → registered name of the dead processes ``dead_sends`` address, from the
    recordings of the same store made before this one on the same run of their node (same node
    name and creation, so the pid is the same process): a process that died in an earlier
    recording (a diagnosis's first round) is only a pid here, without its exit."""
    from elixir_scope.instrument.etf import Pid

    want = {(str(d.to), str(d.to.node), d.to.creation) for d in dead_sends if isinstance(d.to, Pid)}
    if not want:
        return {}
    texts = sorted({w[0] for w in want})[:MAX_EARLIER_NAMES]
    names: dict[str, str] = {}
    for text, node, creation, reg in rec.db.query(  # one pass over the processes table
            f"SELECT pid_text, pid_node, pid_creation, reg_name FROM processes WHERE recording_id < ? "
            f"AND reg_name IS NOT NULL AND pid_text IN ({', '.join('?' * len(texts))}) "
            "ORDER BY recording_id DESC", (rec.id, *texts)):
        if (text, node, creation) in want:
            names.setdefault(text, _short(reg))
    return names


MAX_EARLIER_NAMES = 64
"""Dead pids looked up in earlier recordings, at most (one query for all of them)."""


def _short(name: str | None) -> str | None:
    if not name:
        return None
    return name[len("Elixir."):] if name.startswith("Elixir.") else name
