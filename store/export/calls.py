"""Traced calls as spans: one streaming pass over a recording that pairs every ``call`` with
its ``return`` / ``exception`` and finds its parent — the call open below it in the same
process (the traced stack, as ``store.flows.traced_stack`` walks it backwards).

Both exports use it: OTLP turns each closed :class:`CallSpan` into an OpenTelemetry span,
Parquet writes it as a row of the ``calls`` table. It also places messages: a ``send`` belongs
to the innermost call open in the sender when it was sent; a ``receive`` belongs to the
innermost call open in the receiver, or — a GenServer receives its request *before* the
callback that handles it is called — to the next call the receiver opens ("the span that
received it"). Matched send → receive pairs come from ``msg_links`` (store/causal/matching.py).

Bounded: the events are read in pages; what stays in memory is the open calls of each process
(at most ``max_depth`` deep), at most ``max_messages`` messages per call (the rest counted),
and the enclosing call of the last ``max_senders`` sends (to resolve a receive's sender).
A call whose ``return`` was never recorded ends as *unfinished*: with the process's ``exit``,
when a return of an outer call shows it can no longer be open, or at the end of the recording.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from ..events import Event, EventKind

if TYPE_CHECKING:
    from ..reader import Recording

READ_KINDS = (EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION, EventKind.SEND,
              EventKind.SEND_DEAD, EventKind.RECEIVE, EventKind.EXIT)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """Bounds of one pass. ``page``: events read per query; ``max_depth``: open calls kept per
    process (deeper calls are counted, not spanned); ``max_messages``: sends + receives kept per
    call; ``max_pending``: receives waiting for the receiver's next call; ``max_senders``: sends
    whose enclosing call is remembered for matching a later receive."""

    page: int = 5000
    max_depth: int = 256
    max_messages: int = 128
    max_pending: int = 16
    max_senders: int = 200_000


@dataclass(frozen=True, slots=True)
class SpanRef:
    """A call span by its ids: the call event's id and the id of the outermost call of its tree."""

    root_id: int
    call_id: int


@dataclass(slots=True)
class Received:
    """A message received by a call: the ``receive`` event, the matched ``send`` event id (None
    if never matched) and the call that sent it (None if sent outside any traced call or not
    seen yet)."""

    event: Event
    send_id: int | None
    sender: SpanRef | None = None


@dataclass(slots=True, eq=False)
class CallSpan:
    call: Event
    root_id: int
    parent_id: int | None
    depth: int
    end: Event | None = None
    end_ts: int = 0
    outcome: str = "open"
    """``return``, ``exception``, ``exit`` (the process exited inside it; ``exit_event``),
    ``unmatched`` (an outer call returned first: its own return was not recorded) or
    ``open`` (still open when the recording ended)."""
    exit_event: Event | None = None
    sent: list[Event] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    dropped_messages: int = 0
    args_text: str | None = None
    """The call's arguments as text, when a consumer printed them already (see ``top``)."""

    @property
    def ref(self) -> SpanRef:
        return SpanRef(self.root_id, self.call.id)

    def add_message(self, item: "Event | Received", limit: int) -> None:
        if len(self.sent) + len(self.received) >= limit:
            self.dropped_messages += 1
        elif isinstance(item, Received):
            self.received.append(item)
        else:
            self.sent.append(item)


@dataclass(slots=True)
class _Proc:
    stack: list[CallSpan] = field(default_factory=list)
    pending: list[Received] = field(default_factory=list)
    too_deep: int = 0


@dataclass(slots=True)
class CallStats:
    events_read: int = 0
    calls: int = 0
    too_deep: int = 0
    returns_without_call: int = 0
    unfinished: int = 0
    messages_outside_calls: int = 0
    messages_dropped: int = 0
    late_senders: int = 0


