"""A duration handed across a call boundary in another unit than the one it was made in.

| kind | what | culprit |
| --- | --- | --- |
| ``duration_wrong_unit`` | a timer call that takes milliseconds (``Process.send_after``/``:erlang.send_after``/``:erlang.start_timer``, ``:timer.send_after``/``send_interval``/``apply_after``, ``Task.yield``/``Task.await``, ``GenServer.call``'s timeout) was given a delay that equals a value the program holds under a name that says another unit — a setting ``ttl_seconds: 3`` armed as 3 ms, ``interval_ms: 200`` multiplied by 1000 again (200,000 ms) — while no value under that name converts to it; or a delay below 10 ms equal to a duration setting with no unit in its name (``ttl: 5``: nobody means five milliseconds) | the application function that made the delay from the value (returned it from arguments holding the named value, or from the value alone) — the one that converted, or failed to; else the function that armed the timer, and the name with its value |

The same holds for **time arithmetic** (:data:`SHIFTS`: ``DateTime.add``, ``NaiveDateTime.add``, the
amount read in its unit — ``480, :second`` is 480,000 ms): a deadline of ``target_hours: 8`` made as
480 seconds. A function whose name says a unit counts as a named value of what it returned
(``target_hours/1`` → 8), unless it returned the amount itself (:func:`held`: it is the conversion).

The named values are read where the armer's process met them before the arm: the arguments of the
function that armed the timer (a GenServer's state included), the arguments and results of the
application calls of that process, and configuration reads (``Application.get_env/3``,
``Application.fetch_env/2``, ``Keyword.get/3``, ``Map.get/3``: the key asked and the value
returned). A name's unit is read from its words (``ms``, ``millis``; ``s``, ``sec``, ``seconds``;
``min``; ``h``, ``hours``). A delay that some named value gives in the right unit (``ttl_seconds:
3`` armed as 3,000 ms) is no fact. The planner traces the timer calls when the symptom speaks of
expiry, intervals or things happening too soon or never (:func:`~elixir_scope.agents.planner.timer_specs`).
Bounded: the first :data:`MAX_ARMS` timer calls, :data:`MAX_BEFORE` calls of a process looked at
before each arm, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_generated, named_app_caller

__all__ = ["durations_wrong_unit", "held", "shift_ms", "unit_of"]

MAX_ARMS = 5_000
MAX_BEFORE = 300
MAX_FACTS = 2
MAX_UP = 12
MAX_NODES = 3_000     # term nodes walked per term for named values

#: (module, function, arity) → the position of the delay in milliseconds
DELAYS: dict[tuple[str, str, int], int] = {
    ("erlang", "send_after", 3): 0, ("erlang", "send_after", 4): 0,
    ("erlang", "start_timer", 3): 0, ("erlang", "start_timer", 4): 0,
    ("timer", "send_after", 2): 0, ("timer", "send_after", 3): 0,
    ("timer", "send_interval", 2): 0, ("timer", "send_interval", 3): 0,
    ("timer", "apply_after", 4): 0, ("timer", "apply_interval", 4): 0,
    ("Elixir.Process", "send_after", 3): 2, ("Elixir.Process", "send_after", 4): 2,
    ("Elixir.Task", "yield", 2): 1, ("Elixir.Task", "await", 2): 1,
    ("Elixir.GenServer", "call", 3): 2,
}

#: time arithmetic that takes an amount in a unit it is told: (module, function, arity) → (the position
#: of the amount, the position of its unit — ``:second`` when not given)
SHIFTS: dict[tuple[str, str, int], tuple[int, int]] = {
    ("Elixir.DateTime", "add", 4): (1, 2), ("Elixir.DateTime", "add", 3): (1, 2),
    ("Elixir.NaiveDateTime", "add", 3): (1, 2), ("Elixir.NaiveDateTime", "add", 2): (1, 2),
}
#: a time unit atom → milliseconds per unit (sub-millisecond units: the amount must come to whole ms)
_SHIFT_UNITS = {"second": 1000, "millisecond": 1, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}

#: configuration and option reads: (module, function, arity) → the position of the key asked
READS: dict[tuple[str, str, int], int] = {
    ("Elixir.Application", "get_env", 2): 1, ("Elixir.Application", "get_env", 3): 1,
    ("Elixir.Application", "fetch_env", 2): 1, ("Elixir.Application", "fetch_env!", 2): 1,
    ("Elixir.Keyword", "get", 2): 1, ("Elixir.Keyword", "get", 3): 1, ("Elixir.Keyword", "fetch!", 2): 1,
    ("Elixir.Map", "get", 2): 1, ("Elixir.Map", "get", 3): 1, ("Elixir.Map", "fetch!", 2): 1,
}

#: a unit's word → milliseconds per unit
_UNITS = {"ms": 1, "msec": 1, "msecs": 1, "milli": 1, "millis": 1, "millisecond": 1, "milliseconds": 1,
          "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
          "min": 60_000, "mins": 60_000, "minute": 60_000, "minutes": 60_000,
          "h": 3_600_000, "hr": 3_600_000, "hrs": 3_600_000, "hour": 3_600_000, "hours": 3_600_000}
#: names of durations that do not say their unit
_DURATION = re.compile(r"^(?:ttl|expir\w*|expires?|lifetime|interval|period|every|window|delay|backoff|timeout"
                       r"|max_age|idle|keepalive|heartbeat|refresh|poll|grace|cooldown|debounce|retention)$")
#: the factors a value may have been scaled by on its way (a correct or a wrong conversion)
_FACTORS = (1, 60, 1000, 3600, 60_000, 1_000_000, 3_600_000)


def unit_of(name: str) -> int | None:
    """Milliseconds per unit of a setting called ``name`` (``ttl_seconds`` → 1000, ``intervalMs``
    → 1), 0 for a duration whose name says no unit (``ttl``), None for any other name."""
    words = [w for w in re.split(r"[^a-z]+", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()) if w]
    if not words:
        return None
    for w in reversed(words):
        if w in _UNITS and (len(words) > 1 or len(w) > 2):
            return _UNITS[w]
    if any(_DURATION.match(w) for w in words) or _DURATION.match("_".join(words)):
        return 0
    return None


def _name(k: Any) -> str | None:
    if isinstance(k, Atom):
        return k.name
    if isinstance(k, bytes):
        try:
            return k.decode()[:60]
        except UnicodeDecodeError:
            return None
    if isinstance(k, str):
        return k[:60]
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _named_values(term: Any) -> list[tuple[str, int]]:
    """The (name, positive integer) pairs a term holds as map entries or keyword pairs."""
    out: list[tuple[str, int]] = []
    stack, n = [term], 0
    while stack and n < MAX_NODES:
        t = stack.pop()
        n += 1
        if isinstance(t, dict):
            for k, v in t.items():
                name, val = _name(k), _int(v)
                if name and val is not None and unit_of(name) is not None:
                    out.append((name, val))
                stack.append(v)
        elif isinstance(t, tuple):
            if len(t) == 2 and isinstance(t[0], Atom):
                val = _int(t[1])
                if val is not None and unit_of(t[0].name) is not None:
                    out.append((t[0].name, val))
            stack.extend(t)
        elif isinstance(t, list):
            stack.extend(t)
    return out


@dataclass
class _Source:
    name: str
    value: int
    call: Call          # where the program held it


@dataclass
class _Mismatch:
    arm: Call
    armer: Call
    delay: int
    source: _Source
    factor: int          # the delay is value × factor
    unit: int            # ms per unit of the name (0: not said)
    converter: Call | None
    given: int = 0       # the amount as the call took it (time arithmetic: in its own unit)


def shift_ms(c: Call) -> tuple[int, int] | None:
    """(the amount in milliseconds, the amount as given) of a time-arithmetic call of :data:`SHIFTS`
    (``DateTime.add(t, 480, :second)`` → (480000, 480)); None for another call, a negative amount,
    or a unit that gives no whole milliseconds."""
    at = SHIFTS.get((c.module, c.function, c.arity))
    if at is None or len(c.args) <= at[0]:
        return None
    amount = _int(c.args[at[0]])
    if amount is None:
        return None
    unit = c.args[at[1]] if len(c.args) > at[1] else Atom("second")
    if isinstance(unit, Atom) and unit.name in _SHIFT_UNITS:
        return amount * _SHIFT_UNITS[unit.name], amount
    per_s = {"microsecond": 1_000_000, "nanosecond": 1_000_000_000}.get(unit.name) if isinstance(unit, Atom) else _int(unit)
    if per_s and (amount * 1000) % per_s == 0:
        return amount * 1000 // per_s, amount
    return None


def _read_value(c: Call) -> int | None:
    v = c.value
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        v = v[1]
    return _int(v)


def _sources(view: RecordingView, arm: Call, armer: Call) -> tuple[list[_Source], list[Call]]:
    """The named values the armer's process held before the arm, nearest first, and the
    application calls of that process that returned before it (nearest first)."""
    calls = view.calls_by_pid.get(arm.pid, [])
    before = [c for c in calls if c.ts <= arm.ts and c.call_id != arm.call_id][-MAX_BEFORE:]
    out: list[_Source] = [_Source(n, v, armer) for n, v in _named_values(armer.args)]
    returned: list[Call] = []
    for c in reversed(before):
        key = (c.module, c.function, c.arity)
        at = READS.get(key)
        if at is not None and c.outcome == "return" and len(c.args) > at:
            name, val = _name(c.args[at]), _read_value(c)
            if name and val is not None and unit_of(name) is not None:
                out.append(_Source(name, val, c))
            continue
        if not is_app_module(c.module) or is_generated(c.function):
            continue
        out.extend(_Source(n, v, c) for n, v in _named_values(c.args))
        if c.outcome == "return" and c.end_ts is not None and c.end_ts <= arm.ts:
            out.extend(_Source(n, v, c) for n, v in _named_values(c.value))
            # a function whose name says the unit of what it returns (``target_hours/1`` → 8)
            if unit_of(c.function.rstrip("?!")) is not None and _int(c.value) is not None:
                out.append(_Source(c.function, c.value, c))
            returned.append(c)
    return out, returned


def held(sources: list[_Source], given: int | None) -> list[_Source]:
    """The named values that can tell the amount's unit: a function whose name says a unit and that
    returned the amount itself is the conversion under test (``window_ms(1)`` → 1000), not a
    value held — its name proves nothing."""
    return [x for x in sources if not (x.name == x.call.function and x.value == given)]


def _converter(delay: int, src: _Source, returned: list[Call], armer: Call) -> Call | None:
    # ``delay``: the amount as the arm took it (ms for a timer, the unit's amount for time arithmetic)
    """The application call nearest before the arm that returned the delay itself, given the
    named value (in a map or keyword list, or the bare number) — the function that made the delay
    from it; not the armer itself."""
    for c in returned:
        if c.call_id == armer.call_id or _read_value(c) != delay:
            continue
        if any(n == src.name and v == src.value for n, v in _named_values(c.args)) or src.value in c.args:
            return c
    return None


def _mismatch(delay: int, sources: list[_Source]) -> tuple[_Source, int, int] | None:
    """The first named value the delay is a scaling of in the wrong unit — none when any named
    value gives it in its own unit (then the delay is right)."""
    wrong = None
    for s in sources:
        unit = unit_of(s.name)
        if unit is None:
            continue
        if unit and delay == s.value * unit:
            return None
        if wrong is not None:
            continue
        if unit == 0:
            if delay == s.value and delay < 10:
                wrong = (s, 1, 0)
            continue
        for f in _FACTORS:
            if f != unit and delay == s.value * f:
                wrong = (s, f, unit)
                break
    return wrong


def _amount(m: "_Mismatch") -> str:
    """A time-arithmetic call's amount as it took it: ``480 :second``."""
    at = SHIFTS[(m.arm.module, m.arm.function, m.arm.arity)]
    unit = m.arm.args[at[1]] if len(m.arm.args) > at[1] else Atom("second")
    return f"{m.given} {fmt(unit, 20)} ({m.delay} ms)"


