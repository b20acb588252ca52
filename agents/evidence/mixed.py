"""Numbers compared with text: in Erlang term order every number sorts before every binary, and
two binaries compare byte by byte ("95" > "120"). A value read from input (a form field, a
line of a file, a CSV cell) and never converted gives wrong answers as soon as it reaches
``>``, ``max``/``min``, ``Enum.max_by``, ``Enum.sort_by`` or a filter — with no error.

| kind | what | culprit |
| --- | --- | --- |
| ``mixed_type_compare`` | an application call given a list of values (or records) whose field holds numbers written as text — beside numbers, or only text — returned what term order gives and numeric order does not: the largest/smallest one (a pick), the list sorted (a sort), or the entries on one side of a number it was also given (a filter) | where the text should have become a number: the first call whose result holds that text in the compared field while its arguments do not (a decoder that split it out of a line, an adapter that copied a form field into a record) — else the application function through which it entered |

A server's ``handle_call`` counts as a comparing call too: the lists its state (a map) keeps are
what it was given, its reply what it returned — a pick answered by the picked entry's fields
(``{best.name, best.points}``) is that entry when the reply holds its text and no other entry's.
When the call that put the text in the compared field got it from a helper of its own that
returned the text itself (a ``points/1`` that only trims), that helper is named: it is where the
conversion belonged.

The comparing function is the evidence, not the culprit: it compares correctly what it is
given. Only the application's returned calls count, lists are looked at up to a bound, and a
value counts as a number written as text only when it is entirely one (``"95"``, ``" 19.0"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import ancestors, app_returns, culprit_of

_NUMERIC = re.compile(rb"^\s*[-+]?(?:\d+(?:\.\d+)?|\.\d+)\s*$")
MAX_ITEMS = 500      # entries of one list looked at (the pick, sort and filter checks compare entries pairwise)
MAX_CALLS = 20_000   # application calls looked at
MAX_FACTS = 3

Slot = tuple   # () the entry itself, ("pos", i) a tuple's element, ("key", k) a map's value


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, bytes) and len(x) <= 40 and _NUMERIC.match(x):
        return float(x.strip())
    return None


def _is_text(x: Any) -> bool:
    return isinstance(x, bytes)


def _term_key(x: Any) -> tuple:
    """Erlang term order between numbers and binaries: every number first, binaries bytewise."""
    return (1, x) if isinstance(x, bytes) else (0, float(x))


def _slots(item: Any) -> dict[Slot, Any]:
    if _number(item) is not None:
        return {(): item}
    if isinstance(item, tuple) and len(item) <= 12:
        return {("pos", i): x for i, x in enumerate(item) if _number(x) is not None}
    if isinstance(item, dict) and len(item) <= 64:
        return {("key", fmt(k, 60)): x for k, x in item.items()
                if not (isinstance(k, Atom) and k.name == "__struct__") and _number(x) is not None}
    return {}


def _slot_name(s: Slot) -> str:
    return "the value" if not s else f"element {s[1]}" if s[0] == "pos" else f"field {s[1]}"


def _columns(items: list) -> dict[Slot, list]:
    """The slots every entry has, holding numbers written as text (beside numbers or alone) with
    at least two different numeric values."""
    if not 2 <= len(items) <= MAX_ITEMS:
        return {}
    per = [_slots(x) for x in items]
    common = set(per[0]).intersection(*per[1:]) if per[0] else set()
    out = {}
    for s in sorted(common, key=repr):
        col = [p[s] for p in per]
        if any(_is_text(v) for v in col) and len({_number(v) for v in col}) >= 2:
            out[s] = col
    return out


def _unwrap(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        return v[1]
    return v


def _thresholds(args: list, skip: int) -> list[Any]:
    """Plain numbers among the other arguments (and the values of a map argument)."""
    out = []
    for i, a in enumerate(args):
        if i == skip:
            continue
        vals = list(a.values())[:64] if isinstance(a, dict) else [a]
        out.extend(v for v in vals if not isinstance(v, bytes) and _number(v) is not None)
    return out[:16]


_OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


def _compare(items: list, col: list, out: Any, args: list, pos: int) -> tuple[str, Any, str] | None:
    """(how, the text value term order decided wrongly, a sentence) when the result is what
    term order gives and numeric order does not."""
    nums = [_number(v) for v in col]
    terms = [_term_key(v) for v in col]
    if not isinstance(out, list):   # a pick: one of the entries
        idx = next((i for i, x in enumerate(items) if x == out), None)
        if idx is None:
            idx = next((i for i, v in enumerate(col) if v == out and type(v) is type(out)), None)
        if idx is None and isinstance(out, tuple) and len(out) <= 12:
            # a pick answered by its fields ({best.name, best.points}): the entry whose compared
            # text the answer holds, when no other entry holds that text
            at = [i for i, v in enumerate(col) if _is_text(v) and any(v == e for e in out)]
            idx = at[0] if len(at) == 1 else None
        if idx is None or len(set(terms)) < 2:
            return None
        for which, term_pick, num_best in (("largest", max(terms), max(nums)), ("smallest", min(terms), min(nums))):
            if terms[idx] == term_pick and nums[idx] != num_best:
                right = next(v for v, n in zip(col, nums) if n == num_best)
                wrong = col[idx] if _is_text(col[idx]) else right
                return ("pick", wrong, f"returned {fmt(col[idx], 30)} as the {which} of {len(col)} values — the "
                        f"{which} by term order; as numbers the {which} is {fmt(right, 30)}")
        return None
    if out != items and len(out) == len(items) >= 3:   # a sort: the same entries in another order
        if sorted(map(repr, out)) != sorted(map(repr, items)):
            return None
        order = [next(i for i, x in enumerate(items) if x == y) for y in out]
        t, n = [terms[i] for i in order], [nums[i] for i in order]
        for way, rev in (("ascending", False), ("descending", True)):
            if t == sorted(t, reverse=rev) and n != sorted(n, reverse=rev):
                shown = [col[i] for i in order]
                wrong = next((v for v, k in zip(shown, n) if _is_text(v)), shown[0])
                return ("sort", wrong, f"returned the {len(out)} entries sorted {way} by term order "
                        f"({', '.join(fmt(v, 12) for v in shown[:8])}), not as numbers")
        return None
    if all(y in items for y in out):   # a filter by a number it was given (keeping all, or some)
        kept = [x in out for x in items]
        for t in _thresholds(args, pos):
            for op, f in _OPS.items():
                by_term = [f(k, _term_key(t)) for k in terms]
                by_num = [f(x, float(t)) for x in nums]
                if by_term == kept and by_num != kept:
                    wrong = next(v for v, a, b in zip(col, by_term, by_num) if a != b)
                    return ("filter", wrong, f"kept {sum(kept)} of {len(items)} entries as if compared `{op} "
                            f"{fmt(t, 20)}` by term order — {fmt(wrong, 20)} is "
                            f"{'kept' if kept[col.index(wrong)] else 'dropped'} although as a number it is not {op} {fmt(t, 20)}")
    return None


def _held_at(term: Any, x: bytes, slot: Slot, depth: int = 0, budget: list | None = None) -> bool:
    """Whether ``term`` holds a record with ``x`` in ``slot`` (or ``x`` itself, for ``()``)."""
    budget = budget if budget is not None else [5000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 5:
        return False
    if not slot and term == x:
        return True
    if slot and slot[0] == "pos" and isinstance(term, tuple) and len(term) > slot[1] and term[slot[1]] == x:
        return True
    if slot and slot[0] == "key" and isinstance(term, dict) and any(fmt(k, 60) == slot[1] and v == x
                                                                    for k, v in list(term.items())[:64]):
        return True
    if isinstance(term, (list, tuple)):
        return any(_held_at(y, x, slot, depth + 1, budget) for y in term[:MAX_ITEMS])
    if isinstance(term, dict):
        return any(_held_at(y, x, slot, depth + 1, budget) for y in list(term.values())[:64])
    return False


def _origin(calls: list[Call], before: Call, x: bytes, slot: Slot) -> tuple[Call, str]:
    """Where the text ``x`` should have become a number: the deepest, earliest call that put it
    in the compared field (its result holds it there, its arguments do not) — else the first
    application call through which it entered."""
    makers = [c for c in calls if c.ts <= before.ts and c.call_id != before.call_id
              and _held_at(c.value, x, slot) and not _held_at(tuple(c.args), x, slot)]
    if makers:
        outer = set().union(*(ancestors(c) for c in makers))
        inner = [c for c in makers if c.call_id not in outer]
        maker = min(inner, key=lambda c: c.ts)
        deeper = _deeper(calls, maker, x)
        return (deeper, f"returned it unconverted to {maker.mfa}, which put it there") if deeper is not maker \
            else (maker, "put it there unconverted")
    given = [c for c in calls if c.ts <= before.ts and _held_at(tuple(c.args), x, ())]
    entered = [c for c in given if c.parent is None or c.parent not in given]
    c = min(entered or [before], key=lambda c: c.ts)
    return c, "took it in and passed it on unconverted"


def _lists(c: Call) -> Iterator[tuple[int, list]]:
    for i, a in enumerate(c.args):
        if isinstance(a, list):
            yield i, a
    if _callback(c) and isinstance(c.args[-1], dict):   # a server's state: the lists it keeps
        for v in list(c.args[-1].values())[:64]:
            if isinstance(v, list):
                yield len(c.args) - 1, v


def _callback(c: Call) -> bool:
    return c.function == "handle_call" and len(c.args) == 3


def _answer(c: Call) -> Any:
    """What a call answered: a ``handle_call``'s reply (``{:reply, r, state}``), else its result."""
    if _callback(c):
        v = c.value
        return _unwrap(v[1]) if isinstance(v, tuple) and len(v) >= 3 and isinstance(v[0], Atom) and v[0].name == "reply" else None
    return _unwrap(c.value)


