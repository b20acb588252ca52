"""A check that answers every case alike (weak) — from the cases the symptom names (:mod:`.cases`)
and the recorded calls, no kind of bug assumed:

| kind | what | culprit |
| --- | --- | --- |
| ``same_answer_for_all`` (weak) | a function that answers with a verdict — ``true``/``false``, ``0`` or ``nil`` — gave the same one to every call (three or more, with different arguments of one shape; not an anonymous function, whose answer is a step of its caller's loop), among them a failing case the symptom names (in its arguments, or in those of the function that called it) or calls whose arguments differ in a field that is ``nil`` in some and set in others (what a check over a record looks at) — the deepest such function | that function, and a failing case's arguments |

A check that cannot tell the cases apart (an operator bound the wrong way, a comparison with a
value frozen at compile time, arguments swapped into a clamp) lets everything through or nothing;
a check may also rightly agree on every case of a short recording, so the fact is weak: where to
look first, not a verdict. Bounded: the first :data:`MAX_CALLS` application calls.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .cases import Entities, mentions, symptom_entities, words_of
from .common import culprit_of
from .diag_flow import shape

MAX_CALLS = 20_000
MIN_CALLS = 3
MAX_UP = 3   # callers looked at for the case a helper handles


def _verdict(v: Any) -> str | None:
    """The answer as a verdict (``true``, ``false``, ``0``, ``nil``), else ``None``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None or (isinstance(v, Atom) and v.name in ("nil", "true", "false")):
        return "nil" if v is None else v.name
    if isinstance(v, int) and v == 0:
        return "0"
    return None


def _args(c: Call) -> tuple:
    return tuple(c.args[:-1]) if c.function.startswith("handle_") and len(c.args) >= 2 else tuple(c.args)


def _failing(c: Call, entities: Entities) -> bool:
    """The call handled a failing case the symptom names: its arguments, or its callers' (a helper
    given only the dates of a member's invoice counts with the member)."""
    cur, up = c, 0
    while cur is not None and up <= MAX_UP:
        if mentions(words_of(_args(cur)), entities.failing):
            return True
        cur, up = cur.parent, up + 1
    return False


def _nil_fields(args: tuple) -> dict[str, bool]:
    """field name → whether it is nil, for the atom-keyed maps among ``args`` (top level)."""
    out = {}
    for a in args:
        if isinstance(a, dict):
            for k, v in a.items():
                if isinstance(k, Atom) and k.name != "__struct__":
                    out[k.name] = v is None or (isinstance(v, Atom) and v.name == "nil")
    return out


def _split_on_nil(calls: list[Call]) -> str | None:
    """A field that is nil in some calls' arguments and set in others'."""
    seen: dict[str, set[bool]] = defaultdict(set)
    for c in calls:
        for f, is_nil in _nil_fields(_args(c)).items():
            seen[f].add(is_nil)
    return next((f for f in sorted(seen) if len(seen[f]) == 2), None)


def same_answers(view: RecordingView, book: FactBook, entities: Entities) -> None:
    groups: dict[tuple[str, str, int], list[Call]] = defaultdict(list)
    n = 0
    for c in view.calls:
        # an anonymous function's answer is a step of its caller's loop (a filter finding nothing)
        if c.outcome != "return" or not c.args or not is_app_module(c.module) or c.function.startswith(("__", "-")):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        groups[(c.module, c.function, c.arity)].append(c)
    found = []
    for key in sorted(groups):
        calls = groups[key]
        answers = {_verdict(c.value) for c in calls}
        if len(calls) < MIN_CALLS or len(answers) != 1 or None in answers:
            continue
        if len({fmt(_args(c), 400) for c in calls}) < MIN_CALLS or len({tuple(shape(a) for a in _args(c)) for c in calls}) != 1:
            continue
        failing = [c for c in calls if entities.failing and _failing(c, entities)]
        field = _split_on_nil(calls)
        if not failing and field is None:
            continue
        found.append((max(c.depth for c in calls), key, calls, failing, field))
    if not found:
        return
    depth, key, calls, failing, field = max(found, key=lambda f: (bool(f[3]) and f[4] is not None, f[0], bool(f[3])))
    c = failing[0] if failing else calls[0]
    answer = next(iter({_verdict(x.value) for x in calls}))
    why = (f"the field {field} is nil in some of their arguments and set in others" if field is not None else "")
    if failing:
        why = (why + " and " if why else "") + "a failing case the symptom names is among them"
    book.add(Finding(
        detector="same_answer_for_all",
        title=f"{c.mfa} answered {answer} to all {len(calls)} calls",
        summary=(f"{c.mfa} was called {len(calls)} times with different arguments of one shape and answered {answer} "
                 f"every time ({why}), e.g. {c.mfa}({fmt(c.args, 100)}) → {fmt(c.value, 30)}. A check that cannot "
                 "tell the cases apart lets everything through or nothing."),
        severity="medium", confidence=0.5 if failing else 0.4,
        culprit=culprit_of(view, c, c.args[0] if len(c.args) == 1 else tuple(c.args)),
        evidence=[view.call_evidence(x, f"{x.mfa}({fmt(x.args, 60)}) → {fmt(x.value, 20)}") for x in
                  (failing[:2] + [x for x in calls if x not in failing][:2])],
        signatures=["data:same_answer_for_all"],
        weak=("a check may rightly agree on every case of a short recording: this says which check did not tell "
              "the cases apart, not that it is wrong"),
        fix_hint=(f"Start at {c.mfa}: evaluate it by hand for a failing case and for a right one — operator "
                  "precedence (`!x == nil`), a value fixed at compile time (`@now`), swapped arguments, a default "
                  "that wins (`|| true`) all make a check answer the same whatever it is given.")),
        pid=c.pid, ts=c.ts)


def analyses(symptom: str):
    entities = symptom_entities(symptom)

    def same(view: RecordingView, book: FactBook) -> None:
        same_answers(view, book, entities)

    return [same]
