"""A total the symptom adds up, where the program kept one part instead of the sum.

"The three stores sold 41 (Altona 12, Eimsbüttel 15, Harburg 14), the pick list says 14": the user
states a total and the parts it is the sum of. A step that should add a part to what it has so far
(``Map.merge/2`` where ``Map.merge/3`` with ``&(&1 + &2)`` was meant, ``Map.put`` of the new count)
replaces it: the recording shows a call given a map with ``key => 12`` that returns the map with
``key => 15`` — a part, where ``12 + 15`` (also a sum of the stated parts) was due.

| kind | what | culprit |
| --- | --- | --- |
| ``sum_replaced`` | the symptom states a total and, right after it, the parts that add up to it; a call was given a map holding, under some key, a part or a sum of parts ``x`` and returned that map with another part ``y`` under the same key, where ``x + y`` is a sum of the stated parts — the deepest such call | that function, the key and both numbers |
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenMap

from ..findings import Finding
from ..view import RecordingView, fmt, is_app_module
from .book import FactBook
from .common import ancestors, culprit_of
from .stated import StatedValue, stated_values

MAX_PARTS = 8        # parts of one total
MAX_LEAVES = 2000    # numbers collected from one term
MAX_CALLS = 20_000   # app calls looked at


def totals(values: list[StatedValue]) -> list[tuple[int, tuple[int, ...]]]:
    """(total, parts): a whole number the symptom states, followed by two or more whole numbers
    that add up to it ("41 today (Altona 12, Eimsbüttel 15, Harburg 14)")."""
    nums = [int(v.number) if v.number is not None and v.number == v.number.to_integral_value() else None
            for v in values if v.kind in ("count", "number", "money")]
    out = []
    for i, total in enumerate(nums):
        if total is None or total < 2:
            continue
        run: list[int] = []
        for n in nums[i + 1:i + 1 + MAX_PARTS]:
            if n is None or n <= 1:
                break
            run.append(n)
            if sum(run) >= total:
                break
        if len(run) >= 2 and sum(run) == total:
            out.append((total, tuple(run)))
    return out


def _sums(parts: tuple[int, ...]) -> set[int]:
    return {sum(c) for k in range(1, len(parts) + 1) for c in combinations(parts, k)}


def _leaves(term: Any) -> dict[tuple, int]:
    """Whole numbers under map keys, by their path of keys (bounded)."""
    out: dict[tuple, int] = {}
    stack: list[tuple[tuple, Any]] = [((), term)]
    while stack and len(out) < MAX_LEAVES:
        path, t = stack.pop()
        if isinstance(t, (dict, FrozenMap)):
            for k, v in list(t.items())[:500]:
                if isinstance(k, (bytes, Atom, int, str)):
                    stack.append((path + (k,), v))
        elif isinstance(t, (list, tuple)) and len(path) < 8:
            stack.extend((path + (i,), x) for i, x in enumerate(list(t)[:200]))
        elif isinstance(t, int) and not isinstance(t, bool) and path:
            out[path] = t
    return out


def sums_replaced(view: RecordingView, book: FactBook, found: list[tuple[int, tuple[int, ...]]]) -> None:
    hits = []
    every_part = {p for _, parts in found for p in parts}
    for c in view.calls[:MAX_CALLS]:
        if c.outcome != "return" or not is_app_module(c.module) or (c.pid in view.rpc_workers and c.parent is None):
            continue
        result = _leaves(c.value)
        if not any(y in every_part for y in result.values()):
            continue
        given: dict[tuple, int] = {}
        for a in c.args:
            given.update(_leaves(a))
        for total, parts in found:
            sums = _sums(parts)
            for path, y in result.items():
                x = given.get(_tail(path, given))
                if x is not None and x != y and y in parts and x in sums and x + y in sums:
                    hits.append((c, path, x, y, total, parts))
                    break
    if not hits:
        return
    outer = set()
    for h in hits:
        outer |= ancestors(h[0])
    c, path, x, y, total, parts = next((h for h in hits if h[0].call_id not in outer), hits[0])
    key = fmt(path[-1], 40)
    added = " + ".join(str(p) for p in parts)
    culprit = culprit_of(view, c, f"{key}: {x} replaced by {y} (due: {x + y})")
    book.add(Finding(
        detector="sum_replaced",
        title=f"{culprit.where} replaced {x} by {y} under {key} where the symptom's total adds them ({added} = {total})",
        summary=(f"The symptom states a total of {total} made of {added}. {c.mfa} was given {key} => {x} and returned "
                 f"{key} => {y}: one part in place of {x + y}, the sum the total needs — a step that should add the "
                 f"new count to what it had kept the last one (a merge or put that overwrites instead of adding)."),
        severity="high", confidence=0.62, culprit=culprit,
        evidence=[view.call_evidence(c, f"{c.mfa} given {key} => {x}"),
                  view.end_evidence(c, f"returned {key} => {y} (due {x + y})")],
        signatures=["state:value_overwritten"],
        fix_hint=("Add the counts instead of replacing them: Map.merge(a, b, fn _k, x, y -> x + y end), "
                  "Map.update(map, key, n, &(&1 + n)).")),
        pid=c.pid, ts=c.ts, calls=[c.call_id])


def _tail(path: tuple, given: dict[tuple, int]) -> tuple:
    """The path in the arguments matching ``path`` of the result: the same keys, or the same keys
    under a shorter prefix (the result wraps what it was given: ``{:noreply, %{totals: …}}``)."""
    if path in given:
        return path
    for i in range(1, len(path)):
        if path[i:] in given:
            return path[i:]
    return path


def analyses(symptom: str):
    """The analysis when the symptom states a total with its parts, else none."""
    found = totals(stated_values(symptom or ""))
    if not found:
        return []

    def replaced(view: RecordingView, book: FactBook) -> None:
        sums_replaced(view, book, found)

    return [replaced]

