"""Output models for time travel and causal queries over a recording.

Every state and message is bounded Elixir text; every event carries its id, so a model can
walk on from any answer (``state_at(at_event=...)``, ``causal_past(event_id=...)``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from elixir_scope.instrument.etf.inspect import inspect

from .models import EventRow, GapRow, event_row, gap_row, process_label, since_start, term_text

class MomentError(ValueError):
    """A moment was given in two ways, or the recording has no events to take its end from."""


def resolve_moment(rec: Any, at_event: int | None, at_ts: int | None) -> Any:
    """The moment for time-travel calls: just after event ``at_event``, node time ``at_ts``,
    or (neither) the last event of the recording."""
    if at_event is not None and at_ts is not None:
        raise MomentError("give at_event or at_ts, not both")
    if at_event is not None:
        return rec.event(at_event)
    if at_ts is not None:
        return at_ts
    last = rec.events(limit=1, descending=True)
    if not last:
        raise MomentError(f"recording {rec.id} has no events yet")
    return last[0]


STATE_LIMIT = 50
STATE_PRINTABLE_LIMIT = 2000


def state_text(term: Any) -> str:
    return inspect(term, limit=STATE_LIMIT, printable_limit=STATE_PRINTABLE_LIMIT)


def change_text(change: Any) -> str:
    """One structural change as ``state.items[0]: 1 -> 2`` with Elixir terms."""
    where = "state" + "".join(f"[{term_text(k, limit=5, printable_limit=40)}]" for k in change.path)
    kind = change.kind
    if kind == "list_grown":
        return f"{where}: list grew by {change.added - change.removed}"
    if kind == "list_shrunk":
        return f"{where}: list shrank by {change.removed - change.added}"
    if kind == "list_changed":
        return f"{where}: {change.removed} item(s) replaced by {change.added}"
    if kind == "added":
        return f"{where}: added {term_text(change.new, limit=10, printable_limit=120)}"
    if kind == "removed":
        return f"{where}: removed (was {term_text(change.old, limit=10, printable_limit=120)})"
    if kind == "to_nil":
        return f"{where}: became nil (was {term_text(change.old, limit=10, printable_limit=120)})"
    return (f"{where}: {term_text(change.old, limit=10, printable_limit=120)} -> "
            f"{term_text(change.new, limit=10, printable_limit=120)}")


class StateAtModel(BaseModel):
    """A process's state at a moment, and where it came from."""

    process: str
    ts: int
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    state: str = Field(description="The state as Elixir text (bounded).")
    source: str = Field(description="checkpoint (sys:get_state), after (returned by a callback) or before (a callback was running with it).")
    from_event: int = Field(description="Id of the state event it comes from.")
    callback: str | None
    gaps: list[GapRow] = Field(description="Events dropped between that state event and the moment: the state may have changed there.")


def state_at_model(s: Any) -> StateAtModel:
    return StateAtModel(
        process=process_label(s.process), ts=s.ts, at=since_start(s.ts, s.event.node), state=state_text(s.state),
        source=s.source,
        from_event=s.event.id, callback=str(s.callback) if s.callback else None,
        gaps=[gap_row(g) for g in s.gaps],
    )


class TransitionModel(BaseModel):
    ts: int
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    before_event: int
    after_event: int
    callback: str | None
    cause_event: int | None = Field(description="The callback call that produced the change.")
    message: str | None = Field(description="The request or message the callback handled.")
    changes: list[str]
    state_after: str


def transition_model(t: Any) -> TransitionModel:
    msg = t.message
    return TransitionModel(
        ts=t.after.ts, at=since_start(t.after.ts, t.after.event.node), before_event=t.before.event.id, after_event=t.after.event.id,
        callback=str(t.after.callback) if t.after.callback else None,
        cause_event=t.cause.id if t.cause is not None else None,
        message=term_text(msg) if msg is not None else None,
        changes=[change_text(c) for c in t.changes[:20]] + (
            [f"... {len(t.changes) - 20} more changes"] if len(t.changes) > 20 else []),
        state_after=term_text(t.after.state, limit=20, printable_limit=400),
    )


class EvolutionModel(BaseModel):
    process: str
    transitions: list[TransitionModel]
    gaps: list[GapRow]
    next_cursor: str | None = None
    hint: str | None = None


class CallModel(BaseModel):
    depth: int
    function: str | None
    call_event: int
    ts: int
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    end_event: int | None = Field(description="The return/exception event; null while open.")
    duration_us: float | None
    outcome: str = Field(description="returned, raised, or open (no return recorded).")
    args: str | None = None
    result: str | None = None


