"""Errors and messages that are dropped without a trace: an error return its caller ignores,
and messages a process handles with no effect at all.

| kind | what | culprit |
| --- | --- | --- |
| ``ignored_error`` | a function returned ``{:error, _}``/``:error`` and its traced caller returned success — what it returns when the call succeeds, when the recording holds such calls, and without asking the same callee the same thing again with success (a retry: handled.py) | the caller that dropped the error |
| ``no_effect_message`` | every message of one shape a process got was handled without a state change or a send | the function that sent it (application code), else the handler |

These are the bugs behind "no errors in the logs" and "the update never shows up": the
recording holds them as ordinary calls and returns, and only their pattern gives them away.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Atom, Call, RecordingView, fmt, is_app_module, is_atom
from .book import FactBook
from .common import (callback_states, culprit_of, fed_by_others, is_error, is_generated, is_success, message_senders,
                     message_shape)
from .handled import compare_callers, retried
from .reported import reported, symptom_words


def ignored_errors(view: RecordingView, book: FactBook, symptom: str = "") -> None:
    """``symptom``: the user's words — an error the user reports was not dropped (see :func:`_reported`),
    unless the user also says nothing showed an error (then it was dropped, whatever else they know)."""
    from ..hypotheses import claims   # the symptom's claims (imported here: hypotheses imports this package)

    words = set() if "quiet" in claims(symptom) else symptom_words(symptom)
    groups: dict[tuple, list[tuple[Call, Call]]] = defaultdict(list)
    for c in view.calls:
        if c.outcome != "return" or not is_error(c.value) or not is_app_module(c.module) or is_generated(c.function):
            continue
        p = c.parent
        # the error may travel up through frames that only pass it on (an Enum.each fun, a helper
        # returning it as is) before the frame that drops it
        while p is not None and p.outcome == "return" and is_app_module(p.module) and (
                is_generated(p.function) or (is_error(p.value) and fmt(p.value, 300) == fmt(c.value, 300))):
            p = p.parent
        if p is None or p.outcome != "return" or not is_app_module(p.module):
            continue
        if not is_error(p.value) and not _mentions(p.value, c.value) and not _passes_reason(p, c.value) \
                and retried(view, p, c) is None:   # a retry that succeeded handled the error
            groups[(p.module, p.function, p.arity, c.module, c.function, c.arity)].append((p, c))
    compared = compare_callers(view, {key[3:] for key in groups}) if groups else {}
    for key in sorted(groups):
        pairs = groups[key]
        cmp = compared.get(key)
        like_ok = ""
        if cmp is not None and cmp.comparable:
            # the caller acted on the error when it answered the failing calls otherwise than the
            # succeeding ones, or did something only then: handled, not ignored (handled.py)
            pairs = [(pp, cc) for pp, cc in pairs if cmp.same_as_success(view, pp, cc, key[3:])]
            if not pairs:
                continue
            like_ok = (f" — just as in the {len(cmp.ok)} call(s) in which {pairs[0][1].mfa} succeeded, "
                       f"e.g. {fmt(next(iter(cmp.ok.values())).value, 60)}")
        p, c = pairs[0]
        fix = ("Act on the error where it is returned: match {:error, reason} and return it (or log and "
               "retry); with `with`, make the else branch return the error instead of :ok.")
        ev = []
        for pp, cc in pairs[:4]:
            ev.append(view.end_evidence(cc, f"{cc.mfa} returned {fmt(cc.value, 100)}"))
            ev.append(view.end_evidence(pp, f"… and its caller {pp.mfa} returned {fmt(pp.value, 80)} anyway"))
        book.add(Finding(
            detector="ignored_error",
            title=f"{p.mfa} ignores the error {c.mfa} returns",
            summary=(f"{c.mfa} returned {fmt(c.value, 120)} {len(pairs)} time(s), and each time its caller {p.mfa} "
                     f"went on and returned {fmt(p.value, 80)}{like_ok}: the failure is silently dropped."),
            # a caller that says it succeeded is the clearer case; one that returns a count or a
            # summary may have accounted for the error in it
            severity="high", confidence=(min(0.7, 0.5 + 0.05 * len(pairs)) if is_success(p.value) or like_ok
                                         else min(0.55, 0.43 + 0.02 * len(pairs))),
            culprit=culprit_of(view, p, c.value), evidence=ev, signatures=["return:error_ignored", "return:error"],
            fix_hint=fix, weak=_reported(pairs, words) or _reproduction(view, p)), pid=p.pid, ts=c.end_ts)


def _reproduction(view: RecordingView, caller: Call) -> str | None:
    """Why the drop says little about the application: the caller is the trigger's own outermost
    call (the reproduction run over rpc: a loop that fires requests and keeps none of the answers)."""
    if caller.parent is None and caller.pid in view.rpc_workers:
        return (f"{caller.mfa} is the reproduction itself (the trigger's outermost call): it fires the requests "
                "and need not act on their answers")
    return None


def _reported(pairs: list[tuple[Call, Call]], words: set[str]) -> str | None:
    """Why the error is no evidence of being dropped: the user reports it — its reason, or what
    the caller answered instead (a status code, a refusal), is in the symptom's words. The
    error reached whoever asked; it is the end of the causal chain, and its cause is where the
    callee decided it, not the caller that passed it on. None when the symptom does not name it."""
    for p, c in pairs:
        reason = c.value[1:] if isinstance(c.value, tuple) else None
        answer = p.value[1] if (isinstance(p.value, tuple) and len(p.value) == 3 and is_atom(p.value[0], "reply")) \
            else p.value
        # a caller that says it succeeded answers with data (names, items) the user may mention too:
        # only a refusal or a status it answered instead speaks for the failure
        said = (reported(reason, words) if reason is not None else None) or \
            (reported(answer, words) if not is_success(answer) else None)
        if said:
            return (f"the symptom itself reports this failure (\"{said}\"): {c.mfa} returned {fmt(c.value, 60)} and "
                    f"{p.mfa} answered {fmt(answer, 60)} — the error reached the user, it was not dropped; its cause "
                    f"is why {c.mfa} decided it (what it read), not the caller that passed it on")
    return None


def _passes_reason(caller: Call, error: Any) -> bool:
    """The caller answered its own caller with the error's reason, in other words (``{:error,
    :expired}`` → ``{:reply, {:refused, :expired}, state}``): the error reached whoever asked — it
    is what the user sees, not an error dropped. What a callback keeps in its state does not count: a
    ``{:noreply, state}`` reaches no caller, and of a ``{:reply, reply, state}`` only the reply does."""
    if not (isinstance(error, tuple) and len(error) >= 2):
        return False
    reason = error[1] if len(error) == 2 else error[1:]
    answer = caller.value
    if isinstance(answer, tuple) and answer and (is_atom(answer[0], "noreply") or is_atom(answer[0], "stop")
                                                or is_atom(answer[0], "next_state") or is_atom(answer[0], "keep_state")):
        return False   # kept in the state of a process nobody waits on: it did not reach a caller
    if isinstance(answer, tuple) and len(answer) >= 3 and is_atom(answer[0], "reply"):
        answer = answer[1]
    text = fmt(reason, 200)
    return len(text) >= 3 and text in fmt(answer, 2000)


def _mentions(outer: Any, inner: Any) -> bool:
    """The caller passed the error on (inside its own return value)."""
    text = fmt(inner, 200)
    return len(text) > 8 and text in fmt(outer, 2000)


def no_effect_messages(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    if not pairs:
        return
    groups: dict[tuple, list[Call]] = defaultdict(list)
    effect: set[tuple] = set()
    for c in view.calls:
        if c.call_id not in pairs or c.function not in ("handle_info", "handle_cast") or not c.args:
            continue
        key = (c.pid, c.module, c.function, message_shape(c.args[0]))
        before, after = pairs[c.call_id]
        sent = view.sent_during(c.pid, c.ts, c.end_ts or c.ts)
        nested = bool(view.children(c))
        if fmt(before, 4000) == fmt(after, 4000) and not sent and not nested:
            groups[key].append(c)
        else:
            effect.add(key)
    senders = message_senders(view)
    for key in sorted(groups, key=str):
        if key in effect or len(groups[key]) < 2:   # once is no pattern (it may have set a timer we cannot see)
            continue
        calls = groups[key]
        c = next((x for x in calls if _crash_notice(x.args[0])), calls[0])
        origin = senders.get(c.call_id)
        tick = _own_tick(view, calls)
        known = None if tick else _already_held(calls, pairs)
        culprit = culprit_of(view, c, c.args[0])
        who = ""
        # a message sent by the receiving module's own API is the shape its clauses were
        # written for: the handler, not the sender, decides what it does
        if origin is not None and origin.pid != c.pid and origin.module != c.module:
            culprit = culprit_of(view, origin, c.args[0])
            who = f" It was sent by {origin.mfa} in {view.label(origin.pid)}."
        book.add(Finding(
            detector="no_effect_message",
            title=f"{view.label(c.pid)} ignores {key[3]} messages",
            summary=(f"{view.label(c.pid)} handled {len(calls)} message(s) shaped {key[3]} in {c.mfa} and not one "
                     f"changed its state or made it send anything (e.g. {fmt(c.args[0], 100)}): the message is "
                     f"swallowed, most likely by a catch-all clause, so whatever it should have done never happens.{who}"),
            severity="medium", confidence=min(0.6, 0.4 + 0.05 * len(calls)) + (0.1 if _crash_notice(c.args[0]) else 0.0),
            culprit=culprit,
            evidence=[view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: no state change, nothing sent")
                      for x in calls[:5]],
            signatures=["message:no_effect", "callback:unhandled_message"],
            fix_hint=("Make the message and the clause agree (tag, arity, field names); log or crash on "
                      "unexpected messages instead of a silent catch-all."),
            weak=(f"every {key[3]} message came from no other process (a timer the process set itself): a "
                  "periodic job that found nothing to do looks the same") if tick else known),
            pid=c.pid, ts=c.ts, calls=[x.call_id for x in calls[:50]])


def _already_held(calls: list[Call], pairs: dict[int, tuple[Any, Any]]) -> str | None:
    """Why the messages may have had nothing left to do: every value each one carries (its
    names, ids, numbers — not its tag) was in the process's state before it arrived. That is
    what a repeated delivery looks like to a handler that skips what it already has (a
    de-duplicating, idempotent handler), which is right, not a swallowed message — and so is
    every message naming an identifier the state keeps as handled (:func:`_seen_id`: a member of
    a set of seen ids, the key of an entry recorded from such a message). A message that brings
    anything new and changes nothing is still counted in full. None when some message brings a
    value the state did not hold, or carries nothing to compare."""
    if all(_all_held(c.args[0], pairs[c.call_id][0]) for c in calls):
        return (f"every one of these messages carried only values the process already held ({fmt(calls[0].args[0], 80)} "
                "into a state that had them): a repeated delivery to a handler that skips what it has looks the same")
    if all(_seen_id(c.args[0], pairs[c.call_id][0]) for c in calls):
        return (f"every one of these messages named an identifier the process had already recorded as handled "
                f"({_seen_id(calls[0].args[0], pairs[calls[0].call_id][0])!r} among the entries of its state before "
                f"{fmt(calls[0].args[0], 60)} arrived): a repeated delivery — the trigger run again, a retry — "
                "to a handler that skips what it has seen looks the same")
    return None


def _all_held(msg: Any, state: Any) -> bool:
    values = _carried(msg)
    if not values:
        return False
    before = fmt(state, 20000)
    return all(_holds(before, v) for v in values)


def _holds(text: str, value: str) -> bool:
    return re.search(r"(?<![\w.])" + re.escape(value) + r"(?![\w.])", text) is not None


def _seen_id(msg: Any, state: Any) -> str | None:
    """The identifier ``msg`` carries that ``state`` already keeps as an entry — a member of a set
    (a ``MapSet``, a list of identifiers) or a key of a map whose entry also holds at least half of
    the message's other values and at least one of them (what a handler records of a message it
    handled, to skip it when it comes again). An identifier is text with a digit in it (``"A-7712"``,
    ``"19850412-3391"``). A map key whose entry holds none of the message's other values is no
    sign of a repeat — a message updating an existing record names its key too. None when no
    identifier of the message is kept so."""
    carried = _carried(msg)
    ids = [v for v in carried if v.startswith('"') and len(v) >= 5 and any(ch.isdigit() for ch in v)]
    if not ids:
        return None
    members, entries = _entries(state)
    for ident in ids:
        if ident in members:
            return ident.strip('"')
        others = [v for v in carried if v != ident]
        for entry in entries.get(ident, []):
            text = fmt(entry, 4000)
            held = sum(1 for v in others if _holds(text, v))
            if held >= 1 and 2 * held >= len(others):
                return ident.strip('"')
    return None


def _entries(state: Any) -> tuple[set[str], dict[str, list[Any]]]:
    """The printed members of the sets in ``state`` (``MapSet`` members, list elements that are
    text) and its map keys that are text, each with the entries stored under it (a few levels deep,
    bounded)."""
    members: set[str] = set()
    entries: dict[str, list[Any]] = defaultdict(list)
    budget = [2000]

    def walk(t: Any, depth: int) -> None:
        if depth > 4 or budget[0] <= 0:
            return
        budget[0] -= 1
        if isinstance(t, dict):
            struct = t.get(Atom("__struct__"))
            inner = t.get(Atom("map")) if is_atom(struct, "Elixir.MapSet") else None
            if isinstance(inner, dict):
                members.update(fmt(k, 200) for k in inner if isinstance(k, bytes))
                return
            for k, v in t.items():
                if isinstance(k, bytes):
                    entries[fmt(k, 200)].append(v)
                walk(v, depth + 1)
        elif isinstance(t, (list, tuple)):
            for x in t[:500]:
                if isinstance(x, bytes) and isinstance(t, list):
                    members.add(fmt(x, 200))
                else:
                    walk(x, depth + 1)

    walk(state, 0)
    return members, entries


def _carried(msg: Any) -> list[str]:
    """The printed leaves of a message that identify what it is about: strings and numbers,
    not the atoms that tag it (a cast is unwrapped; small numbers say too little to compare)."""
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_cast"):
        msg = msg[1]
    out: list[str] = []

    def walk(t: Any, depth: int) -> None:
        if len(out) > 32 or depth > 4:
            return
        if isinstance(t, bytes):
            if len(t) >= 2:
                out.append(fmt(t, 200))
        elif isinstance(t, bool) or t is None:
            return
        elif isinstance(t, (int, float)):
            if abs(t) >= 10:
                out.append(fmt(t, 60))
        elif isinstance(t, (tuple, list)):
            for x in t:
                walk(x, depth + 1)
        elif isinstance(t, dict):
            for v in t.values():
                walk(v, depth + 1)

    walk(msg, 0)
    return out


def _own_tick(view: RecordingView, calls: list[Call]) -> bool:
    """Whether the messages are a tick the process schedules for itself — `handle_info` of a
    message no other process sent (`Process.send_after(self(), …)`, `:timer.send_interval`) —
    rather than a request or a notice someone sent it: a tick handled without effect is also
    what an idle periodic job looks like."""
    if any(x.function != "handle_info" or _crash_notice(x.args[0]) for x in calls):
        return False
    return fed_by_others(view, calls[0].pid, calls) == 0


def _crash_notice(msg: Any) -> bool:
    """A monitor's ``{:DOWN, ref, :process, pid, reason}`` or a trapped ``{:EXIT, pid, reason}``
    with an abnormal reason: the one message whose whole point is to be acted on."""
    if isinstance(msg, tuple) and len(msg) in (3, 5) and (is_atom(msg[0], "DOWN") or is_atom(msg[0], "EXIT")):
        reason = msg[-1]
        return not any(is_atom(reason, r) for r in ("normal", "shutdown", "noproc"))
    return False
