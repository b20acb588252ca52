"""Answers swapped between callers: concurrent calls of one server each get an answer, but one
made for another caller's request.

A server that defers its replies must pair each answer with the ``from`` of the request the work
was for. Paired by arrival order when the work finishes out of order (a queue of froms answered
from its head), by position in a batch whose results come back in completion order, through a
request id that is reused: every caller still gets *an* answer — no timeout — about someone
else's key. (When the answers pile onto one ``from`` and the other callers time out, it is
:mod:`.misdirected`'s ``reply_misdirected``.)

| kind | what | culprit |
| --- | --- | --- |
| ``reply_swapped`` | a deferred answer (sent after the callback that got the caller's ``from`` returned without replying) — a caller's answer is about another concurrent request of the same kind to the same server: it names that request's own values (a key, a name, an id) and none of the caller's, or it is the value an application function returned when it was run for that request and not for the caller's | the application function that sent the answer (it paired the result with the caller), and the message it handled |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom
from .book import FactBook
from .calls import TRIVIAL_ATOMS, ServedCall, leaves, served_calls, show_leaf
from .common import culprit_of, message_shape
from .misdirected import _frame_at, _handled_message

TOKENS = ["data:reply_for_other_caller"]
MAX_RESULTS = 5_000     # application calls read for the values they returned


def _own(c: ServedCall, group: list[ServedCall]) -> set:
    """The leaves of ``c``'s request that not every request of its kind has (its key, its name)."""
    mine = c.keys()
    common = set.intersection(*(o.keys() for o in group)) if group else set()
    return mine - common


def _trivial(v: Any) -> bool:
    """A value too common to say which request it was made for."""
    return v is None or isinstance(v, bool) or (isinstance(v, (int, float)) and abs(v) <= 1) \
        or (isinstance(v, Atom) and v.name in TRIVIAL_ATOMS)


def _cores(reply: Any) -> list[str]:
    """The reply and, when it is a tagged tuple (``{:ok, x}``), what it carries — as printed."""
    out = [] if _trivial(reply) else [fmt(reply, 4000)]
    if isinstance(reply, tuple) and len(reply) >= 2:
        out += [fmt(x, 4000) for x in reply[1:] if not _trivial(x) and not isinstance(x, bool)]
    return out


def _made_for(view: RecordingView, group: list[ServedCall], owns: dict[str, set]) -> dict[str, list[tuple[Call, ServedCall]]]:
    """Printed value → the application calls that returned it and the one request of the group
    whose own values their arguments hold."""
    out: dict[str, list[tuple[Call, ServedCall]]] = defaultdict(list)
    for k in view.calls[:MAX_RESULTS]:
        if k.outcome != "return" or not is_app_module(k.module) or k.function.startswith("handle_") or _trivial(k.value):
            continue
        given = leaves(k.args)
        holders = [c for c in group if owns[c.tag] and owns[c.tag] <= given]
        if len(holders) == 1:
            out[fmt(k.value, 4000)].append((k, holders[0]))
    return out


def _in_caller(view: RecordingView, k: Call, c: ServedCall) -> bool:
    p = view.proc(k.pid)
    return p is not None and p.pid is not None and p.pid.removeprefix("#PID") == c.caller


def _deferred(c: ServedCall) -> bool:
    """Whether ``c`` was answered later than by the callback that got its ``from``: a callback
    answering its own call (a ``{:reply, …}`` return, a reply sent while it runs) is paired with
    its caller by the behaviour itself, whatever the answer says."""
    s, m = c.step, c.reply_msg
    if s is None or s.function != "handle_call" or s.outcome != "return" or m is None or m.send_ts is None:
        return False
    if isinstance(s.value, tuple) and s.value and is_atom(s.value[0], "reply"):
        return False
    return s.end_ts is not None and m.send_ts > s.end_ts


