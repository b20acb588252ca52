"""Value origins found through the inputs the symptom states: where the wrong value alone is too
common to follow, or is not the number the program held.

:mod:`.provenance` follows the values a symptom states only when they are specific (a small
number such as ``0`` or ``3`` occurs everywhere). But a user who says "a pass rate of 0% although
9 of its 12 students passed" or "6 days late (due 2026-11-28, back 2026-12-04), no fee" also
states what went in. A call *given those inputs* is rare, and what it returned is telling:

- a small value the symptom says came out (``0%``): the call given two or more of the other
  stated values (``rate(9, 12)``) that returned it, while its arguments do not hold it — integer
  division where a fraction was meant, a wrong rounding;
- "only 2 of the 7 alerts": the call given a list of the 7 that returned a list of 2 (a filter
  whose condition mixes units — seconds against minutes —, a bound off by a factor);
- the negative of a magnitude the symptom states (``6 days`` late, the program held ``-6``): the
  call given two or more of the other stated values (the two dates) that returned it, while its
  arguments hold neither sign — a difference taken the wrong way round, a sign error. What
  follows from it (``max(-6, 0)``, a fee rule that charges nothing for a negative count) only
  passes the mistake on.

When no call was given two of them, a small value is still followed inside the case the symptom
names by one *specific* input ("kim worked a 225 minute shift but was paid for 3 h instead of
3.75 h", "5 of our 7 subscribers opted in, but the issue went out to only 2 addresses"): the calls
given that input — or whose caller in their process was — that returned the small value (for a
count, a list of that many), not a client whose answer another process's call made (:func:`_in_case`).

Both are ``value_origin`` facts (the same kind, the same meaning: where the value was made); the
deepest, earliest such call is named. The number of calls looked at is bounded by
:mod:`.provenance`'s own bound.
"""

from __future__ import annotations

from decimal import Decimal

from ..findings import Finding
from ..view import RecordingView, fmt
from .book import FactBook
from .common import culprit_of
from .parts import summed_from
from .stated import StatedValue
from .valuematch import held, significant

MIN_INPUTS = 2     # other stated values a call must be given
MAX_UP = 6         # callers looked at for the input that names the case
MAX_FACTS = 2


def _numeric(v: StatedValue) -> bool:
    return v.kind in ("number", "count") and v.number is not None


def _result_number(value: object) -> Decimal | None:
    top = value[1] if isinstance(value, tuple) and len(value) == 2 and getattr(value[0], "name", None) == "ok" else value
    if isinstance(top, bool) or not isinstance(top, (int, float)):
        return None
    return Decimal(top) if isinstance(top, int) else Decimal(repr(top))


def _inputs(values: list[StatedValue], v: StatedValue) -> list[StatedValue]:
    """The other values the symptom states that can tell a call apart: specific ones, and
    numbers other than 0 (``9`` of ``12``)."""
    return [o for o in values if o is not v and o.text != v.text
            and (significant(o) or (_numeric(o) and o.number != 0))]


def _near(x: Decimal, targets: set[Decimal]) -> bool:
    return any(abs(x - t) < Decimal("0.0001") for t in targets)


