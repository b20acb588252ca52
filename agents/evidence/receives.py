"""Messages taken by the wrong receive: a ``receive`` written inside a callback (waiting for
acks, replies, a task's result) that also takes messages meant for the process's own loop.

A GenServer, gen_statem or Agent receives in its behaviour loop, between callbacks. A message
delivered *while one of the process's application functions is running* waits in the mailbox
for the loop — unless a ``receive`` in that application code takes it. When such a message is
one the loop should have had — a ``$gen_cast``/``$gen_call``/system message, or a message of a
shape the process's callbacks handle at other times — and no callback handles it once the
running one has ended (nor does it come back, re-sent to self), it is lost: a catch-all
clause in the nested receive threw it away. (A trace's ``receive`` event marks the delivery.)

| kind | what | culprit |
| --- | --- | --- |
| ``nested_receive_lost`` | a message meant for the behaviour loop was delivered while a callback ran and never handled | the innermost application function running when it was delivered (the one holding the receive) |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom, ImproperList, Ref

from ..findings import Culprit, Finding
from ..view import Call, Message, RecordingView, fmt, is_atom, mod_name
from .book import FactBook
from .reasons import source_function

_CALLBACKS = ("handle_cast", "handle_info", "handle_call", "handle_event", "handle_continue")
_LOOP_TAGS = ("$gen_cast", "$gen_call", "system")


def _tag(msg: Any) -> str | None:
    """The tag of a message: its atom, or the atom heading a tuple."""
    if isinstance(msg, Atom):
        return str(msg)
    if isinstance(msg, tuple) and msg and isinstance(msg[0], Atom):
        return str(msg[0])
    return None


def _shape(msg: Any) -> tuple:
    """What identifies a message's kind: its tag (and for a cast or call, the request's tag)."""
    tag = _tag(msg)
    if tag in ("$gen_cast",) and len(msg) == 2:
        return (tag, _tag(msg[1]))
    if tag == "$gen_call" and len(msg) == 3:
        return (tag, _tag(msg[2]))
    return (tag, len(msg) if isinstance(msg, tuple) else 0)


def _handled_payload(c: Call) -> Any:
    """The message a callback call handles, as it arrived in the mailbox."""
    if not c.args:
        return None
    if c.function == "handle_cast":
        return (Atom("$gen_cast"), c.args[0])
    if c.function == "handle_call" and len(c.args) >= 2:
        return (Atom("$gen_call"), c.args[1], c.args[0])   # the call as it came: its caller's from, then the request
    return c.args[0]


def _is_callback(c: Call) -> bool:
    return c.function in _CALLBACKS and c.depth == 0


def _is_reply(msg: Any) -> bool:
    """A reply to a call this process made (``{ref, reply}``, ``{[:alias | ref], reply}``),
    a monitor's ``:DOWN`` or a task's result: what a nested receive is there to take."""
    if isinstance(msg, tuple) and len(msg) == 2:
        head = msg[0]
        if isinstance(head, Ref):
            return True
        if isinstance(head, ImproperList) and head.items and is_atom(head.items[0], "alias"):
            return True
        if isinstance(head, list) and head and is_atom(head[0], "alias"):
            return True
    return _tag(msg) == "DOWN"


# the loop takes a queued message within microseconds of the callback's end; this long after it,
# a message that was still queued would have been handled (the recording did not just stop first)
SETTLE_MS = 50.0


def _recording_end(view: RecordingView) -> int:
    ends = ([m.receive_ts or m.send_ts or 0 for m in view.messages] + [c.end_ts or c.ts for c in view.calls]
            + [x.ts for x in view.samples] + [x.ts for x in view.states] + [x.ts for x in view.exits])
    return max(ends, default=0)


def nested_receive_lost(view: RecordingView, book: FactBook) -> None:
    by_receiver: dict[int, list[Message]] = defaultdict(list)
    for m in view.messages:
        if m.receiver is not None and m.receive_ts is not None:
            by_receiver[m.receiver].append(m)
    settle = int(SETTLE_MS * view.time_unit / 1000.0)
    end = _recording_end(view)
    for pid in sorted(by_receiver):
        calls = view.calls_by_pid.get(pid, [])
        callbacks = [c for c in calls if _is_callback(c)]
        if not callbacks:
            continue   # not a behaviour process we can see: every receive is its own
        handled_shapes = set()
        handled_texts = set()
        for c in callbacks:
            payload = _handled_payload(c)
            if payload is not None:
                handled_shapes.add(_shape(payload))
                handled_texts.add(fmt(payload, 400))
        msgs = sorted(by_receiver[pid], key=lambda m: m.receive_ts)
        received_texts: dict[str, list[int]] = defaultdict(list)
        for m in msgs:
            received_texts[fmt(m.msg, 400)].append(m.receive_ts)
        # a message still queued behind a backlog is not lost: the loop never went idle after it
        # arrived. Idle spells of the process (no callback running for SETTLE_MS):
        spans = sorted((c.ts, c.end_ts if c.end_ts is not None else end + settle) for c in callbacks)
        idle_at: list[int] = []
        for (_a0, a1), (b0, _b1) in zip(spans, spans[1:]):
            if b0 - a1 >= settle:
                idle_at.append(a1)
        if spans and spans[-1][1] + settle <= end:
            idle_at.append(spans[-1][1])
        lost: dict[tuple, list[tuple[Message, Call]]] = defaultdict(list)
        for m in msgs:
            frame = view.open_call_at(pid, m.receive_ts)
            if frame is None or _is_reply(m.msg):
                continue
            top = frame
            while top.parent is not None:
                top = top.parent
            if top.end_ts is None or top.end_ts + settle > end:
                continue   # the callback had not ended long enough before the recording did to tell
            shape = _shape(m.msg)
            meant_for_loop = shape[0] in _LOOP_TAGS or shape in handled_shapes
            if not meant_for_loop:
                continue
            text = fmt(m.msg, 400)
            if text in handled_texts:
                continue   # a callback handled it after all (re-sent to self, or handled inline)
            if any(t > m.receive_ts for t in received_texts[text]):
                continue   # it came back: put back into the mailbox by the nested receive
            if not any(t >= m.receive_ts for t in idle_at):
                continue   # the loop never went idle after it arrived: a backlog, not a loss
            lost[(frame.module, frame.function, frame.arity)].append((m, frame))
        for key in sorted(lost):
            items = lost[key]
            m, frame = items[0]
            callback = frame
            while callback.parent is not None:
                callback = callback.parent
            detail = fmt(m.msg[1] if _tag(m.msg) == "$gen_cast" else m.msg, 150)
            ev = []
            for mm, fr in items[:5]:
                ev.append(view.evidence(mm.receive_id, "receive", mm.receive_ts, pid,
                                        f"{view.label(pid)} took {fmt(mm.msg, 90)} inside {fr.mfa}: no callback ever handled it",
                                        fr.mfa))
            ev.append(view.call_evidence(frame, f"{frame.mfa} was running (called from {callback.mfa}) with a receive of its own"))
            book.add(Finding(
                detector="nested_receive_lost",
                title=f"{frame.mfa} takes and drops messages meant for {view.label(pid)}'s loop",
                summary=(f"While {callback.mfa} was running, the receive in {frame.mfa} took {len(items)} message(s) "
                         f"that {view.label(pid)}'s own loop should have handled (e.g. {fmt(m.msg, 100)}), and no "
                         "callback ever handled them: a catch-all clause in that nested receive threw them away."),
                severity="high", confidence=min(0.75, 0.55 + 0.05 * len(items)),
                culprit=Culprit(module=mod_name(frame.module), function=source_function(frame.function, frame.arity),
                                detail=detail, process=view.label(pid)),
                evidence=ev,
                signatures=["receive:nested_swallowed", "message:unmatched"],
                fix_hint=("Receive only the messages the nested receive waits for (match on the ref or tag, with an "
                          "`after` timeout) and leave everything else in the mailbox — no `_other ->` clause; better, "
                          "do not block in a callback: collect the acks in handle_info and reply later with "
                          "GenServer.reply/2.")),
                pid=pid, ts=m.receive_ts)
