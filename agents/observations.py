"""What a recording shows, when no fact explains the symptom: leads for the person reading the
report, not evidence for a verdict.

A diagnosis that ends inconclusive (or with problems but no root cause) still recorded thousands
of calls; a developer reading its report wants to know what in them looks wrong before deciding
what to record next. :func:`observe` picks, from the last round's recording, the few things an
experienced developer would look at first, each with the event it was seen at (for time travel):

- application functions that raised, and processes that exited abnormally;
- application functions whose returns were failures (``{:error, _}``, ``:error``, ``:timeout``,
  ``{:exit, _}``) — how many of their calls, and the first;
- checks and computations that gave one *empty* answer to varied arguments (``false``, ``nil``,
  ``0``, ``0.0``, ``[]``, ``%{}``, ``""``) — a filter refusing everything, a total stuck at zero;
- GenServers whose state never changed through the callbacks they ran (messages handled, nothing
  kept);
- the slowest application calls, when one took long.

Nothing here changes the verdict or the ranking; it is bounded (:data:`MAX_CALLS` calls looked at,
:data:`MAX_OBSERVATIONS` lines) and total (a term it cannot read is skipped).

When no fact and no hypothesis names anything, :func:`lead` offers the strongest of these as the
report's *suspect* (where to look first, confidence 0.2, labelled not a verdict): the deepest
application function whose every call failed (two or more), else one that gave one empty answer to
every call, else the deepest that raised (two or more calls), else — when the symptom speaks of
slowness or a timeout — the slowest call followed down to where its time went, else the deepest
function called only once whose one call failed, then raised (one clear failure is a better
pointer than a report that names nothing). Otherwise a slow call, an unchanged state or an exit
is shown, never made a suspect (each has ordinary reasons).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from .evidence.common import callback_states, culprit_of, is_empty, is_generated
from .findings import Evidence, Finding
from .view import Call, RecordingView, fmt, is_app_module

MAX_OBSERVATIONS = 8
MAX_CALLS = 50_000      # calls looked at (the first ones of the recording)
MIN_SAME = 4            # calls, with at least 3 different arguments, for "one answer to all"
MIN_UNCHANGED = 3       # callbacks of a process whose state never changed
SLOW_MS = 100.0         # an application call this long is worth naming

_FAILURES = ("error", "timeout")


def _atom(x: Any, *names: str) -> bool:
    return isinstance(x, Atom) and x.name in names


def failure(value: Any) -> str | None:
    """How a return says it failed (``{:error, :enoent}`` → ``"{:error, _}"``), or None."""
    if _atom(value, *_FAILURES):
        return f":{value.name}"
    if isinstance(value, tuple) and value and isinstance(value[0], Atom):
        tag = value[0].name
        if tag in ("error", "timeout", "exit"):
            return f"{{:{tag}, _}}"
    return None


def empty(value: Any) -> bool:
    """An answer that means nothing came out: false, nil, zero, an empty collection or text."""
    return _atom(value, "false") or value is False or value in (b"", "") or is_empty(value)


def _key(term: Any) -> str:
    return fmt(term, 200)


def _app_calls(view: RecordingView) -> list[Call]:
    """The application's calls (not generated functions, ``__info__``, nor the trigger itself:
    the outermost call of an rpc worker returns whatever it ran); computed once per view
    (:func:`observe` and :func:`lead` both ask)."""
    cached = getattr(view, "_es_observed_calls", None)
    if cached is None:
        cached = [c for c in view.calls[:MAX_CALLS]
                  if is_app_module(c.module) and not is_generated(c.function) and not c.function.startswith("__")
                  and not (c.pid in view.rpc_workers and c.parent is None)]
        view._es_observed_calls = cached
    return cached


def _raised(view: RecordingView, calls: list[Call]) -> list[tuple[int, Evidence]]:
    by: dict[str, list[Call]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for c in calls:
        total[c.mfa] += 1
        if c.outcome == "exception":
            by[c.mfa].append(c)
    out = []
    for mfa, cs in by.items():
        first = cs[0]
        out.append((len(cs), view.end_evidence(
            first, f"{mfa} raised in {len(cs)} of {total[mfa]} call(s); the first: {fmt(first.value, 100)}")))
    return out


def _exits(view: RecordingView) -> list[tuple[int, Evidence]]:
    bad = [e for e in view.exits if not (_atom(e.reason, "normal", "shutdown")
                                         or (isinstance(e.reason, tuple) and e.reason
                                             and _atom(e.reason[0], "shutdown")))]
    if not bad:
        return []
    first = min(bad, key=lambda e: e.ts)
    more = f" (and {len(bad) - 1} more process exit(s) like it)" if len(bad) > 1 else ""
    return [(len(bad), view.evidence(first.event_id, "exit", first.ts, first.pid,
                                     f"{view.label(first.pid)} exited: {fmt(first.reason, 100)}{more}"))]


def _failed(view: RecordingView, calls: list[Call]) -> list[tuple[int, Evidence]]:
    by: dict[tuple[str, str], list[Call]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for c in calls:
        if c.outcome != "return":
            continue
        total[c.mfa] += 1
        how = failure(c.value)
        if how is not None:
            by[(c.mfa, how)].append(c)
    out = []
    for (mfa, how), cs in by.items():
        first = cs[0]
        out.append((len(cs), view.end_evidence(
            first, f"{mfa} returned {how} in {len(cs)} of {total[mfa]} call(s); the first: "
                   f"{fmt(first.value, 80)} for {fmt(first.args, 80)}")))
    return out


def _one_empty_answer(view: RecordingView, calls: list[Call]) -> list[tuple[int, Evidence]]:
    by: dict[str, list[Call]] = defaultdict(list)
    for c in calls:
        if c.outcome == "return" and not c.function.startswith(("handle_", "init", "terminate", "code_change")):
            by[c.mfa].append(c)
    out = []
    for mfa, cs in by.items():
        if len(cs) < MIN_SAME:
            continue
        answers = {_key(c.value) for c in cs}
        if len(answers) != 1 or not empty(cs[0].value):
            continue
        args = {_key(c.args) for c in cs}
        if len(args) < 3:
            continue
        out.append((len(cs), view.end_evidence(
            cs[0], f"{mfa} answered {fmt(cs[0].value, 40)} to all {len(cs)} of its calls "
                   f"({len(args)} different arguments, e.g. {fmt(cs[0].args, 80)})")))
    return out


def _unchanged_state(view: RecordingView, calls: list[Call]) -> list[tuple[int, Evidence]]:
    states = callback_states(view)
    by_pid: dict[int, list[Call]] = defaultdict(list)
    changed: set[int] = set()
    for c in calls:
        pair = states.get(c.call_id)
        if pair is None or c.function == "handle_info" and _timer_tick(c):
            continue
        by_pid[c.pid].append(c)
        try:
            if not pair[0] == pair[1]:
                changed.add(c.pid)
        except Exception:   # terms that cannot be compared count as changed (no claim)
            changed.add(c.pid)
    out = []
    for pid, cs in by_pid.items():
        if pid in changed or len(cs) < MIN_UNCHANGED:
            continue
        kinds = sorted({c.function for c in cs})
        out.append((len(cs), view.call_evidence(
            cs[0], f"{view.label(pid)}'s state did not change through the {len(cs)} callback(s) it ran "
                   f"({', '.join(kinds)}); the first handled {fmt(cs[0].args[0] if cs[0].args else None, 80)}")))
    return out


def _timer_tick(c: Call) -> bool:
    """A bare atom message (``:tick``, ``:sweep``): periodic work may rightly change nothing."""
    return bool(c.args) and isinstance(c.args[0], Atom)


def _slowest(view: RecordingView, calls: list[Call]) -> list[tuple[int, Evidence]]:
    # a span across events the capture dropped may hold several calls: no duration, no lead
    timed = [(d, c) for c in calls if (d := c.duration(view.time_unit)) is not None and d >= SLOW_MS
             and not view.crosses_gap(c)]
    if not timed:
        return []
    timed.sort(key=lambda t: -t[0])
    timed = timed[:200]

    def inside(c: Call, d: float) -> bool:
        """A call that ran within ``c`` (any process: the callee of its GenServer call) and took
        most of its time: name that one, not each caller on the way to it."""
        return any(x is not c and x.ts >= c.ts and x.end_ts <= c.end_ts and dx >= 0.8 * d for dx, x in timed)

    seen: set[str] = set()
    out = []
    for d, c in timed:
        if c.mfa in seen or inside(c, d):
            continue
        seen.add(c.mfa)
        n = sum(1 for _, x in timed if x.mfa == c.mfa)
        out.append((n, view.call_evidence(
            c, f"{c.mfa} took {d:,.0f} ms" + (f" ({n} of its calls took {SLOW_MS:.0f} ms or more)" if n > 1 else "")
               + f", called with {fmt(c.args, 80)}")))
        if len(out) == 2:
            break
    return out


def observe(view: RecordingView) -> list[Evidence]:
    """At most :data:`MAX_OBSERVATIONS` leads from the recording, the most telling kinds first and,
    within a kind, the most frequent first."""
    calls = _app_calls(view)
    out: list[Evidence] = []
    for finder in (lambda: _raised(view, calls), lambda: _exits(view), lambda: _failed(view, calls),
                   lambda: _one_empty_answer(view, calls), lambda: _unchanged_state(view, calls),
                   lambda: _slowest(view, calls)):
        try:
            found = finder()
        except Exception:   # leads are a courtesy: one that cannot be read is left out
            continue
        out += [e for _, e in sorted(found, key=lambda t: -t[0])[:3]]
        if len(out) >= MAX_OBSERVATIONS:
            break
    return out[:MAX_OBSERVATIONS]


def _deepest(view: RecordingView, calls: list[Call], pick, least: int = 2) -> tuple[Call, list[Call]] | None:
    """The deepest function (by call depth, then the most calls) whose calls ``pick`` selects,
    with those calls: the callers of a failing function pass its failure on. ``least``: the
    fewest such calls (one only for a function that was called once: its every call failed)."""
    by: dict[str, list[Call]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for c in calls:
        if c.outcome is None:
            continue
        total[c.mfa] += 1
        if pick(c):
            by[c.mfa].append(c)
    best = None
    for mfa, cs in by.items():
        if len(cs) < min(2, least if total[mfa] == 1 else 2) or len(cs) < 0.8 * total[mfa]:
            continue
        key = (min(c.depth for c in cs), len(cs))
        if best is None or key > best[0]:
            best = (key, cs)
    return (best[1][0], best[1]) if best else None


def _where_slow(view: RecordingView, calls: list[Call]) -> tuple[Call, float] | None:
    """The slowest application call (:data:`SLOW_MS` or more) followed down to where its time went:
    the nested call — in its process, or the callback a call it made was answered by — that alone
    covers most of it, as deep as one does (``slow_callback.hot_path``)."""
    from .detectors.slow_callback import hot_path

    timed = [(d, c) for c in calls if (d := c.duration(view.time_unit)) is not None and d >= SLOW_MS
             and not view.crosses_gap(c)]
    if not timed:
        return None
    d, c = max(timed, key=lambda t: (t[0], -t[1].ts))
    path = hot_path(view, c)
    hot = path[-1] if path else c
    return hot, hot.duration(view.time_unit) or d


def lead(view: RecordingView, slow: bool = False) -> Finding | None:
    """The strongest lead as a suspect (see the module's doc), or None. ``slow``: the symptom
    says something is slow or times out — then, with no failing or empty answers and nothing
    raised, the slowest call, followed to where its time went, is where to look first."""
    from .detectors.slow_callback import timed_out

    try:
        calls = _app_calls(view)
        # with a slow symptom a returned timeout is the symptom itself, not a lead to it
        found = _deepest(view, calls, lambda c: c.outcome == "return" and failure(c.value) is not None
                         and not (slow and timed_out(c.value)))
        how = "returned a failure"
        if found is None:
            empties = [e for _, e in _one_empty_answer(view, calls)]
            if empties:
                mfa = empties[0].mfa
                cs = [c for c in calls if c.mfa == mfa and c.outcome == "return"]
                found, how = (cs[0], cs), "gave the same empty answer"
        if found is None:
            found = _deepest(view, calls, lambda c: c.outcome == "exception")
            how = "raised"
        if found is None and slow:
            hot = _where_slow(view, calls)
            if hot is not None:
                c, d = hot
                return Finding(
                    detector="lead", title=f"{c.mfa} is where the slowest call's time went ({d:,.0f} ms)",
                    summary=(f"No fact in the recording explains the symptom, which speaks of slowness. The slowest "
                             f"application call spent its time in {c.mfa} ({d:,.0f} ms, called with {fmt(c.args, 80)}): "
                             "the functions around it only waited for it."),
                    severity="low", confidence=0.2, culprit=culprit_of(view, c, c.args),
                    evidence=[view.call_evidence(c)] + ([view.end_evidence(c)] if c.end_id is not None else []),
                    weak="a lead from the recording, not a fact that explains the symptom")
        if found is None:
            # one call, the function's only one, that failed or raised: a clear return or stack is
            # still a better pointer than none (after the slow path: a slow symptom's time comes first)
            found = _deepest(view, calls, lambda c: c.outcome == "return" and failure(c.value) is not None
                             and not (slow and timed_out(c.value)), least=1)
            how = "returned a failure"
            if found is None:
                found = _deepest(view, calls, lambda c: c.outcome == "exception", least=1)
                how = "raised"
        if found is None:
            return None
        first, cs = found
        culprit = culprit_of(view, first, first.args)
        ev = [view.end_evidence(c) for c in cs[:3]]
        return Finding(
            detector="lead", title=f"{first.mfa} {how} in {len(cs)} of its calls",
            summary=(f"No fact in the recording explains the symptom. The strongest lead: {first.mfa} {how} in "
                     f"{len(cs)} call(s), e.g. {fmt(first.value, 80)} for {fmt(first.args, 80)}; the functions that "
                     "called it only passed that on."),
            severity="low", confidence=0.2,
            culprit=culprit,
            evidence=ev, weak="a lead from the recording, not a fact that explains the symptom")
    except Exception:   # a lead is a courtesy: none rather than a failed report
        return None


__all__ = ["observe", "lead", "failure", "empty", "MAX_OBSERVATIONS"]
