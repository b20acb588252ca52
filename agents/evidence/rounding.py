"""Money rounded in binary floating point: an exact half rounds the wrong way.

| kind | what | culprit |
| --- | --- | --- |
| ``half_rounded_down`` | a function given an integer amount (cents) and a float factor (a tax rate, a discount) returns the rounded product — to the nearest unit in its other calls — but where the exact decimal product ends in exactly .5 it returns the lower unit: ``250 × 0.19 = 47.5`` comes back as ``47`` because the float product is ``47.499999…`` | the function, and the amount and factor |

Bounded: the first :data:`MAX_CALLS` application calls with two or three arguments.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000
MIN_NEAREST = 2   # calls that round to the nearest unit, besides the half that went down


def _product(c: Call) -> tuple[Decimal, int, int, float] | None:
    """(exact product, result, amount, factor) of a call ``f(amount, factor)`` returning an integer."""
    if len(c.args) not in (2, 3) or isinstance(c.value, bool) or not isinstance(c.value, int):
        return None
    ints = [a for a in c.args if isinstance(a, int) and not isinstance(a, bool)]
    floats = [a for a in c.args if isinstance(a, float)]
    if len(ints) != 1 or len(floats) != 1 or not 0 < abs(floats[0]) < 100:
        return None
    exact = Decimal(ints[0]) * Decimal(repr(floats[0]))
    return exact, c.value, ints[0], floats[0]


def halves_rounded_down(view: RecordingView, book: FactBook) -> None:
    by_fun: dict[tuple, list[tuple[Call, Decimal, int, int, float]]] = defaultdict(list)
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        p = _product(c)
        if p is not None:
            by_fun[(c.module, c.function, c.arity)].append((c, *p))
    for key in sorted(by_fun):
        rows = by_fun[key]
        half = [r for r in rows if abs(r[1] % 1) == Decimal("0.5")]
        halves = [r for r in half if r[2] == int(r[1].to_integral_value(rounding=ROUND_FLOOR))]
        half_up = [r for r in half if r[2] == int(r[1].quantize(Decimal(1), ROUND_HALF_UP))]
        nearest = [r for r in rows if r not in half and r[2] == int(r[1].quantize(Decimal(1), ROUND_HALF_UP))]
        others = [r for r in rows if r not in half and r not in nearest]
        # a function that rounds to the nearest unit everywhere else (halves up included)
        if not halves or len(nearest) < MIN_NEAREST or others or len(halves) + len(half_up) != len(half):
            continue
        c, exact, got, amount, factor = halves[0]
        book.add(Finding(
            detector="half_rounded_down",
            title=f"{c.mfa}({amount}, {factor}) returned {got}, not {got + 1}: {exact} rounded down",
            summary=(f"{c.mfa} rounds {amount} × {factor} to the nearest unit in {len(nearest)} call(s), but the exact "
                     f"product {exact} — an exact half — came back as {got} ({len(halves)} such call(s)): in binary "
                     f"floating point {factor} is a little less than {factor}, so the product is just under the half "
                     "and rounding goes down. Amounts are a unit short wherever the exact result ends in .5."),
            severity="high", confidence=0.74, culprit=culprit_of(view, c, f"{amount} × {factor} = {exact} → {got}"),
            evidence=[view.call_evidence(x, f"{x.mfa}({x_amount}, {x_factor}) → {x_got} (exact {x_exact})")
                      for x, x_exact, x_got, x_amount, x_factor in halves[:3]]
            + [view.call_evidence(nearest[0][0], f"{nearest[0][0].mfa}({nearest[0][3]}, {nearest[0][4]}) → "
                                                 f"{nearest[0][2]} (exact {nearest[0][1]}): rounded to the nearest")],
            signatures=["data:half_rounded_down"],
            fix_hint=("Compute money in integers or decimals: div(amount * rate_basis_points + 5_000, 10_000), or "
                      "Decimal.mult/2 with Decimal.round(…, 0, :half_up) — never a float product rounded afterwards.")),
            pid=c.pid, ts=c.ts, detail=fmt(c.args, 40))
