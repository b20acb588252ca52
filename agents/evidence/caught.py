"""Failures caught and turned into an ordinary value: the caller of a call that raised or exited
(an error, an exit such as a ``GenServer.call`` timeout) caught it and returned a value as if
the call had worked — a default, a neutral factor, ``true``, ``0``.

Nothing is logged and nothing crashes, so the only trace of the failure is the exception event
of the inner call followed by a normal ``return`` of its caller. The fallback is the bug when
it stands in for a real answer: a price computed with a neutral factor, a rate limit that
"allows" because its counter could not be written.

| kind | what | culprit |
| --- | --- | --- |
| ``caught_failure`` | a traced call ended with an exception (class ``error`` or ``exit``) and its traced caller returned normally with a value that is not an error and does not carry the reason | the caller that caught it, and the value it returned instead — unless the call failed because its target crashed: then it is caused by that crash; or unless the caller is the reproduction's own outermost call (a batch that rescues each failure and goes on): it reports the failure, so the fact is weak and caused by the exception where it was raised (the culprit) |

Throws are left out: ``throw``/``catch`` is ordinary control flow. A caller that calls the same
function again and gets an answer (a retry) did not fall back, nor did one that returned an
error of its own, or replied one (`{:reply, {:error, _}, state}`): it passed the failure on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook
from .common import is_error


def _same(a: Any, b: Any) -> bool:
    return fmt(a, 300) == fmt(b, 300)


def _catcher(c: Call) -> tuple[Call, Call] | None:
    """(the frame that raised as seen by its caller, the caller that returned normally), when
    the exception of ``c`` stopped inside traced application code."""
    top = c
    while top.parent is not None and top.parent.outcome == "exception" and _same(top.parent.value, c.value):
        top = top.parent
    p = top.parent
    # an anonymous function inside the catching function (a `try` in an Enum callback) passes
    # the fallback on to the function that holds it
    while p is not None and p.outcome == "return" and p.function.startswith("-") and p.parent is not None \
            and p.parent.outcome == "return" and is_app_module(p.parent.module):
        p = p.parent
    if p is None or p.outcome != "return" or not is_app_module(p.module) or p.function.startswith("-"):
        return None
    return top, p


def _replies_error(value: Any) -> bool:
    """A callback that answers its caller ``{:reply, {:error, _}, state}`` passed the failure on as an
    error of its own: it refused, it did not stand a normal value in for the answer."""
    return isinstance(value, tuple) and len(value) == 3 and R.atom_name(value[0]) == "reply" and is_error(value[1])


def _retried(catcher: Call, failed: Call, children: dict[int, list[Call]]) -> bool:
    return any(k.call_id != failed.call_id and k.ts > failed.ts and k.outcome == "return"
               and (k.module, k.function, k.arity) == (failed.module, failed.function, failed.arity)
               for k in children.get(catcher.call_id, []))


def caught_failures(view: RecordingView, book: FactBook) -> None:
    children: dict[int, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.parent is not None:
            children[c.parent.call_id].append(c)
    groups: dict[tuple, list[tuple[Call, Call, str, Any]]] = defaultdict(list)
    seen_tops: set[int] = set()
    for c in view.calls:
        if c.outcome != "exception" or not isinstance(c.value, tuple) or len(c.value) != 2:
            continue
        cls, reason = R.atom_name(c.value[0]), c.value[1]
        if cls not in ("error", "exit"):
            continue
        found = _catcher(c)
        if found is None or found[0].call_id in seen_tops:
            continue
        top, p = found
        seen_tops.add(top.call_id)
        if is_error(p.value) or _replies_error(p.value) or fmt(R.core(reason), 200) in fmt(p.value, 2000) \
                or _retried(p, top, children):
            continue
        groups[(p.module, p.function, p.arity, top.module, top.function, top.arity)].append((top, p, cls, reason))
    for key in sorted(groups):
        items = groups[key]
        top, p, cls, reason = items[0]
        reporter = _reproduction(view, p)
        # what the catching function returns when the call works: a fallback that differs from
        # every real answer stands in for one
        normal = [x for x in view.calls if (x.module, x.function, x.arity) == key[:3] and x.outcome == "return"
                  and not any(x.call_id == q.call_id for _t, q, _c, _r in items)]
        fallbacks = {fmt(q.value, 200) for _t, q, _c, _r in items}
        differs = bool(normal) and all(fmt(x.value, 200) not in fallbacks for x in normal)
        gc = R.gen_call(reason)
        what = f"{gc.api} to {fmt(gc.target, 60)} failed ({gc.why})" if gc is not None else f"raised {fmt(R.core(reason), 100)}"
        # the failure itself is a fact of its own (exception, call_failed): this one shows only
        # that it was hidden, so a symptom about the failure (slow, crashing) does not lift it
        tokens = ["return:exception_caught"]
        if top.module == "ets" and "exception:badarg" in R.error_tokens(reason):
            tokens.append("exception:badarg:ets")   # refused by the table: access rights, a table gone
        ev = []
        for t, q, _c, r in items[:4]:
            ev.append(view.end_evidence(t, f"{t.mfa} {what if t is top else 'failed: ' + fmt(R.core(r), 100)}"))
            ev.append(view.end_evidence(q, f"… and its caller {q.mfa} caught it and returned {fmt(q.value, 80)}"))
        for x in normal[:2]:
            ev.append(view.end_evidence(x, f"{x.mfa} returned {fmt(x.value, 80)} when the call worked"))
        conf = min(0.8, 0.62 + 0.03 * len(items) + (0.1 if differs else 0.0))
        culprit = Culprit(module=mod_name(p.module), function=R.source_function(p.function, p.arity),
                          detail=fmt(p.value, 150), process=view.label(p.pid))
        raiser = _raiser(view, top) if reporter else None
        if raiser is not None:
            # the rescue reports the failure; it was raised (and is to be fixed) further in
            culprit = Culprit(module=mod_name(raiser.module), function=R.source_function(raiser.function, raiser.arity),
                              detail=fmt(raiser.args[0] if len(raiser.args) == 1 else raiser.args, 150),
                              process=view.label(raiser.pid))
        fact = book.add(Finding(
            detector="caught_failure",
            title=f"{p.mfa} catches the failure of {top.mfa} and returns {fmt(p.value, 60)} instead",
            summary=(f"{top.mfa} {what} {len(items)} time(s); each time its caller {p.mfa} caught the {cls} and "
                     f"returned {fmt(p.value, 100)} as if it had worked"
                     + (f" (when the call works it returns e.g. {fmt(normal[0].value, 60)})" if differs else "")
                     + ": the failure never shows, the fallback value stands in for the real answer."),
            severity="high", confidence=round(conf, 3), culprit=culprit, evidence=ev, signatures=tokens,
            weak=reporter,
            fix_hint=("Do not turn the failure into a normal-looking value: return {:error, reason} (or let it "
                      "crash) so the caller can refuse, retry or report; if a fallback is really wanted, log "
                      "it and mark the result as degraded. Then fix why the call failed (its timeout, the "
                      "table's access mode, the bad input).")),
            pid=p.pid, ts=p.end_ts, call=top, catcher=p)
        if reporter:
            _link_raised(book, fact, top)
        _link_crash(book, fact, top, gc)


def _reproduction(view: RecordingView, catcher: Call) -> str | None:
    """Why the catch is no fallback of the application's: the catching function is the trigger's
    own outermost call (the reproduction run over rpc — a batch that rescues each failure, notes it
    and goes on). The outermost function that rescues is the one reporting the failure, not its
    cause. None for a catch inside the application."""
    if catcher.parent is None and catcher.pid in view.rpc_workers:
        return (f"{catcher.mfa} is the reproduction itself (the trigger's outermost call): its rescue reports the "
                "failure, it does not cause it — the cause is where the exception was raised")
    return None


def _raiser(view: RecordingView, top: Call) -> Call | None:
    """The innermost application frame the exception of ``top`` unwound from (bounded walk down
    the frames that ended with the same exception)."""
    cur, hops = top, 0
    while hops < 32:
        nxt = next((k for k in reversed(view.children(cur)) if k.outcome == "exception" and _same(k.value, top.value)
                    and is_app_module(k.module) and not k.function.startswith("-")), None)
        if nxt is None:
            break
        cur, hops = nxt, hops + 1
    return cur if is_app_module(cur.module) else None


def _link_raised(book: FactBook, fact: Finding, top: Call) -> None:
    """The reproduction's rescue is caused by the exception it rescued (the ``exception`` fact of
    a frame inside ``top``)."""
    for exc in book.of_kind("exception"):
        call = book.meta.get(exc.id, {}).get("call")
        if call is not None and _within(call, top):
            book.link(fact, exc, "the reproduction rescued this exception and reported it")
            return


# facts that say a call's answer was never going to come, however long its caller waited
NEVER_ANSWERED = ("reply_dropped", "reply_never_sent", "call_cycle")


def _link_crash(book: FactBook, fact: Finding, top: Call, gc) -> None:
    """A call that failed because its target crashed (or was gone) is explained by that crash,
    which the log shows anyway: the fallback is its consequence. A timeout usually is not: the
    target only took longer than the caller chose to wait, and the fallback is the caller's
    policy — unless the target was never going to answer (it dropped the pending call, never
    replied, or was stuck in a call cycle): then no wait was long enough, and the fallback is the
    consequence of that, as after a crash."""
    if gc is None:
        return
    for cf in book.of_kind("call_failed"):
        call = book.meta.get(cf.id, {}).get("call")
        if call is None or not _within(call, top) or cf.caused_by is None:
            continue
        if gc.why != "timeout":
            book.link(fact, cf, "the call failed because its target crashed")
        elif book.origin(cf).detector in NEVER_ANSWERED:
            book.link(fact, cf, f"the call timed out because its target never answered ({book.origin(cf).detector})")
        return


def _within(call: Call, top: Call) -> bool:
    """``call`` is ``top`` or ran inside it (a client function's inner call failed and the
    failure unwound through ``top``)."""
    cur, hops = call, 0
    while cur is not None and hops < 12:
        if cur.call_id == top.call_id:
            return True
        cur, hops = cur.parent, hops + 1
    return False
