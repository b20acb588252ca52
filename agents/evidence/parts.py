"""A wrong number that is only the sum of wrong parts: follow it to the function that made them.

:mod:`.provenance` and :mod:`.inputs` find the first call whose result holds a value the symptom
states while its arguments do not. When that call only added numbers up — a total over order
lines, hours over timesheet entries, through ``Enum.sum``, ``Enum.reduce`` or a fold of its own —
the sum is rarely what went wrong: the parts it added were (a tax rate in percent used as a
fraction, a conversion with the wrong divisor, a rounding applied per line). :func:`summed_from`
names the function whose returns were added: two or more calls of one application function made
inside the adder (directly or through anonymous functions), each returning a number its
arguments do not hold, summing to the adder's result. Two calls with the same arguments among them
are a part counted twice — the adder's mistake (or its input's), not the part's: then nothing is
named. Pure: only the recorded calls it is given.
"""

from __future__ import annotations

from decimal import Decimal

from .stated import StatedValue


def _number(value: object) -> Decimal | None:
    """The number a call returned (or ``{:ok, n}``), else ``None``."""
    if isinstance(value, tuple) and len(value) == 2 and getattr(value[0], "name", None) == "ok":
        value = value[1]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def summed_from(producer, v: StatedValue, calls: list) -> tuple[object, int, object] | None:
    """For a number: the function whose returns ``producer`` only added up — two or more calls of
    one application function made inside it (through anonymous functions at most: an
    ``Enum.map``), each returning a number its arguments do not hold, which sum to the value.
    A sum is rarely where a total goes wrong; the parts it adds are (a tax, a conversion, a
    rounding applied per line)."""
    if v.number is None or v.kind not in ("number", "money", "count"):
        return None
    total = _number(producer.call.value)
    if total is None:
        return None
    top = producer.call
    while top.function.startswith("-") and top.parent is not None and _number(top.parent.value) == total:
        top = top.parent   # the last step of an Enum.reduce returned the total: its function added it up
    scope, until = top, None
    if top.function.startswith("-"):
        # the last step of a fold whose caller returned something else (a callback's new state):
        # the parts are those its caller's steps added, up to this one
        while scope.function.startswith("-") and scope.parent is not None:
            scope = scope.parent
        until = top.end_ts if top.end_ts is not None else top.ts
    pid, pid_call = top.pid, scope.call_id
    parts: dict[tuple, list[tuple[object, Decimal]]] = {}
    for s in calls:
        c = s.call
        if c.pid != pid or c.ts < scope.ts or c.function.startswith("-") or (until is not None and c.ts > until):
            continue
        p = c.parent
        while p is not None and p.function.startswith("-"):
            p = p.parent
        if p is None or p.call_id != pid_call:
            continue
        n = _number(c.value)
        if n is None or s.args.cut or any(abs(n - x) < Decimal("0.0001") for x in s.args.numbers):
            continue
        parts.setdefault((c.module, c.function, c.arity), []).append((s, n))
    for key in sorted(parts):
        rows = parts[key]
        if len({repr(s.call.args) for s, _n in rows}) < len(rows):
            continue   # one part computed twice: a part counted twice is the adder's (or its input's) mistake
        if len(rows) >= 2 and abs(sum(n for _s, n in rows) - total) <= Decimal("0.005") * max(1, abs(total)) / 100:
            return rows[0][0], len(rows), top
    return None
