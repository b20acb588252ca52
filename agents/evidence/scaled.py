"""A figure off by a clean factor: the conversion whose outputs make it up scales by the wrong one.

"The statement shows 123.6 kWh, but the meter went up by only 12.36 kWh": when the symptom states
the figure that came out and the one it should have been, and one is the other times a factor a
unit conversion uses (10, 100, 1000, 60, 3600, 1024), the mistake is a conversion, not the
arithmetic that added or displayed the figure. The recording shows the conversion: an application
function whose every call returned its one numeric argument times the same constant (``515`` →
``5.15``: watt-hours over 100 where 1000 was meant) and whose results add up to the figure (or one
result is it). The functions that summed, stored and showed those results did their part right:
the ``value_origin`` of the figure is linked to this fact.

| kind | what | culprit |
| --- | --- | --- |
| ``scale_off`` | the symptom states two numbers of one unit (or one with no unit) whose ratio is a conversion factor; an application function called at least twice returned, each time, its one numeric argument times one constant ``c`` ≠ 1; its results sum to the stated figure the recording shows (or one of them is it) | that function, with one call (``515 → 5.15``) and the factor the figure is off by |

Bounded: the first :data:`MAX_CALLS` application calls, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_generated
from .stated import StatedValue, stated_values

__all__ = ["analyses", "off_by", "scaling"]

FACTORS = (Decimal(10), Decimal(100), Decimal(1000), Decimal(60), Decimal(3600), Decimal(1024))
MAX_CALLS = 20_000
MAX_FACTS = 2
_REL = Decimal("0.000001")
_RANK = {"seen": 2, "stated": 1, "expected": 0}   # how surely a stated number is what came out


def _num(x) -> Decimal | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return Decimal(x) if isinstance(x, int) else Decimal(repr(x))


def off_by(values: list[StatedValue]) -> list[tuple[StatedValue, StatedValue, Decimal]]:
    """Pairs of stated numbers of one unit (or none) — (shown, other, factor) — where ``shown`` is
    ``other`` times a conversion factor, or divided by one, and is the figure the symptom says came
    out: read as shown where the other is only stated or expected (or stated where the other is
    expected), and — of two with one role ("shows 123.6 kWh, but it went up by
    only 12.36") — the first, the later one being what it is compared with."""
    nums = [v for v in values if v.kind in ("number", "money", "count") and v.number]
    out = []
    for i, a in enumerate(nums):
        for j, b in enumerate(nums):
            if a is b or (a.unit or "").lower() != (b.unit or "").lower():
                continue
            if not (_RANK[a.role] > _RANK[b.role] or (a.role == b.role != "expected" and i < j)):
                continue
            for f in FACTORS:
                for want in (b.number * f, b.number / f):
                    if abs(a.number - want) <= abs(want) * _REL:
                        out.append((a, b, f))
    return out


def scaling(calls: list[Call]) -> Decimal | None:
    """The constant every call returned its one numeric argument times (≥ 2 calls, ≠ 1)."""
    ratio = None
    for c in calls:
        xs = [n for n in (_num(a) for a in c.args) if n is not None]
        y = _num(c.value)
        if len(xs) != 1 or len(c.args) != 1 or y is None or xs[0] == 0:
            return None
        r = y / xs[0]
        if ratio is None:
            ratio = r
        elif abs(r - ratio) > abs(ratio) * _REL:
            return None
    if ratio is None or len(calls) < 2 or abs(ratio - 1) <= _REL:
        return None
    return ratio


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= max(abs(b) * Decimal("0.0005"), Decimal("0.005"))


def scales_off(view: RecordingView, book: FactBook, pairs: list) -> None:
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls[:MAX_CALLS]:
        if c.outcome == "return" and is_app_module(c.module) and not is_generated(c.function) and len(c.args) == 1:
            groups[(c.module, c.function, c.arity)].append(c)
    made = 0
    for key in sorted(groups):
        calls = groups[key]
        c_k = scaling(calls)
        if c_k is None:
            continue
        outs = [_num(c.value) for c in calls]
        total = sum(outs, Decimal(0))
        for seen, other, factor in pairs:
            if not (_close(total, seen.number) or any(_close(o, seen.number) for o in outs)):
                continue
            c0 = calls[0]
            fact = book.add(Finding(
                detector="scale_off",
                title=f"{c0.mfa} scales by {c_k.normalize():f}: {seen.text} where {other.text} is {factor}× apart",
                summary=(f"{c0.mfa} returned its argument times {c_k.normalize():f} in each of its {len(calls)} calls "
                         f"({fmt(c0.args[0], 30)} → {fmt(c0.value, 30)}), and its results make up {seen.text} — the "
                         f"figure the symptom says came out, {factor} times {other.text}, which it names beside it: "
                         "a conversion by the wrong factor. What added up, stored or showed the results only passed "
                         "them on."),
                severity="high", confidence=0.75,
                culprit=culprit_of(view, c0, f"{fmt(c0.args[0], 30)} → {fmt(c0.value, 30)}"),
                evidence=[view.end_evidence(c, f"{c.mfa}({fmt(c.args[0], 30)}) returned {fmt(c.value, 30)}")
                          for c in calls[:3]],
                signatures=["data:value_origin"],
                fix_hint=(f"Check the conversion factor in {c0.mfa}: the figure is off by exactly {factor}, "
                          "the unit it converts from or to is not the one it assumes.")),
                pid=c0.pid, ts=c0.ts)
            for f in book.of_kind("value_origin"):
                if seen.text in f.title:
                    book.link(f, fact, f"it adds up what {c0.mfa} converted by the wrong factor")
            made += 1
            break
        if made >= MAX_FACTS:
            return


def analyses(symptom: str):
    """The analysis when the symptom states two numbers a conversion factor apart, else none."""
    pairs = off_by(stated_values(symptom or ""))
    if not pairs:
        return []

    def scaled(view: RecordingView, book: FactBook) -> None:
        scales_off(view, book, pairs)

    return [scaled]
