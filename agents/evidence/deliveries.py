"""One dispatch, the same message twice to one process: a subscriber registered twice.

A publisher that fans an event out (``Registry.dispatch``, ``Phoenix.PubSub.broadcast``, a loop
over a subscriber list) sends one copy to each subscriber. When one callback of the publisher
sends the *same* message to the *same* process more than once, that process is on the
subscriber list more than once — most often because it subscribed again (on every settings
save, every mount, every reconnect) without checking.

| kind | what | culprit |
| --- | --- | --- |
| ``duplicate_delivery`` | one callback sent an identical message to one process two or more times | the receiver's registration of that topic made in the recording (the application frame that called ``Registry.register``/``subscribe``), else the publishing callback |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Culprit, Finding
from ..view import Call, Message, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function

# registrations that put the calling process on a topic's list: (module, function)
_SUBSCRIBE = {("Elixir.Registry", "register"), ("Elixir.Phoenix.PubSub", "subscribe"),
              ("pg", "join"), ("pg2", "join")}
_PUBLISH = {("Elixir.Registry", "dispatch"), ("Elixir.Phoenix.PubSub", "broadcast"),
            ("Elixir.Phoenix.PubSub", "local_broadcast"), ("Elixir.Phoenix.PubSub", "broadcast_from")}


def _outer_app_call(c: Call | None) -> Call | None:
    """The outermost application frame above ``c`` (the callback it runs in)."""
    top = None
    while c is not None:
        if is_app_module(c.module):
            top = c
        c = c.parent
    return top


def _named_frame(c: Call | None) -> Call | None:
    """The first application frame at or above ``c`` that is a named function (not a fun or a
    comprehension body, whose names start with ``-``)."""
    while c is not None:
        if is_app_module(c.module) and not c.function.startswith("-"):
            return c
        c = c.parent
    return None


def _topic(view: RecordingView, cb: Call) -> Any:
    """The key the callback ``cb`` published on, when its publish call was recorded."""
    for c in view.calls_by_pid.get(cb.pid, []):
        if c.ts < cb.ts:
            continue
        if cb.end_ts is not None and c.ts > cb.end_ts:
            break
        if (c.module, c.function) in _PUBLISH and len(c.args) >= 2:
            return c.args[1]
    return None


def _registration(view: RecordingView, receiver: int, topic: Any, before: int) -> Call | None:
    """The receiver's latest registration (of ``topic`` when known) before ``before``; with two
    or more of the same topic, the second — the one that duplicated it."""
    regs = [c for c in view.calls_by_pid.get(receiver, [])
            if (c.module, c.function) in _SUBSCRIBE and c.ts <= before and len(c.args) >= 2
            and (topic is None or fmt(c.args[1], 200) == fmt(topic, 200))]
    if not regs:
        return None
    return regs[1] if len(regs) >= 2 else regs[-1]


def duplicate_deliveries(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[Message]] = defaultdict(list)
    callbacks: dict[int, Call] = {}
    for m in view.messages:
        if m.sender is None or m.receiver is None or m.send_ts is None or m.sender == m.receiver:
            continue
        cb = _outer_app_call(view.open_call_at(m.sender, m.send_ts))
        if cb is None:
            continue
        callbacks[cb.call_id] = cb
        groups[(cb.call_id, m.receiver, fmt(m.msg, 400))].append(m)
    per_callback: dict[int, list[tuple]] = defaultdict(list)
    for key, msgs in groups.items():
        per_callback[key[0]].append((key, msgs))
    for cb_id in sorted(per_callback):
        cb = callbacks[cb_id]
        entries = per_callback[cb_id]
        dup = sorted((e for e in entries if len(e[1]) >= 2), key=lambda e: (e[1][0].send_ts, e[0][1]))
        if not dup:
            continue
        once = [e for e in entries if len(e[1]) == 1]
        (_, receiver, _), msgs = dup[0]
        topic = _topic(view, cb)
        reg = _registration(view, receiver, topic, msgs[0].send_ts)
        frame = _named_frame(reg.parent) if reg is not None else None
        if frame is not None:
            callback = _outer_app_call(frame) or frame
            detail = callback.args[0] if callback.function.startswith("handle_") and callback.args else (
                reg.args[1] if len(reg.args) > 1 else None)
            culprit_call = callback if callback.function.startswith("handle_") else frame
            culprit = Culprit(module=mod_name(culprit_call.module),
                              function=source_function(culprit_call.function, culprit_call.arity),
                              detail=fmt(detail, 150) if detail is not None else None, process=view.label(receiver))
            where = (f" {view.label(receiver)} registered for {fmt(reg.args[1], 60)} again in {culprit_call.mfa} "
                     f"({fmt(detail, 80)}) without checking whether it already was.")
        else:
            culprit = Culprit(module=mod_name(cb.module), function=source_function(cb.function, cb.arity),
                              detail=fmt(msgs[0].msg, 150), process=view.label(cb.pid))
            where = " The registration that duplicated it was not recorded."
        others = f"; {len(once)} other receiver(s) got it once" if once else ""
        ev = [view.evidence(mm.send_id, "send", mm.send_ts, mm.sender,
                            f"{view.label(mm.sender)} sent {fmt(mm.msg, 80)} to {view.label(receiver)}", cb.mfa)
              for mm in msgs[:4]]
        if reg is not None:
            ev.append(view.call_evidence(reg, f"{view.label(receiver)} called {reg.mfa} with {fmt(reg.args[1:2], 60)}"))
        book.add(Finding(
            detector="duplicate_delivery",
            title=f"{cb.mfa} delivered the same message {len(msgs)}× to {view.label(receiver)}",
            summary=(f"One run of {cb.mfa} in {view.label(cb.pid)} sent {fmt(msgs[0].msg, 100)} to "
                     f"{view.label(receiver)} {len(msgs)} times{others}: that process is on the subscriber list "
                     f"more than once, so it handles every event {len(msgs)} times.{where}"),
            severity="medium", confidence=0.75 if once else 0.6, culprit=culprit, evidence=ev,
            signatures=["pubsub:duplicate_delivery"],
            fix_hint=("Subscribe once: check before registering (Registry.lookup/keys, or unregister first), "
                      "or use a :unique registry per subscriber; make settings saves idempotent.")),
            pid=receiver, ts=msgs[0].send_ts)
