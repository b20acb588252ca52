"""A case exactly on its boundary counted one off: two equal dates (or times) one apart.

"Returned on its due date and fined a day"; "delivered on time and flagged late"; "booked for the
same day and charged a night". The case the user reports sits exactly on a boundary — the two
points in time a function compares are the same — and what came out treats them as one apart.
The difference of two equal points is 0 whatever they are; a function given the same date (time,
datetime) twice, in two of its arguments, that returned 1 or -1 counted the boundary itself: a
``+ 1`` on a difference, ``Date.diff`` with ``<=`` where ``<`` was meant, a range that includes
both ends. An inclusive count is right for some questions (the days of a one-day event), so the
fact needs the user to say the boundary case went wrong.

| kind | what | culprit |
| --- | --- | --- |
| ``boundary_miscounted`` | only when the symptom speaks of a case on its boundary ("on its due date", "on time", "the same day", "exactly at the deadline"): the deepest application call given two equal dates, times or datetimes in two different arguments (or fields of them) that returned 1 or -1 | that function, with the value given twice and what it returned |
| ``boundary_excluded`` | the same symptom: the deepest application predicate (a name ending in ``?`` or starting ``is_``) given two equal points in time in two different arguments (or fields of them) that answered *outside* — ``false`` for a predicate of being within (``active?``, ``valid?``), ``true`` for one of being past (``expired?``, ``late?``, ``overdue?``: :data:`PAST_WORDS`): the user says the case on the boundary went wrong, and an end date is inclusive unless said otherwise — a ``Date.compare(d, last) == :lt`` where ``!= :gt`` was meant | that predicate, with the value given twice and its answer |

A predicate that answered *inside* on the boundary is no fact (the fixed code does that).

Bounded: :data:`MAX_CALLS` calls looked at, :data:`_BUDGET` term nodes walked per argument,
:data:`MAX_FACTS` facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import islice
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_returns, culprit_of, deepest_per_function

__all__ = ["ON_BOUNDARY", "PAST_WORDS", "boundaries_excluded", "boundaries_miscounted", "analyses", "outside_answer",
           "points_in_time"]

MAX_CALLS = 20_000
MAX_FACTS = 2
_BUDGET = 200

#: the symptom places the case that went wrong exactly on its boundary
ON_BOUNDARY = re.compile(
    r"(?:\bon (?:its|their|the|his|her|my|our|your) (?:own )?(?:due|expiry|expiration|end|closing|last|return|renewal"
    r"|deadline|cut-?off|delivery|departure|arrival|check-?out|check-?in|start|final|closing)(?: date| day| time)?"
    r"|\bon time|\bon the (?:same )?day|\bsame[- ]day|\bon the dot|\bexactly (?:at|on) (?:the |its |their )?"
    r"(?:deadline|cut-?off|limit|boundary|due date|expiry|end|start|hour|minute|day|date|time)"
    r"|\bat (?:the|its|their) (?:very )?(?:deadline|cut-?off)|\bright at (?:the )?(?:deadline|cut-?off|limit))"
    r"\b(?!\s+(?:before|after|earlier|later)\b)",
    re.I)

#: the calendar structs whose equal values are the same point (or day) in time
_CALENDAR = {"Elixir.Date", "Elixir.Time", "Elixir.DateTime", "Elixir.NaiveDateTime"}


def _calendar(v: Any) -> bool:
    if not isinstance(v, dict):
        return False
    s = v.get(Atom("__struct__"))
    return isinstance(s, Atom) and s.name in _CALENDAR


def _key(v: dict) -> tuple:
    """A calendar value as a comparable key (its struct's fields, the calendar left out)."""
    return tuple(sorted((k.name, fmt(x, 40)) for k, x in v.items() if isinstance(k, Atom) and k.name != "calendar"))


def shown(v: dict) -> str:
    """A calendar value as Elixir writes it: ``~D[2026-11-30]``, ``~T[19:00:00]``, else its struct."""
    f = {k.name: x for k, x in v.items() if isinstance(k, Atom)}
    if f.get("__struct__") == Atom("Elixir.Date") and all(isinstance(f.get(k), int) for k in ("year", "month", "day")):
        return f"~D[{f['year']:04d}-{f['month']:02d}-{f['day']:02d}]"
    if f.get("__struct__") == Atom("Elixir.Time") and all(isinstance(f.get(k), int) for k in ("hour", "minute", "second")):
        return f"~T[{f['hour']:02d}:{f['minute']:02d}:{f['second']:02d}]"
    return fmt(v, 60)


def points_in_time(arg: Any) -> list[dict]:
    """The dates, times and datetimes an argument holds: itself, or its maps' (structs') fields,
    one level down — a walk bounded by :data:`_BUDGET`."""
    if _calendar(arg):
        return [arg]
    out = []
    if isinstance(arg, dict):
        for v in list(arg.values())[:_BUDGET]:
            if _calendar(v):
                out.append(v)
    return out


def _given_twice(c: Call) -> dict | None:
    """A calendar value found in two different arguments of ``c`` (None when there is none)."""
    seen: dict[tuple, int] = {}
    for i, arg in enumerate(c.args[:8]):
        for p in points_in_time(arg):
            k = _key(p)
            if k in seen and seen[k] != i:
                return p
            seen.setdefault(k, i)
    return None


def boundaries_miscounted(view: RecordingView, book: FactBook, said: str) -> None:
    hits: list[tuple[Call, dict]] = []
    for c in islice(app_returns(view), MAX_CALLS):
        if not (isinstance(c.value, int) and not isinstance(c.value, bool) and c.value in (1, -1)):
            continue
        twice = _given_twice(c)
        if twice is not None:
            hits.append((c, twice))
    for made, (c, point, same) in enumerate(deepest_per_function(hits), 1):
        text = shown(point)
        book.add(Finding(
            detector="boundary_miscounted",
            title=f"{c.mfa} counted {c.value} between two equal points in time ({text})",
            summary=(f"The symptom places the case on its boundary (\"{said}\"). {c.mfa} was given {text} twice — "
                     f"the two points it compares are the same — and returned {c.value} ({same} such call(s)): the "
                     "difference of equal points is 0, so the boundary itself was counted, an off-by-one (a `+ 1` on a "
                     "difference, `<=` where `<` was meant, a range that includes both ends)."),
            severity="high", confidence=0.6,
            culprit=culprit_of(view, c, None).model_copy(update={"detail": f"{text} given twice → {c.value}"}),
            evidence=[view.call_evidence(c, f"{c.mfa} given {text} twice: {fmt(c.args, 100)}"),
                      view.end_evidence(c, f"{c.mfa} returned {c.value} for two equal points in time")],
            signatures=["data:boundary_miscounted"],
            fix_hint=(f"Count the difference in {c.mfa} without the boundary: equal dates are 0 apart (drop the `+ 1`, "
                      "compare with `<` rather than `<=`), and add the on-the-boundary case to its tests.")),
            pid=c.pid, ts=c.ts)
        if made >= MAX_FACTS:
            return


#: words of a predicate that is true once a point is past its range (an answer ``true`` is *outside*)
PAST_WORDS = frozenset({"expired", "expires", "expire", "late", "overdue", "past", "after", "breached", "elapsed",
                        "lapsed", "stale", "exceeded", "over", "closed", "ended", "outside", "out", "beyond"})


def outside_answer(function: str) -> bool | None:
    """The answer of the predicate ``function`` that puts its point *outside* its range: ``False``
    for a predicate of being within (``active?``, ``is_valid``), ``True`` for one of being past
    (``expired?``, ``is_late``); None for a function that is no predicate."""
    if function.endswith("?"):
        stem = function[:-1]
    elif function.startswith("is_") and len(function) > 3:
        stem = function[3:]
    else:
        return None
    words = [w for w in stem.lower().split("_") if w]
    return any(w in PAST_WORDS for w in words)


def _boolean(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, Atom) and v.name in ("true", "false"):
        return v.name == "true"
    return None


def boundaries_excluded(view: RecordingView, book: FactBook, said: str) -> None:
    hits: list[tuple[Call, dict]] = []
    for c in islice(app_returns(view), MAX_CALLS):
        answer = _boolean(c.value)
        if answer is None:
            continue
        outside = outside_answer(c.function)
        if outside is None or answer is not outside:
            continue
        twice = _given_twice(c)
        if twice is not None:
            hits.append((c, twice))
    for made, (c, point, same) in enumerate(deepest_per_function(hits), 1):
        text, answer = shown(point), str(_boolean(c.value)).lower()
        book.add(Finding(
            detector="boundary_excluded",
            title=f"{c.mfa} answered {answer} for a point on its own boundary ({text})",
            summary=(f"The symptom places the case on its boundary (\"{said}\"). {c.mfa} was given {text} twice — the "
                     f"point it checks is the very end (or start) of the range it checks against — and answered {answer} "
                     f"({same} such call(s)): the boundary was treated as outside the range, an exclusive comparison "
                     "(`== :lt`, `<`) where the end is inclusive (`!= :gt`, `<=`)."),
            severity="high", confidence=0.62,
            culprit=culprit_of(view, c, None).model_copy(update={"detail": f"{text} given twice → {answer}"}),
            evidence=[view.call_evidence(c, f"{c.mfa} given {text} twice: {fmt(c.args, 100)}"),
                      view.end_evidence(c, f"{c.mfa} answered {answer} on the boundary itself")],
            signatures=["data:boundary_excluded"],
            fix_hint=(f"Make the comparison in {c.mfa} include its boundary (`Date.compare(d, last) != :gt` rather than "
                      "`== :lt`, `<=` rather than `<`), and add the on-the-boundary case to its tests.")),
            pid=c.pid, ts=c.ts)
        if made >= MAX_FACTS:
            return


def analyses(symptom: str) -> list[Callable[[RecordingView, FactBook], None]]:
    """``boundary_miscounted`` and ``boundary_excluded`` when the symptom places its case on a
    boundary, else nothing."""
    m = ON_BOUNDARY.search(symptom or "")
    if m is None:
        return []

    def miscounted(view: RecordingView, book: FactBook) -> None:
        boundaries_miscounted(view, book, m.group(0))

    def excluded(view: RecordingView, book: FactBook) -> None:
        boundaries_excluded(view, book, m.group(0))

    return [miscounted, excluded]