def _unit_word(ms: int) -> str:
    return {1: "milliseconds", 1000: "seconds", 60_000: "minutes", 3_600_000: "hours"}.get(ms, f"units of {ms} ms")


#: where the message is in a timer call that sends one
_MESSAGE_AT = {("erlang", "send_after", 3): 2, ("erlang", "send_after", 4): 2, ("erlang", "start_timer", 3): 2,
               ("erlang", "start_timer", 4): 2, ("timer", "send_after", 2): 1, ("timer", "send_after", 3): 2,
               ("timer", "send_interval", 2): 1, ("timer", "send_interval", 3): 2,
               ("Elixir.Process", "send_after", 3): 1, ("Elixir.Process", "send_after", 4): 1}


def _handled(view: RecordingView, arm: Call) -> Call | None:
    """The callback of the arming process that got the timer's message (a ``handle_info/2`` given
    exactly it), when the recording holds it."""
    at = _MESSAGE_AT.get((arm.module, arm.function, arm.arity))
    if at is None or len(arm.args) <= at:
        return None
    msg = fmt(arm.args[at], 200)
    timeout = arm.function == "start_timer"      # delivered as {:timeout, ref, msg}
    for c in view.calls_by_pid.get(arm.pid, []):
        if c.ts <= arm.ts or c.function != "handle_info" or not c.args:
            continue
        got = c.args[0]
        if timeout and isinstance(got, tuple) and len(got) == 3:
            got = got[2]
        if fmt(got, 200) == msg:
            return c
    return None


