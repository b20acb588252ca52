"""Failing and passing cases: where the data flow of the cases the user calls wrong parts from
the cases the user calls right (spectrum localisation, without knowing the kind of bug).

A report of a wrong value usually names both: "customers in the Ain (01200 Bellegarde) get their
wine late … Paris and Lyon orders arrive on time", "the alarm for OL-FR 905 was right". The
entities of each kind of clause — names, places, identifiers, numbers, days — mark the recorded
calls that handled them: a call whose arguments hold an entity of a *failing* clause (and none
of a *passing* one) belongs to the failing group, and the other way round.

| kind | what | culprit |
| --- | --- | --- |
| ``diverges_on_failing`` | the deepest application function (callee before caller) that handled both groups, whose arguments have the same shape for both while its results do not (nil, ``[]``, an error, ``false``, a negative number, a different type, its input handed back unchanged … for one group and never for the other) | that function, and a failing case's arguments |

The fact is **weak** (``Finding.weak``): a function may rightly answer different cases
differently, so on its own it names where to look first, not a root cause. Entities are matched
case- and accent-insensitively on word boundaries in the texts, atoms and numbers of the
arguments (:mod:`.cases`); an entity both kinds of clause name is ignored; bounded
(:data:`MAX_CALLS` calls). A helper that names no case works for the case its caller handles.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import ancestors as _ancestors, culprit_of
from .cases import COMMON, Entities, clauses, mentions, symptom_entities, words_of
from .valuematch import TRUNCATED

MAX_CALLS = 20_000


def shape(v: Any) -> str:
    """A coarse class of a value: what differs between a right and a wrong answer in general
    (nothing, empty, an error, false, a sign, a type), not the value itself."""
    if isinstance(v, Atom):
        return {"nil": "nil", "true": "true", "false": "false", "ok": "ok", "error": "error"}.get(v.name, "atom")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "negative" if v < 0 else ("zero" if v == 0 else "positive")
    if isinstance(v, (bytes, Charlist)):
        return "text" if len(v) else "empty text"
    if isinstance(v, (list, FrozenList)):
        return "list" if v else "[]"
    if isinstance(v, tuple):
        head = v[0] if v else None
        if isinstance(head, Atom):
            if head.name == "error":
                return "error"
            if head.name in ("ok", "reply") and len(v) >= 2:
                return f"{head.name}:{shape(v[1])}"
            return f"tuple:{head.name}"
        return f"tuple/{len(v)}"
    if isinstance(v, (dict, FrozenMap)):
        st = v.get(Atom("__struct__")) if isinstance(v, dict) else None
        return f"%{st.name}" if isinstance(st, Atom) else ("map" if len(v) else "%{}")
    try:
        return "list" if len(v) else "[]"
    except TypeError:
        return type(v).__name__


@dataclass
class _Group:
    fails: list[Call] = field(default_factory=list)
    passes: list[Call] = field(default_factory=list)


def _key(x: Any) -> Any:
    """What a list element is ordered by: itself (a number, a text), or a tuple's first element."""
    if isinstance(x, tuple) and x:
        x = x[0]
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return (0, x)
    if isinstance(x, bytes):
        return (1, x)
    return None


def _order(v: Any) -> str:
    """``ascending`` / ``descending`` / ``unordered`` for a list of three comparable elements or more."""
    items = list(v)[:200] if isinstance(v, (list, FrozenList)) else []
    keys = [_key(x) for x in items]
    if len(keys) < 3 or any(k is None for k in keys) or len({k[0] for k in keys}) > 1:
        return ""
    if all(a <= b for a, b in zip(keys, keys[1:])):
        return "ascending"
    if all(a >= b for a, b in zip(keys, keys[1:])):
        return "descending"
    return "unordered"


def _result_shape(c: Call) -> str:
    """The shape of a call's result and how it relates to its arguments: its input handed back,
    a list shorter or longer than the list it was given, a list out of order."""
    v = c.value
    s = shape(v)
    if not isinstance(v, Atom) and any(v == a for a in c.args):
        return s + " (its input, unchanged)"
    order = _order(v)
    if order:
        s += f", {order}"
    lists = [len(a) for a in c.args if isinstance(a, (list, FrozenList))]
    if isinstance(v, (list, FrozenList)) and lists:
        n = max(lists)
        s += ", " + ("fewer items than its input" if len(v) < n else
                     "as many items as its input" if len(v) == n else "more items than its input")
    return s


def _is_callback(c: Call) -> bool:
    return c.function.startswith("handle_") and len(c.args) >= 2


def _arg_shapes(c: Call) -> tuple[str, ...]:
    args = c.args[:-1] if _is_callback(c) else c.args
    return tuple(shape(a) for a in args)