def origins_from_inputs(view: RecordingView, book: FactBook, values: list[StatedValue], calls: list) -> None:
    """``calls``: :mod:`.provenance`'s digested calls (``_Seen``), in order."""
    followed = {book.meta[f.id].get("value") for f in book.of_kind("value_origin")}
    made = 0
    for v in values:
        if made >= MAX_FACTS:
            break
        if not _numeric(v) or v.text in followed:
            continue
        whole = _whole_of(values, v)
        if v.role == "seen" and not significant(v) and whole is not None:
            made += _kept_of(view, book, v, whole, calls)
            continue
        if v.role == "seen" and not significant(v):
            targets = {v.number} | ({v.number / 100} if v.unit == "%" else set())
            how = "small"
        elif v.role != "seen" and v.number > 0:
            targets = {-v.number} | ({-v.number / 100} if v.unit == "%" else set())
            how = "negated"
        else:
            continue
        avoid = targets | {abs(t) for t in targets}
        inputs = _inputs(values, v)
        hits = []
        for s in calls:
            x = _result_number(s.call.value)
            if x is None or not _near(x, targets) or s.args.cut or any(_near(n, avoid) for n in s.args.numbers):
                continue
            given = [o for o in inputs if held(o, s.args) or (s.callback and held(o, s.state))]
            if len(given) >= MIN_INPUTS:
                hits.append((s, given))
        if not hits and how == "small":
            hits = _in_case(v, values, targets, avoid, calls)
        if not hits:
            continue
        inside = {p.call_id for s, _ in hits for p in _parents(s.call)}
        hits = [h for h in hits if h[0].call.call_id not in inside]   # the deepest: its callers pass it on
        s, given = min(hits, key=lambda h: (h[0].call.ts, h[0].call.call_id))
        summed = summed_from(s, v, calls) if how == "small" else None
        if summed:
            s, adder = summed[0], summed[2]
        c = s.call
        names = ", ".join(o.text for o in given[:4])
        if summed:
            title = f"{c.mfa} made the parts {adder.mfa} added up to {fmt(adder.value, 20)}: the {v.text} the symptom shows"
            why = (f"The symptom says {v.text} came out; {adder.mfa}, given the inputs the symptom also states ({names}), "
                   f"returned it as the sum of {summed[1]} calls of {c.mfa}, each returning a number its arguments do "
                   f"not hold: the parts were wrong before they were added (a conversion, a rate, a rounding).")
        elif how == "small":
            title = f"{c.mfa} returned {fmt(c.value, 20)} from {names}: the {v.text} the symptom shows"
            why = (f"The symptom says {v.text} came out; that value is too common to follow alone, but {c.mfa} was "
                   f"given the inputs the symptom also states ({names}) and returned it while its arguments do not "
                   "hold it: the value was made here (integer division where a fraction was meant, a rounding, "
                   "a wrong formula).")
        else:
            title = f"{c.mfa} returned {fmt(c.value, 20)} from {names}: the negative of {v.text}"
            why = (f"The symptom states {v.text}; {c.mfa}, given the inputs the symptom also states ({names}), "
                   f"returned {fmt(c.value, 20)} — the same magnitude with the opposite sign — while its arguments "
                   "hold neither: a difference taken the wrong way round (or a sign error). Whatever follows from it "
                   "(a clamp at 0, a rule for positive amounts) only passes the mistake on.")
        book.add(Finding(
            detector="value_origin",
            title=title,
            summary=f"{why} {c.mfa}({fmt(c.args, 80)}) → {fmt(c.value, 40)}.",
            severity="high", confidence=0.72, culprit=culprit_of(view, c, v.text),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                      view.end_evidence(c, f"returned {fmt(c.value, 40)} ({'the value shown' if how == 'small' else 'the sign inverted'})")],
            signatures=["data:value_origin"],
            fix_hint=(f"Check how {c.mfa} computes its result from its arguments: "
                      + ("use `/` (or Decimal) where a fraction is meant, and round only for display."
                         if how == "small" else "the order of the operands of a difference (Date.diff/2, "
                         "DateTime.diff/3, a - b) and the sign of what is added or taken away."))),
            pid=c.pid, ts=c.ts, value=v.text)
        made += 1


def _counted(v: StatedValue, s) -> bool:
    """A count the call returned as a list of that many things (``{:ok, list}`` too)."""
    out = s.call.value
    out = out[1] if isinstance(out, tuple) and len(out) == 2 and getattr(out[0], "name", None) == "ok" else out
    return v.kind == "count" and isinstance(out, list) and Decimal(len(out)) == v.number


