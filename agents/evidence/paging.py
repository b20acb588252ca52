"""Paging that skips rows: a function fetches a list page by page with a cursor (keyset
pagination: "rows with key >= cursor"), and the next cursor is set past the last row's key while
several rows share that key — the rows with the same key that did not fit on the page are never
fetched, on every run.

| kind | what | culprit |
| --- | --- | --- |
| ``page_skip`` | successive calls of one function by one process, each returning a page of rows sorted by a numeric field, where the next call's cursor is greater than the last row's value of that field although the page ended with two or more rows sharing it | the function that computed the next cursor (the caller of the next page's call), and the cursor |

The rows of a page are what the recording shows of it: the page itself (the agent may shorten a
long list) and the rows handed to functions — in any process — before the next page was asked
for (a row filtered, stored, sent on).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function

_MAX_ROWS = 2000
_MAX_PAGES = 200
_MAX_SCAN = 20_000
_TRUNCATED = Atom("$truncated")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ord(v: Any) -> float | None:
    """A cursor or sort value as a number: numbers as they are, ``DateTime``/``NaiveDateTime``
    as seconds since the epoch (so ``DateTime.add(last.at, 1)`` is "+ 1")."""
    if _number(v):
        return v
    if not isinstance(v, dict):
        return None
    st = v.get(Atom("__struct__"))
    if not isinstance(st, Atom) or st.name not in ("Elixir.DateTime", "Elixir.NaiveDateTime"):
        return None
    f = {k.name: x for k, x in v.items() if isinstance(k, Atom)}
    try:
        t = dt.datetime(*(int(f[k]) for k in ("year", "month", "day", "hour", "minute", "second")),
                        tzinfo=dt.timezone.utc)
        us = f.get("microsecond")
        frac = us[0] / 1e6 if isinstance(us, tuple) and us and _number(us[0]) else 0.0
        return t.timestamp() + frac - int(f.get("utc_offset", 0) or 0) - int(f.get("std_offset", 0) or 0)
    except (KeyError, TypeError, ValueError):
        return None


def _rows(v: Any) -> list[dict] | None:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        v = v[1]
    if not isinstance(v, list):
        return None
    rows = [x for x in v[:_MAX_ROWS] if isinstance(x, dict) and _TRUNCATED not in x]
    return rows if rows and len(rows) >= len(v) - 2 else None   # a shortened list ends in a cut row and a marker


def _sort_fields(rows: list[dict]) -> list[Any]:
    """Numeric fields every row has, in non-decreasing order down the page."""
    keys = set(rows[0])
    for r in rows[1:]:
        keys &= set(r)
    out = []
    for k in sorted(keys, key=lambda k: fmt(k, 40)):
        vals = [_ord(r[k]) for r in rows]
        if all(x is not None for x in vals) and all(a <= b for a, b in zip(vals, vals[1:])) and len(set(vals)) > 1:
            out.append(k)
    return out


def _seen_rows(timeline: tuple[list[Call], list[int]], start: int, end: int, shape: frozenset) -> list[dict]:
    """Rows of ``shape`` (the page rows' keys) handed to calls — of any process — between one
    page and the next: each row given to a function, and lists of rows (direct arguments, or in
    a message). A callback's state argument is not looked at: a server may hold every row."""
    out: list[dict] = []
    calls, times = timeline
    lo = bisect.bisect_right(times, start)
    for c in calls[lo:lo + _MAX_SCAN]:
        if c.ts >= end:
            break
        args = c.args[:-1] if c.function.startswith(("handle_", "init")) else c.args
        for a in args:
            for item in (a if isinstance(a, (list, tuple)) else [a])[:_MAX_ROWS]:
                items = item if isinstance(item, list) else [item]
                out += [x for x in items[:_MAX_ROWS] if isinstance(x, dict) and frozenset(x) == shape]
    return out


def _cursor_arg(a: Call, b: Call) -> int | None:
    """The argument that moves from one page call to the next (numeric, growing); the others stay."""
    moving = [i for i, (x, y) in enumerate(zip(a.args, b.args)) if x != y]
    if len(moving) != 1:
        return None
    i = moving[0]
    x, y = _ord(a.args[i]), _ord(b.args[i])
    return i if x is not None and y is not None and y > x else None


def _computed_by(nxt: Call, cursor: Any) -> Call:
    """The application frame that computed ``cursor``: above the frames that were given it."""
    frame = nxt.parent
    while frame is not None and frame.parent is not None and any(x == cursor for x in frame.args):
        frame = frame.parent
    while frame is not None and not is_app_module(frame.module):
        frame = frame.parent
    return frame or nxt


def page_skips(view: RecordingView, book: FactBook) -> None:
    series: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.outcome == "return" and is_app_module(c.module) and not c.function.startswith(("-", "handle_")) \
                and c.args and _rows(c.value) is not None:
            series[(c.pid, c.module, c.function, c.arity)].append(c)
    reported: set[tuple] = set()
    timeline: tuple[list[Call], list[int]] | None = None
    for key in sorted(series, key=lambda k: (k[1], k[2], k[3], k[0])):
        calls = sorted(series[key], key=lambda c: c.ts)
        for a, b in list(zip(calls, calls[1:]))[:_MAX_PAGES]:
            i = _cursor_arg(a, b)
            if i is None or a.end_ts is None:
                continue
            page = _rows(a.value) or []
            shape = frozenset(page[0])
            if timeline is None:
                everything = sorted(view.calls, key=lambda c: c.ts)
                timeline = (everything, [c.ts for c in everything])
            seen = {fmt(r, 2000): r for r in page + _seen_rows(timeline, a.end_ts, b.ts, shape)}
            rows = list(seen.values())
            for f in _sort_fields(page):
                start = _ord(a.args[i])
                vals = [(o, r[f]) for r in rows for o in [_ord(r.get(f))] if o is not None and o >= start]
                if not vals:
                    continue
                last = max(vals, key=lambda v: v[0])
                tied = Counter(o for o, _ in vals)[last[0]]
                cursor = b.args[i]
                if tied < 2 or not (last[0] < _ord(cursor)):
                    continue
                frame = _computed_by(b, cursor)
                if (key[1:], f, frame.module, frame.function) in reported:
                    continue
                reported.add((key[1:], f, frame.module, frame.function))
                _add(view, book, a, b, f, last[1], tied, cursor, _ord(cursor) - last[0])
                break


def _add(view: RecordingView, book: FactBook, a: Call, b: Call, f: Any, last: Any, tied: int, cursor: Any,
         step: float) -> None:
    frame = _computed_by(b, cursor)
    field = fmt(f, 40)
    step_text = fmt(step, 20) if _number(last) else f"{step:g} s"
    how = f"the last row's {field} + {step_text}"
    book.add(Finding(
        detector="page_skip",
        title=f"{mod_name(frame.module)}.{source_function(frame.function, frame.arity)} asks for the next page "
              f"from {fmt(cursor, 30)}, past {tied} rows sharing {field} {fmt(last, 30)}",
        summary=(f"{a.mfa} returned a page sorted by {field} that ended with {tied} rows sharing {field} = "
                 f"{fmt(last, 30)}; the next call asked from {fmt(cursor, 30)} ({how}). Rows with that same "
                 f"{field} that did not fit on the page are skipped — on every run, since the cursor is "
                 "computed the same way. A cursor on a non-unique column needs a tie-breaker."),
        severity="high", confidence=0.75,
        culprit=Culprit(module=mod_name(frame.module), function=source_function(frame.function, frame.arity),
                        detail=f"{fmt(cursor, 30)} = {fmt(last, 30)} + {step_text} (the last row's {field})",
                        process=view.label(frame.pid)),
        evidence=[view.end_evidence(a, f"{a.mfa}({', '.join(fmt(x, 30) for x in a.args)}) ended with {tied} rows "
                                       f"at {field} = {fmt(last, 30)}"),
                  view.call_evidence(b, f"next page: {b.mfa}({', '.join(fmt(x, 30) for x in b.args)})")],
        signatures=["data:page_skip"],
        fix_hint="Page on a unique key: a compound cursor {updated_at, id} (rows after the last (key, id) pair), or "
                 "ask again from the last key itself (>=) and drop the rows already seen."),
        pid=b.pid, ts=b.ts)
