"""An ETS match pattern of another size than the table's rows: it can never match a row.

A match pattern (``:ets.match_delete/2``, ``:ets.match_object/2``) or a match specification's head
(``:ets.select_delete/2``, ``:ets.select_count/2``, ``:ets.select/2``, ``:ets.select_replace/2``)
that is a tuple matches only rows of its own size. A sweep written for ``{key, value, at}`` after a
column was added to the rows (``{key, value, at, hits}``) deletes nothing, raises nothing and
returns 0, every time: expired entries stay, the table only grows. The rows' sizes are read from
what the recording shows written to (``insert``, ``insert_new``) or read from (``lookup``) the
same table.

| kind | what | culprit |
| --- | --- | --- |
| ``ets_pattern_never_matches`` | a select/match call on a table whose pattern (or every head of its match specification) is a tuple of a size no row of that table written or read in the recording has, and that answered 0 or ``[]`` when its answer was recorded | the application function that made the call, with the pattern's size and the rows' |

A head that is not a tuple (``:_``, ``:"$1"``) matches rows of any size: no fact. A table whose rows
the recording does not show: no fact. Bounded: :data:`MAX_CALLS` ETS calls looked at,
:data:`MAX_ROWS` rows read per call, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import culprit_of, named_app_caller

__all__ = ["pattern_sizes", "patterns_never_match", "row_sizes"]

MAX_CALLS = 50_000
MAX_ROWS = 200
MAX_FACTS = 2

#: calls taking a match specification (a list of {head, guards, body}) second
_SPECS = frozenset({"select_delete", "select_count", "select", "select_replace", "select_reverse"})
#: calls taking a match pattern second
_PATTERNS = frozenset({"match_delete", "match_object", "match"})
#: calls whose second argument is a row or a list of rows
_WRITES = frozenset({"insert", "insert_new"})


def row_sizes(term: Any) -> set[int]:
    """The sizes of the rows ``term`` holds: a tuple, or a list of tuples (bounded)."""
    if isinstance(term, tuple):
        return {len(term)}
    if isinstance(term, list):
        return {len(r) for r in term[:MAX_ROWS] if isinstance(r, tuple)}
    return set()


def pattern_sizes(function: str, arg: Any) -> set[int] | None:
    """The row sizes the pattern (or match specification) ``arg`` of ``:ets.<function>/2`` can
    match: None when one of its heads is no tuple (it matches rows of any size) or the argument is
    no pattern."""
    if function in _PATTERNS:
        return {len(arg)} if isinstance(arg, tuple) else None
    if function in _SPECS:
        if not isinstance(arg, list) or not arg:
            return None
        sizes = set()
        for clause in arg[:MAX_ROWS]:
            if not (isinstance(clause, tuple) and len(clause) == 3 and isinstance(clause[0], tuple)):
                return None
            sizes.add(len(clause[0]))
        return sizes
    return None


def _nothing(c: Call) -> bool:
    """The call answered that it matched nothing (0, ``[]``), or its answer was not recorded."""
    if c.outcome is None or c.outcome != "return":
        return c.outcome is None
    v = c.value
    if isinstance(v, bool):
        return v is True and c.function == "match_delete"
    return v == 0 or v == [] or (isinstance(v, tuple) and len(v) == 0)


def _table(t: Any) -> str:
    return fmt(t, 60)


def patterns_never_match(view: RecordingView, book: FactBook) -> None:
    rows: dict[str, set[int]] = defaultdict(set)
    tries: list[tuple[Call, set[int]]] = []
    n = 0
    for c in view.calls:
        if c.module != "ets" or len(c.args) < 2:
            continue
        n += 1
        if n > MAX_CALLS:
            break
        table = _table(c.args[0])
        if c.function in _WRITES and c.outcome in (None, "return"):
            rows[table] |= row_sizes(c.args[1])
        elif c.function == "lookup" and c.outcome == "return":
            rows[table] |= row_sizes(c.value)
        else:
            sizes = pattern_sizes(c.function, c.args[1])
            if sizes:
                tries.append((c, sizes))
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c, sizes in tries:
        seen = rows.get(_table(c.args[0]))
        if not seen or sizes & seen or not _nothing(c):
            continue
        caller = named_app_caller(c)
        if caller is None:
            continue
        groups[(caller.module, caller.function, caller.arity, _table(c.args[0]), c.function)].append(c)
    made = 0
    for (_m, _f, _a, table, fun), calls in groups.items():
        if made >= MAX_FACTS:
            return
        made += 1
        c = calls[0]
        caller = named_app_caller(c)
        sizes = sorted(pattern_sizes(c.function, c.args[1]) or ())
        seen = sorted(rows[table])
        want = "/".join(map(str, sizes))
        have = "/".join(map(str, seen))
        ev = [view.call_evidence(c, f"{caller.mfa} called :ets.{fun}({table}, …) with a {want}-element pattern: "
                                    f"{fmt(c.args[1], 100)}")]
        if c.outcome == "return":
            ev.append(view.end_evidence(c, f":ets.{fun}/{c.arity} matched nothing: {fmt(c.value, 40)}"))
        culprit = culprit_of(view, caller).model_copy(
            update={"detail": f"a {want}-element pattern for {have}-element rows of {table}"})
        book.add(Finding(
            detector="ets_pattern_never_matches",
            title=f"{caller.mfa} matches {table} with a {want}-element pattern; its rows have {have} elements",
            summary=(f"{caller.mfa} called :ets.{fun}/{c.arity} on {table} {len(calls)} time(s) with a pattern of "
                     f"{want} element(s), while every row the recording shows in {table} has {have}: a tuple pattern "
                     "matches only rows of its own size, so the call matched nothing"
                     + (" (it answered 0)" if c.outcome == "return" and c.value == 0 else "")
                     + " — a pattern written before the rows gained (or lost) a column. What it should remove or "
                       "find stays in the table."),
            severity="high", confidence=0.74,
            culprit=culprit,
            evidence=ev, causal_chain=ev[:2],
            signatures=["ets:pattern_never_matches"],
            fix_hint=(f"Give the pattern in {caller.mfa} one element per column of the rows ({have}: add `:_` for the "
                      "new ones), or build it from a record definition so that both change together.")),
            pid=c.pid, ts=c.ts)
