"""Amounts or counts in integer units that pass through float arithmetic and come out a unit off.

| kind | what | culprit |
| --- | --- | --- |
| ``float_unit_lost`` | an application function given only integers (amounts in cents, counts) returned floats, and a unit was lost on their way: a later call given one of those floats (or the float itself, scaled by 10, 100 or 1000) returned the integer just below a whole number the float stands for within float noise (``10.05 × 100 = 1004.9999…`` → ``1004``, ``trunc``/``floor`` of a product that should be whole), or the floats it returned for one integer total add up, in the total's unit, to a whole number one unit or more away from it (``Float.round(1000 / 3 / 100, 2)`` three times: ``999`` for ``1000``) | the function that turned the integers into floats (its arguments and the float), else the call that cut the float |

Binary floats cannot hold most decimal fractions: a price in cents divided by 100 and multiplied
back is not whole any more, and ``trunc`` cuts it a cent short; parts rounded one by one lose
what the rounding took from each. Integer arithmetic (``div``/``rem``, a remainder given to the
first parts) or ``Decimal`` keeps every unit. Bounded: the first :data:`MAX_CALLS` application
calls, :data:`MAX_BACK` calls of a process looked back for the float's origin.
"""

from __future__ import annotations

import math
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import ancestors, culprit_of, is_generated

__all__ = ["float_units_lost"]

MAX_CALLS = 20_000
MAX_BACK = 400
MAX_FACTS = 2
MAX_NODES = 500
NOISE = 1e-6
SCALES = (1, 10, 100, 1000)


def _numbers(term: Any) -> tuple[list[int], list[float]]:
    """The integers and the floats a term holds (bounded walk; booleans are no numbers)."""
    ints: list[int] = []
    floats: list[float] = []
    stack, n = [term], 0
    while stack and n < MAX_NODES:
        t = stack.pop()
        n += 1
        if isinstance(t, bool):
            continue
        if isinstance(t, int):
            ints.append(t)
        elif isinstance(t, float):
            floats.append(t)
        elif isinstance(t, dict):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return ints, floats


def _cut(c: Call) -> tuple[float, int, int, int] | None:
    """(float given, scale, integer returned, whole number it stood for): ``c`` was given a float
    whose scaled value lies within noise of a whole number ``w`` and returned ``w - 1`` (or
    ``w + 1`` for a negative one) — the float cut, not rounded."""
    if c.outcome != "return" or isinstance(c.value, bool) or not isinstance(c.value, int):
        return None
    ints, floats = _numbers(c.args)
    for f in floats[:8]:
        for k in SCALES:
            x = f * k
            w = round(x)
            if x == w or abs(x - w) > NOISE * max(1.0, abs(x)):
                continue
            if c.value == math.trunc(x) and c.value != w and abs(c.value - w) == 1:
                return f, k, c.value, w
    return None


def _introducer(view: RecordingView, c: Call, f: float) -> Call | None:
    """The nearest application call before ``c`` in its process (``c``'s callers included) that
    returned a term holding the float ``f`` and was given no float at all, only integers."""
    calls = view.calls_by_pid.get(c.pid, [])
    before = [d for d in calls if d.ts <= c.ts and d.call_id != c.call_id][-MAX_BACK:]
    for d in reversed(before):
        if d.outcome != "return" or not is_app_module(d.module) or is_generated(d.function):
            continue
        if d.end_ts is not None and d.end_ts > c.ts:
            continue
        _, out_floats = _numbers(d.value)
        if f not in out_floats:
            continue
        ints, floats = _numbers(d.args)
        if ints and not floats:
            return d
    return None


def _split(c: Call) -> tuple[int, list[float], int, int] | None:
    """(total, parts, scale, what the parts add up to): ``c`` was given integers — among them a
    total — and returned a list of 2+ floats (or of records holding one float each) that add up,
    at one scale, to a whole number one unit or more from the total, but by fewer units than
    there are parts."""
    if c.outcome != "return" or not isinstance(c.value, list) or len(c.value) < 2:
        return None
    ints, floats = _numbers(c.args)
    if floats or not ints:
        return None
    parts: list[float] = []
    for item in c.value[:200]:
        _, fs = _numbers(item)
        if len(fs) != 1:
            return None
        parts.append(fs[0])
    total_parts = math.fsum(parts)
    for total in sorted({i for i in ints if abs(i) >= 10}, key=abs, reverse=True):
        for k in SCALES:
            s = total_parts * k
            got = round(s)
            if abs(s - got) > 0.01 * max(1, len(parts)):
                continue
            if 1 <= abs(got - total) < len(parts) and abs(got - total) < abs(total) / 10:
                return total, parts, k, got
    return None


