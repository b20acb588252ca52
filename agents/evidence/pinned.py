"""Below the call that made a wrong value: a helper whose result was pinned at a boundary or cut
to a whole number.

:func:`.helpers.wrong_part` names a helper when the symptom states the number its result should
have been. Often it does not: "charged only 5.00, the base price, instead of 25.00", "the invoice
came to 90.00 instead of 105.00". The call that made the value (:mod:`.provenance`) combined
what a helper returned, rightly (``@base + overstay(…) * @per_minute``, ``hours * @rate``,
``balance + credit(n)``); the helper was wrong for its arguments. Two general ways a person
sees that from the recording, each over the calls recorded inside that call (same process):

- **cut to a whole number** (``truncated``): the helper returned an integer ``x`` and the caller's
  result ``s`` follows from it by a factor (``s = k·x``) or a sum (``s = c + x``); the same
  arithmetic on the expected ``e`` needs ``x'`` = ``x·e/s`` (or ``x + e − s``), which has a
  fraction, and ``x`` is that number with its fraction dropped (``div``, ``trunc``, ``floor``,
  ``round``): "returned 3 where 3.5 makes 105.00". Where other recorded calls of the same
  caller and helper gave numbers, their ratio must agree with ``k`` (the caller's arithmetic is
  one and the same).
- **pinned at a boundary** (``pinned``): the helper returned the same number ``b`` for
  :data:`MIN_PINNED` or more calls given arguments with different numbers in them (amounts, dates,
  counts — inputs a result could follow), ``b`` is the lowest or the highest
  it ever returned (a ``max(0, …)`` with its operands reversed returns 0 every time; a ``min(cap,
  …)`` with the wrong cap returns the cap), and its call for the case the symptom names is one of
  them: its result does not follow its inputs, so the caller's could not either.

Both need the symptom to state what came out and what should have, and the call that made the
value to have run for the case it names (:func:`.helpers.names_case`); a helper another confident
fact already explains (a setting read under the wrong key: :mod:`.config`) is that fact's. Both
are ``value_origin`` facts at the helper. Nothing here knows a domain: only the stated numbers
and the recorded calls' results.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import product

from ..findings import Finding
from ..view import RecordingView, fmt, mod_name
from .book import FactBook
from .common import culprit_of
from .helpers import _num, _scales, inside, names_case, significant_cue
from .stated import StatedValue
from .valuematch import occurs

MIN_PINNED = 3      # calls with different arguments that returned the boundary value
MAX_PEERS = 400     # calls of one helper looked at
_CENT = Decimal("0.01")


def _whole(x: Decimal) -> bool:
    return x == x.to_integral_value()


def _two_places(x: Decimal) -> bool:
    """A fraction a person states (3.5 h, 3.75 h), not a ratio's endless digits."""
    return abs(x * 100 - (x * 100).to_integral_value()) < Decimal("0.0001")


def _dropped(x: Decimal, exact: Decimal) -> str | None:
    """How ``x`` is ``exact`` with its fraction dropped, or ``None``."""
    if _whole(exact) or not _two_places(exact) or abs(exact - x) >= 1:
        return None
    if x == exact.to_integral_value(rounding=ROUND_FLOOR):
        return "rounded down"
    if x == exact.quantize(Decimal(1), ROUND_HALF_UP):
        return "rounded"
    if x == (-(-exact).to_integral_value(rounding=ROUND_FLOOR)) and exact < 0:
        return "truncated"
    return None


def _ratio_agrees(first, h, k: Decimal, calls: list) -> bool:
    """Other recorded calls of ``first``'s function with a call of ``h``'s function inside, both
    numbers: their results keep the same ratio ``k`` (one arithmetic), or there are none."""
    fk = (first.call.module, first.call.function, first.call.arity)
    hk = (h.call.module, h.call.function, h.call.arity)
    seen = 0
    for s in calls:
        if (s.call.module, s.call.function, s.call.arity) != fk or s is first or seen >= 20:
            continue
        top = _num(s.call.value)
        if top is None:
            continue
        part = next((_num(i.call.value) for i in inside(s, calls)
                     if (i.call.module, i.call.function, i.call.arity) == hk), None)
        if part is None or part == 0:
            continue
        seen += 1
        if abs(top / part - k) > Decimal("0.002") * abs(k):
            return False
    return True


def _truncated(first, h, x: Decimal, v: StatedValue, expected: list[StatedValue], calls: list):
    if not _whole(x):
        return None
    for e in expected:
        pairs = zip(_scales(v), _scales(e)) if v.kind == e.kind else product(_scales(v), _scales(e))
        for s_n, e_n in pairs:
            if s_n == e_n:
                continue
            if x != 0 and s_n != 0:
                exact = x * e_n / s_n
                how = _dropped(x, exact)
                if how and _ratio_agrees(first, h, s_n / x, calls):
                    return exact, how, "a factor", e
            exact = x + (e_n - s_n)
            how = _dropped(x, exact)
            if how:
                return exact, how, "added", e
    return None


def _pinned(h, calls: list):
    """(the calls of ``h``'s function that returned its value, given different arguments) when
    that value is the lowest or highest it returned and at least MIN_PINNED such calls exist."""
    hk = (h.call.module, h.call.function, h.call.arity)
    peers = [s for s in calls if (s.call.module, s.call.function, s.call.arity) == hk][:MAX_PEERS]
    results = [r for r in (_num(s.call.value) for s in peers) if r is not None]
    b = _num(h.call.value)
    if b is None or not results or b not in (min(results), max(results)):
        return None
    same, args = [], set()
    for s in peers:
        # inputs that differ in their numbers (amounts, dates, counts): ones a result could follow
        key = frozenset(s.args.numbers)
        if _num(s.call.value) == b and not s.args.cut and key and key not in args:
            args.add(key)
            same.append(s)
    return same if len(same) >= MIN_PINNED else None


