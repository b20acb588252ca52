"""Replies that went to the wrong process: a call whose caller timed out while its answer — or
the caller's ``from``, which the answer must be sent with — went somewhere else.

A call is found by its tag: ``handle_call/3`` gets ``from = {caller, tag}`` and the answer is the
message ``{tag, reply}`` (``GenServer.reply/2``, or the server's own loop after ``{:reply, …}``).
A call whose caller's ``GenServer.call`` timed out and whose tag no message ever answered is
*lost*; these facts follow its tag through the recording to the place it went wrong.

| kind | what | culprit |
| --- | --- | --- |
| ``reply_misdirected`` | (**another caller's from**) the server answered one ``from`` more than once — the extra answers went to a caller that had asked something else (it got someone else's answer; later copies vanish), while a lost call of that server got none | the application function that sent the extra answers (a callback replying to a ``from`` kept in one slot, a stored or stale one), and the message it handled |
| ``reply_misdirected`` | (**the from sent away**) the lost call's ``from`` left the server (in a message, a cast, the arguments of a function another process ran) and its trail ends in a process other than the server: one that never took the message, ignored it (no state change, nothing sent) or was its sender itself — the answer was addressed to a process that does not answer callers | the application function that sent it there (``send(self(), …)`` inside a Task, the wrong registered name) — or, when the last process to hold the ``from`` acted on it and answered no one, that process's function |

A ``from`` that stays in the server (dropped from its state, never answered) is
:mod:`.replies`' ``reply_dropped``/``reply_never_sent``; when the answers meant for those calls
went to another caller, those facts are effects of this one. The callers' timeouts are its
effects too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, Message, RecordingView, fmt, is_app_module, is_atom
from .book import FactBook
from .common import callback_states, culprit_of
from .replies import _tag_text

LIMIT = 4_000      # printed size of a message, argument list or state searched for a tag
MAX_LOST = 20      # lost calls whose from is followed through the recording (each walk reads every call)
TOKENS = ["call:reply_misdirected", "exception:timeout:GenServer.call"]


def _is_reply(msg: Any, tags: set[str]) -> str | None:
    if isinstance(msg, tuple) and len(msg) == 2:
        t = fmt(msg[0], 200)
        if t in tags:
            return t
    return None


def _outer_app(c: Call | None) -> Call | None:
    """The outermost application frame ``c`` runs in (the callback, the spawned function)."""
    best = c if c is not None and is_app_module(c.module) else None
    p = c.parent if c is not None else None
    while p is not None:
        if is_app_module(p.module):
            best = p
        p = p.parent
    return best


def _from_of(c: Call) -> Any:
    """The caller's ``from`` a callback got: ``handle_call(request, from, state)``, or a
    ``gen_statem`` callback for the event type ``{:call, from}`` (``handle_event/4``, a state
    function)."""
    if c.function == "handle_call" and c.arity == 3 and len(c.args) == 3:
        return c.args[1]
    if c.args and isinstance(c.args[0], tuple) and len(c.args[0]) == 2 and is_atom(c.args[0][0], "call") \
            and len(c.args) >= 3 and c.arity in (3, 4):
        return c.args[0][1]
    return None


def _request(c: Call) -> Any:
    """The request a call callback handled (``handle_call``'s first argument, a ``gen_statem``
    call's event content)."""
    return c.args[0] if c.function == "handle_call" else c.args[1]


def _frame_at(view: RecordingView, pid: int, ts: int) -> Call | None:
    """The application function that sent a message at ``ts``: the frame running then — or,
    for a reply the behaviour's loop sends after a callback returned (``{:reply, …}`` returns,
    ``gen_statem`` reply actions), the application callback that returned last before it."""
    frame = _outer_app(view.open_call_at(pid, ts))
    if frame is not None:
        return frame
    best = None
    for c in view.calls_by_pid.get(pid, []):
        if c.parent is None and is_app_module(c.module) and c.end_ts is not None and c.end_ts <= ts \
                and (best is None or c.end_ts >= best.end_ts):
            best = c
    return best


def _pid_text(from_: Any) -> str | None:
    """The caller's pid of a ``from``, as printed (``<0.195.0>``)."""
    if isinstance(from_, tuple) and from_:
        return fmt(from_[0], 60).removeprefix("#PID")
    return None


def _proc_text(view: RecordingView, idx: Any) -> str | None:
    p = view.proc(idx) if isinstance(idx, int) else None
    return p.pid.removeprefix("#PID") if p is not None and p.pid else None


def misdirected_replies(view: RecordingView, book: FactBook) -> None:
    handled: list[tuple[Call, str]] = []
    for c in view.calls:
        if is_app_module(c.module) and _from_of(c) is not None:
            tag = _tag_text(_from_of(c))
            if tag is not None:
                handled.append((c, tag))
    if not handled:
        return
    tags = {tag for _, tag in handled}
    replies: dict[str, list[Message]] = defaultdict(list)
    for m in view.messages:
        t = _is_reply(m.msg, tags)
        if t is not None and m.send_ts is not None:
            replies[t].append(m)
    timeouts = [f for f in book.of_kind("call_failed") if getattr(book.meta[f.id].get("gc"), "why", None) == "timeout"]
    callers = {_pid_text(_from_of(c)) for c, _ in handled}
    lost: list[tuple[Call, str, list[Finding]]] = []
    for c, tag in handled:
        if replies.get(tag):
            continue
        caller = _pid_text(_from_of(c))
        asked = [f for f in timeouts if fmt(getattr(book.meta[f.id].get("gc"), "request", None), 300) == fmt(_request(c), 300)]
        failed = [f for f in asked if _proc_text(view, book.meta[f.id].get("pid")) == caller]
        if not failed:
            # the from names a proxy the caller made for the call (:gen_statem.call with a timeout
            # on OTP 25), not the caller: the same request from a caller no from names
            failed = [f for f in asked if _proc_text(view, book.meta[f.id].get("pid")) not in callers]
        if failed:
            lost.append((c, tag, failed))
    if not lost:
        return
    _answered_twice(view, book, handled, replies, lost)
    seen: dict[tuple, Finding] = {}
    for c, tag, failed in lost[:MAX_LOST]:
        if any(book.origin(f).detector == "reply_misdirected" for f in failed):
            continue
        _sent_away(view, book, c, tag, failed, seen)


def _link_effects(view: RecordingView, book: FactBook, fact: Finding, server: int, calls: list[tuple[Call, str, list[Finding]]]) -> None:
    label = view.label(server)
    for c, _tag, failed in calls:
        for f in failed:
            book.link_origin(f, fact, "the answer to this call was sent to another process",
                             origins=("reply_dropped", "reply_never_sent", "call_failed"))
        for f in book.of_kind("reply_dropped", "reply_never_sent"):
            if f.culprit is not None and f.culprit.process == label and fmt(_request(c), 60) in f.title:
                book.link(f, fact, "the answer meant for this caller went to another one")


def _answered_twice(view: RecordingView, book: FactBook, handled: list[tuple[Call, str]],
                    replies: dict[str, list[Message]], lost: list[tuple[Call, str, list[Finding]]]) -> None:
    """One ``from`` answered several times by the server of lost calls: the extra answers were
    meant for the lost callers."""
    by_server: dict[int, list[tuple[Call, str, list[Finding]]]] = defaultdict(list)
    for item in lost:
        by_server[item[0].pid].append(item)
    for server, its_lost in by_server.items():
        first_lost = min(c.ts for c, _, _ in its_lost)
        groups: dict[tuple[str, str, int], list[tuple[Call, Message, Call]]] = defaultdict(list)
        for c, tag in handled:
            if c.pid != server:
                continue
            sent = sorted((m for m in replies.get(tag, []) if m.sender == server), key=lambda m: m.send_ts)
            if len(sent) < 2:
                continue
            for m in sent:
                if m.send_ts < first_lost:
                    continue
                frame = _frame_at(view, server, m.send_ts)
                if frame is not None:
                    groups[(frame.module, frame.function, frame.arity)].append((frame, m, c))
        if not groups:
            continue
        key = max(groups, key=lambda k: len(groups[k]))
        hits = groups[key]
        frame, m, answered = hits[0]
        msg = _handled_message(frame)
        lost_reqs = ", ".join(fmt(_request(c), 50) for c, _, _ in its_lost[:3])
        fact = book.add(Finding(
            detector="reply_misdirected",
            title=f"{frame.mfa} answers the caller of {fmt(_request(answered), 50)} again and again; {lost_reqs} never get an answer",
            summary=(f"{frame.mfa} (on {fmt(msg, 80)} and later) sent its answers to one `from` — that of "
                     f"{fmt(_request(answered), 80)} — {len(hits)} times after other calls had come in: those answers were meant for "
                     f"the other callers ({lost_reqs}), whose calls got no reply and timed out, while the caller of "
                     f"{fmt(_request(answered), 60)} got someone else's answer (a second reply to one `from` is dropped). "
                     "The `from` it replies to is not the one of the request the work was for: one slot kept for "
                     "every pending caller, a stored or stale `from`."),
            severity="high", confidence=0.8, culprit=culprit_of(view, frame, msg),
            evidence=[view.call_evidence(answered, f"{answered.mfa}({fmt(_request(answered), 60)}) from {fmt(_from_of(answered), 60)}"),
                      *[view.call_evidence(c, f"{c.mfa}({fmt(_request(c), 60)}) deferred; never answered") for c, _, _ in its_lost[:3]],
                      *[view.evidence(mm.send_id, "send", mm.send_ts, server, f"{fr.mfa} replies {fmt(mm.msg, 100)}", fr.mfa)
                        for fr, mm, _ in hits[:4]]],
            signatures=TOKENS,
            fix_hint="Keep every pending caller's `from` under the key of its own request (a map by request id or ref) "
                     "and reply to the one the finished work belongs to; never keep a single `from` slot for several callers."),
            pid=server, ts=m.send_ts, replies=len(hits))
        _link_effects(view, book, fact, server, its_lost)


def _handled_message(frame: Call) -> Any:
    """The message or event a callback handled (``handle_info(msg, s)``, ``handle_event(type, content, …)``)."""
    if not frame.args:
        return None
    if frame.function.startswith("handle_") and frame.function != "handle_event":
        return frame.args[0]
    if len(frame.args) >= 3:
        return frame.args[1]
    return None


def _ignored(view: RecordingView, m: Message, tag: str) -> tuple[bool, Call | None]:
    """Whether the receiver of ``m`` let it go (never took it, took it with no effect, or it
    sent it to itself), and the callback that took it."""
    x = m.receiver
    if x is None:
        return True, None
    if m.receive_ts is None:
        # a receiver still busy in a call it never finished may take it later: not ignored
        busy = any(c.outcome is None and c.ts <= m.send_ts for c in view.calls_by_pid.get(x, []))
        return not busy, None
    if x == m.sender:
        return True, None
    pairs = callback_states(view)
    for c in view.calls_by_pid.get(x, []):
        if c.ts < m.receive_ts or not c.function.startswith("handle_") or not c.args:
            continue
        if tag not in fmt(_handled_message(c), LIMIT):
            continue
        if c.outcome == "exception":
            return True, c
        sends = [s for s in view.messages if s.sender == x and s.send_ts is not None and c.end_ts is not None
                 and c.ts <= s.send_ts <= c.end_ts]
        work = [k for k in view.children(c) if is_app_module(k.module)]
        pair = pairs.get(c.call_id)
        same = pair is not None and fmt(pair[0], LIMIT) == fmt(pair[1], LIMIT)
        return (same and not sends and not work), c
    return False, None


def _sent_away(view: RecordingView, book: FactBook, c: Call, tag: str, failed: list[Finding],
               seen: dict[tuple, Finding]) -> None:
    """The lost call's ``from`` left its server: follow it to where its trail ends."""
    server = c.pid
    carriers = [m for m in view.messages
                if m.send_ts is not None and m.send_ts > c.ts and m.sender is not None
                and tag in fmt(m.msg, LIMIT) and _is_reply(m.msg, {tag}) is None]
    held = [k for k in view.calls
            if k.pid != server and k.ts > c.ts and is_app_module(k.module) and tag in fmt(k.args, LIMIT)]
    if not carriers and not held:
        return      # the from never left the server: reply_dropped / reply_never_sent
    last_msg = max(carriers, key=lambda m: m.send_ts, default=None)
    last_call = max(held, key=lambda k: k.ts, default=None)
    request = fmt(_request(c), 60)
    if last_msg is not None and (last_call is None or last_call.pid == last_msg.receiver or last_msg.send_ts >= last_call.ts):
        if last_msg.receiver == server:
            return  # it came back to the server, which then answered no one: not a wrong destination
        ignored, took = _ignored(view, last_msg, tag)
        sender_frame = _outer_app(view.open_call_at(last_msg.sender, last_msg.send_ts))
        to = view.label(last_msg.receiver) if last_msg.receiver is not None else fmt(last_msg.to, 60)
        if ignored and sender_frame is not None:
            how = ("never took it" if took is None and last_msg.receive_ts is None
                   else "is its sender itself" if last_msg.receiver == last_msg.sender
                   else "took it and did nothing with it" if took is not None and took.outcome != "exception"
                   else "crashed on it")
            culprit = culprit_of(view, sender_frame, f"{fmt(last_msg.msg, 100)} sent to {to}")
            title = f"{culprit.module}.{culprit.function} sends the pending call {request}'s `from` to {to}, which never answers it"
            summary = (f"{c.mfa} deferred {fmt(_request(c), 80)} and its caller's `from` left {view.label(server)}; "
                       f"{sender_frame.mfa} sent it on in {fmt(last_msg.msg, 120)} to {to}, which {how}. No process "
                       "answered the caller, whose call timed out: the result was sent to the wrong process.")
            evidence = [view.call_evidence(c, f"{c.mfa}({request}) deferred its reply"),
                        view.evidence(last_msg.send_id, "send", last_msg.send_ts, last_msg.sender,
                                      f"{sender_frame.mfa} sends {fmt(last_msg.msg, 100)} to {to}", sender_frame.mfa)]
            if took is not None:
                evidence.append(view.call_evidence(took, f"{took.mfa} took it: {how}"))
            at, ts = last_msg.sender, last_msg.send_ts
        elif took is not None and took.outcome is not None:   # one still running may answer yet
            culprit = culprit_of(view, took, _handled_message(took))
            title = f"{culprit.module}.{culprit.function} takes the pending call {request}'s `from` and answers no one"
            summary = (f"{c.mfa} deferred {fmt(_request(c), 80)}; its caller's `from` reached {to} in {fmt(last_msg.msg, 120)}, "
                       f"where {took.mfa} acted on it but neither replied to the caller nor passed the `from` on; "
                       "the call timed out.")
            evidence = [view.call_evidence(c, f"{c.mfa}({request}) deferred its reply"),
                        view.call_evidence(took, f"{took.mfa} took the caller's from and answered no one")]
            at, ts = took.pid, took.ts
        else:
            return
    elif last_call is not None:
        frame = _outer_app(last_call) or last_call
        if frame.outcome is None:
            return      # still working when the recording ended (slow, not misdirected)
        shown = frame.value if frame.outcome == "return" else frame.args
        culprit = culprit_of(view, frame, shown)
        title = f"{culprit.module}.{culprit.function} holds the pending call {request}'s `from` in {view.label(frame.pid)} and no answer ever leaves"
        summary = (f"{c.mfa} deferred {fmt(_request(c), 80)} and handed its caller's `from` to {view.label(frame.pid)}, "
                   f"where {frame.mfa} ran with it ({fmt(shown, 120)}); nothing carrying it reached the server or the "
                   "caller afterwards, and the call timed out: the result was sent where no one answers the caller "
                   "(`self()` inside a spawned function is that function's own process).")
        evidence = [view.call_evidence(c, f"{c.mfa}({request}) deferred its reply"),
                    view.end_evidence(frame, f"{frame.mfa} ran with the caller's from and returned {fmt(frame.value, 100)}")]
        at, ts = frame.pid, frame.ts
    else:
        return
    key = (culprit.module, culprit.function, server)
    if key in seen:     # another lost call, sent the same wrong way: one fact, more evidence
        fact = seen[key]
        if len(fact.evidence) < 8:
            fact.evidence.extend(evidence[:2])
        _link_effects(view, book, fact, server, [(c, tag, failed)])
        return
    fact = seen[key] = book.add(Finding(
        detector="reply_misdirected", title=title, summary=summary,
        severity="high", confidence=0.75, culprit=culprit, evidence=evidence, signatures=TOKENS,
        fix_hint="Send the result to the process that answers the caller (capture the server's pid before "
                 "spawning: `server = self()`), or answer the caller directly with GenServer.reply(from, result)."),
        pid=at, ts=ts)
    _link_effects(view, book, fact, server, [(c, tag, failed)])


def link_ignored(view: RecordingView, book: FactBook) -> None:
    """A process that ignored the messages a ``reply_misdirected`` sent it (``no_effect_message``
    naming the same sender) shows the same mistake from the receiving side: its effect."""
    for fact in book.of_kind("reply_misdirected"):
        for f in book.of_kind("no_effect_message"):
            if f.culprit is not None and fact.culprit is not None and f.caused_by is None \
                    and (f.culprit.module, f.culprit.function) == (fact.culprit.module, fact.culprit.function):
                book.link(f, fact, "these messages carried a caller's from to a process that does not answer callers")