def _deeper(calls: list[Call], maker: Call, x: bytes) -> Call:
    """The deepest call inside ``maker`` (same process) that returned the text ``x`` itself:
    ``maker`` put in its field what that helper returned unconverted."""
    inside = [c for c in calls if c.pid == maker.pid and c.call_id != maker.call_id and c.value == x
              and maker.call_id in ancestors(c)]
    return max(inside, key=lambda c: (c.depth, -c.ts)) if inside else maker


def mixed_type_compares(view: RecordingView, book: FactBook) -> None:
    calls = [c for c in app_returns(view) if not c.function.startswith("-")][:MAX_CALLS]
    seen: set[tuple] = set()
    made = 0
    for c in calls:
        if made >= MAX_FACTS or (c.module, c.function, c.arity) in seen \
                or (c.function.startswith("handle_") and not _callback(c)):
            continue
        out = _answer(c)
        if out is None:
            continue
        for pos, items in _lists(c):
            hit = None
            for slot, col in _columns(items).items():
                got = _compare(items, col, out, c.args, pos)
                if got is not None:
                    hit = (slot, col, got)
                    break
            if hit is None:
                continue
            slot, col, (how, wrong, sentence) = hit
            texts = [v for v in col if _is_text(v)]
            x = wrong if _is_text(wrong) else texts[0]
            origin, did = _origin(calls, c, x, slot)
            seen.add((c.module, c.function, c.arity))
            made += 1
            mixed = len(texts) < len(col)
            what = ("numbers and numbers written as text" if mixed else "numbers written as text")
            evidence = [view.call_evidence(c, f"{c.mfa} was given {len(items)} entries whose {_slot_name(slot)} "
                                              f"holds {what} ({', '.join(fmt(v, 12) for v in col[:6])})"),
                        view.end_evidence(c, f"{c.mfa} {sentence}")]
            if origin is not c:
                evidence.insert(0, view.end_evidence(origin, f"{origin.mfa} returned {fmt(x, 20)} as text in "
                                                             f"{_slot_name(slot)}"))
            book.add(Finding(
                detector="mixed_type_compare",
                title=(f"{origin.mfa} passes {fmt(x, 20)} on as text; {c.mfa} compares it "
                       f"{'with numbers' if mixed else 'as text'}"),
                summary=(f"{c.mfa} was given {len(items)} entries whose {_slot_name(slot)} holds {what} and "
                         f"{sentence}. In Erlang term order every number sorts before every binary and two "
                         "binaries compare byte by byte (\"95\" > \"120\"), so >, max/min, Enum.max_by, "
                         f"Enum.sort_by and filters give wrong answers without an error. {origin.mfa} {did}"
                         f"{'' if origin is c else ' (' + fmt(x, 20) + ')'}: that is where it should become a number."),
                severity="high", confidence=0.75, culprit=culprit_of(view, origin, x),
                evidence=evidence,
                signatures=["data:mixed_type_compare"],
                fix_hint="Convert input where it enters (String.to_integer/1, Integer.parse/1, Float.parse/1 or "
                         "Decimal.new/1 — rejecting what does not parse) so the code that compares only ever sees "
                         "numbers."),
                pid=origin.pid, ts=origin.ts)
            break
