"""Messages that arrive in the wrong order: a message about something the process does not
know yet is dropped, and the message that introduces it arrives just after.

Erlang orders messages only between one sender and one receiver. When a process learns about an
entity (an account, a session, an order) from one path — an event relayed through a bus, a
screening step, a task — and gets work on that entity from another path, nothing makes the
first arrive first. The work message finds nothing, is handled without effect (at most a log
line), and the entity appears a moment later.

| kind | what | culprit |
| --- | --- | --- |
| ``early_message`` | a cast or info callback left the state unchanged for a message naming a key the state did not hold; a later callback of the same process added that key | the application function that sent the early message (past the receiver's own client functions), else the handler |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function
from .common import callback_states, message_senders

WINDOW_S = 5.0          # the introducing message arrives within this time of the early one
_MAX_KEYS = 12


def _keys(term: Any, out: list[str], depth: int = 0) -> None:
    """The identifiers a message carries: its strings (3+ characters), as printed."""
    if depth > 5 or len(out) >= _MAX_KEYS:
        return
    if isinstance(term, (bytes, str)):
        if len(term) >= 3:
            out.append(fmt(term, 200))
    elif isinstance(term, (tuple, list)):
        for x in term:
            _keys(x, out, depth + 1)
    elif isinstance(term, dict):
        for x in term.values():
            _keys(x, out, depth + 1)


def _caller_frame(c: Call | None, receiver_module: str) -> Call | None:
    """The first named application frame at or above ``c`` outside the receiver's own module
    (a client function like ``Ledger.post/3`` runs in the caller but belongs to the receiver)."""
    while c is not None:
        if is_app_module(c.module) and not c.function.startswith("-") and c.module != receiver_module:
            return c
        c = c.parent
    return None


def _client_call(view: RecordingView, cb: Call) -> Call | None:
    """The receiver-module function another process called just before ``cb`` whose arguments
    all appear in the message ``cb`` handles (the send itself may not be traced)."""
    text = fmt(cb.args[0], 1000)
    best = None
    for c in view.calls:
        if c.ts > cb.ts:
            break
        if c.pid == cb.pid or c.module != cb.module or c.function.startswith(("handle_", "init", "-")):
            continue
        if c.args and all(fmt(a, 300) in text for a in c.args):
            best = c
    return best


def _sender(view: RecordingView, cb: Call) -> Call | None:
    frame = message_senders(view).get(cb.call_id)
    found = _caller_frame(frame, cb.module) if frame is not None else None
    if found is None:
        client = _client_call(view, cb)
        found = _caller_frame(client, cb.module) if client is not None else None
    return found


def early_messages(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    if not pairs:
        return
    window = int(WINDOW_S * view.time_unit)
    groups: dict[tuple, list[tuple[Call, Call, str]]] = defaultdict(list)
    for pid in sorted(view.calls_by_pid):
        cbs = [c for c in view.calls_by_pid[pid]
               if c.call_id in pairs and c.function in ("handle_cast", "handle_info") and c.args]
        texts = {c.call_id: (fmt(pairs[c.call_id][0], 20000), fmt(pairs[c.call_id][1], 20000)) for c in cbs}
        msgs: dict[int, str] = {}   # each message printed once: a busy process gets thousands in a window
        spawned = sorted(s.ts for s in view.spawns if s.parent == pid)
        for i, early in enumerate(cbs):
            before, after = texts[early.call_id]
            if before != after:
                continue
            if early.end_ts is not None and any(early.ts <= t <= early.end_ts for t in spawned):
                continue   # it started a process to do the work (a task): not a message handled without effect
            keys: list[str] = []
            _keys(early.args[0], keys)
            unknown = [k for k in dict.fromkeys(keys) if k not in before]
            if not unknown:
                continue
            for later in cbs[i + 1:]:
                if later.ts - early.ts > window:
                    break
                b2, a2 = texts[later.call_id]
                msg = msgs.get(later.call_id)
                if msg is None:
                    msg = msgs[later.call_id] = fmt(later.args[0], 2000)
                added = next((k for k in unknown if k in msg and k not in b2 and k in a2), None)
                if added is not None:
                    groups[(pid, early.module, early.function, early.arity)].append((early, later, added))
                    break
    for key in sorted(groups):
        items = groups[key]
        early, later, added = items[0]
        sender = _sender(view, early)
        at = sender or early
        culprit = Culprit(module=mod_name(at.module), function=source_function(at.function, at.arity),
                          detail=fmt(early.args[0], 150), process=view.label(at.pid))
        who = f" It was sent by {sender.mfa} in {view.label(sender.pid)}." if sender is not None else ""
        ev = []
        for e, lt, k in items[:3]:
            ev.append(view.call_evidence(e, f"{e.mfa} got {fmt(e.args[0], 80)}: {k} unknown yet, state unchanged"))
            ev.append(view.call_evidence(lt, f"… then {lt.mfa} got {fmt(lt.args[0], 80)}, which added {k}"))
        if sender is not None:
            ev.append(view.call_evidence(sender, f"{sender.mfa} sent the early message"))
        book.add(Finding(
            detector="early_message",
            title=f"{view.label(early.pid)} got {len(items)} message(s) before the one that introduces what they refer to",
            summary=(f"{early.mfa} handled {fmt(early.args[0], 100)} while its state did not hold {added} yet, and "
                     f"changed nothing; {fmt(later.args[0], 80)} added {added} "
                     f"{(later.ts - early.ts) * 1000.0 / view.time_unit:.1f} ms later. The two messages come "
                     f"by different paths, and nothing orders them: the work was dropped.{who}"),
            severity="high", confidence=min(0.75, 0.6 + 0.05 * len(items)), culprit=culprit, evidence=ev,
            signatures=["message:order_race", "message:no_effect"],
            fix_hint=("Send the dependent message through the same path as the one that introduces the entity "
                      "(or after it is acknowledged), or make the receiver keep early messages until the entity "
                      "exists instead of dropping them.")),
            pid=early.pid, ts=early.ts)