def float_units_lost(view: RecordingView, book: FactBook) -> None:
    made, n = 0, 0
    blamed: set[tuple] = set()
    splits: list = []
    for c in view.calls:
        if made >= MAX_FACTS:
            break
        if not is_app_module(c.module) or is_generated(c.function) or c.outcome != "return":
            continue
        n += 1
        if n > MAX_CALLS:
            break
        cut = _cut(c)
        if cut is not None:
            f, k, got, whole = cut
            origin = _introducer(view, c, f)
            culprit_call = origin or c
            key = (culprit_call.module, culprit_call.function, culprit_call.arity)
            if key in blamed:
                continue
            blamed.add(key)
            made += 1
            scaled = f"{f!r} × {k}" if k != 1 else repr(f)
            ev = []
            if origin is not None:
                ev.append(view.end_evidence(origin, f"{origin.mfa} given {fmt(origin.args, 60)} returned "
                                                    f"{fmt(origin.value, 60)}: a float from integers"))
            ev.append(view.end_evidence(c, f"{c.mfa} given {fmt(c.args, 60)} returned {got}, not {whole}: "
                                           f"{scaled} is {f * k!r} in floats"))
            culprit = culprit_of(view, culprit_call)
            culprit.detail = f"{fmt(origin.args, 60)} → {f!r}" if origin is not None else f"{f!r} → {got}"
            intro = (f"{origin.mfa} turned integers {fmt(origin.args, 60)} into the float {f!r}; "
                     if origin is not None else f"{c.mfa} was given the float {f!r}; ")
            book.add(Finding(
                detector="float_unit_lost",
                title=f"{culprit_call.mfa} puts whole units through floats: {whole} comes out as {got}",
                summary=(intro + f"{c.mfa} made an integer of it and returned {got} where the exact value is "
                         f"{whole}: {scaled} is {f * k!r} in binary floating point, and cutting it (trunc, floor) "
                         "loses a unit. Amounts kept in integer units (or Decimal) all the way keep it."),
                severity="high", confidence=0.78 if origin is not None else 0.62,
                culprit=culprit, evidence=ev, causal_chain=ev,
                signatures=["data:float_unit_lost"],
                fix_hint=("Keep amounts and counts in integers (cents) end to end: no `/` (use `div`/`rem`), no "
                          "`Float.round`; when a fraction is needed use Decimal, and round once, at the end, with "
                          "`round/1`, never `trunc/1`.")),
                pid=culprit_call.pid, ts=culprit_call.ts)
            continue
        split = _split(c)
        if split is not None:
            splits.append((c, split))
    _report_splits(view, book, splits, blamed, MAX_FACTS - made)


def _report_splits(view: RecordingView, book: FactBook, splits: list, blamed: set, room: int) -> None:
    """The split facts: the first function that returned the parts, not its callers that pass
    them on (a hit with the same parts inside it wins)."""
    outer = set()
    for c, (_, parts, _, _) in splits:
        up = ancestors(c)
        for d, (_, others, _, _) in splits:
            if d.call_id in up and sorted(others) == sorted(parts):
                outer.add(d.call_id)
    made = 0
    for c, split in splits:
        if made >= room:
            return
        if c.call_id in outer:
            continue
        total, parts, k, got = split
        key = (c.module, c.function, c.arity)
        if key in blamed:
            continue
        blamed.add(key)
        made += 1
        ev = [view.end_evidence(c, f"{c.mfa} given {fmt(c.args, 60)} returned {fmt(c.value, 80)}: "
                                   f"{len(parts)} floats adding up to {got} for {total}")]
        culprit = culprit_of(view, c)
        culprit.detail = f"{total} → {got}"
        book.add(Finding(
            detector="float_unit_lost",
            title=f"{c.mfa} splits {total} into floats that add up to {got}",
            summary=(f"{c.mfa} was given integers ({fmt(c.args, 60)}) and returned {len(parts)} floats "
                     f"({fmt(parts[:6], 60)}) whose sum is {got} in the total's unit, not {total}: each part was "
                     "rounded on its own in floating point and what the rounding took from each is lost. An "
                     "integer split (div, with the remainder given to the first parts) adds up."),
            severity="high", confidence=0.76,
            culprit=culprit, evidence=ev, causal_chain=ev,
            signatures=["data:float_unit_lost"],
            fix_hint=("Split integer amounts with div/rem and give the remainder to the first parts "
                      "(`base = div(total, n)`, `extra = rem(total, n)`), and keep the parts integers until "
                      "they are shown.")),
            pid=c.pid, ts=c.ts)
