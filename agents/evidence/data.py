"""Values that come out of a function wrong, seen in its arguments and its result alone: no
error, no odd message — the output simply cannot be right for that input.

| kind | what | culprit |
| --- | --- | --- |
| ``invalid_utf8`` | a function given valid UTF-8 text returns a binary that is not valid UTF-8 (text cut by bytes, not characters) | the function and its input |
| ``lossy_parse`` | a function given a number written with group separators (``"1,049.00"``) returns a number that keeps only its first digits (a lenient parse stopped at the separator) | the function and its input |
| ``term_order_pick`` | a function picks one date/time out of several and the one it returns is the largest (or smallest) by Erlang term order but not in time (``max_by``/``>`` on ``Date`` structs compares the day first) | the function and its input |
| ``error_cached`` | a callback stores an ``{:error, _}`` result in the process state, and later callbacks answer that same error from the state | the callback that stored it |
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import callback_states, culprit_of, is_error

_GROUPED = re.compile(rb"^\s*[-+]?\d{1,3}(?:[,' \xa0.]\d{3})+(?:[.,]\d+)?\s*$|^\s*[-+]?\d+[,' ]\d+[.,]\d+\s*$")


def _app_returns(view: RecordingView):
    for c in view.calls:
        if c.outcome == "return" and c.args and is_app_module(c.module) and not c.function.startswith("-"):
            yield c


def _unwrap_ok(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        return v[1]
    return v


def _valid_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def invalid_utf8(view: RecordingView, book: FactBook) -> None:
    seen: set[tuple] = set()
    for c in _app_returns(view):
        out = _unwrap_ok(c.value)
        if not isinstance(out, bytes) or _valid_utf8(out):
            continue
        src = next((a for a in c.args if isinstance(a, bytes) and len(a) > len(out) // 2 and _valid_utf8(a)
                    and any(ch > 0x7F for ch in a)), None)
        if src is None or (c.module, c.function, c.arity) in seen:
            continue
        seen.add((c.module, c.function, c.arity))
        book.add(Finding(
            detector="invalid_utf8",
            title=f"{c.mfa} turns valid UTF-8 text into an invalid binary",
            summary=(f"{c.mfa} was given valid UTF-8 text ({len(src)} bytes, with non-ASCII characters) and returned "
                     f"{len(out)} bytes that are not valid UTF-8 (…{fmt(out[-12:], 40)}): the text was cut or taken apart "
                     "by bytes, splitting a multi-byte character; whatever receives it may refuse it."),
            severity="high", confidence=0.75, culprit=culprit_of(view, c, src),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(src, 50)})"),
                      view.end_evidence(c, f"returned {len(out)} bytes, not valid UTF-8")],
            signatures=["data:invalid_utf8"],
            fix_hint="Cut text by characters (String.slice/3, or String.split_at on graphemes), or trim an invalid "
                     "tail (String.valid?/1, :unicode.characters_to_binary/1) before sending it on."),
            pid=c.pid, ts=c.ts)


def _sig(digits: str) -> str:
    return digits.strip("0")


def _num_digits(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(abs(v))
    if isinstance(v, float):
        return re.sub(r"\D", "", repr(abs(v)).split("e")[0])
    return None


def lossy_parse(view: RecordingView, book: FactBook) -> None:
    hits: dict[tuple, list[tuple[Call, bytes, Any]]] = defaultdict(list)
    for c in _app_returns(view):
        if len(c.args) > 3:
            continue
        src = next((a for a in c.args if isinstance(a, bytes) and len(a) <= 40 and _GROUPED.match(a)), None)
        if src is None:
            continue
        out = _unwrap_ok(c.value)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], bytes):   # Float.parse's {n, rest}
            out = out[0]
        digits = _num_digits(out)
        if digits is None:
            continue
        want, got = _sig(re.sub(rb"\D", b"", src).decode()), _sig(digits)
        first = _sig(re.match(rb"\s*[-+]?(\d*)", src).group(1).decode())   # the digits before the first separator
        if got and got == first and want != got:
            hits[(c.module, c.function, c.arity)].append((c, src, out))
    for key in sorted(hits):
        c, src, out = hits[key][0]
        book.add(Finding(
            detector="lossy_parse",
            title=f"{c.mfa} reads {fmt(src, 20)} as {fmt(out, 20)}",
            summary=(f"{c.mfa} was given {fmt(src, 30)} — a number written with group separators — and returned "
                     f"{fmt(c.value, 40)}, which keeps only its first digits: the parse stopped at the separator and "
                     f"the rest was ignored ({len(hits[key])} such call(s))."),
            severity="high", confidence=0.75, culprit=culprit_of(view, c, src),
            evidence=[view.call_evidence(x, f"{x.mfa}({fmt(s, 30)}) returned {fmt(x.value, 40)}") for x, s, _ in hits[key][:4]],
            signatures=["data:parse_lossy"],
            fix_hint="Remove the group separators before parsing (or parse with a known locale), and reject input "
                     "that is not consumed completely (Float.parse/Integer.parse return the rest: check it is \"\")."),
            pid=c.pid, ts=c.ts)


_CHRONO = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def _temporal(v: Any) -> tuple[tuple, tuple] | None:
    """(term-order key, chronological key) of a Date/Time/NaiveDateTime/DateTime struct."""
    if not isinstance(v, dict):
        return None
    st = v.get(Atom("__struct__"))
    if not isinstance(st, Atom) or st.name not in ("Elixir.Date", "Elixir.NaiveDateTime", "Elixir.DateTime"):
        return None
    fields = {k.name: x for k, x in v.items() if isinstance(k, Atom) and k.name != "__struct__"}
    if not all(k in fields for k in ("year", "month", "day")):
        return None
    term = tuple(_plain(fields[k]) for k in sorted(fields))
    chrono = tuple(_plain(fields.get(k, 0)) for k in _CHRONO)
    return term, chrono


def _plain(x: Any) -> Any:
    return x if isinstance(x, (int, float)) else fmt(x, 40)


def _temporals(term: Any, depth: int = 0) -> list[Any]:
    if _temporal(term) is not None:
        return [term]
    if depth >= 3:
        return []
    if isinstance(term, list):
        return [t for x in term[:500] for t in _temporals(x, depth + 1)]
    if isinstance(term, (tuple,)):
        return [t for x in term[:20] for t in _temporals(x, depth + 1)]
    if isinstance(term, dict):
        return [t for x in list(term.values())[:50] for t in _temporals(x, depth + 1)]
    return []


def term_order_picks(view: RecordingView, book: FactBook) -> None:
    seen: set[tuple] = set()
    for c in _app_returns(view):
        picked = _temporals(_unwrap_ok(c.value))
        if len(picked) != 1:
            continue
        k = _temporal(picked[0])
        cands = [_temporal(t) for t in _temporals(c.args)]
        cands = [x for x in cands if x is not None]
        if len({x[1] for x in cands}) < 2 or k not in cands:
            continue
        by_term_max, by_term_min = max(cands)[1], min(cands)[1]
        chrono_max, chrono_min = max(x[1] for x in cands), min(x[1] for x in cands)
        which = ("latest" if k[1] == by_term_max and k[1] != chrono_max else
                 "earliest" if k[1] == by_term_min and k[1] != chrono_min else None)
        if which is None or (c.module, c.function, c.arity) in seen:
            continue
        seen.add((c.module, c.function, c.arity))
        right = chrono_max if which == "latest" else chrono_min
        book.add(Finding(
            detector="term_order_pick",
            title=f"{c.mfa} picks {fmt(picked[0], 40)} as the {which} of {len(cands)} dates",
            summary=(f"{c.mfa} was given {len(cands)} dates/times and returned {fmt(picked[0], 60)}: the "
                     f"{'largest' if which == 'latest' else 'smallest'} by Erlang term order (a struct compares its "
                     f"fields alphabetically: the day before the month and year), not in time — the {which} is "
                     f"{'-'.join(str(x) for x in right[:3])}. Enum.max/min(_by), sort and >/< on Date structs do this."),
            severity="high", confidence=0.75, culprit=culprit_of(view, c, None),
            evidence=[view.call_evidence(c, f"{c.mfa} got {len(cands)} dates"),
                      view.end_evidence(c, f"returned {fmt(picked[0], 60)}")],
            signatures=["data:term_order_compare"],
            fix_hint="Compare with Date.compare/2 (or pass the module: Enum.max_by(list, & &1.on, Date), "
                     "Enum.sort_by(list, & &1.on, Date))."),
            pid=c.pid, ts=c.ts)


def _errors_in(term: Any, depth: int = 0, cache: dict | None = None) -> list[tuple[str, str]]:
    """(key, error) pairs of a state: error values stored under a key of a map (two levels deep).
    ``cache``: the pairs per map term and depth while one analysis runs — states rebuilt from
    deltas share the maps a step did not change, looked at again for every callback otherwise."""
    if not (isinstance(term, dict) and depth < 2):
        return []
    if cache is not None:
        hit = cache.get((id(term), depth))
        if hit is not None and hit[0] is term:
            return hit[1]
    out: list[tuple[str, str]] = []
    for k, v in list(term.items())[:2000]:
        if is_error(v):
            out.append((fmt(k, 80), fmt(v, 120)))
        elif isinstance(v, dict):
            out.extend(_errors_in(v, depth + 1, cache))
    if cache is not None:
        cache[(id(term), depth)] = (term, out)
    return out


def errors_cached(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    stored: dict[int, list[tuple[Call, str, str, bool]]] = defaultdict(list)
    seen_pids: set[int] = set()
    cache: dict = {}
    for c in sorted((c for c in view.calls if c.call_id in pairs), key=lambda c: c.ts):
        before, after = pairs[c.call_id]
        if c.pid not in seen_pids and c.function == "handle_call":
            # stored before the recording began: the first callback that serves one names the cache
            seen_pids.add(c.pid)
            for key, err in sorted(set(_errors_in(before, 0, cache)) & set(_errors_in(after, 0, cache))):
                if isinstance(c.value, tuple) and len(c.value) >= 2 and fmt(c.value[1], 120) == err \
                        and c.args and key in fmt(c.args[0], 200):
                    stored[c.pid].append((c, key, err, True))
        new = set(_errors_in(after, 0, cache)) - set(_errors_in(before, 0, cache))
        for key, err in sorted(new):
            stored[c.pid].append((c, key, err, False))
    for pid, rows in sorted(stored.items()):
        for c, key, err, served in rows[:1]:
            later = ([c] if served else []) + [
                x for x in view.calls_by_pid.get(pid, [])
                if x.ts > c.ts and x.function == "handle_call" and isinstance(x.value, tuple) and len(x.value) >= 2
                and fmt(x.value[1], 120) == err and x.args and key in fmt(x.args[0], 200)]
            if not later:
                continue
            book.add(Finding(
                detector="error_cached",
                title=f"{view.label(pid)} keeps {err} for {key} in its state and serves it from there",
                summary=(f"{view.label(pid)}'s state holds the failure {err} under {key} ({c.mfa} "
                         f"{'put it there' if fmt(pairs[c.call_id][0], 20000).count(err) < fmt(pairs[c.call_id][1], 20000).count(err) else 'answers with it'}); "
                         f"{len(later)} later call(s) for {key} were answered with that same error from the state. A "
                         "transient failure cached like a result stays until the entry is evicted — here, "
                         "for good."),
                severity="high", confidence=0.7, culprit=culprit_of(view, c, c.args[0] if c.args else None),
                evidence=[view.call_evidence(c, f"{c.mfa} stored {err} under {key}")]
                + [view.end_evidence(x, f"answered {err} for {key} from the state") for x in later[:3]],
                signatures=["state:error_cached"],
                fix_hint="Cache only successful results (or errors with a short TTL); on an error, reply it without "
                         "storing it, so the next request asks again."),
                pid=pid, ts=c.ts)