def swapped_replies(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[ServedCall]] = defaultdict(list)
    for c in served_calls(view):
        if c.reply_msg is not None and c.reply_msg.send_ts is not None:
            groups[(c.server, message_shape(c.request))].append(c)
    for (server, _shape), group in groups.items():
        if len({c.caller for c in group}) < 2 or len({fmt(c.request, 400) for c in group}) < 2:
            continue
        owns = {c.tag: _own(c, group) for c in group}
        made = None
        found: list[tuple[ServedCall, ServedCall, str]] = []
        for c in group:
            mine = owns[c.tag]
            if not mine or not _deferred(c):
                continue
            others = [o for o in group if o is not c and owns[o.tag] and o.caller != c.caller
                      and o.asked_ts < c.reply_msg.send_ts
                      and (o.reply_msg is None or o.reply_msg.send_ts > c.asked_ts)]
            got = leaves(c.reply)
            hit = None
            if got and not (got & mine):
                hit = next((o for o in others if owns[o.tag] - mine and (owns[o.tag] - mine) <= got), None)
                how = "names"
            if hit is None:
                if made is None:
                    made = _made_for(view, group, owns)
                sent = c.reply_msg.send_ts
                for core in _cores(c.reply):
                    # made before the answer left, outside the caller (whose own call returns what it got)
                    src = [(k, h) for k, h in made.get(core, []) if k.end_ts is not None and k.end_ts <= sent
                           and not _in_caller(view, k, c)]
                    if src and all(h is not c for _k, h in src):
                        hit = next((h for _k, h in src if any(h is o for o in others)), None)
                        if hit is not None:
                            how = f"is what {src[0][0].mfa} returned for"
                            break
            if hit is not None:
                found.append((c, hit, how))
        if found:
            _fact(view, book, server, found, owns)


def _fact(view: RecordingView, book: FactBook, server: int, found: list[tuple[ServedCall, ServedCall, str]],
          owns: dict[str, set]) -> None:
    by_frame: dict[tuple, list] = defaultdict(list)
    for c, other, how in found:
        m = c.reply_msg
        frame = _frame_at(view, m.sender, m.send_ts)
        if frame is not None:
            by_frame[(frame.module, frame.function, frame.arity)].append((frame, c, other, how))
    for hits in by_frame.values():
        frame, c, other, how = hits[0]
        msg = _handled_message(frame)
        mine = ", ".join(show_leaf(x) for x in sorted(owns[c.tag], key=str)[:3])
        theirs = ", ".join(show_leaf(x) for x in sorted(owns[other.tag], key=str)[:3])
        book.add(Finding(
            detector="reply_swapped",
            title=f"{frame.mfa} answers the caller of {fmt(c.request, 60)} with the answer to {fmt(other.request, 60)}",
            summary=(f"{len(hits)} concurrent call(s) to {view.label(server)} got an answer made for another caller's request: "
                     f"the caller of {fmt(c.request, 80)} ({mine}) got {fmt(c.reply, 100)}, which {how} "
                     f"{fmt(other.request, 80)} ({theirs}). {frame.mfa} sent it: it paired a result with a caller by "
                     "something other than the request the work was for (the order callers arrived in, a position "
                     "in a batch finished out of order, a reused id)."),
            severity="high", confidence=0.8, culprit=culprit_of(view, frame, msg),
            evidence=[*[view.call_evidence(x.step, f"{x.caller} asks {fmt(x.request, 80)}") for x in (c, other) if x.step is not None],
                      *[view.evidence(h[1].reply_msg.send_id, "send", h[1].reply_msg.send_ts, h[1].reply_msg.sender,
                                      f"{h[0].mfa} answers the caller of {fmt(h[1].request, 50)} with {fmt(h[1].reply, 80)} "
                                      f"(for {fmt(h[2].request, 50)})", h[0].mfa) for h in hits[:4]]],
            signatures=TOKENS,
            fix_hint=("Pair each result with the caller it was computed for: carry the caller's `from` (or a unique "
                      "ref mapped to it) with the work and reply to that one — never by arrival order or position.")),
            pid=frame.pid, ts=c.reply_msg.send_ts, server=server, swapped=len(hits))
