"""A crash on a value the crashing process was sent: the bad value was made by another process.

A callback raises on a value it took from the message it handles (``Enum.reduce(nil, …)`` on
the ``nil`` of ``{:settle, day, nil}``). The exception names the callback, but the callback
only received the value: the sender computed it — an application function of the sender
returned it just before the message went out. That function is where the value went wrong.

| kind | what | culprit |
| --- | --- | --- |
| ``bad_value_received`` | an exception in a ``handle_cast``/``handle_info`` (raised in the receiving module's own code) names the offending value — a ``Protocol.UndefinedError``'s or ``BadMapError``'s value, a ``{:badmatch, v}``/``{:case_clause, v}``/``{:badmap, v}`` — that is an element of the message it handles, not of its state, and the sender's callback got that very value as the return of an application function it called before sending | that function, with its arguments |

The exception is linked to it (``caused_by``). Not when the sender wrote the value itself (no
traced call returned it): the sender's code is then as good a place to look as the receiver's,
and the exception stands as it is.
"""

from __future__ import annotations

from typing import Any

from ..findings import Finding
from ..view import Atom, Call, RecordingView, fmt, is_app_module
from . import reasons as R
from .book import FactBook
from .common import culprit_of, is_generated, message_senders


def bad_values_received(view: RecordingView, book: FactBook) -> None:
    senders = None
    for exc in book.of_kind("exception"):
        if exc.caused_by is not None:
            continue
        meta = book.meta.get(exc.id, {})
        inner, callback, reason = meta.get("call"), meta.get("callback"), meta.get("reason")
        if inner is None or callback is None or callback.function not in ("handle_cast", "handle_info") \
                or not callback.args or inner.module != callback.module:
            continue
        bad = _offending(R.core(reason))
        if bad is None:
            continue
        text = fmt(bad, 300)
        msg = callback.args[0]
        state = callback.args[1] if len(callback.args) > 1 else None
        if not any(fmt(x, 300) == text for x in _elements(msg)) or any(fmt(x, 300) == text for x in _elements(state)):
            continue
        if senders is None:
            senders = message_senders(view)
        sender = senders.get(callback.call_id)
        if sender is None or sender.pid == callback.pid:
            continue
        producer = _producer(view, sender, text)
        if producer is None:
            continue
        fact = book.add(Finding(
            detector="bad_value_received",
            title=f"{callback.mfa} crashed on {fmt(bad, 40)} that {producer.mfa} returned in {view.label(sender.pid)}",
            summary=(f"{callback.mfa} raised {fmt(R.core(reason), 120)} on {fmt(bad, 60)}, which came in the message it "
                     f"handled ({fmt(msg, 100)}); {view.label(sender.pid)} sent it from {sender.mfa} after "
                     f"{producer.mfa} returned it (called with {fmt(producer.args, 100)}): the value was made wrong "
                     "there, the receiver only crashed on it."),
            severity="high", confidence=0.75,
            culprit=culprit_of(view, producer, producer.args),
            evidence=[view.end_evidence(producer, f"{producer.mfa} returned {fmt(bad, 80)}"),
                      view.call_evidence(sender, f"{sender.mfa} sent it on: {fmt(sender.args, 80)}"),
                      view.call_evidence(callback, f"{callback.mfa} got {fmt(msg, 80)}"),
                      view.end_evidence(inner, f"{inner.mfa} raised {fmt(R.core(reason), 100)}")],
            signatures=["data:bad_value_received", "exception:error"],
            fix_hint=(f"Make {producer.mfa} return a valid value for every input (a reduce whose `if` has no "
                      "`else` gives nil; a lookup that misses gives nil), or check the value before sending it; "
                      "the receiver is right to expect what the message's contract says.")),
            pid=producer.pid, ts=producer.end_ts, call=producer)
        book.link(exc, fact, "the value it crashed on was made by another process")


def _offending(core: Any) -> Any:
    """The value an exception says it could not handle, or None."""
    if isinstance(core, dict):
        struct = core.get(Atom("__struct__"))
        if isinstance(struct, Atom) and struct.name in ("Elixir.Protocol.UndefinedError", "Elixir.BadMapError",
                                                        "Elixir.MatchError", "Elixir.CaseClauseError",
                                                        "Elixir.BadBooleanError"):
            for key in ("value", "term"):
                if Atom(key) in core:
                    return core[Atom(key)]
        return None
    if isinstance(core, tuple) and len(core) == 2 and isinstance(core[0], Atom) \
            and core[0].name in ("badmatch", "case_clause", "badmap", "badbool"):
        return core[1]
    return None


def _elements(term: Any) -> list[Any]:
    """The top-level parts of a message or a state: tuple elements (past a tag), map values."""
    if isinstance(term, tuple):
        return list(term[1:]) if term and isinstance(term[0], Atom) else list(term)
    if isinstance(term, dict):
        return [v for k, v in term.items() if not (isinstance(k, Atom) and k.name == "__struct__")]
    return []


def _producer(view: RecordingView, sender: Call, text: str) -> Call | None:
    """The application call that returned the value (printed ``text``) in the sender's process
    before ``sender`` sent it: among the calls made inside ``sender``'s callers (up to its
    callback), the last to end before the send — never one of those callers themselves."""
    frame, hops = sender, 0
    while frame is not None and hops < 6:
        found = [c for c in view.children(frame)
                 if c.call_id != sender.call_id and c.outcome == "return" and c.end_ts is not None
                 and c.end_ts <= sender.ts and is_app_module(c.module) and not is_generated(c.function)
                 and fmt(c.value, 300) == text]
        if found:
            return max(found, key=lambda c: c.end_ts)
        if frame.function in ("handle_cast", "handle_info", "handle_call", "init"):
            return None
        frame, hops = frame.parent, hops + 1
    return None