def _explained(book: FactBook, h) -> bool:
    name = (mod_name(h.call.module), f"{h.call.function}/{h.call.arity}")
    return any(f.culprit is not None and (f.culprit.module, f.culprit.function) == name and not f.weak
               and f.confidence >= 0.6 for f in book.facts if f.detector != "value_origin")


def _for_case(first, v: StatedValue, values: list[StatedValue], calls: list) -> bool:
    """``first`` ran for the case the symptom names (:func:`.helpers.names_case`) — or the symptom
    names no case by a value that tells cases apart, and ``first`` is the only call of its function
    that made ``v``."""
    if any(u is not v and u.role != "expected" and significant_cue(u) for u in values):
        return names_case(first, v, values, calls)
    fk = (first.call.module, first.call.function, first.call.arity)
    # a callback by what it answered: its state carries every value it made before
    return sum(1 for s in calls if (s.call.module, s.call.function, s.call.arity) == fk
               and occurs(v, s.reply if s.callback else s.value)) == 1


def pinned_part(book: FactBook, first, v: StatedValue, values: list[StatedValue], calls: list) -> dict | None:
    """The helper inside ``first`` (the call that made the stated value ``v``) whose result was
    cut to a whole number or pinned at a boundary (module docstring), or ``None``."""
    if v.role != "seen" or v.number is None or not _for_case(first, v, values, calls):
        return None
    expected = [e for e in values if e.role == "expected" and e.number is not None and e.kind in (v.kind, "number")]
    if not expected or all(e.number == v.number for e in expected):
        return None
    for h in inside(first, calls):
        x = _num(h.call.value)
        if x is None or h.args.cut or occurs(v, h.value) or _explained(book, h):
            continue
        cut = _truncated(first, h, x, v, expected, calls)
        if cut is not None:
            exact, how, enters, e = cut
            return {"kind": "truncated", "helper": h, "first": first, "exact": exact, "how": how,
                    "enters": enters, "expected": e}
        same = _pinned(h, calls)
        if same is not None:
            return {"kind": "pinned", "helper": h, "first": first, "same": same, "expected": expected[0]}
    return None


def pinned_fact(view: RecordingView, book: FactBook, v: StatedValue, found: dict) -> Finding:
    """The ``value_origin`` fact naming the helper :func:`pinned_part` found."""
    h, first, e = found["helper"], found["first"], found["expected"]
    c, top = h.call, first.call
    if found["kind"] == "truncated":
        exact = found["exact"].normalize()
        title = f"{c.mfa} returned {fmt(c.value, 20)} where {exact} would have made {top.mfa} right: the fraction dropped"
        why = (f"{top.mfa} made {v.text} from what {c.mfa} returned ({fmt(c.value, 20)}, {found['enters']}); the same "
               f"arithmetic gives {e.text} only with {exact} in its place — {fmt(c.value, 20)} is {exact} "
               f"{found['how']}: the helper dropped a fraction its arguments carry (an integer division, a trunc, "
               "a round too early)")
        evidence = [view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                    view.end_evidence(c, f"returned {fmt(c.value, 30)}, not {exact}")]
        hint = (f"Keep the fraction in {c.mfa}: divide with / (or Decimal) instead of div/2, and round only the final "
                f"amount, not the quantity {top.mfa} multiplies.")
        sig = ["data:value_origin", "data:value_pinned"]
    else:
        same = found["same"]
        others = [s for s in same if s is not h][:3]
        title = (f"{c.mfa} returned {fmt(c.value, 20)} for {len(same)} different inputs: its result is pinned "
                 f"at a boundary, and {top.mfa} made {v.text} from it")
        why = (f"{c.mfa} returned {fmt(c.value, 20)} — the {'lowest' if _num(c.value) == 0 else 'same boundary'} "
               f"value it ever returned — for {len(same)} calls with different arguments "
               f"({'; '.join(fmt(s.call.args, 40) for s in others)} and the failing case's "
               f"{fmt(c.args, 40)}): a result that does not follow its inputs (a clamp whose operands are the wrong "
               f"way round, a cap or floor set wrong, an abs hiding a sign). {top.mfa} only combined it, and came "
               f"to {v.text} where {e.text} was expected")
        evidence = [view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                    view.end_evidence(c, f"returned {fmt(c.value, 30)}")] + [
            view.end_evidence(s.call, f"{c.mfa}({fmt(s.call.args, 50)}) also returned {fmt(s.call.value, 20)}")
            for s in others[:2]]
        hint = (f"Check the boundary in {c.mfa}: the order of the operands of a difference clamped with max/min, the "
                f"cap or floor it applies, an abs — it returns {fmt(c.value, 20)} whatever it is given. "
                f"{top.mfa} only combines what it returns.")
        sig = ["data:value_origin", "data:value_pinned"]
    return book.add(Finding(
        detector="value_origin", title=title,
        summary=f"The symptom states {v.describe()} and what should have come out. {why}.",
        severity="high", confidence=0.74 if found["kind"] == "truncated" else 0.72,
        culprit=culprit_of(view, c, f"{fmt(c.value, 30)} for {fmt(c.args, 40)}"),
        evidence=evidence + [view.end_evidence(top, f"returned {fmt(top.value, 60)}, which holds {v.text}")],
        signatures=sig, fix_hint=hint),
        pid=c.pid, ts=c.ts, value=v.text)
