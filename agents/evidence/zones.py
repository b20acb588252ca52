"""Calendar days taken in the wrong time zone: a function turns a UTC timestamp into a date by
its UTC day, while the application itself shifts those timestamps into a local time with an
offset — so what happened in the local morning (or late evening) lands on another day.

| kind | what | culprit |
| --- | --- | --- |
| ``utc_date`` | a function given a UTC ``DateTime`` returns the ``Date`` of its UTC day, while the recording shows the application using a UTC offset (``DateTime.add(dt, 39600, :second)``, ``NaiveDateTime.add/3`` on its naive form, a function such as ``utc_offset/0`` returning 39600) under which that timestamp's local day is another one | the function that returned the date, and a timestamp it misdated |
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, is_app_module, mod_name
from .book import FactBook
from .common import app_caller
from .reasons import source_function

_ZONE_WORDS = re.compile(r"offset|zone|tz|utc|local", re.I)
_MAX_OFFSET = 14 * 3600


def _fields(v: Any, struct: str) -> dict[str, Any] | None:
    if not isinstance(v, dict):
        return None
    st = v.get(Atom("__struct__"))
    if not isinstance(st, Atom) or st.name != struct:
        return None
    return {k.name: x for k, x in v.items() if isinstance(k, Atom)}


def _utc(v: Any) -> dt.datetime | None:
    """A ``DateTime`` in UTC as a naive Python datetime (None for anything else)."""
    f = _fields(v, "Elixir.DateTime")
    if f is None or f.get("time_zone") != b"Etc/UTC" or f.get("utc_offset") != 0 or f.get("std_offset") != 0:
        return None
    try:
        return dt.datetime(*(int(f[k]) for k in ("year", "month", "day", "hour", "minute", "second")))
    except (KeyError, TypeError, ValueError):
        return None


def _date(v: Any) -> dt.date | None:
    f = _fields(v, "Elixir.Date")
    if f is None:
        return None
    try:
        return dt.date(int(f["year"]), int(f["month"]), int(f["day"]))
    except (KeyError, TypeError, ValueError):
        return None


def _sigil(u: dt.datetime) -> str:
    return f"~U[{u.isoformat(sep=' ')}Z]"


def _utc_in(term: Any, depth: int = 0) -> list[tuple[str, dt.datetime]]:
    u = _utc(term)
    if u is not None:
        return [(_sigil(u), u)]
    if depth >= 3:
        return []
    if isinstance(term, dict):
        return [x for v in list(term.values())[:50] for x in _utc_in(v, depth + 1)]
    if isinstance(term, (list, tuple)):
        return [x for v in list(term)[:50] for x in _utc_in(v, depth + 1)]
    return []


def _offset_ok(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n != 0 and abs(n) <= _MAX_OFFSET and n % 900 == 0


def _offsets(view: RecordingView) -> list[tuple[int, Call]]:
    """Where the recording shows the application using a UTC offset (in seconds)."""
    out = []
    for c in view.calls:
        if c.outcome != "return":
            continue
        if c.module in ("Elixir.DateTime", "Elixir.NaiveDateTime") and c.function == "add" and len(c.args) >= 2 \
                and (_utc(c.args[0]) is not None or _fields(c.args[0], "Elixir.NaiveDateTime") is not None) \
                and _offset_ok(c.args[1]) and (len(c.args) < 3 or c.args[2] == Atom("second")):
            out.append((c.args[1], c))
        elif is_app_module(c.module) and c.arity <= 1 and _ZONE_WORDS.search(c.function) and _offset_ok(c.value):
            out.append((c.value, c))
    return out


def _place(c: Call) -> str:
    """Where an offset is used: the time function and the application function calling it."""
    if is_app_module(c.module):
        return c.mfa
    p = app_caller(c)
    return f"{c.mfa} in {p.mfa}" if p is not None else c.mfa


def utc_dates(view: RecordingView, book: FactBook) -> None:
    offsets = _offsets(view)
    if not offsets:
        return
    offset = Counter(n for n, _ in offsets).most_common(1)[0][0]
    source = next(c for n, c in offsets if n == offset)
    used_in = ", ".join(list(dict.fromkeys(_place(c) for n, c in offsets if n == offset))[:3])
    shift = dt.timedelta(seconds=offset)
    hits: dict[int, tuple[Call, Any, dt.date, dt.date]] = {}
    for c in view.calls:
        # anonymous functions count too (Enum.group_by(orders, &DateTime.to_date(&1.at))): the
        # culprit is the function that holds them
        if c.outcome != "return" or not is_app_module(c.module):
            continue
        day = _date(c.value[1] if isinstance(c.value, tuple) and len(c.value) == 2 else c.value)
        if day is None:
            continue
        for term, u in _utc_in(c.args):
            if u.date() == day:
                local = (u + shift).date()
                hits[c.call_id] = (c, term, day, local)
                break
    # the function that took the date, not the callers that pass it on
    inner = {id(h[0].parent) for h in hits.values() if h[0].parent is not None and h[0].parent.call_id in hits}
    groups: dict[tuple, list[tuple[Call, Any, dt.date, dt.date]]] = defaultdict(list)
    for cid, h in hits.items():
        if id(h[0]) not in inner:
            groups[(h[0].module, h[0].function, h[0].arity)].append(h)
    for key in sorted(groups):
        rows = sorted(groups[key], key=lambda h: h[0].ts)
        wrong = [h for h in rows if h[2] != h[3]]
        if not wrong:
            continue
        c, term, day, local = wrong[0]
        hours = offset / 3600
        name = f"{mod_name(c.module)}.{source_function(c.function, c.arity)}"
        if c.function.startswith("-"):
            name += " (a function inside it)"
        book.add(Finding(
            detector="utc_date",
            title=f"{name} dates {term} by its UTC day ({day}); at UTC{hours:+g} h it is {local}",
            summary=(f"{name} returned the UTC calendar day of the timestamps it was given ({len(rows)} call(s)), "
                     f"while the application uses a UTC offset of {offset} s ({hours:+g} h; "
                     f"{used_in}): under it {len(wrong)} of them fall on another day — {term} is "
                     f"{day} in UTC but {local} locally. DateTime.to_date/1 on a UTC DateTime gives the UTC day, "
                     "so whatever is grouped or filtered by that day moves across midnight."),
            severity="high", confidence=0.75,
            culprit=Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity),
                            detail=term, process=view.label(c.pid)),
            evidence=[view.end_evidence(source, f"{source.mfa} uses a UTC offset of {offset} s")]
            + [view.end_evidence(x, f"{name} gave {d} for {t} (locally {loc})") for x, t, d, loc in wrong[:4]],
            signatures=["data:utc_date"],
            fix_hint="Shift the timestamp into the business's time zone before taking its date "
                     "(DateTime.shift_zone/2 with a time zone database, or DateTime.add(at, offset) then "
                     "DateTime.to_date/1), the same way the rest of the application shows local times."),
            pid=c.pid, ts=c.ts)
