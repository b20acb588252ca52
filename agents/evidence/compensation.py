"""A partial failure with no compensation: a function took several steps of one kind through
another module (holds, reservations, inserts), one failed, and it returned that error — while
the steps that had worked stayed done. Nothing undid them (no other function of that module
was called afterwards, by it or by its caller), so the request was refused and still keeps
what it took.

| kind | what | culprit |
| --- | --- | --- |
| ``partial_failure_kept`` | a function whose own calls (not those the callee makes inside) of one other-module function returned success, then an error it returned (its reason in the function's error), with no call of another function of that module afterwards | that function, and the steps it kept |

A wrong value the symptom states (``value_origin``) computed from arguments that still hold
what such a refused request left (its identifying text in them) is linked to it: the value is
computed right from data that should not be there.
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_error, is_generated, is_success

__all__ = ["partial_failures"]

MAX_CALLERS = 400


def _inside(view: RecordingView, p: Call) -> list[Call]:
    """The application calls of other modules ``p`` made itself (through anonymous functions
    too). A step is a call ``p`` made: what the other module does inside it (its wrappers
    all going through one private helper) is one step, not several — four different requests
    sent through one ``call/2`` are not four steps of one kind."""
    out = []
    for d in view.calls_by_pid.get(p.pid, []):
        if d.ts < p.ts or (p.end_ts is not None and d.ts > p.end_ts) or d.call_id == p.call_id:
            continue
        a = d.parent
        while a is not None and a.call_id != p.call_id and is_generated(a.function):
            a = a.parent
        if a is not None and a.call_id == p.call_id and is_app_module(d.module) and not is_generated(d.function) \
                and d.module != p.module:
            out.append(d)
    return out


def _undone(view: RecordingView, p: Call, module: str, function: str, after: int) -> bool:
    """Another function of ``module`` was called after ``after`` by ``p`` or by its caller
    before the caller returned (a release, a rollback). The trigger (the outermost call of an rpc
    worker) is no caller here: it runs the whole reproduction."""
    q = p.parent
    scope = q if q is not None and not (q.pid in view.rpc_workers and q.parent is None) else p
    end = scope.end_ts if scope.end_ts is not None else after
    return any(d.module == module and d.function != function and after < d.ts <= end
               for d in view.calls_by_pid.get(p.pid, []))


def partial_failures(view: RecordingView, book: FactBook) -> None:
    seen: set[tuple] = set()
    callers = [c for c in view.calls if c.outcome == "return" and is_app_module(c.module) and not is_generated(c.function)
               and is_error(c.value) and c.end_ts is not None][:MAX_CALLERS]
    for p in callers:
        if (p.module, p.function, p.arity) in seen:
            continue
        steps: dict[tuple, list[Call]] = defaultdict(list)
        for d in _inside(view, p):
            if d.outcome == "return":
                steps[(d.module, d.function, d.arity)].append(d)
        for key in sorted(steps):
            seq = sorted(steps[key], key=lambda d: d.ts)
            failed = next((d for d in seq if is_error(d.value) and _passed_on(d.value, p.value)), None)
            if failed is None:
                continue
            kept = [d for d in seq if d.ts < failed.ts and is_success(d.value)]
            if not kept or _undone(view, p, key[0], key[1], failed.ts):
                continue
            seen.add((p.module, p.function, p.arity))
            what = ", ".join(fmt(d.args, 70) for d in kept[:3])
            book.add(Finding(
                detector="partial_failure_kept",
                title=f"{p.mfa} returned {fmt(p.value, 50)} but kept {len(kept)} step(s) it had taken",
                summary=(f"{p.mfa}({fmt(p.args, 80)}) called {failed.mfa} {len(kept) + 1} times: {len(kept)} worked "
                         f"({what}), then {fmt(failed.value, 60)} — and it returned {fmt(p.value, 60)} without undoing "
                         f"the steps that worked (no other function of {failed.mfa.rsplit('.', 1)[0]} was called after "
                         "the failure): the refused request still holds what it took."),
                severity="high", confidence=0.7, culprit=culprit_of(view, p, [d.args for d in kept[:3]]),
                evidence=[view.end_evidence(d, f"{d.mfa}({fmt(d.args, 60)}) returned {fmt(d.value, 30)}") for d in kept[:3]]
                + [view.end_evidence(failed, f"{failed.mfa} returned {fmt(failed.value, 60)}"),
                   view.end_evidence(p, f"{p.mfa} returned {fmt(p.value, 60)}, the earlier steps still in place")],
                signatures=["state:partial_not_undone", "return:error"],
                fix_hint=("When a step of a multi-step change fails, undo the steps that worked (release, delete, "
                          "roll back) before returning the error — or take them all at once in one call that "
                          "checks first.")),
                pid=p.pid, ts=p.ts, request=p, kept=kept)
            _link_values(view, book, book.facts[-1], p)
            break


def _passed_on(error, returned) -> bool:
    """The caller's error carries the step's reason: it failed because of that step."""
    reason = fmt(error[1] if isinstance(error, tuple) and len(error) >= 2 else error, 200)
    return len(reason) >= 3 and reason in fmt(returned, 400)


def _texts(term) -> list[str]:
    if isinstance(term, bytes):
        return [term.decode("utf-8", "replace")] if 3 <= len(term) <= 200 else []
    if isinstance(term, (list, tuple)):
        return [t for x in list(term)[:8] for t in _texts(x)]
    return []


def _link_values(view: RecordingView, book: FactBook, fact: Finding, p: Call) -> None:
    """A stated wrong value computed later from data that still holds what the refused request
    left (the request's own identifying text is in the computing call's arguments)."""
    ids = [t for t in _texts(p.args) if not t.isdigit()]
    if not ids:
        return
    for f in book.of_kind("value_origin"):
        meta = book.meta.get(f.id, {})
        call = next((c for c in view.calls_by_pid.get(meta.get("pid"), []) if c.ts == meta.get("ts")), None)
        if call is None or call.ts <= p.ts:
            continue
        args = fmt(call.args, 4000)
        if any(f'"{t}"' in args for t in ids) and fmt(call.args, 4000) not in fmt(p.args, 4000):
            book.link(f, fact, "it was computed from data the refused request left behind")
