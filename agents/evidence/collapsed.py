"""Silent loss: a collection that comes out of a call smaller than it went in, one entry kept per
value of a field that is not unique — keys colliding in ``Map.new``/``Enum.into``/``Map.put`` in
a reduce, ``Enum.uniq_by`` on the wrong field, a keyword list read with ``Keyword.get``.

| kind | what | culprit |
| --- | --- | --- |
| ``entries_collapsed`` | an application call given a list of N records (maps, tuples) returned M < N of them (a list, or a map's values) or a map keyed by one of their fields — exactly one per distinct value of that field — while at least one record it dropped is no copy of a record it kept (a duplicate dropped is a dedup, not a loss); it counts in full when the symptom speaks of something missing or fewer, or states a value only a dropped record holds (``12`` units in leeds); **weak** otherwise (keeping one per key may be the intent: the latest per user) | that function, the field, and a dropped record |

Lists are looked at up to a bound; the deepest such call is named (its callers only pass the
smaller collection on).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import ancestors, app_returns, culprit_of
from .stated import stated_values
from .valuematch import digest, held, significant

MAX_ITEMS = 500   # records of one list looked at (kept and dropped are compared pairwise)
MAX_FACTS = 2
_LOSS = re.compile(r"\b(?:missing|miss(?:es|ed)?|lost|loses?|losing|dropp?\w*|disappear\w*|vanish\w*|gone|only|fewer|"
                   r"less than|overwrit\w*|not (?:list|show|appear|includ|count)\w*|does(?:n't| not) (?:list|show|"
                   r"appear|includ|count)\w*|never (?:appear|show|list)\w*|left out|skipp\w*)\b", re.I)


def _fields(r: Any) -> dict[Any, Any] | None:
    if isinstance(r, dict) and 2 <= len(r) <= 64:
        return {k: v for k, v in r.items() if not (isinstance(k, Atom) and k.name == "__struct__")}
    if isinstance(r, tuple) and 2 <= len(r) <= 12:
        return dict(enumerate(r))
    return None


def _hashable(x: Any) -> Any:
    try:
        hash(x)
        return x
    except TypeError:
        return fmt(x, 200)


def _field_name(k: Any) -> str:
    return f"element {k}" if isinstance(k, int) else fmt(k, 40)


def _collapse(items: list, out: Any) -> tuple[Any, list, list] | None:
    """(the field, the records kept, the records dropped that copy no kept one) when ``out`` is
    ``items`` reduced to one record per value of a field."""
    if not 2 <= len(items) <= MAX_ITEMS:
        return None
    recs = [_fields(r) for r in items]
    if any(r is None for r in recs):
        return None
    common = set(recs[0]).intersection(*recs[1:])
    if isinstance(out, dict) and 1 <= len(out) < len(items):
        keys = {_hashable(k) for k in out}
        for f in sorted(common, key=repr):
            if {_hashable(r[f]) for r in recs} == keys:
                # kept: the records the map holds, or whose field the map holds under their key
                kept = [items[i] for i, r in enumerate(recs)
                        if out.get(r[f]) == items[i] or any(out.get(r[f]) == v for g, v in r.items() if g != f)]
                if {_hashable(r[f]) for r, x in zip(recs, items) if x in kept} != keys:
                    return None   # a value no record holds: an aggregate per key (a sum), not one record kept
                return _dropped(items, kept, f)
        return None
    if isinstance(out, list) and 1 <= len(out) < len(items) and all(x in items for x in out):
        outs = [_fields(r) for r in out]
        for f in sorted(common, key=repr):
            vals = [_hashable(r[f]) for r in outs]
            if len(set(vals)) == len(out) and set(vals) == {_hashable(r[f]) for r in recs}:
                return _dropped(items, out, f)
    return None


def _dropped(items: list, kept: list, f: Any) -> tuple[Any, list, list] | None:
    lost = [x for x in items if x not in kept]   # a copy of a kept record is a dedup, not a loss
    if not lost:
        return None
    return f, kept, lost


def _mentioned(values, lost: list, kept: list) -> tuple[str, Any] | None:
    """A value the symptom states that a dropped record holds and no kept one does, with that
    record."""
    dk = digest(kept)
    for v in values:
        if significant(v) and not held(v, dk):
            r = next((x for x in lost if held(v, digest(x))), None)
            if r is not None:
                return v.text, r
    return None


def entries_collapsed(view: RecordingView, book: FactBook, symptom: str) -> None:
    values = stated_values(symptom)
    loss = _LOSS.search(symptom or "")
    hits: list[tuple[Call, int, Any, Any, list, list]] = []
    for c in app_returns(view):
        if c.function.startswith(("-", "handle_")):
            continue
        out = c.value[1] if isinstance(c.value, tuple) and len(c.value) == 2 \
            and getattr(c.value[0], "name", None) == "ok" else c.value
        for i, a in enumerate(c.args):
            if isinstance(a, list):
                got = _collapse(a, out)
                if got is not None:
                    hits.append((c, i, out, *got))
                    break
    inside = set().union(*(ancestors(h[0]) for h in hits)) if hits else set()
    seen: set[tuple] = set()
    for c, i, out, f, kept, lost in hits:
        if c.call_id in inside or (c.module, c.function, c.arity) in seen or len(seen) >= MAX_FACTS:
            continue
        seen.add((c.module, c.function, c.arity))
        mention = _mentioned(values, lost, kept)
        named, example = (mention[0], mention[1]) if mention else (None, lost[0])
        n, n_out = len(c.args[i]), len(out)
        weak = None if (named or loss) else (
            "one record kept per value of a field may be what the function is for (the latest per key); the "
            "symptom says nothing went missing")
        book.add(Finding(
            detector="entries_collapsed",
            title=f"{c.mfa} keeps one of {n} records per {_field_name(f)}: {len(lost)} dropped",
            summary=(f"{c.mfa} was given {n} records and returned {n_out} — one per distinct "
                     f"{_field_name(f)} — dropping {len(lost)} that are no copies of the ones kept (e.g. "
                     f"{fmt(example, 80)}){'; the symptom names ' + named + ', which only a dropped record holds' if named else ''}. "
                     "Keys colliding (Map.new/Enum.into/Map.put keyed by a field that is not unique), "
                     "Enum.uniq_by on the wrong field, or Keyword.get on repeated keys lose entries silently."),
            severity="high", confidence=0.78 if named else 0.7, culprit=culprit_of(view, c, example),
            evidence=[view.call_evidence(c, f"{c.mfa} was given {n} records"),
                      view.end_evidence(c, f"returned {n_out}, one per {_field_name(f)}; dropped {fmt(example, 60)}")],
            signatures=["data:entries_collapsed"],
            fix_hint=("Key by what is unique (a composite key {a, b}, an id), or combine the records that share a "
                      "key (Enum.group_by/3, Map.update/4 adding up) instead of letting the last or first one win."),
            weak=weak),
            pid=c.pid, ts=c.ts)


def analyses(symptom: str) -> list[Callable[[RecordingView, FactBook], None]]:
    def collapsed(view: RecordingView, book: FactBook) -> None:
        entries_collapsed(view, book, symptom)
    return [collapsed]