class CallTracker:
    """Feed events in id order (``feed``), collect closed spans as they come out; ``finish``
    closes what is still open. ``stats`` counts what could not be paired or placed."""

    def __init__(self, limits: CallLimits | None = None) -> None:
        self.limits = limits or CallLimits()
        self.stats = CallStats()
        self._procs: dict[tuple[int, int], _Proc] = {}
        self._senders: OrderedDict[int, SpanRef | None] = OrderedDict()
        self._awaiting: dict[int, Received] = {}  # send id -> a receive seen before its send
        self._last_ts: dict[int, int] = {}
        self._held: list[tuple[int, int, CallSpan]] = []  # (release at event id, call id, span)
        self._ready: list[CallSpan] = []

    def _release(self, spans: list[CallSpan], upto: int | None) -> list[CallSpan]:
        """Closed spans go out, except those with a receive whose send is stored later (ingest
        order across processes is not causal order): they wait until that send has been read,
        so their link is complete."""
        for span in spans:
            wait = max((r.send_id for r in span.received if r.sender is None and r.send_id is not None
                        and r.send_id in self._awaiting), default=0)
            if upto is not None and wait > upto:
                heapq.heappush(self._held, (wait, span.call.id, span))
            else:
                self._ready.append(span)
        while self._held and (upto is None or self._held[0][0] <= upto):
            self._ready.append(heapq.heappop(self._held)[2])
        out, self._ready = self._ready, []
        return out

    def feed(self, event: Event, send_of: dict[int, int]) -> list[CallSpan]:
        """Process one event; ``send_of`` maps receive ids to matched send ids (this page's).
        Returns the spans complete after it."""
        return self._release(self._feed(event, send_of), event.id)

    def _feed(self, event: Event, send_of: dict[int, int]) -> list[CallSpan]:
        self.stats.events_read += 1
        self._last_ts[event.node_id] = max(self._last_ts.get(event.node_id, event.ts), event.ts)
        proc = self._procs.get((event.node_id, event.pid))
        if proc is None:
            proc = self._procs[(event.node_id, event.pid)] = _Proc()
        kind = event.kind
        if kind == EventKind.CALL:
            self._open(proc, event)
            return []
        if kind in (EventKind.RETURN, EventKind.EXCEPTION):
            return self._close(proc, event)
        if kind in (EventKind.SEND, EventKind.SEND_DEAD):
            self._sent(proc, event)
            return []
        if kind == EventKind.RECEIVE:
            self._received(proc, event, send_of.get(event.id))
            return []
        if kind == EventKind.EXIT:
            out = []
            while proc.stack:
                span = proc.stack.pop()
                self._end(span, None, event.ts, "exit")
                span.exit_event = event
                out.append(span)
            self.stats.messages_outside_calls += len(proc.pending)
            proc.pending.clear()
            return out
        return []

    def top(self, event: Event) -> CallSpan | None:
        """The innermost open call of ``event``'s process (after feeding a ``call`` event: its
        own span, unless it was too deep to be spanned)."""
        proc = self._procs.get((event.node_id, event.pid))
        return proc.stack[-1] if proc and proc.stack else None

    def finish(self) -> list[CallSpan]:
        """Close every call still open (outcome ``open``, ended at its node's last event)."""
        out = []
        for (node_id, _), proc in self._procs.items():
            while proc.stack:
                span = proc.stack.pop()
                self._end(span, None, self._last_ts.get(node_id, span.call.ts), "open")
                out.append(span)
            self.stats.messages_outside_calls += len(proc.pending)
            proc.pending.clear()
        return self._release(out, None)

    # -- calls ---------------------------------------------------------------------------------
    def _open(self, proc: _Proc, event: Event) -> None:
        if len(proc.stack) >= self.limits.max_depth:
            proc.too_deep += 1
            self.stats.too_deep += 1
            return
        parent = proc.stack[-1] if proc.stack else None
        span = CallSpan(event, parent.root_id if parent else event.id, parent.call.id if parent else None,
                        len(proc.stack), end_ts=event.ts)
        self.stats.calls += 1
        if parent is None and proc.pending:
            at = _handled(event, proc.pending)
            if at is not None:  # the message this call was started to handle
                span.add_message(proc.pending[at], self.limits.max_messages)
                self.stats.messages_outside_calls += at  # older ones were consumed untraced
                del proc.pending[:at + 1]
        proc.stack.append(span)

    def _close(self, proc: _Proc, event: Event) -> list[CallSpan]:
        at = next((i for i in range(len(proc.stack) - 1, -1, -1) if proc.stack[i].call.aux == event.aux), None)
        if at is None:
            if proc.too_deep:  # the return of a call too deep to be spanned
                proc.too_deep -= 1
            else:
                self.stats.returns_without_call += 1  # its call happened before the recording
            return []
        out = []
        while len(proc.stack) > at + 1:
            inner = proc.stack.pop()
            self._end(inner, None, event.ts, "unmatched")
            out.append(inner)
        span = proc.stack.pop()
        self._end(span, event, event.ts, "return" if event.kind == EventKind.RETURN else "exception")
        out.append(span)
        return out

    def _end(self, span: CallSpan, end: Event | None, ts: int, outcome: str) -> None:
        span.end, span.end_ts, span.outcome = end, max(ts, span.call.ts), outcome
        self.stats.messages_dropped += span.dropped_messages
        if outcome not in ("return", "exception"):
            self.stats.unfinished += 1

    # -- messages ------------------------------------------------------------------------------
    def _sent(self, proc: _Proc, event: Event) -> None:
        span = proc.stack[-1] if proc.stack else None
        if span is None:
            self.stats.messages_outside_calls += 1
        else:
            span.add_message(event, self.limits.max_messages)
        ref = span.ref if span else None
        waiting = self._awaiting.pop(event.id, None)
        if waiting is not None:
            if waiting.sender is None and ref is not None:
                waiting.sender = ref
            return
        self._senders[event.id] = ref
        if len(self._senders) > self.limits.max_senders:
            self._senders.popitem(last=False)

    def _received(self, proc: _Proc, event: Event, send_id: int | None) -> None:
        item = Received(event, send_id)
        if send_id is not None:
            if send_id in self._senders:
                item.sender = self._senders.pop(send_id)
            elif send_id > event.id and len(self._awaiting) < self.limits.max_senders:
                self._awaiting[send_id] = item  # stored after its receive: resolved when read
            else:
                self.stats.late_senders += 1
        if proc.stack and not _is_request(event):
            span = proc.stack[-1]
            span.add_message(item, self.limits.max_messages)
            return
        if len(proc.pending) >= self.limits.max_pending:
            proc.pending.pop(0)
            self.stats.messages_outside_calls += 1
        proc.pending.append(item)


