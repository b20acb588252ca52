"""Process timelines (call trees) and message flows (sequence-diagram data), and mailboxes.

Call tree: per process, ``call`` opens a frame, the matching ``return``/``exception`` (same
MFA, innermost first) closes it. A return that matches no open frame is ignored; frames still
open at the end of the window are reported open (the function had not returned, or its return
was not traced — e.g. a spec without ``:: return``). Durations are in the node's native unit
and also in microseconds.

Mailbox at ``t``: the BEAM's ``receive`` trace event fires when a message is *put in* the
mailbox, not when it is handled. A message counts as handled when a GenServer/gen_statem
callback was called with it: ``{'$gen_call', From, Req}`` by ``handle_call(Req, From, _)``,
``{'$gen_cast', Req}`` by ``handle_cast(Req, _)``, anything else by ``handle_info(Msg, _)``
(gen_statem: ``{call, From}, Req`` / ``cast, Req`` / ``info, Msg`` as the first two
arguments). Received-before-t minus handled-before-t, matched in order on the message bytes.
Only meaningful where both messages and callbacks were traced: otherwise the mailbox is
reported as unknown (None), never as empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import etfscan
from .errors import BatchFormatError
from .events import MFA, Event, EventKind, ProcessInfo
from .gaps import Gap
from .reader import EVENT_COLUMNS

if TYPE_CHECKING:
    from .reader import ProcessRef, Recording


@dataclass(slots=True)
class CallNode:
    """One call in a process timeline. ``end`` is the return/exception event (None: open)."""

    mfa: MFA | None
    call: Event
    end: Event | None = None
    children: list["CallNode"] = field(default_factory=list)
    depth: int = 0

    @property
    def duration(self) -> int | None:
        """Native time units from call to return/exception (None while open)."""
        return None if self.end is None else self.end.ts - self.call.ts

    @property
    def duration_us(self) -> float | None:
        node = self.call.node
        if self.duration is None or node is None:
            return None
        return self.duration * 1_000_000 / node.time_unit

    @property
    def raised(self) -> bool:
        return self.end is not None and self.end.kind == EventKind.EXCEPTION

    @property
    def exception(self) -> Any:
        """``(Class, Reason)`` if the call ended in an exception."""
        return self.end.payload if self.raised else None

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(slots=True)
class Timeline:
    process: ProcessInfo
    roots: list[CallNode]
    gaps: list[Gap]
    truncated: bool
    """True if ``limit`` events were read before the window ended (ask for a narrower one)."""


def process_timeline(rec: "Recording", process: "ProcessRef", since: int | None = None,
                     until: int | None = None, *, limit: int = 100_000) -> Timeline:
    """The call tree of ``process`` within ``[since, until]``."""
    proc = rec.resolve_process(process)
    evs = rec.events(kind=(EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION),
                     pid=(proc.node_id, proc.idx), since=since, until=until, limit=limit)
    roots: list[CallNode] = []
    stack: list[CallNode] = []
    for e in evs:
        if e.kind == EventKind.CALL:
            node = CallNode(e.mfa, e, depth=len(stack))
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        else:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].call.aux == e.aux:
                    stack[i].end = e
                    del stack[i:]
                    break
    return Timeline(proc, roots, evs.gaps, evs.next_after_id is not None)


@dataclass(slots=True)
class MessageFlow:
    """One message: who sent it to whom, when, and (if matched) when it was received."""

    send: Event
    receive: Event | None
    sender: ProcessInfo | None
    receiver: ProcessInfo | None
    method: str | None

    @property
    def message(self) -> Any:
        payload = self.send.payload
        return payload[0] if isinstance(payload, tuple) and payload else payload

    @property
    def send_ts(self) -> int:
        return self.send.ts

    @property
    def receive_ts(self) -> int | None:
        return None if self.receive is None else self.receive.ts

    @property
    def latency(self) -> int | None:
        """Native units between send and receive (same node only)."""
        if self.receive is None or self.receive.node_id != self.send.node_id:
            return None
        return self.receive.ts - self.send.ts


@dataclass(slots=True)
class Flows:
    messages: list[MessageFlow]
    gaps: list[Gap]
    next_after_id: int | None


def message_flow(rec: "Recording", since: int | None = None, until: int | None = None, *,
                 processes: list | None = None, limit: int = 1000,
                 after_id: int | None = None) -> Flows:
    """Messages sent in ``[since, until]`` (by ``processes`` if given, either as sender or
    receiver), in send order, each with its matched receive if any."""
    from .causal import ensure_causal

    ensure_causal(rec)
    where = ["e.recording_id = ?", "e.kind = ?"]
    params: list = [rec.id, int(EventKind.SEND)]
    if since is not None:
        where.append("e.ts >= ?")
        params.append(since)
    if until is not None:
        where.append("e.ts <= ?")
        params.append(until)
    if after_id is not None:
        where.append("e.id > ?")
        params.append(after_id)
    if processes:
        procs = [p for ref in processes for p in rec.resolve_processes(ref)]
        ors = []
        for p in procs:
            ors.append("(e.node_id = ? AND e.pid = ?) OR (l.recv_node = ? AND l.recv_pid = ?) "
                       "OR (l.send_id IS NULL AND e.node_id = ? AND e.aux = ?)")
            params += [p.node_id, p.idx, p.node_id, p.idx, p.node_id, p.idx]
        where.append("(" + " OR ".join(ors or ["0"]) + ")")
    cols = ", ".join("e." + c.strip() for c in EVENT_COLUMNS.split(","))
    rows = rec.db.query(
        f"SELECT {cols}, l.recv_id, l.method, l.recv_node, l.recv_pid FROM events e "
        f"LEFT JOIN msg_links l ON l.send_id = e.id WHERE {' AND '.join(where)} ORDER BY e.id LIMIT ?",
        params + [limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    sends = rec.events_from_rows([r[:10] for r in rows])
    recv_ids = [r[10] for r in rows if r[10] is not None]
    recvs = {}
    if recv_ids:
        for chunk in range(0, len(recv_ids), 900):
            part = recv_ids[chunk:chunk + 900]
            for e in rec.events_from_rows(rec.db.query(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({','.join('?' * len(part))})", part)):
                recvs[e.id] = e
    procs = rec.context.processes
    out = []
    for s, r in zip(sends, rows):
        recv = recvs.get(r[10]) if r[10] is not None else None
        receiver = procs.get((r[12], r[13])) if r[12] is not None else s.aux_process
        out.append(MessageFlow(s, recv, s.process, receiver, r[11]))
    gaps = rec.gaps(since if since is not None else (sends[0].ts if sends else None),
                    until if not more else (sends[-1].ts if sends else until))
    return Flows(out, gaps, sends[-1].id if more and sends else None)


# -- mailboxes -------------------------------------------------------------------------------------

_HANDLERS = {"handle_call", "handle_cast", "handle_info"}


def _handled_key(args_bytes: bytes, mfa: MFA | None) -> bytes | None:
    """The mailbox message bytes a callback call consumes (see module doc), or None."""
    if mfa is None:
        return None
    args = etfscan.list_elements(args_bytes)
    if not args:
        return None
    if mfa.function in _HANDLERS:
        return args[0]
    if mfa.arity >= 3:  # gen_statem: state function / handle_event(Type, Content, ...)
        kind = args[0]
        name = etfscan.atom_text(kind)
        if name in ("cast", "info"):
            return args[1]
        try:
            elems = etfscan.tuple_elements(kind)
        except BatchFormatError:
            return None
        if len(elems) == 2 and etfscan.atom_text(elems[0]) == "call":
            return args[1]
    return None


def _mailbox_key(msg: bytes) -> bytes:
    """What a callback receives for mailbox message ``msg``: ``Req`` of ``{'$gen_call', From,
    Req}`` / ``{'$gen_cast', Req}``, else the message itself."""
    try:
        elems = etfscan.tuple_elements(msg)
    except BatchFormatError:
        return msg
    if len(elems) == 3 and etfscan.atom_text(elems[0]) == "$gen_call":
        return elems[2]
    if len(elems) == 2 and etfscan.atom_text(elems[0]) == "$gen_cast":
        return elems[1]
    return msg


def mailbox_at(rec: "Recording", proc: ProcessInfo, ts: int, uniq: int = 2**63 - 1) -> list[Event] | None:
    """Messages received by ``proc`` at or before ``(ts, uniq)`` and not yet handled by a
    callback; None if the recording cannot tell (no receive or no callback call traced)."""
    rows = rec.db.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE node_id = ? AND pid = ? AND kind IN (1, 6) "
        "AND (ts < ? OR (ts = ? AND uniq <= ?)) ORDER BY id", (proc.node_id, proc.idx, ts, ts, uniq))
    evs = rec.events_from_rows(rows)
    if not any(e.kind == EventKind.RECEIVE for e in evs):
        return None
    handlers = [e for e in evs if e.kind == EventKind.CALL and e.mfa is not None
                and (e.mfa.function in _HANDLERS or e.mfa.arity >= 3)]
    if not handlers:
        return None
    queue: list[tuple[bytes, Event]] = []
    for e in evs:
        if e.kind == EventKind.RECEIVE:
            queue.append((_mailbox_key(e.payload_bytes), e))
        else:
            key = _handled_key(e.payload_bytes, e.mfa)
            if key is None:
                continue
            for i, (k, _) in enumerate(queue):
                if k == key:
                    del queue[i]
                    break
    return [e for _, e in queue]


# -- the traced stack of an event ---------------------------------------------------------------

@dataclass(slots=True)
class TracedStack:
    """The traced calls that were open in a process at an event, innermost first.

    For an exception (or return) event, frame 0 is the call it ended: for an exception, the
    call that raised or let the exception through.
    The BEAM's ``exception_from`` trace carries the class and reason but no stacktrace; this is
    the stack as far as calls were traced. ``complete`` is False when the walk reached the
    start of the recording with calls possibly still open before it, or stopped at
    ``max_frames``. A process that crashes still has the raise-point stacktrace in its ``exit``
    reason (``{reason, [{M, F, A, Location} | _]}``)."""

    frames: list[Event]
    complete: bool
    gaps: list[Gap]

    def describe(self) -> str:
        return " <- ".join(str(f.mfa) for f in self.frames) or "(no traced call was open)"


def traced_stack(rec: "Recording", event: Event, *, max_frames: int = 64, page: int = 2000) -> TracedStack:
    """The traced calls open in ``event``'s process when ``event`` happened (see TracedStack)."""
    kinds = (EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION)
    frames: list[Event] = []
    closed: list[int] = []  # aux of calls that ended before the event (walking backwards)
    ending = event.kind in (EventKind.EXCEPTION, EventKind.RETURN)
    if ending:
        closed.append(event.aux)
    before = event.id
    first_ts = event.ts
    while True:
        evs = rec.events(kind=kinds, pid=(event.node_id, event.pid), before_id=before, limit=page,
                         descending=True)
        for e in evs:
            first_ts = e.ts
            if e.kind == EventKind.CALL:
                if closed and closed[-1] == e.aux:
                    closed.pop()
                    if ending and not frames and not closed:
                        frames.append(e)  # the call this return/exception ended
                    continue
                frames.append(e)
                if len(frames) >= max_frames:
                    return TracedStack(frames, False, rec.gaps(first_ts, event.ts, node_id=event.node_id))
            else:
                closed.append(e.aux)
        if evs.next_after_id is None or not evs:
            break
        before = evs[-1].id
    gaps = rec.gaps(first_ts, event.ts, node_id=event.node_id)
    return TracedStack(frames, not gaps, gaps)