def call_models(roots: list, max_calls: int, offset: int = 0) -> tuple[list[CallModel], bool]:
    """The calls of a timeline depth-first, from the ``offset``-th, at most ``max_calls``;
    True when more follow."""
    out: list[CallModel] = []
    seen = 0
    for root in roots:
        for node in root.walk():
            if seen < offset:
                seen += 1
                continue
            if len(out) >= max_calls:
                return out, True
            end = node.end
            outcome = "open" if end is None else ("raised" if node.raised else "returned")
            out.append(CallModel(
                depth=node.depth, function=str(node.mfa) if node.mfa else None, call_event=node.call.id,
                ts=node.call.ts, at=since_start(node.call.ts, node.call.node),
                end_event=end.id if end is not None else None,
                duration_us=node.duration_us, outcome=outcome,
                args=_safe_payload(node.call), result=_safe_payload(end) if end is not None else None,
            ))
    return out, False


def _safe_payload(ev: Any) -> str | None:
    try:
        return term_text(ev.payload, limit=10, printable_limit=200)
    except LookupError:
        return None


class TimelineModel(BaseModel):
    process: str
    calls: list[CallModel] = Field(description="Call tree in order, depth-first (depth 0 = outermost).")
    truncated: bool = Field(description="The window held more: narrow it with since_ts/until_ts.")
    gaps: list[GapRow]
    next_cursor: str | None = Field(default=None, description="More calls follow: pass as cursor= to continue.")
    hint: str | None = None


class MessageModel(BaseModel):
    send_event: int
    receive_event: int | None = Field(description="Null: never received (or not recorded).")
    ts: int
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    sender: str | None
    receiver: str | None
    message: str
    latency_us: float | None


def message_model(m: Any) -> MessageModel:
    latency = m.latency
    node = m.send.node
    return MessageModel(
        send_event=m.send.id, receive_event=m.receive.id if m.receive is not None else None,
        ts=m.send.ts, at=since_start(m.send.ts, node), sender=process_label(m.sender) if m.sender else None,
        receiver=process_label(m.receiver) if m.receiver else None,
        message=term_text(m.message, limit=10, printable_limit=300),
        latency_us=(latency * 1_000_000 / node.time_unit) if latency is not None and node else None,
    )


class FlowModel(BaseModel):
    messages: list[MessageModel]
    gaps: list[GapRow]
    next_cursor: str | None = None
    hint: str | None = None


class CausalEvent(EventRow):
    lamport: int | None = None


class CausalModel(BaseModel):
    origin: EventRow
    direction: str = Field(description="past: what could have caused origin (most recent first); future: what origin could have affected.")
    processes: int = Field(description="How many processes the relation reaches.")
    events: list[CausalEvent]
    gaps: list[GapRow] = Field(description="Dropped events in this span: a cause or effect may be missing.")
    next_cursor: str | None = None
    hint: str | None = None


def causal_model(page: Any, call: str) -> CausalModel:
    events = [CausalEvent(**event_row(e, limit=10, printable_limit=200).model_dump(),
                          lamport=page.clocks.get(e.id)) for e in page.events]
    nxt = str(page.next_cursor) if page.next_cursor is not None else None
    return CausalModel(
        origin=event_row(page.origin), direction=page.direction, processes=page.processes,
        events=events, gaps=[gap_row(g) for g in page.gaps], next_cursor=nxt,
        hint=call.format(cursor=nxt) + " returns the next page" if nxt else None,
    )


class SnapshotProcess(BaseModel):
    process: str
    parent: str | None
    status: str = Field(description="in_call (a traced call is running), idle, or unknown.")
    current_call: str | None
    state: str | None
    mailbox: int | None = Field(description="Messages received but not yet handled; null when the recording cannot tell.")


class SnapshotModel(BaseModel):
    ts: int
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    node: str | None
    process_count: int
    processes: list[SnapshotProcess]
    tree: str = Field(description="Spawn tree at that moment (best effort): indented, '(linked)' when linked to its parent.")
    gaps: list[GapRow]
    next_cursor: str | None = None
    hint: str | None = None


def snapshot_process(p: Any) -> SnapshotProcess:
    call = p.current_call
    box = p.mailbox
    return SnapshotProcess(
        process=process_label(p.process), parent=process_label(p.parent) if p.parent else None, status=p.status,
        current_call=str(call.mfa) if call is not None and call.mfa else None,
        state=term_text(p.state, limit=15, printable_limit=300) if p.has_state else None,
        mailbox=len(box) if box is not None else None,
    )


def tree_text(roots: list, max_lines: int = 200) -> str:
    lines: list[str] = []
    for root in roots:
        for depth, node in root.walk():
            if len(lines) >= max_lines:
                lines.append("...")
                return "\n".join(lines)
            link = " (linked)" if node.linked_to_parent else ""
            lines.append("  " * depth + process_label(node.process) + link)
    return "\n".join(lines)