def _in_case(v: StatedValue, values: list[StatedValue], targets: set[Decimal], avoid: set[Decimal], calls: list) -> list:
    """When no call was given two of the stated inputs: the calls that returned the small value
    (the number, or for a count a list of that many) without being given it, for the case the
    symptom names by one *specific* value it states ("a 225 minute shift", "7 subscribers", the
    expected "5 subscribers", "issue 42") — given to
    them or to a caller of theirs in their process (a helper handed only the minutes of the
    shift counts with the shift; of a callback only its request: its state holds the cases handled
    before). A small value other than a count needs a correction beside
    it ("3 h instead of 3.75 h"): alone it is no claim about a result. A client whose answer came
    back from another process's call while it waited is passed over: the origin is there."""
    if v.kind != "count" and not any(e.role == "expected" and e.number is not None and e.number != v.number
                                     for e in values):
        return []
    # what went in, or what should have come out ("should have gone to the 5 subscribers"; an
    # identifier read as a number — "issue 42 should …" — names the case all the same)
    specific = [o for o in values if o is not v and o.role in ("stated", "expected") and significant(o)]
    if not specific:
        return []
    by_id = {s.call.call_id: s for s in calls}
    hits = []
    for s in calls:
        x = _result_number(s.call.value)
        if not (_counted(v, s) or (x is not None and _near(x, targets))) or s.args.cut \
                or any(_near(n, avoid) for n in s.args.numbers) or (v.kind == "count" and int(v.number) in s.args.lengths):
            continue
        for c in [s.call, *list(_parents(s.call))[:MAX_UP]]:
            up = by_id.get(c.call_id)
            # a callback's request, not its state: the state holds the cases handled before
            asked = None if up is None else up.request if up.callback else up.args
            given = [o for o in specific if asked is not None and held(o, asked)]
            if given:
                hits.append((s, given))
                break
    return [(s, g) for s, g in hits if s.call.end_ts is None or not any(
        o.call.pid != s.call.pid and s.call.ts <= o.call.ts <= s.call.end_ts for o, _ in hits)]


def _parents(c):
    p, n = c.parent, 0
    while p is not None and n < 200:
        yield p
        p, n = p.parent, n + 1



def _whole_of(values: list[StatedValue], v: StatedValue) -> StatedValue | None:
    """The count a small seen number is a part of: "2 of the 7 alerts" (``2`` then ``7 alerts``)."""
    if v.unit != "of" or v.number is None or v.number != v.number.to_integral_value():
        return None
    i = values.index(v)
    nxt = values[i + 1] if i + 1 < len(values) else None
    if nxt is None or nxt.kind != "count" or nxt.number is None or not v.number < nxt.number <= 10_000:
        return None
    return nxt


def _kept_of(view: RecordingView, book: FactBook, v: StatedValue, whole: StatedValue, calls: list) -> bool:
    """The deepest, earliest call given a list of the whole that returned a list of the part."""
    n, total = int(v.number), int(whole.number)
    hits = []
    for s in calls:
        out = s.call.value
        out = out[1] if isinstance(out, tuple) and len(out) == 2 and getattr(out[0], "name", None) == "ok" else out
        if isinstance(out, list) and len(out) == n and not s.args.cut and total in s.args.lengths \
                and not any(isinstance(a, list) and len(a) == n for a in s.call.args):
            hits.append(s)
    if not hits:
        return False
    inside = {p.call_id for s in hits for p in _parents(s.call)}
    s = min((h for h in hits if h.call.call_id not in inside), key=lambda h: (h.call.ts, h.call.call_id))
    c = s.call
    book.add(Finding(
        detector="value_origin",
        title=f"{c.mfa} kept {n} of {total}: the {v.text} of {whole.text} the symptom shows",
        summary=(f"The symptom says only {v.text} of {whole.text} came out. {c.mfa} was given a list of {total} and "
                 f"returned {n} of them — the first call to do so; its callers only pass the shorter list on. Check "
                 f"its condition: units mixed (seconds against minutes, cents against euros), a bound off by a "
                 f"factor, a comparison the wrong way round. {c.mfa}({fmt(c.args, 80)}) → {fmt(c.value, 60)}."),
        severity="high", confidence=0.72, culprit=culprit_of(view, c, f"{v.text} of {whole.text}"),
        evidence=[view.call_evidence(c, f"{c.mfa} was given {total} entries"),
                  view.end_evidence(c, f"returned {n} of them")],
        signatures=["data:value_origin"],
        fix_hint=f"Check the condition {c.mfa} keeps entries by: the units and the bound it compares against."),
        pid=c.pid, ts=c.ts, value=v.text)
    return True
