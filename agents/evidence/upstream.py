"""A wrong number that is a correct combination of its inputs: follow the inputs upstream.

:mod:`.provenance` names the first call whose result holds the value the symptom says came out
while its arguments do not. When that call only *combined* what it was given — the sum of one
field over the list it got (a load over readings, hours over entries), or of the product of two
fields (quantity × price over invoice lines) — its arithmetic is right and its inputs are wrong:
the mistake was made by the call that produced them (a parser that read a field wrong, a dedupe
that kept the wrong element, a filter, a conversion). :func:`combined_from` finds that producer:
an application call of the same process that had returned before the combining call started,
whose result is the list the combiner was given, or whose results are its elements (one call
per element: a parse per line). Not a call the combiner ran inside.

The producer is named with confidence only when the recording shows what it lost: a number the
symptom states (not the wrong one) that it was given and did not return (``20, 15 and 12 kW``
given, the oldest readings kept; ``12.75`` read, ``12.0`` returned). Otherwise it is where to look
(a weak fact) — but the combiner, whose arithmetic the recording checks, is not named.

:func:`scaled_part` goes one step further down from the parts a sum added (:func:`.parts.summed_from`):
a part that is one call of another application function times (or plus) a rate the symptom
states as given ("3 cents a minute") applied the rate right; the function whose result it scaled
made the wrong number (a length in seconds used as minutes). Pure: only the recorded calls given.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList, FrozenMap

from .common import ancestors
from .parts import _number
from .stated import StatedValue
from .valuematch import held, occurs

MAX_ELEMENTS = 500   # elements of the list a combiner was given
MAX_FIELDS = 12      # numeric fields of an element tried
MAX_LOOKBACK = 2000  # earlier calls compared with the combiner's input


def _num(x: Any) -> Decimal | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return Decimal(x) if isinstance(x, int) else Decimal(repr(x))


def _fields(e: Any) -> dict[Any, Decimal]:
    """The numeric fields of one element: a map's values by key, a tuple's by position."""
    if isinstance(e, (dict, FrozenMap)):
        items = [(k, v) for k, v in list(e.items())[:MAX_FIELDS * 2] if not (isinstance(k, Atom) and k.name == "__struct__")]
    elif isinstance(e, tuple):
        items = list(enumerate(e))[:MAX_FIELDS * 2]
    else:
        n = _num(e)
        return {None: n} if n is not None else {}
    out = {}
    for k, v in items:
        n = _num(v)
        if n is not None:
            out[k] = n
        if len(out) >= MAX_FIELDS:
            break
    return out


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= Decimal("0.005") * max(Decimal(1), abs(b)) / 100


def combination(total: Decimal, xs: list) -> str | None:
    """How ``total`` is made from the elements of ``xs``: ``"sum of <field>"``, ``"sum of <a> × <b>"``,
    else ``None``. Every element must have the field(s)."""
    rows = [_fields(e) for e in xs[:MAX_ELEMENTS]]
    if len(xs) < 2 or len(xs) > MAX_ELEMENTS or not rows or not all(rows):
        return None
    keys = set(rows[0])
    for r in rows[1:]:
        keys &= set(r)
    for k in sorted(keys, key=repr):
        if _close(sum(r[k] for r in rows), total):
            return f"the sum of {_name(k)}"
    for a, b in combinations(sorted(keys, key=repr), 2):
        if _close(sum(r[a] * r[b] for r in rows), total):
            return f"the sum of {_name(a)} × {_name(b)}"
    return None


def _name(k: Any) -> str:
    if k is None:
        return "the numbers"
    if isinstance(k, Atom):
        return k.name
    if isinstance(k, bytes):
        return k.decode("utf-8", "replace")
    return f"element {k}"


def _is_list(x: Any) -> bool:
    return isinstance(x, (list, FrozenList))


def combined_from(first, v: StatedValue, values: list[StatedValue], calls: list) -> dict | None:
    """``first``: the call :mod:`.provenance` found making ``v``. When its number is a combination
    of a list it was given (or a caller that returned the same number was given): the producer of
    that list — ``{"combiner", "how", "producers", "lost"}`` (``lost``: the stated numbers the
    producer was given and did not return) — else ``None``."""
    if v.number is None or v.kind not in ("number", "money", "count"):
        return None
    total = _number(first.call.value)
    if total is None:
        return None
    c = first.call
    while True:   # the call given the list: the value's first maker, or a caller that returned it too
        arg = next((a for a in c.args if _is_list(a)), None)
        how = combination(total, list(arg)) if arg is not None else None
        if how is not None or c.parent is None or _number(c.parent.value) != total:
            break
        c = c.parent
    if how is None:
        return None
    by_id = {s.call.call_id: s for s in calls}
    combiner = by_id.get(c.call_id, first)
    above = ancestors(c) | {c.call_id}
    earlier = [s for s in calls if s.call.pid == c.pid and s.call.end_ts is not None and s.call.end_ts <= c.ts
               and s.call.call_id not in above and not s.call.function.startswith("-")][-MAX_LOOKBACK:]
    whole = [s for s in earlier if s.value.cut is False and _is_list(_unwrap(s.call.value))
             and list(_unwrap(s.call.value)) == list(arg)]
    producers = [max(whole, key=lambda s: (s.call.depth, s.call.ts))] if whole else []
    if not producers:
        elems = list(arg)
        per: dict[tuple, list] = {}
        for s in earlier:
            val = _unwrap(s.call.value)
            if any(val == e for e in elems):
                per.setdefault((s.call.module, s.call.function, s.call.arity), []).append(s)
        for key, rows in per.items():
            got = [e for e in elems if any(_unwrap(s.call.value) == e for s in rows)]
            if len(got) == len(elems):
                producers = rows
                break
    if not producers:
        return None
    lost = []
    for o in values:
        if o is v or o.role in ("seen",) or o.number is None or o.kind not in ("number", "money", "count") \
                or (o.number == o.number.to_integral_value() and abs(o.number) < 10 and "." not in o.text):
            continue   # a small whole number is everywhere (a quantity, an index): it proves nothing lost
        if any(held(o, s.args) and not s.args.cut and not occurs(o, s.value) and not held(o, s.value)
               for s in producers):
            lost.append(o)
    return {"combiner": combiner, "how": how, "producers": producers, "lost": lost}


def _unwrap(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and getattr(value[0], "name", None) == "ok":
        return value[1]
    return value


def _rates(values: list[StatedValue], v: StatedValue) -> set[Decimal]:
    """The numbers the symptom states as given (not what came out nor what should have): a
    rate, a price, a factor — in the forms a program holds them (an amount also in cents)."""
    out = set()
    for o in values:
        if o is v or o.role != "stated" or o.number is None or o.number == 0:
            continue
        out.add(o.number)
        if o.kind == "money":
            out.add(o.number * 100)
    return out


def scaled_part(part, calls: list, values: list[StatedValue], v: StatedValue):
    """``part``: one call of the function whose returns a sum added (:func:`.parts.summed_from`).
    When every call of that function returned one call of a deeper application function times,
    or plus, the same number the symptom states as given, that deeper function — ``(its calls,
    the rate)`` — else ``None``: the part applied the stated rate to what it was handed."""
    rates = _rates(values, v)
    if not rates:
        return None
    key = (part.call.module, part.call.function, part.call.arity)
    mine = [s for s in calls if (s.call.module, s.call.function, s.call.arity) == key and s.call.pid == part.call.pid]
    inner: dict[int, list] = {}
    ids = {s.call.call_id for s in mine}
    for s in calls:
        if s.call.pid != part.call.pid or s.call.function.startswith("-"):
            continue
        p = s.call.parent
        while p is not None and p.function.startswith("-"):
            p = p.parent
        if p is not None and p.call_id in ids:
            inner.setdefault(p.call_id, []).append(s)
    deeper, rate = [], None
    for s in mine:
        n = _number(s.call.value)
        kids = [k for k in inner.get(s.call.call_id, []) if _number(k.call.value) not in (None, Decimal(0))]
        if n is None or len(kids) != 1:
            return None
        k = _number(kids[0].call.value)
        found = next((r for r in sorted(rates) if _close(k * r, n) or _close(k + r, n)), None)
        if found is None or (rate is not None and found != rate):
            return None
        rate = found
        deeper.append(kids[0])
    if not deeper or len({(d.call.module, d.call.function, d.call.arity) for d in deeper}) != 1:
        return None
    return deeper, rate
