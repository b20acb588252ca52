"""Below the call that made a wrong value: the helper whose result was wrong for its arguments.

:mod:`.provenance` finds the first call whose result holds a value the symptom says came out
while its arguments do not (``value_origin``). That call is often a callback or a public entry
point that only *combined* what the private helpers it called returned (``@base + fee_for(kg)``,
``amount * (1 - rate_for(points))``, ``max(days - grace(member), 0) * 25``): right arithmetic on a
wrong part. Two general ways down to the helper, each over the calls recorded inside that call
(same process, callee before caller; the plan traces every application module with its returns,
private functions included):

- **the part that explains the error** (:func:`wrong_part`): the symptom states what came out
  (``s``), what should have (``e``) and a number the right part would have been (``y``: "a fee of
  280", "10% off"); a helper returned ``x`` where putting ``y`` in its place accounts for the whole
  error — ``x - y = s - e`` (a part added), ``x / y = s / e`` (a factor), ``(1 - x) / (1 - y) =
  s / e`` or ``(1 + x) / (1 + y) = s / e`` (a fraction taken off or added). An exact account of
  the error by one helper's result is the evidence; a helper that returned ``y`` itself is right
  and never named.
- **a fact about a helper** (:func:`link_inside`): another confident fact (a setting read under
  the wrong key that fell back to its default, a lossy parse …) names a function that ran inside
  the call that made the value, in its process, while it ran: the value is that fact's effect.

When neither applies and the sources say the call delegates to functions whose module the
recording holds no call of (not traced this round: a large application's module past the plan's
bound, a module loaded later) or whose calls may be among events the capture dropped
(:func:`unrecorded_helpers`), the ``value_origin`` on the caller is weak: it names the helpers to
look at, and the next round records their modules (``planner.callee_modules``).

Nothing here knows a domain: only the stated numbers and the recorded calls' results.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from itertools import product
from typing import Any

from ..findings import Finding
from ..view import RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .common import ancestors, culprit_of
from .stated import StatedValue
from .valuematch import digest, occurs

MAX_INSIDE = 400    # helper calls looked at below one call
REL_TOL = Decimal("0.002")


def _num(x: Any) -> Decimal | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    try:
        return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    except InvalidOperation:
        return None


def _scales(v: StatedValue) -> list[Decimal]:
    """The numbers a stated value may be in the program: as written, in cents for money, as a
    fraction for a percentage."""
    if v.number is None:
        return []
    if v.kind == "money":
        return [v.number, v.number * 100]
    if v.unit == "%":
        return [v.number, v.number / 100]
    return [v.number]


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b), Decimal("0.01"))


def _accounts(x: Decimal, y: Decimal, s: Decimal, e: Decimal, whole: Decimal) -> str | None:
    """How putting ``y`` in the place of ``x`` turns ``s`` into ``e``, or ``None``. ``whole``:
    what a share is a share of (1 for a fraction, 100 for a percentage)."""
    if x == y or s == e:
        return None
    if _close(x - y, s - e):
        return "added"
    if y != 0 and e != 0 and _close(x / y, s / e):
        return "a factor"
    if y != whole and e != 0 and abs(x) < whole and abs(y) < whole:
        if _close((whole - x) / (whole - y), s / e):
            return "a share taken off"
        if _close((whole + x) / (whole + y), s / e):
            return "a share added"
    return None


def inside(first, calls: list) -> list:
    """The application calls recorded inside ``first``'s call, in its process, deepest first."""
    c = first.call
    out = [s for s in calls if s.call.pid == c.pid and s.call.depth > c.depth and c.ts <= s.call.ts
           and (c.end_ts is None or s.call.ts <= c.end_ts) and is_app_module(s.call.module)
           and c.call_id in ancestors(s.call)]
    return sorted(out[:MAX_INSIDE], key=lambda s: -s.call.depth)