def _message(event: Event):
    try:
        return event.payload
    except Exception:  # an unreadable payload explains no call
        return None


def _is_request(event: Event) -> bool:
    """A ``$gen_call`` / ``$gen_cast`` request: it waits in the mailbox for the receiver's next
    callback, even when it arrives while a call of the receiver is running."""
    msg = _message(event)
    return (isinstance(msg, tuple) and len(msg) in (2, 3) and isinstance(getattr(msg[0], "name", None), str)
            and msg[0].name in ("$gen_call", "$gen_cast"))


def _handled(call: Event, pending: list[Received]) -> int | None:
    """Index of the oldest pending message that ``call`` handles: one of its arguments is the
    message itself (``handle_info(msg, state)``, a receive loop calling ``handle(msg)``) or
    the request inside a ``$gen_call`` / ``$gen_cast`` (``handle_call(request, from, state)``,
    gen_statem's ``(event_type, request, data)``). None when no argument is one of them: the
    messages stay pending for a later call."""
    try:
        args = call.payload
    except Exception:
        return None
    if not isinstance(args, list) or not args:
        return None
    for i, item in enumerate(pending):
        msg = _message(item.event)
        if msg is None:
            continue
        wanted = [msg]
        if _is_request(item.event):
            wanted.append(msg[-1])
        if any(arg == w for arg in args for w in wanted):
            return i
    return None


def event_pages(rec: "Recording", kinds: tuple[EventKind, ...] | None, page: int, after: int = 0
                ) -> Iterator[tuple[list[Event], dict[int, int]]]:
    """The recording's events of ``kinds`` (all when None) with ids above ``after``, in id
    order, a page at a time, each with the matched send of every receive in it
    (``receive id -> send id``, from msg_links, brought up to date first)."""
    from ..causal import ensure_causal

    ensure_causal(rec)
    while True:
        events = rec.events(kind=kinds, after_id=after, limit=page)
        if not events:
            return
        yield events, _matched_sends(rec, [e.id for e in events if e.kind == EventKind.RECEIVE])
        if events.next_after_id is None:
            return
        after = events.next_after_id


def _matched_sends(rec: "Recording", recv_ids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in range(0, len(recv_ids), 900):  # SQLite's bound-parameter limit
        chunk = recv_ids[i:i + 900]
        out.update(rec.db.query(f"SELECT recv_id, send_id FROM msg_links WHERE recv_id IN "
                                f"({','.join('?' * len(chunk))})", chunk))
    return out