def _found(view: RecordingView) -> list[_Mismatch]:
    out: list[_Mismatch] = []
    seen: set[tuple] = set()
    n = 0
    for c in view.calls:
        at = DELAYS.get((c.module, c.function, c.arity))
        shift = shift_ms(c) if at is None else None
        if (at is None or len(c.args) <= at) and shift is None:
            continue
        n += 1
        if n > MAX_ARMS:
            break
        delay, given = (shift if shift is not None else (_int(c.args[at]), _int(c.args[at])))
        # DateTime.add/3 calls DateTime.add/4: one shift, seen once
        if c.parent is not None and c.parent.module == c.module and c.parent.function == c.function:
            continue
        armer = named_app_caller(c, MAX_UP)
        if delay is None or armer is None:
            continue
        # Process.send_after calls :erlang.send_after: one arm, seen once
        if c.parent is not None and (c.parent.module, c.parent.function) == ("Elixir.Process", "send_after"):
            continue
        sources, returned = _sources(view, c, armer)
        sources = held(sources, given)
        hit = _mismatch(delay, sources)
        if hit is None:
            continue
        src, factor, unit = hit
        key = (armer.module, armer.function, armer.arity, src.name, delay)
        if key in seen:
            continue
        seen.add(key)
        out.append(_Mismatch(c, armer, delay, src, factor, unit, _converter(given, src, returned, armer), given))
    return out


