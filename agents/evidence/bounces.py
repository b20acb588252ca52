"""A message handed back and forth between two processes without end.

A process that cannot handle a piece of work hands it back to the one that gave it, which sends it
to the same place again by the same rule: nothing crashes, the work is never done, and both
processes are busy with it for ever. The recording shows the same payload (the same identifiers)
going from one process to the other and back, many times in a row, each send made while handling
the previous one's arrival.

| kind | what | culprit |
| --- | --- | --- |
| ``message_bounced`` | the same payload (the same texts inside, one of them an identifier with a digit) sent between the same two processes by casts or plain messages — not calls or replies — in alternating directions at least 10 times each way | the callback that first handed it back to the process it came from, and the payload |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom, Ref
from elixir_scope.instrument.etf.terms import FrozenMap

from ..findings import Finding
from ..view import Message, RecordingView, fmt, is_atom
from .book import FactBook
from .common import culprit_of

MIN_EACH_WAY = 10
MAX_MESSAGES = 100_000
MAX_TEXTS = 16


def _texts(term: Any) -> frozenset[bytes]:
    """The texts of 3 characters or more inside a message (its identifiers and names), bounded."""
    out: set[bytes] = set()
    stack, seen = [term], 0
    while stack and seen < 2000 and len(out) < MAX_TEXTS:
        t = stack.pop()
        seen += 1
        if isinstance(t, bytes):
            if len(t) >= 3:
                out.add(t)
        elif isinstance(t, (dict, FrozenMap)):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return frozenset(out)


def _call_or_reply(msg: Any) -> bool:
    if isinstance(msg, tuple) and msg and is_atom(msg[0], "$gen_call"):
        return True
    if isinstance(msg, tuple) and len(msg) == 2:
        tag = msg[0]
        return isinstance(tag, Ref) or (isinstance(tag, list) and bool(tag) and isinstance(tag[0], Atom))
    return False


def bounced_messages(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[Message]] = defaultdict(list)
    for m in view.messages[:MAX_MESSAGES]:
        if m.sender is None or m.receiver is None or m.sender == m.receiver or m.send_ts is None \
                or _call_or_reply(m.msg):
            continue
        texts = _texts(m.msg)
        if any(any(ch in b"0123456789" for ch in t) for t in texts):   # an identifier: the same item each time
            groups[(frozenset((m.sender, m.receiver)), texts)].append(m)
    named: set[frozenset] = set()
    for (pair, texts), ms in sorted(groups.items(), key=lambda kv: kv[1][0].send_ts):
        if pair in named or len(ms) < 2 * MIN_EACH_WAY:
            continue
        ms.sort(key=lambda m: m.send_ts)
        turns = sum(1 for a, b in zip(ms, ms[1:]) if a.sender == b.receiver)
        if turns < 2 * MIN_EACH_WAY - 1:
            continue
        first = ms[0]
        back = next((m for m in ms if m.sender == first.receiver), None)
        cb = view.open_call_at(back.sender, back.send_ts) if back is not None else None
        # the other process's own client function (``Router.reroute/2``) only sends: its caller decided
        home = view.module_of_pid.get(first.sender)
        while cb is not None and cb.module == home and cb.parent is not None:
            cb = cb.parent
        if cb is None:
            continue
        named.add(pair)
        a, b = view.label(first.sender), view.label(first.receiver)
        ids = ", ".join(sorted(t.decode("utf-8", "replace") for t in texts)[:3])
        span = (ms[-1].send_ts - first.send_ts) / (view.time_unit / 1000.0)
        book.add(Finding(
            detector="message_bounced",
            title=f"{b} hands {ids} back to {a}, which sends it back again: {len(ms)} times",
            summary=(f"The same payload ({ids}) went between {a} and {b} {len(ms)} times in {span:.0f} ms, each way "
                     f"in turn ({fmt(first.msg, 100)} → {fmt(back.msg, 100)}): {cb.mfa} in {b} hands it back to the "
                     f"process it came from, which routes it the same way again. The work is never done and both "
                     "processes stay busy with it."),
            severity="high", confidence=0.65,
            culprit=culprit_of(view, cb, back.msg),
            evidence=[view.evidence(first.send_id, "send", first.send_ts, first.sender,
                                    f"{a} sends {fmt(first.msg, 80)} to {b}"),
                      view.evidence(back.send_id, "send", back.send_ts, back.sender,
                                    f"{b} ({cb.mfa}) hands it back: {fmt(back.msg, 80)}"),
                      view.evidence(ms[-1].send_id, "send", ms[-1].send_ts, ms[-1].sender,
                                    f"still going {len(ms)} messages later")],
            signatures=["message:rate_high", "message:no_effect"],
            fix_hint=("Do not hand work back to the process that routed it by the same rule: give up after a hop "
                      "limit, or send what nobody recognises to a fallback (a triage queue) and log it.")),
            pid=back.sender, ts=back.send_ts, calls=[cb.call_id])
