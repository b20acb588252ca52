"""A lenient parse upstream of a wrong figure: the unit (or the trailing text) it ignored.

A parser given numbers written with what follows them — ``"2.5kg"`` and ``"800g"``, ``"90min"``
and ``"1.5h"``, ``"12"`` and ``"12abc"`` — that takes the number ``Integer.parse/1`` or
``Float.parse/1`` gives and drops the rest returns the *same multiple* of the written number
whatever follows it: ``2500`` for ``"2.5kg"``, ``800000`` for ``"800g"`` (both × 1000). A parse that
read the unit would return different multiples for different units. The wrong figure is noticed
calls later — a bill, a total — and the functions that computed it from the parsed numbers
(``value_origin`` through :mod:`.parts` or :mod:`.upstream`) did their arithmetic right: they are
linked to this fact, and the parser is the first cause.

| kind | what | culprit |
| --- | --- | --- |
| ``unit_ignored`` | an application function given, in each of ≥ 2 calls, one text that is a number followed by letters (or not), returned numbers that are one same multiple of the written numbers although the texts end in ≥ 2 different suffixes; in full (0.75) when the symptom states a number with one of those suffixes (``800 g``) — the user read it as written —, else **weak** (a parser may rightly ignore a suffix) | that function, and the call given the suffix the symptom states |

| ``lenient_parse`` | the same function's calls given texts of one form (the same suffix, or none): most returned one multiple of the written number, a few returned 0 for a text that holds a number too (``"21"`` → ``0.0`` where ``"21.5"`` → ``21.5``: ``String.to_float/1`` raised and a rescue answered 0.0); in full when the symptom states that number, else **weak** | that function, and the text it read as 0 |

A ``value_origin`` computed later from the numbers of either (two of them, or one of three
digits or more, in its arguments) is their effect. Bounded: the first :data:`MAX_CALLS` calls
looked at, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_returns, culprit_of, is_generated

__all__ = ["units_ignored"]

MAX_CALLS = 20_000
MAX_FACTS = 2
_WRITTEN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-zµ%°]{0,8})\s*$")
_STATED = re.compile(r"(?<![\w.,])(-?\d+(?:\.\d+)?)\s*([A-Za-zµ%°]{1,8})\b")


def _written(c: Call) -> tuple[float, str, str] | None:
    """(number, suffix, the text) of the one text argument of ``c`` written as a number and a suffix."""
    texts = [a for a in c.args if isinstance(a, (bytes, str))]
    if len(texts) != 1 or len(c.args) > 2:
        return None
    raw = texts[0]
    t = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    m = _WRITTEN.match(t)
    if m is None:
        return None
    return float(m.group(1)), m.group(2).lower(), t


def _number(v: Any) -> float | None:
    if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok":
        v = v[1]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _stated(symptom: str) -> set[tuple[float, str]]:
    return {(float(m.group(1)), m.group(2).lower()) for m in _STATED.finditer(symptom or "")}


def units_ignored(view: RecordingView, book: FactBook, symptom: str = "") -> None:
    groups: dict[tuple, list[tuple[Call, float, str, float]]] = defaultdict(list)
    for n, c in enumerate(app_returns(view)):
        if n >= MAX_CALLS:
            break
        if is_generated(c.function):
            continue
        w = _written(c)
        y = _number(c.value)
        if w is None or y is None or w[0] == 0:
            continue
        groups[(c.module, c.function, c.arity)].append((c, w[0], w[1], y))
    stated = _stated(symptom)
    numbers = _numbers(symptom)
    made = 0
    for key, hits in groups.items():
        if made < MAX_FACTS and _odd_reads(view, book, hits, numbers):
            made += 1
            continue
        by_ratio: dict[float, list[tuple[Call, float, str, float]]] = defaultdict(list)
        for h in hits:
            by_ratio[round(h[3] / h[1], 9)].append(h)
        for ratio, same in by_ratio.items():
            suffixes = {h[2] for h in same}
            if len(suffixes) < 2:
                continue
            # the odd one out first: the call whose suffix the fewest calls share
            told = sorted((h for h in same if (h[1], h[2]) in stated and h[2]),
                          key=lambda h: sum(o[2] == h[2] for o in same))
            _add(view, book, same, ratio, told)
            made += 1
            break
        if made >= MAX_FACTS:
            break
    if made:
        _link_values(view, book)


def _numbers(symptom: str) -> set[float]:
    return {float(m.group(1)) for m in re.finditer(r"(?<![\w.,])(-?\d+(?:\.\d+)?)(?![\d.])", symptom or "")}


def _odd_reads(view: RecordingView, book: FactBook, hits: list, numbers: set[float]) -> bool:
    """``lenient_parse``: among one function's calls given texts of one form (the same suffix),
    most returned one multiple of the written number and a few returned 0 for a number that is
    not — a fallback (``rescue _ -> 0.0``, ``:error -> 0``) taken for input it should have read."""
    by_suffix: dict[str, list] = defaultdict(list)
    for h in hits:
        by_suffix[h[2]].append(h)
    for suffix, same in by_suffix.items():
        ratios = defaultdict(list)
        for h in same:
            ratios[round(h[3] / h[1], 9)].append(h)
        if len(ratios) < 2:
            continue
        major, kept = max(ratios.items(), key=lambda kv: len(kv[1]))
        odd = [h for r, hs in ratios.items() if r != major for h in hs if h[3] == 0]
        if major == 0 or len(kept) < 2 or not odd or len(odd) >= len(kept):
            continue
        told = [h for h in odd if h[1] in numbers]
        c, x, _suffix, y = (told or odd)[0]
        k = kept[0]
        book.add(Finding(
            detector="lenient_parse",
            title=f"{c.mfa} reads {fmt(c.args[0], 30)} as {fmt(c.value, 20)} where it reads "
                  f"{fmt(k[0].args[0], 30)} as {fmt(k[0].value, 20)}",
            summary=(f"{c.mfa} returned the written number (×{major:g}) for {len(kept)} texts "
                     f"({'; '.join(f'{fmt(h[0].args[0], 20)} → {fmt(h[0].value, 16)}' for h in kept[:3])}) and 0 for "
                     f"{len(odd)} text(s) of the same form that hold a number too "
                     f"({'; '.join(f'{fmt(h[0].args[0], 20)} → {fmt(h[0].value, 16)}' for h in odd[:3])}): a fallback "
                     "value stood in for input it failed to read (a rescue, an :error branch), and what was computed "
                     "from it later was computed right from a wrong input."
                     + (f" The symptom states {x:g}." if told else "")),
            severity="high", confidence=0.75 if told else 0.45,
            culprit=culprit_of(view, c, c.args[0]),
            evidence=[view.end_evidence(h[0], f"{h[0].mfa}({fmt(h[0].args, 30)}) returned {fmt(h[0].value, 30)}")
                      for h in (odd[:2] + kept[:2])],
            signatures=["data:parse_fallback", "data:value_origin"],
            **({} if told else {"weak": "the symptom states no number read as 0: the fallback may be right for "
                                        "input that is really not a number"}),
            fix_hint=(f"Make {c.mfa} read every form its input comes in (String.to_float/1 raises on \"21\": "
                      "Float.parse/1 reads both) and fail loudly on what it cannot read instead of returning 0.")),
            pid=c.pid, ts=c.ts, calls=[h[0] for h in odd])
        return True
    return False


def _add(view: RecordingView, book: FactBook, same: list, ratio: float, told: list) -> None:
    c, x, suffix, y = (told or same)[0]
    shown = "; ".join(f"{fmt(h[0].args[0] if len(h[0].args) == 1 else h[0].args, 30)} → {fmt(h[0].value, 20)}"
                      for h in same[:4])
    suffixes = sorted({h[2] or "(none)" for h in same})
    book.add(Finding(
        detector="unit_ignored",
        title=f"{c.mfa} reads {fmt(c.args[0] if len(c.args) == 1 else c.args, 30)} as {fmt(c.value, 20)}: "
              f"the same ×{ratio:g} for every suffix ({', '.join(suffixes)})",
        summary=(f"{c.mfa} returned the written number times {ratio:g} whatever followed it ({shown}): texts ending "
                 f"in {', '.join(suffixes)} were read alike, so the suffix — a unit, trailing text — was dropped "
                 "(a lenient Integer.parse/Float.parse whose rest is ignored). What was computed from these numbers "
                 "later was computed right from a wrong input."
                 + (f" The symptom states {x:g} {suffix} as written." if told else "")),
        severity="high", confidence=0.75 if told else 0.45,
        culprit=culprit_of(view, c, c.args[0] if len(c.args) == 1 else c.args),
        evidence=[view.end_evidence(h[0], f"{h[0].mfa}({fmt(h[0].args, 30)}) returned {fmt(h[0].value, 30)}")
                  for h in ([(c, x, suffix, y)] + [h for h in same if h[0] is not c])[:4]],
        signatures=["data:unit_ignored", "data:value_origin"],
        **({} if told else {"weak": "a parser may ignore a suffix on purpose; the symptom states no number with "
                                    "one of these suffixes"}),
        fix_hint=(f"Read the suffix in {c.mfa}: match the rest Float.parse/Integer.parse returns ({{n, \"kg\"}}, "
                  "{n, \"g\"}) and convert, and reject any other rest instead of ignoring it.")),
        pid=c.pid, ts=c.ts, calls=[h[0] for h in same])


def _contains(term: Any, want: set[str], budget: int = 300) -> bool:
    """``term`` holds two of the numbers ``want``, or one of three digits or more (one small
    number alone is too common to follow)."""
    stack, n, found = [term], 0, set()
    while stack and n < budget:
        t = stack.pop()
        n += 1
        if isinstance(t, (int, float)) and not isinstance(t, bool) and fmt(t, 40) in want:
            found.add(fmt(t, 40))
            if len(found) >= 2 or abs(t) >= 100:
                return True
        if isinstance(t, dict):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return False


def _link_values(view: RecordingView, book: FactBook) -> None:
    """A ``value_origin`` whose function was given numbers an ignored-unit parse returned (after
    it, in any process: tasks parse, their caller adds up) computed right from a wrong input: the
    parse caused it."""
    for unit in book.of_kind("unit_ignored", "lenient_parse"):
        if unit.weak:
            continue
        calls = book.meta.get(unit.id, {}).get("calls", [])
        outs = {fmt(c.value, 40) for c in calls}
        if unit.detector == "lenient_parse":   # a 0 alone is too common to follow: with the numbers read right
            outs |= {fmt(c.value, 40) for c in view.calls if c.outcome == "return"
                     and (c.module, c.function, c.arity) == (calls[0].module, calls[0].function, calls[0].arity)}
        first_end = min((c.end_ts for c in calls if c.end_ts is not None), default=None)
        if first_end is None:
            continue
        for f in book.of_kind("value_origin"):
            if f.caused_by is not None or f.culprit is None:
                continue
            name = f.culprit.function
            for c in view.calls:
                if c.ts >= first_end and c.module.removeprefix("Elixir.") == f.culprit.module \
                        and f"{c.function}/{c.arity}" == name and _contains(c.args, outs):
                    book.link(f, unit, "the numbers it combined were parsed with their unit ignored")
                    break
