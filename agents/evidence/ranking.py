"""A ranking the symptom says runs the wrong way, followed to the function that ordered it.

"The table puts Rovers, with 1 point, first and Harbour, with 10 points, last"; "the team with
fewer points is ranked above the leader"; "the cheapest flight comes last". No value is wrong on
its own — each record is right — the *order* is: a comparator with the wrong direction or key
(``Enum.sort_by(&1.points)`` where ``:desc`` was meant, ``Enum.sort(a <= b)`` for a ranking).

The symptom says which way the order it saw runs (:func:`order_seen`): a low number or a "fewer /
lower / cheapest …" word next to "first / top / above / ahead", or a high one next to "last /
bottom / below" — ascending where a ranking wanted descending; the other pairs say descending.
The recording shows lists of records (maps, or tuples of one size) returned by application
functions; a numeric field whose values run that way through the list, not all equal, is the
order the user saw. The function that *made* that order is the one whose arguments did not hold
a list of records with the same sequence in that field (a function handed the ordered list only
passes it on) — the deepest such call (its callers return what it ordered).

| kind | what | culprit |
| --- | --- | --- |
| ``order_inverted`` | the symptom says a ranking runs the wrong way; the deepest application call that returned a list of 3+ records ordered that way by a numeric field — one holding two of the numbers the symptom states (the one, when it states one) — that its arguments did not already hold in that order | that function, and the field with its sequence |

Silent when the symptom makes no such claim, when the list runs the other way (a correct
ranking), and when the ordered field holds none of the numbers the symptom states (the records
sorted by another key: an id, a date). Without stated numbers the fact is weak: an ascending
field is common in any list (ids, positions), the numbers tie it to what the user read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from itertools import islice
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import ancestors, app_returns, culprit_of
from .stated import stated_values

MAX_CALLS = 20_000   # app calls looked at
MAX_ITEMS = 200      # records of one list looked at
MAX_LISTS = 20       # lists of records collected from one term
MAX_FACTS = 2

_LOW = (r"fewer|fewest|less|least|lower|lowest|smaller|smallest|cheaper|cheapest|shorter|shortest|slower|slowest|weaker|weakest|worse|worst|older|oldest"
        r"|irrelevant|unrelated")
# relevance is a ranking's score too: "the exact match is not on the first page"
_HIGH = (r"more|most|higher|highest|larger|largest|bigger|biggest|greater|greatest|better|best|faster|fastest|longer|longest|stronger|strongest|newer|newest|latest|dearer|dearest"
         r"|exact match(?:es)?|closest match(?:es)?|relevant")
_FRONT = r"first|top|above|ahead of|leads|leading|starts? with|begins? with"
_BACK = r"last|bottom|below|behind|trails|trailing|ends? with"
# the symptom speaks of an order at all (a "first" alone is any first time)
_ORDER = re.compile(r"\b(?:rank\w*|standings?|leaderboard|table|order(?:ed|ing)?|sort\w*|list\w*|podium|positions?"
                    r"|places?|placed|top \d+|(?:first|front|next|second) page|(?:search )?results|at the (?:top|bottom))\b", re.I)
_WINDOW = 40   # characters between the two words of a pair
_PAIR = re.compile(rf"\b(?:(?P<w1>{_LOW}|{_HIGH})\b[^.;:!?]{{0,{_WINDOW}}}?\b(?P<p1>{_FRONT}|{_BACK})"
                   rf"|(?P<p2>{_FRONT}|{_BACK})\b[^.;:!?]{{0,{_WINDOW}}}?\b(?P<w2>{_LOW}|{_HIGH}))\b", re.I)
# a number, then within a few words where it was placed: "with 1 point, first"
_NUM_PLACE = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.]\d)[^.;:!?\d]{{0,24}}?\b({_FRONT}|{_BACK})\b", re.I)
_WANTED = re.compile(r"\b(?:should|supposed|expected|instead|meant|must|ought)\b", re.I)
# "the best match is not on the first page": the place denied is the other end
_DENIED = re.compile(r"\b(?:not|never|nowhere near)\b|n't\b", re.I)


def _is(word: str, pattern: str) -> bool:
    return re.fullmatch(pattern, word, re.I) is not None


def order_seen(symptom: str) -> str | None:
    """``"asc"`` when the symptom says the order it saw puts the low end first, ``"desc"`` when it
    puts the high end first, ``None`` when it says neither (or both as often)."""
    text = (symptom or "")[:4000]
    if not _ORDER.search(text):
        return None
    score = 0
    for m in _PAIR.finditer(text):
        word, place = (m.group("w1"), m.group("p1")) if m.group("w1") else (m.group("w2"), m.group("p2"))
        low, front = _is(word, _LOW), _is(place, _FRONT)
        if _DENIED.search(m.group(0)):
            front = not front                      # "not first" is placed further down
        sign = 1 if low == front else -1           # low first or high last: ascending was seen
        if _WANTED.search(m.group(0)):
            sign = -sign                           # "the cheapest should come first": what was wanted
        score += sign
    placed = [(Decimal(m.group(1)), _is(m.group(2), _FRONT)) for m in _NUM_PLACE.finditer(text)
              if not _WANTED.search(m.group(0))]
    fronts = [n for n, f in placed if f]
    backs = [n for n, f in placed if not f]
    if fronts and backs and min(fronts) != max(backs):
        score += 1 if max(fronts) < min(backs) else (-1 if min(fronts) > max(backs) else 0)
    return "asc" if score > 0 else ("desc" if score < 0 else None)


def _num(x: Any) -> Decimal | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _fields(items: list) -> dict[Any, list[Decimal]]:
    """The numeric fields every record of ``items`` has: a map's key, a tuple's position."""
    if all(isinstance(i, dict) for i in items):
        keys = set(items[0])
        for i in items[1:]:
            keys &= set(i)
        cols = {k: [_num(i[k]) for i in items] for k in keys}
    elif all(isinstance(i, tuple) for i in items) and len({len(i) for i in items}) == 1:
        cols = {n: [_num(i[n]) for i in items] for n in range(len(items[0]))}
    else:
        return {}
    return {k: v for k, v in cols.items() if all(x is not None for x in v)}


def _lists(term: Any, out: list[list], depth: int = 0) -> None:
    """Lists of 3+ records (maps, tuples) in ``term`` (bounded)."""
    if depth > 4 or len(out) >= MAX_LISTS:
        return
    if isinstance(term, (list, FrozenList)):
        items = list(term)[:MAX_ITEMS]
        if len(items) >= 3 and all(isinstance(i, (dict, tuple)) for i in items):
            out.append(items)
        for x in items[:MAX_LISTS]:
            _lists(x, out, depth + 1)
    elif isinstance(term, tuple):
        for x in term:
            _lists(x, out, depth + 1)
    elif isinstance(term, dict):
        for x in list(term.values())[:MAX_LISTS]:
            _lists(x, out, depth + 1)


def _runs(vals: list[Decimal], way: str) -> bool:
    if len(set(vals)) < 2:
        return False
    pairs = zip(vals, vals[1:])
    return all(a <= b for a, b in pairs) if way == "asc" else all(a >= b for a, b in pairs)


def _key(k: Any) -> str:
    return k.name if isinstance(k, Atom) else (k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k))


def orders_inverted(view: RecordingView, book: FactBook, way: str, numbers: set[Decimal]) -> None:
    hits: list[tuple[Call, Any, list[Decimal]]] = []
    for c in islice(app_returns(view), MAX_CALLS):
        returned: list[list] = []
        _lists(c.value, returned)
        if not returned:
            continue
        given: list[list] = []
        _lists(tuple(c.args), given)
        given_seqs = {tuple(v) for items in given for v in _fields(items).values()}
        best = None
        for items in returned:
            fields = _fields(items)
            if any(len(set(v)) >= 2 and tuple(v) in given_seqs for v in fields.values()):
                continue   # the records it was handed, in the order it was handed them: passed on
            for k, vals in fields.items():
                if not _runs(vals, way):
                    continue   # not the order the user saw
                stated = len(numbers & set(vals))
                if stated < min(2, len(numbers)):
                    continue   # ordered by a field the user's numbers are not in (an id, a position): with
                    # two or more stated, two must be there (a small one alone is in any count)
                if best is None or stated > best[0]:
                    best = (stated, k, vals)
        if best is not None:
            hits.append((c, best[1], best[2]))
    # a client function whose answer came from another process's callback while it waited only
    # passes that order on (``GenServer.call`` returned what the server's callback ordered)
    hits = [h for h in hits if h[0].end_ts is None or not any(
        o[0].pid != h[0].pid and h[0].ts <= o[0].ts <= h[0].end_ts and o[2] == h[2] for o in hits)]
    outer = set()
    for c, _k, _v in hits:
        outer |= ancestors(c)
    deepest = sorted((h for h in hits if h[0].call_id not in outer), key=lambda h: (h[0].ts, h[0].call_id))
    done: set[tuple] = set()
    for c, k, vals in deepest:
        if (c.module, c.function, c.arity) in done:
            continue
        done.add((c.module, c.function, c.arity))
        same = [h for h in deepest if (h[0].module, h[0].function, h[0].arity) == (c.module, c.function, c.arity)]
        field = _key(k) if not isinstance(k, int) else f"element {k + 1}"
        seq = ", ".join(fmt(float(x) if x != x.to_integral_value() else int(x), 20) for x in vals[:8])
        low_first = way == "asc"
        book.add(Finding(
            detector="order_inverted",
            title=f"{c.mfa} ordered its result by {field} {'lowest' if low_first else 'highest'} first",
            summary=(f"The symptom says the ranking runs the wrong way ({'the low end' if low_first else 'the high end'} "
                     f"first). {c.mfa}({fmt(c.args, 80)}) returned {len(vals)} records ordered by {field} "
                     f"{'ascending' if low_first else 'descending'} ({seq}); its arguments did not hold them in that order "
                     f"— it made the order, the functions that called it only passed it on ({len(same)} such call(s))."),
            severity="high", confidence=0.72 if numbers else 0.45,
            culprit=culprit_of(view, c, f"{field}: {seq}"),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 80)})"),
                      view.end_evidence(c, f"returned records ordered by {field}: {seq}")],
            signatures=["data:order_inverted"],
            weak=None if numbers else ("the symptom states no number of the ordered field: any list may run "
                                       "ascending by some field (an id, a position)"),
            fix_hint=(f"Check the direction and the key of the sort in {c.mfa} (Enum.sort_by/3 with :desc, the "
                      "comparator's operands): the records are right, their order is not.")),
            pid=c.pid, ts=c.ts, value=field)
        if len(done) >= MAX_FACTS:
            return


def analyses(symptom: str) -> list[Callable[[RecordingView, FactBook], None]]:
    """``order_inverted`` when the symptom says a ranking runs the wrong way, else nothing."""
    way = order_seen(symptom)
    if way is None:
        return []
    numbers = {v.number for v in stated_values(symptom)
               if v.number is not None and v.kind in ("number", "count", "money")}

    def inverted(view: RecordingView, book: FactBook) -> None:
        orders_inverted(view, book, way, numbers)

    return [inverted]
