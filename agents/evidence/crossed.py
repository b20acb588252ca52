"""A quantity that crosses its boundary: a count that goes below zero, or past its cap.

A field of a map or struct that holds an integer — tokens in a bucket, seats left, stock,
attempts, slots: any field, told by its behaviour, not its name — is zero or more in every
result the recording holds until one result carries it negative; or it stays at most a sibling
field named like a bound (``cap``, ``capacity``, ``limit``, ``max`` …) until one result carries
it past that bound. When the user reports one too many, an overbooking, a count over its limit
or below zero, the function whose return first carried the crossing value — given a map whose
field had not crossed — is where the comparison or the arithmetic was off by one (``>= 0`` where
``> 0`` was meant, ``<=`` for ``<``):

| kind | what | culprit |
| --- | --- | --- |
| ``boundary_crossed`` | only when the symptom speaks of one too many / over a limit / negative: an integer field that was ≥ 0 (or ≤ its sibling bound) in three or more earlier results became negative (or exceeded the bound) in one; the earliest call that returned it so while its arguments held that field uncrossed | that function, with the field's value before and after |

Bounded: :data:`MAX_CALLS` returns, :data:`_BUDGET` term nodes per term walked.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterator

from ..findings import Finding
from ..view import Atom, Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_generated

__all__ = ["CROSSING", "boundaries_crossed", "analyses"]

MAX_CALLS = 5000
MIN_BEFORE = 3
_BUDGET = 2000

#: a symptom about a quantity past its bound: one too many, over the limit, below zero
CROSSING = re.compile(
    r"\bone (?:too many|more than)\b|\btoo many\b|\bover (?:the |its |their )?(?:limit|cap|capacity|quota|maximum|max)\b"
    r"|\bover[- ]?(?:booked|sold|drawn|subscribed|allocated|committed|spent)\b|\bover(?:booking|selling|draft)\b"
    r"|\bnegative\b|\bbelow (?:zero|0)\b|\bless than (?:zero|0)\b|(?:^|\s)-\d+\b|\bexceed\w*\b"
    r"|\bmore than (?:the |its )?(?:limit|cap|capacity|allowed|available|maximum|max)\b|\bpast (?:the |its )?(?:limit|cap)\b"
    # "more passengers than the aircraft has seats", "more guests than there are rooms"
    r"|\bmore \w+ than (?:the |its |their |our |there )?(?:\w+ ){0,3}?(?:has|have|had|holds?|held|fits?|allows?|are|were) "
    r"(?:\w+ )?(?:seats|slots|places|rooms|spaces|spots|beds|tables|capacity|room|space)\b",
    re.I)

_BOUND = re.compile(r"(?:^|_)(?:cap|capacity|limit|max|maximum|quota|allowed)(?:$|_)")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _maps(term: Any) -> Iterator[dict]:
    """The maps (structs too) inside ``term``, a bounded walk."""
    stack, n = [term], 0
    while stack and n < _BUDGET:
        t = stack.pop()
        n += 1
        if isinstance(t, dict):
            yield t
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t[:200])


def _measure(v: Any, bounded: bool) -> int | None:
    """The quantity a field holds: an integer, or — beside a bound — the length of a list (the
    passengers of a flight with a ``capacity``: what is taken is counted by its members)."""
    if _int(v):
        return v
    return len(v) if bounded and isinstance(v, list) else None


def _fields(m: dict) -> Iterator[tuple[str, int, int | None, str | None]]:
    """(field, value, its sibling bound, the bound's name) for the integer fields of map ``m``
    that are not themselves bounds — and, when the map has one bound, its list fields, by length."""
    bounds = {str(k): v for k, v in m.items() if isinstance(k, Atom) and _int(v) and _BOUND.search(str(k))}
    name, cap = next(iter(bounds.items())) if len(bounds) == 1 else (None, None)
    for k, v in m.items():
        if not isinstance(k, Atom) or str(k) in bounds or str(k).startswith("__"):
            continue
        n = _measure(v, cap is not None)
        if n is not None:
            yield str(k), n, cap, name


def _crossed(v: int, cap: int | None) -> bool:
    return v < 0 or (cap is not None and v > cap)


def _held(term: Any, field: str, value: int) -> int | None:
    """Whether ``term`` holds a map whose ``field`` is ``value`` (None), else that field's value
    in the first map that has it (the value before), or None when no map has it."""
    before = None
    for m in _maps(term):
        v = _measure(m.get(Atom(field)), True)
        if v is not None:
            if v == value:
                return value
            before = v if before is None else before
    return before


def boundaries_crossed(view: RecordingView, book: FactBook, symptom: str) -> None:
    said = CROSSING.search(symptom or "")
    if said is None:
        return
    returns = [c for c in view.calls if c.outcome == "return" and c.end_ts is not None and is_app_module(c.module)
               and not is_generated(c.function)][:MAX_CALLS]
    returns.sort(key=lambda c: (c.end_ts, c.end_id or 0))
    kept: dict[str, int] = defaultdict(int)   # field → results that held it uncrossed so far
    done: set[str] = set()
    for c in returns:
        for m in _maps(c.value):
            for field, v, cap, bound in _fields(m):
                if field in done:
                    continue
                if not _crossed(v, cap):
                    kept[field] += 1
                    continue
                if kept[field] < MIN_BEFORE:
                    done.add(field)   # never seen within its bound first: no boundary it crossed
                    continue
                before = _held(c.args, field, v)
                if before == v:
                    continue   # given the crossed value: it only passed it on
                done.add(field)
                _fact(view, book, c, field, before, v, cap, bound, kept[field], said.group(0))


def _fact(view: RecordingView, book: FactBook, c: Call, field: str, before: int | None, after: int,
          cap: int | None, bound: str | None, kept: int, said: str) -> None:
    where = "below 0" if after < 0 else f"past its {bound} of {cap}"
    was = f"{before} → {after}" if before is not None else f"{after}"
    book.add(Finding(
        detector="boundary_crossed",
        title=f"{c.mfa} took {field} {where} ({was})",
        summary=(f"The field {field} was within its bound (≥ 0{f', ≤ {bound}' if bound else ''}) in {kept} earlier "
                 f"result(s); {c.mfa} was given it at {before if before is not None else 'a value within it'} and "
                 f"returned it at {after} — {where} — and the symptom speaks of it (\"{said}\"). The comparison or "
                 "the arithmetic here is off by one: a check `>= 0` where `> 0` was meant (or `<=` for `<`), a "
                 "step taken before the check — or no check in this step at all, the bound read by an earlier call "
                 "(check-then-act: concurrent requests that all read one left are all let through)."),
        severity="high", confidence=0.75,
        culprit=culprit_of(view, c, None).model_copy(update={"detail": f"{field}: {was}"}),
        evidence=[view.call_evidence(c, f"{c.mfa} called with {fmt(c.args, 100)}"),
                  view.end_evidence(c, f"{c.mfa} returned {field} = {after} ({where})")],
        signatures=["data:boundary_crossed", "data:value_origin"],
        fix_hint=("Check the bound before the step and with the right comparison: take one only while the count is "
                  "above 0 (`> 0`, not `>= 0`), admit one only while it stays under the cap (`<`, not `<=`), in the same "
                          "call that takes it (the process that owns the count), not in an earlier read.")),
        pid=c.pid, ts=c.end_ts)


def analyses(symptom: str):
    def crossed(view: RecordingView, book: FactBook) -> None:
        boundaries_crossed(view, book, symptom)
    return [crossed]
