"""A small wrong number, followed inside the case the symptom names.

:mod:`.provenance` follows only values specific enough to tell calls apart (``valuematch.significant``):
a ``3`` is any field's value, a list's length, an index. But a symptom that corrects a small
number — "paid for 3 h instead of 3.75 h", "0 days instead of 4", "yields 0.0 kWh instead of
4.2" — while it names its case by a specific input ("a 225 minute shift") says exactly where
the small number must be looked for (a count — "went out to only 2 addresses" — needs no
correction beside it: the things it counts are a list of that length): in the calls that handled that input. :func:`small_seen`
says when a stated value is such a number (what came out, with an expectation stated, and a
specific input to name its case by); :func:`case_hits` finds the calls that returned it — the
number itself, or a number field of their result equal to it (``3`` and ``3.0`` alike) — while
their arguments do not hold it, and that were given the case's input (they, or a caller of
theirs in the same process: a helper given only minutes of the shift counts with the shift).

Pure: the stated values and the recorded calls' digests only; nothing here knows a unit or a domain.
"""

from __future__ import annotations

from decimal import Decimal

from .stated import StatedValue
from .valuematch import held, significant

MAX_UP = 6   # callers looked at for the case's input


def small_seen(v: StatedValue, values: list[StatedValue]) -> list[StatedValue]:
    """The specific inputs the symptom names ``v``'s case by, when ``v`` is a number too small to
    follow alone that the symptom says came out instead of an expected one; else ``[]``."""
    if v.role != "seen" or v.number is None or v.kind not in ("number", "count", "money") or significant(v):
        return []
    if v.kind != "count" and not any(e.role == "expected" and e.number is not None and e.number != v.number
                                     for e in values):
        return []   # a small number with no correction beside it is no claim about a result ("2 workers")
    return [u for u in values if u is not v and u.role == "stated" and u.number is not None and significant(u)]


def _returned(v: StatedValue, d) -> bool:
    """The result is ``v``'s number, or holds it as a number (a field, a tuple's element)."""
    if d.cut:
        return False
    if d.whole is not None and Decimal(d.whole) == v.number:
        return True
    if v.kind == "count" and v.number == v.number.to_integral_value() and int(v.number) in d.lengths:
        return True   # a number of things: a list of that length
    return any(abs(x - v.number) < Decimal("0.0001") for x in d.numbers)


def case_hits(v: StatedValue, inputs: list[StatedValue], calls: list) -> list:
    """The recorded calls (``provenance._Seen``) that returned ``v`` without being given it, for
    the case one of ``inputs`` names."""
    by_id = {s.call.call_id: s for s in calls}
    out = []
    for s in calls:
        if s.args.cut or not _returned(v, s.value) or held(v, s.args):
            continue
        c, up, mine = s.call, 0, False
        while c is not None and up <= MAX_UP and not mine:
            seen = by_id.get(c.call_id)
            mine = seen is not None and any(held(u, seen.args) for u in inputs)
            c, up = c.parent, up + 1
        if mine:
            out.append(s)
    # a client function whose answer came back in a reply: the server's call that made it ran
    # while it waited — the origin is there (``provenance`` checks this for the values it follows)
    return [s for s in out if s.call.end_ts is None or not any(
        o.call.pid != s.call.pid and s.call.ts <= o.call.ts <= s.call.end_ts for o in out)]