def durations_wrong_unit(view: RecordingView, book: FactBook) -> None:
    found = _found(view)
    # a value read in one unit and armed in another (a known unit in its name) before a bare small one
    found.sort(key=lambda m: (m.unit == 0, m.arm.ts))
    made = 0
    by_fun: dict[tuple, int] = defaultdict(int)
    for m in found:
        by_fun[(m.armer.module, m.armer.function, m.source.name)] += 1
    done: set[tuple] = set()
    for m in found:
        if made >= MAX_FACTS:
            return
        k = (m.armer.module, m.armer.function, m.source.name)
        if k in done:
            continue
        done.add(k)
        made += 1
        src, delay = m.source, m.delay
        blamed = m.converter or m.armer
        arm_name = f"{m.arm.module.removeprefix('Elixir.')}.{m.arm.function}/{m.arm.arity}".lstrip(":")
        shift = (m.arm.module, m.arm.function, m.arm.arity) in SHIFTS
        if m.unit == 0:
            meant = f"{src.name}: {src.value} — a duration no one means in milliseconds"
            off = f"{src.value} ms"
            why = (f"{src.name} says no unit, and {src.value} is a setting's number (seconds, minutes), "
                   f"not {src.value} milliseconds")
        else:
            right = src.value * m.unit
            ratio = right / delay
            meant = f"{src.name}: {src.value} ({src.value} {_unit_word(m.unit)} = {right} ms)"
            off = (f"{delay} ms, {ratio:g}× too short" if ratio > 1 else f"{delay} ms, {1 / ratio:g}× too long")
            why = (f"{src.name} is in {_unit_word(m.unit)}, " + (f"the time was shifted by {_amount(m)}: " if shift else
                                                                 "the timer takes milliseconds: ")
                   + ("the value went in unconverted" if m.factor == 1 else
                      f"it was multiplied by {m.factor} ({'converted again' if m.unit == 1 else 'the wrong factor'})"))
        ev = [view.call_evidence(src.call, f"{src.call.mfa} held {src.name}: {src.value}"
                                           if src.call.module not in ("Elixir.Application", "Elixir.Keyword", "Elixir.Map")
                                           else f"{src.call.mfa} read {src.name} → {src.value}")]
        if m.converter is not None:
            ev.append(view.end_evidence(m.converter, f"{m.converter.mfa} returned {m.given} as the delay"))
        ev.append(view.call_evidence(m.arm, f"{m.armer.mfa} called {arm_name} with "
                                            + (_amount(m) if shift else f"{delay} ms")))
        fired = _handled(view, m.arm)
        if fired is not None:
            after = (fired.ts - m.arm.ts) * 1000.0 / view.time_unit
            ev.append(view.call_evidence(fired, f"{fired.mfa} got the timer's message {after:.1f} ms later"))
        culprit = culprit_of(view, blamed)
        culprit.detail = f"{src.name}: {src.value} → " + (_amount(m) if shift else f"{delay} ms")
        again = by_fun[(m.armer.module, m.armer.function, src.name)]
        book.add(Finding(
            detector="duration_wrong_unit",
            title=(f"{blamed.mfa} shifts a time by {_amount(m)} from {src.name}: {src.value}" if shift else
                   f"{blamed.mfa} turns {src.name}: {src.value} into a {delay} ms timer"),
            summary=(f"{m.armer.mfa} called {arm_name} with " + (_amount(m) if shift else f"{delay} ms")
                     + (f" (made by {m.converter.mfa} from {fmt(m.converter.args, 60)})" if m.converter else "")
                     + f", where the program holds {meant}: {why}. " + ("The time is off: " if shift else "The timer runs for ")
                     + off
                     + (f"; {again} such arms in the recording" if again > 1 else "") + "."),
            severity="high", confidence=0.55 if m.unit == 0 else 0.76,
            culprit=culprit,
            evidence=ev, causal_chain=ev[:3],
            signatures=["timer:wrong_unit"],
            weak=("the setting's name says no unit: a few milliseconds may be meant" if m.unit == 0 else None),
            fix_hint=("Convert once, where the setting is read, and say the unit in the name: "
                      "`:timer.seconds(ttl_seconds)` or `System.convert_time_unit(v, :second, :millisecond)` "
                      "for a value in seconds; pass a value already in milliseconds on unchanged.")),
            pid=blamed.pid, ts=m.arm.ts)