def _request_args(c) -> tuple:
    """What a call was given, without a callback's state (it names every case the process has
    seen) and a ``handle_call``'s caller."""
    if c.function.startswith("handle_") and len(c.args) >= 2:
        return tuple(c.args[:1]) if c.function == "handle_call" and len(c.args) == 3 else tuple(c.args[:-1])
    return tuple(c.args)


def names_case(first, v: StatedValue, values: list[StatedValue], calls: list) -> bool:
    """Whether ``first`` ran for the case the symptom is about: its arguments, or those of a
    caller in its process, hold a value the symptom states (an identifier, a number given) that
    not every call of the same function was given — another case that came to the same wrong
    number by a right way is not it."""
    c = first.call
    cues = [u for u in values if u is not v and u.role != "expected" and significant_cue(u)]
    if not cues:
        return False
    chain = _chain(c)
    peers = [digest(_request_args(s.call)) for s in calls
             if (s.call.module, s.call.function, s.call.arity) == (c.module, c.function, c.arity)][:200]
    return any(any(occurs(u, d) for d in chain) and (len(peers) < 2 or not all(occurs(u, d) for d in peers))
               for u in cues)


def _chain(c) -> list:
    out, p = [], c
    while p is not None and len(out) < 20:
        out.append(digest(_request_args(p)))
        p = p.parent
    return out


def case_elsewhere(first, v: StatedValue, values: list[StatedValue], calls: list) -> tuple[Any, StatedValue] | None:
    """The case the symptom names by an identifier ran in ``first``'s process — a call there was
    asked about it — but not around ``first``, whose own request and callers' hold no such
    identifier: the stated value came out for another case, which may have come to it rightly.
    (that call, the identifier)."""
    ids = [u for u in values if u is not v and u.kind == "identifier" and len(u.text) >= 3]
    if not ids or any(occurs(u, d) for u in ids for d in _chain(first.call)):
        return None
    around = ancestors(first.call) | {first.call.call_id}
    for s in calls:
        if s.call.pid != first.call.pid or s.call.call_id in around or s.args.cut:
            continue
        d = digest(_request_args(s.call))
        hit = next((u for u in ids if occurs(u, d)), None)
        if hit is not None:
            return s, hit
    return None


def significant_cue(u: StatedValue) -> bool:
    """A stated value specific enough to tell cases apart (not a small count: any field holds one)."""
    if u.kind in ("identifier", "text", "version", "date"):
        return len(u.text) >= 3
    return u.number is not None and (u.kind != "count" or u.number >= 3)


def wrong_part(first, v: StatedValue, values: list[StatedValue], calls: list) -> tuple[Any, StatedValue, str, Any] | None:
    """The helper inside ``first`` (the call that made the stated value ``v``) whose result,
    replaced by a number the symptom states, accounts for the whole error: (its call, that
    stated number, how it enters, ``first``). ``None`` without a stated expectation, when ``first`` ran for
    another case than the one the symptom names, or with no such helper."""
    if v.role != "seen" or v.number is None or not names_case(first, v, values, calls):
        return None
    expected = [e for e in values if e.role == "expected" and e.number is not None and e.kind in (v.kind, "number")]
    context = [y for y in values if y.number is not None and y.role == "stated" and y.kind in ("money", "number", "count")]
    if not expected or not context:
        return None
    for h in inside(first, calls):
        x = _num(h.call.value)
        if x is None or h.args.cut or occurs(v, h.value):
            continue
        for y in context:
            if any(_close(x, yy) for yy in _scales(y)):
                break   # it returned the stated number: this part is right
        else:
            for e in expected:
                # one unit for both (money as written or in cents; a bare number as the program holds it)
                pairs = zip(_scales(v), _scales(e)) if v.kind == e.kind else product(_scales(v), _scales(e))
                for s_n, e_n in pairs:
                    for y in context:
                        for yy in _scales(y):
                            how = _accounts(x, yy, s_n, e_n, Decimal(100) if y.unit == "%" and yy == y.number
                                            else Decimal(1))
                            if how is not None:
                                return h, y, how, first
    return None