def failing_divergence(view: RecordingView, book: FactBook, entities: Entities) -> None:
    """With no right case named, the calls that handled none of the failing cases stand for the
    right ones (the symptom's "the others are fine"), and the fact is weaker."""
    if not entities.failing:
        return
    implicit = not entities.passing
    groups: dict[tuple[str, str, int], _Group] = defaultdict(_Group)
    side: dict[int, bool | None] = {}   # call id → True (a failing case), False (a right one), None
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or c.function.startswith("__"):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        # a callback's state holds every case it has seen: only the request speaks of this one
        words = words_of(tuple(c.args[:-1] if _is_callback(c) else c.args))
        if TRUNCATED.lower() in words:
            side[c.call_id] = None
            continue
        fail = mentions(words, entities.failing)
        ok = mentions(words, entities.passing) if not implicit else False
        if fail == ok:
            # a helper that names no case works for the case its caller handles
            inherited = side.get(c.parent.call_id) if (c.parent is not None and not fail) else None
            side[c.call_id] = inherited
        else:
            side[c.call_id] = fail
        if c.pid in view.rpc_workers and c.parent is None:
            continue   # the trigger itself
        s_ = side[c.call_id]
        if s_ is None and implicit:
            s_ = False if not fail else None
        if s_ is None:
            continue
        g = groups[(c.module, c.function, c.arity)]
        (g.fails if s_ else g.passes).append(c)
    diverging: list[tuple[_Group, set[str], set[str]]] = []
    for (mod, fun, _arity), g in groups.items():
        if not g.fails or not g.passes:
            continue
        if implicit and (fun.startswith("-") or len(g.passes) < 2):
            continue   # the calls that named nothing are not a right case of a fold's step
        out_f, out_p = {_result_shape(c) for c in g.fails}, {_result_shape(c) for c in g.passes}
        if out_f & out_p:
            continue
        if not ({_arg_shapes(c) for c in g.fails} & {_arg_shapes(c) for c in g.passes}):
            continue   # the inputs differ already: the difference was made before this function
        diverging.append((g, out_f, out_p))
    if not diverging:
        return
    # callee before caller: a function that called another diverging one only passed its answer on
    inner_ids = {c.call_id for g, _, _ in diverging for c in g.fails}
    outer = set()
    for g, _, _ in diverging:
        for c in g.fails:
            outer |= _ancestors(c) & inner_ids
    outer |= _clients_of(diverging)
    deepest = [d for d in diverging if not any(c.call_id in outer for c in d[0].fails)] or diverging
    g, out_f, out_p = max(deepest, key=lambda d: (max(c.depth for c in d[0].fails), -d[0].fails[0].ts,
                                                 -d[0].fails[0].call_id))
    c, p = g.fails[0], g.passes[0]
    culprit = culprit_of(view, c, c.args[0] if len(c.args) == 1 else c.args)
    where = culprit.where + (f" (its anonymous function {c.function})" if c.function.startswith("-") else "")
    book.add(Finding(
        detector="diverges_on_failing",
        title=(f"{where} answers the cases the symptom calls wrong with {' / '.join(sorted(out_f))[:70]}, "
               f"the others with {' / '.join(sorted(out_p))[:70]}"),
        summary=(f"The symptom names cases that go wrong ({', '.join(entities.failing[:4])}) and "
                 + (f"cases that are right ({', '.join(entities.passing[:4])})" if not implicit else
                    "no right ones: the calls that handled none of them stand for those")
                 + f". {where} handled both with arguments of the same shape, and "
                 f"returned {', '.join(sorted(out_f))} for the failing ones ({len(g.fails)} call(s), e.g. "
                 f"{fmt(c.args, 80)} → {fmt(c.value, 60)}) but {', '.join(sorted(out_p))} for the right ones "
                 f"(e.g. {fmt(p.args, 80)} → {fmt(p.value, 60)}); no function it called parts the two groups."),
        severity="medium", confidence=0.45 if implicit else 0.55, culprit=culprit,
        evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)}) — a failing case"),
                  view.end_evidence(c, f"returned {fmt(c.value, 80)}"),
                  view.call_evidence(p, f"{p.mfa}({fmt(p.args, 60)}) — a right case"),
                  view.end_evidence(p, f"returned {fmt(p.value, 80)}")],
        signatures=["data:diverges_on_failing"],
        weak=("a function may rightly answer different cases differently: this says where the failing cases part "
              "from the right ones, not that the function is wrong"),
        fix_hint=(f"Start at {culprit.where}: compare what it does with a failing case and with a right one (the branch, "
                  "the lookup, the conversion or the range it applies) — the wrong value is made there or in "
                  "what produced its input.")),
        pid=c.pid, ts=c.ts)


def _clients_of(diverging: list[tuple[_Group, set[str], set[str]]]) -> set[int]:
    """The failing calls of a client function that only passed a server's answer on: while each
    waited, a diverging callback of another process (``handle_call/3`` of the request) ran — the
    callback is deeper than the client, though no trace stack joins them."""
    served = [c for g, _, _ in diverging for c in g.fails if _is_callback(c)]
    out: set[int] = set()
    for g, _, _ in diverging:
        fails = g.fails
        if fails and all(c.end_ts is not None and any(h.pid != c.pid and c.ts <= h.ts <= c.end_ts for h in served)
                         for c in fails):
            out |= {c.call_id for c in fails}
    return out


def analyses(symptom: str):
    """The analyses of the cases ``symptom`` names (none when it names no failing case): where
    the failing ones part from the right ones, and (:mod:`.altered`) where a value they were
    named by lost information, and (:mod:`.spellings`) where one of them got two spellings."""
    from .altered import failing_values, values_altered
    from .spellings import spelled_apart

    entities = symptom_entities(symptom)
    if not entities.failing:
        return []
    values = failing_values(clauses(symptom)[0], COMMON)

    def diverging_calls(view: RecordingView, book: FactBook) -> None:
        failing_divergence(view, book, entities)

    def altered_values(view: RecordingView, book: FactBook) -> None:
        values_altered(view, book, values)

    def two_spellings(view: RecordingView, book: FactBook) -> None:
        spelled_apart(view, book, entities)

    return [diverging_calls, altered_values, two_spellings]
