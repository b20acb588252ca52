"""Deferred replies: a ``handle_call/3`` that returned ``{:noreply, state}`` kept the caller's
``from`` to answer later; the reply must come from some later callback.

| kind | what | culprit |
| --- | --- | --- |
| ``reply_dropped`` | the ``from`` kept in the state is removed by a later callback and no reply is ever sent to that caller (its call times out) | the callback that dropped it, and its message |
| ``reply_never_sent`` | the ``from`` stays in the state to the end of the recording, unanswered, while the caller's call failed | the ``handle_call/3`` that deferred it |
| ``reply_missing`` | a gen_statem state function given a ``{:call, from}`` event returned with no ``{:reply, from, _}`` action, no postpone, no stop, and without keeping ``from`` anywhere in what it returned; no later callback of that process replied to it; and the caller's call running then ended in a timeout (or never ended) | that state function, and the event |

A ``{:keep_state, data}`` copied from a cast clause into a call clause leaves the caller waiting
until its timeout: the machine itself looks healthy. Only a caller whose call is seen timing out
(or never returning) counts — a reply sent another way (``:gen_statem.reply/2`` from a process
the ``from`` was handed to) would have let it return.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom
from .book import FactBook
from .common import callback_states, culprit_of
from .statem import event_type

LIMIT = 20_000      # printed state size the search looks into


def _tag_text(from_: Any) -> str | None:
    """The reply tag of a ``from`` (``{pid, ref}`` or, since OTP 24, ``{pid, [:alias | ref]}``)
    as printed, which is what the reply message carries first."""
    if isinstance(from_, tuple) and len(from_) == 2:
        return fmt(from_[1], 200)
    return None


def _replied(view: RecordingView, pid: int, tag: str, after: int) -> bool:
    for m in view.messages:
        if m.sender == pid and m.send_ts is not None and m.send_ts >= after:
            msg = m.msg
            if isinstance(msg, tuple) and len(msg) == 2 and fmt(msg[0], 200) == tag:
                return True
    return False


def deferred_replies(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    deferred: list[tuple[Call, str]] = []
    for c in view.calls:
        if (c.function == "handle_call" and c.arity == 3 and len(c.args) == 3 and c.outcome == "return"
                and isinstance(c.value, tuple) and c.value and is_atom(c.value[0], "noreply")):
            tag = _tag_text(c.args[1])
            if tag is not None:
                deferred.append((c, tag))
    if not deferred:
        return
    callbacks: dict[int, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.function.startswith("handle_") and c.call_id in pairs:
            callbacks[c.pid].append(c)
    failed_calls = [f for f in book.of_kind("call_failed") if getattr(book.meta[f.id].get("gc"), "why", None) == "timeout"]
    for c, tag in deferred:
        if _replied(view, c.pid, tag, c.ts):
            continue
        caller = c.args[1][0]
        dropped_by = None
        for cb in callbacks.get(c.pid, []):
            if cb.ts <= c.ts:
                continue
            before, after = pairs[cb.call_id]
            if tag in fmt(before, LIMIT) and tag not in fmt(after, LIMIT):
                dropped_by = cb
                break
        timed_out = [f for f in failed_calls
                     if fmt(getattr(book.meta[f.id].get("gc"), "request", None), 300) == fmt(c.args[0], 300)]
        if dropped_by is not None:
            msg = dropped_by.args[0] if dropped_by.args else None
            fact = book.add(Finding(
                detector="reply_dropped",
                title=f"{dropped_by.mfa} drops the pending call {fmt(c.args[0], 60)} without replying",
                summary=(f"{c.mfa} deferred its reply to {fmt(caller, 40)} ({fmt(c.args[0], 80)}: returned "
                         f":noreply and kept the caller's `from` in its state); {dropped_by.mfa} on "
                         f"{fmt(msg, 100)} removed that entry and no reply was ever sent to the caller, "
                         "which waits until its call times out."),
                severity="high", confidence=0.75, culprit=culprit_of(view, dropped_by, msg),
                evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args[0], 60)}) returned :noreply, keeping the caller"),
                          view.call_evidence(dropped_by, f"{dropped_by.mfa}({fmt(msg, 60)}) removed the pending caller, no reply sent")],
                signatures=["call:reply_dropped", "exception:timeout:GenServer.call"],
                fix_hint="Every path that removes a pending `from` must answer it: GenServer.reply(from, {:error, reason}) "
                         "on the error path too."),
                pid=dropped_by.pid, ts=dropped_by.ts)
        elif timed_out and tag in fmt(_last_state(view, c.pid), LIMIT):
            fact = book.add(Finding(
                detector="reply_never_sent",
                title=f"{c.mfa} deferred {fmt(c.args[0], 60)} and never replied",
                summary=(f"{c.mfa} returned :noreply for {fmt(c.args[0], 80)} and kept the caller's `from` in its "
                         "state, where it still sits unanswered at the end of the recording; the caller timed out."),
                severity="high", confidence=0.65, culprit=culprit_of(view, c, c.args[0]),
                evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args[0], 60)}) returned :noreply")],
                signatures=["call:blocked_waiting", "exception:timeout:GenServer.call"],
                fix_hint="Reply from the callback that completes the deferred work, on every path."),
                pid=c.pid, ts=c.ts)
        else:
            continue
        for f in timed_out:
            book.link(f, fact, "the server never replied to this call")


def _last_state(view: RecordingView, pid: int) -> Any:
    last = None
    for s in view.states:
        if s.pid == pid:
            last = s.state
    return last


_NOT_ANSWERED_HERE = ("postpone", "stop", "stop_and_reply")
_STATEM_OWN = {"init", "callback_mode", "terminate", "code_change", "format_status"}


def _waited_out(view: RecordingView, caller: int | None, ts: int) -> Call | None:
    """The caller's application call running at ``ts`` (or one of its callers) that ended in a
    timeout or never ended: the call that waited for the reply."""
    if caller is None:
        return None
    c = view.open_call_at(caller, ts)
    while c is not None:
        if c.end_ts is None or "timeout" in fmt(c.value, 400):
            return c
        c = c.parent
    return None


def statem_replies_missing(view: RecordingView, book: FactBook) -> None:
    procs = {p.pid: idx for idx, p in view.procs.items()}
    for c in view.calls:
        if (c.outcome != "return" or not c.args or event_type(c.args[0]) != "call" or len(c.args[0]) != 2
                or c.function in _STATEM_OWN or c.function.startswith("-") or not is_app_module(c.module)):
            continue
        tag = _tag_text(c.args[0][1])
        if tag is None:
            continue
        printed = fmt(c.value, LIMIT)
        if tag in printed or any(f":{w}" in printed for w in _NOT_ANSWERED_HERE) or len(printed) >= LIMIT:
            continue   # replied, kept for later, postponed, stopping — or cut: proves nothing
        if any(tag in fmt(d.value, LIMIT) for d in view.calls_by_pid.get(c.pid, []) if d.ts > c.ts) \
                or _replied(view, c.pid, tag, c.ts):
            continue   # a later callback answered it
        caller = c.args[0][1][0] if isinstance(c.args[0][1], tuple) else None
        waited = _waited_out(view, procs.get(str(caller)) if caller is not None else None, c.ts)
        if waited is None:
            continue
        how = ("ended unseen (its end was among events the capture dropped)" if waited.broken else
               "never returned" if waited.end_ts is None else f"returned {fmt(waited.value, 60)}")
        book.add(Finding(
            detector="reply_missing",
            title=f"{c.mfa} took the call {fmt(c.args[1], 60)} and never replied",
            summary=(f"{c.mfa} was given the call {fmt(c.args[1], 80)} from {fmt(caller, 40)} and returned "
                     f"{fmt(c.value, 80)}: no {{:reply, from, _}} action, no postpone, and the `from` kept "
                     f"nowhere — nothing later answered it, and the caller's {waited.mfa} waited and {how}."),
            severity="high", confidence=0.75, culprit=culprit_of(view, c, c.args[1]),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args[1], 60)}) called with a {{:call, from}} event"),
                      view.end_evidence(c, f"{c.mfa} returned {fmt(c.value, 60)} without a reply action"),
                      view.end_evidence(waited, f"the caller's {waited.mfa} {how}")],
            signatures=["call:reply_dropped", "exception:timeout:GenServer.call"],
            fix_hint=("Answer every {:call, from} event: add [{:reply, from, answer}] to the state function's "
                      "return on that path too (an error answer when the request is refused or parked).")),
            pid=c.pid, ts=c.ts)