def wrong_part_fact(view: RecordingView, book: FactBook, v: StatedValue, found: tuple) -> Finding:
    """The ``value_origin`` fact naming the helper :func:`wrong_part` found."""
    h, y, how, first = found
    c, top = h.call, first.call
    return book.add(Finding(
        detector="value_origin",
        title=f"{c.mfa} returned {fmt(c.value, 30)} where {y.text} would have made {top.mfa} right",
        summary=(f"The symptom states {v.describe()} and what should have come out. {top.mfa}({fmt(top.args, 60)}) made "
                 f"it from what the functions it called returned; {c.mfa}({fmt(c.args, 60)}) returned "
                 f"{fmt(c.value, 40)}, and with {y.text} — a number the symptom states — in its place ({how}) the "
                 f"result would have been the expected one: the whole error is that part's. {top.mfa} only "
                 f"combined it; {c.mfa} got it wrong for its arguments (a boundary, a branch, a unit, a default)."),
        severity="high", confidence=0.74, culprit=culprit_of(view, c, f"{fmt(c.value, 30)} instead of {y.text}"),
        evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 60)})"),
                  view.end_evidence(c, f"returned {fmt(c.value, 40)} (the symptom states {y.text})"),
                  view.end_evidence(top, f"returned {fmt(top.value, 60)}, which holds {v.text}")],
        signatures=["data:value_origin"],
        fix_hint=(f"Check how {c.mfa} computes its result from {fmt(c.args, 40)}: compare it with {y.text} and look at "
                  "its boundaries (< against <=), the order of its cond/case branches, its units and defaults. "
                  f"{top.mfa} only combines what it returns.")),
        pid=c.pid, ts=c.ts, value=v.text)


#: facts about a function's own result that can explain a value computed from it
_EXPLAINING = ("config_default", "config_default_at_start", "lossy_parse", "invalid_utf8", "term_order_pick",
               "sum_mismatch", "value_lost", "options_ignored", "nested_keys_lost", "utc_date")


def link_inside(book: FactBook, fact: Finding, first, calls: list) -> bool:
    """Link ``fact`` (a value made by ``first``) to a confident fact about a function that ran
    inside ``first`` in its process: the value was computed from that function's wrong result."""
    c = first.call
    below = {(mod_name(s.call.module), f"{s.call.function}/{s.call.arity}") for s in inside(first, calls)}
    if not below:
        return False
    end = c.end_ts if c.end_ts is not None else c.ts
    for other in book.of_kind(*_EXPLAINING):
        meta = book.meta.get(other.id, {})
        if other is fact or other.weak or other.confidence < 0.6 or meta.get("pid") != c.pid:
            continue
        ts = meta.get("ts")
        if ts is None or not (c.ts <= ts <= end) or other.culprit is None:
            continue
        if (other.culprit.module, other.culprit.function) in below:
            book.link(fact, other, f"{c.mfa} computed it from what {other.culprit.module}.{other.culprit.function} returned")
            return True
    return False


def unrecorded_helpers(view: RecordingView, first, calls: list, callees: dict[str, list[str]] | None) -> list[str]:
    """The functions the sources say ``first``'s function calls (``Mod.f/arity``) that have no
    recorded call inside it and could not have been recorded: their module has no recorded
    call at all, or the capture dropped events while ``first`` ran."""
    c = first.call
    static = (callees or {}).get(f"{mod_name(c.module)}.{c.function}/{c.arity}", [])
    if not static:
        return []
    below = {f"{mod_name(s.call.module)}.{s.call.function}/{s.call.arity}" for s in inside(first, calls)}
    recorded_modules = {mod_name(o.module) for o in view.calls}
    end = c.end_ts if c.end_ts is not None else c.ts
    dropped = any(c.ts <= g.ts <= end for g in view.gaps)
    return [f for f in static if f not in below and f != f"{mod_name(c.module)}.{c.function}/{c.arity}"
            and (dropped or f.rpartition(".")[0] not in recorded_modules)][:4]
