"""Callbacks that run far too often: a process that keeps itself busy on a message it schedules
for itself, and a periodic timer whose rate jumps after a reconfiguration.

| kind | what | culprit |
| --- | --- | --- |
| ``hot_callback`` | one callback of a process runs far more often than every other, on a message it sends itself, and keeps going (also when the capture dropped most of it: :mod:`.loop_window`) | the application function it calls to reschedule, else the callback |
| ``rate_change`` | a timer's callback runs faster after another callback of the process than any interval it was given (not a bounded run of steps, not messages the process sends itself with ``send/2``) | the callback that changed the timer (or the conversion that changed the interval) |

These are the bugs behind "CPU is busy doing nothing" and "it got faster after we changed the
setting".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..findings import Finding
from ..view import RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, fed_by_others, is_generated, message_senders, message_shape
from .loop_window import MIN_LOOP_SPAN, ONE_AT_A_TIME, loop_window, one_at_a_time


HOT_RATE = 20.0       # callbacks per second on one self-scheduled message shape
HOT_SHARE = 0.6       # …and this share of all its callbacks


def hot_callbacks(view: RecordingView, book: FactBook) -> None:
    for pid in sorted(view.calls_by_pid):
        cbs = [c for c in view.calls_by_pid[pid] if c.function in ("handle_info", "handle_cast") and c.args]
        if len(cbs) < 30:
            continue
        shapes = Counter((c.module, c.function, message_shape(c.args[0])) for c in cbs)
        (mod, fun, shape), n = sorted(shapes.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
        hits = [c for c in cbs if (c.module, c.function, message_shape(c.args[0])) == (mod, fun, shape)]
        # a burst is not a loop: a hot callback keeps going — seen for a while, or cut off by the
        # capture's drops while still running (a busy loop overruns the capture within ~0.1 s)
        win = loop_window(view, pid, hits)
        if not win.is_loop:
            continue
        span, rate = win.span, win.rate
        if rate < HOT_RATE or n < HOT_SHARE * len(cbs):
            continue
        # a process that schedules its own work (timer messages: no sender, or itself), not one
        # that is fed by others (that is mailbox pressure, not a hot loop)
        fed = fed_by_others(view, pid, hits)
        if fed > 0.2 * len(hits):
            continue
        # messages from senders the capture did not trace: self-scheduled only when one came at a time
        senders = message_senders(view)
        unseen = sum(1 for h in hits if h.call_id not in senders)
        if unseen > 0.2 * len(hits) and one_at_a_time(view, pid, hits, shape) < ONE_AT_A_TIME:
            continue
        # the helper that reschedules lives in the callback's own module (an API of another module is work, not timing)
        helpers = Counter((x.module, x.function, x.arity) for h in hits for x in view.children(h)
                          if x.module == h.module and not is_generated(x.function))
        c0 = hits[0]
        culprit = culprit_of(view, c0, c0.args[0])
        if helpers:
            (hm, hf, ha), _ = sorted(helpers.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
            inner = next(x for x in view.calls_by_pid[pid] if (x.module, x.function, x.arity) == (hm, hf, ha))
            culprit = culprit_of(view, inner, inner.args[0] if len(inner.args) == 1 else inner.args or None)
        steady = _steady(view, pid, hits)
        paced = None if steady else _paced_by_work(view, pid, hits)
        book.add(Finding(
            detector="hot_callback",
            title=f"{view.label(pid)} runs {c0.mfa} on {shape} {rate:.0f} times a second",
            summary=(f"{view.label(pid)} handled {len(hits)} {shape} messages in {span * 1000:.0f} ms ({rate:.0f}/s), "
                     f"{n * 100 // len(cbs)}% of its work and {win.share:.0%} of every call stored meanwhile: a timer "
                     "rescheduled far too fast (an interval in the wrong unit, or 0) or a message it sends itself at "
                     "once keeps it busy doing the same thing." + win.describe() + _reductions(view, pid)),
            severity="high", confidence=0.65, culprit=culprit,
            evidence=[view.call_evidence(h, f"{h.mfa} got {fmt(h.args[0], 60)}") for h in hits[:3]],
            signatures=["callback:rate_high", "reductions:high", "timer:leak"],
            fix_hint="Check the interval (milliseconds, not seconds) and reschedule only once per tick.",
            weak=steady or paced, lifted_by=["cpu", "rate"] if steady else ["rate"] if paced else []),
            pid=pid, ts=c0.ts)


def _reductions(view: RecordingView, pid: int) -> str:
    """The process's reductions as the resource samples saw them (per second between two samples)."""
    seen = [(r.ts, p.reductions) for r in view.resources for p in r.processes if p.proc == pid]
    if len(seen) >= 2 and seen[-1][0] > seen[0][0]:
        per_s = (seen[-1][1] - seen[0][1]) * view.time_unit / (seen[-1][0] - seen[0][0])
        return f" Its reductions grew {per_s:,.0f} a second between the node's samples."
    if seen:
        return f" The node's sample counted {seen[-1][1]:,} reductions for it."
    return ""


STEADY_RATIO = 1.5    # first and last third of a loop within this factor of each other: one rate throughout


def _steady(view: RecordingView, pid: int, hits: list) -> str | None:
    """Why the loop is no evidence of a change: it ran at one rate from its first tick to its last,
    and no other callback of the process came before it (a callback that changed its settings
    would show where it began) — a tick by design, or the pace of work the trigger started.
    None when it changed."""
    first = hits[0]
    ids = {h.call_id for h in hits}
    if any(c.ts < first.ts and c.depth == 0 and c.call_id not in ids and c.function.startswith("handle_")
           for c in view.calls_by_pid.get(pid, [])):
        return None   # another callback ran before it: that may have set the loop going
    third = len(hits) // 3
    if third < 3:
        return None
    rates = []
    for part in (hits[:third], hits[-third:]):
        span = (part[-1].ts - part[0].ts) / view.time_unit
        if span <= 0:
            return None
        rates.append((len(part) - 1) / span)
    if max(rates) > STEADY_RATIO * min(rates):
        return None
    return (f"{view.label(pid)} ran {first.mfa} at the same rate ({rates[0]:.0f}/s, then {rates[1]:.0f}/s) from its "
            "first tick to its last, and nothing else the process did came before it: a steady tick, by design "
            "or not, is no evidence on its own")


POLL_SHARE = 0.8      # share of ticks that ask another module for work: a poll
POLL_MIN_MS = 10.0    # …rescheduled at human-chosen intervals, not a runaway (a wrong unit gives 1 ms)


def _paced_by_work(view: RecordingView, pid: int, hits: list) -> str | None:
    """Why the loop is no evidence on its own: it is a poll whose pace follows the work it finds —
    nearly every tick asks another module for work, and the interval to the next tick depends on
    the answer (e.g. ~20 ms after ``:empty``, ~80 ms after a piece of work), each 10 ms and more:
    an interval chosen per tick by design. None otherwise."""
    by_answer: dict[str, list[float]] = {}
    for a, b in zip(hits, hits[1:]):
        ask = next((x for x in view.children(a) if is_app_module(x.module) and x.module != a.module
                    and x.outcome == "return"), None)
        if ask is not None:
            v = ask.value
            shape = (f"{{{fmt(v[0], 30)}, …}}" if isinstance(v, tuple) and v else fmt(v, 40))
            by_answer.setdefault(shape, []).append((b.ts - a.ts) * 1000.0 / view.time_unit)
    if sum(len(g) for g in by_answer.values()) < POLL_SHARE * (len(hits) - 1):
        return None
    medians = {k: sorted(g)[len(g) // 2] for k, g in by_answer.items() if len(g) >= 3}
    if len(medians) < 2:
        return None
    (fast_k, lo), (slow_k, hi) = min(medians.items(), key=lambda kv: kv[1]), max(medians.items(), key=lambda kv: kv[1])
    if lo < POLL_MIN_MS or hi < 2 * lo:
        return None
    return (f"{view.label(pid)} polls: each {hits[0].mfa} asks another process for work and reschedules itself by "
            f"the answer (about {lo:.0f} ms after {fast_k}, {hi:.0f} ms after {slow_k}) — a pace chosen by design, "
            "following the work, is no evidence on its own")


def _ints(term: Any, depth: int = 0) -> list[int]:
    if isinstance(term, bool):
        return []
    if isinstance(term, int):
        return [term] if 5 <= term <= 3_600_000 else []
    if depth > 3:
        return []
    if isinstance(term, (list, tuple)):
        return [i for t in term[:20] for i in _ints(t, depth + 1)]
    if isinstance(term, dict):
        return [i for v in list(term.values())[:20] for i in _ints(v, depth + 1)]
    return []


def _given_interval(msg: Any) -> list[int]:
    """The numbers of a control message that may be the interval it gives the timer: one or two
    (``{:set_interval, 200}``, ``{:configure, 200, 5_000}``). A message carrying more is data — a
    batch of readings, amounts, ids — and says nothing about the timer: none then (the rate is
    compared with the rate before instead)."""
    found = _ints(msg)
    return found if len(set(found)) <= 2 else []


def rate_changes(view: RecordingView, book: FactBook) -> None:
    """A self-scheduled callback (a periodic timer) whose rate jumps after another callback of
    the same process ran — faster than any interval that callback was given: the old timer
    was not cancelled when a new one was started, so every change adds a timer."""
    senders = message_senders(view)
    for pid in sorted(view.calls_by_pid):
        calls = view.calls_by_pid[pid]
        periodic = [c for c in calls if c.function == "handle_info" and c.args and
                    not (c.call_id in senders and senders[c.call_id].pid != pid)]
        if len(periodic) < 8:
            continue
        shape = Counter(message_shape(c.args[0]) for c in periodic).most_common(1)[0][0]
        ticks = [c.ts for c in periodic if message_shape(c.args[0]) == shape]
        controls = [c for c in calls if c.function in ("handle_call", "handle_cast") and c.end_ts is not None]
        if len(ticks) < 8 or not controls:
            continue
        end = ticks[-1]
        best = None
        for i, k in enumerate(controls):
            nxt = controls[i + 1].ts if i + 1 < len(controls) else end
            after = [t for t in ticks if k.end_ts <= t <= nxt]
            if len(after) < 4:
                continue
            span = (after[-1] - after[0]) / view.time_unit
            if span <= 0:
                continue
            rate = (len(after) - 1) / span
            intervals = _given_interval(k.args[0] if k.args else None)
            expected = max((1000.0 / i for i in intervals), default=None)
            before = [t for t in ticks if t < k.ts]
            prev_rate = None
            if len(before) >= 3:
                bspan = (before[-1] - before[0]) / view.time_unit
                prev_rate = (len(before) - 1) / bspan if bspan > 0 else None
            ratio = rate / expected if expected else (rate / prev_rate if prev_rate else 0.0)
            if ratio >= 1.6 and (best is None or ratio > best[0]):
                best = (ratio, k, rate, expected, prev_rate, after)
        if best is None:
            continue
        ratio, k, rate, expected, prev_rate, after = best
        later = [c for c in periodic if message_shape(c.args[0]) == shape and c.ts >= k.end_ts]
        if len(later) >= 2 and loop_window(view, pid, later).stopped_for >= MIN_LOOP_SPAN:
            continue   # the ticks stopped while the recording went on: a bounded run of work, not a timer
        if sum(1 for c in later if c.call_id in senders and senders[c.call_id].pid == pid) > 0.8 * len(later):
            continue   # sent by the process itself at once (send/2), not by a timer: no interval to compare (hot_callback)
        culprit = culprit_of(view, k, k.args[0] if k.args else None)
        converted = ""
        configured = set(_ints(k.args[0] if k.args else None))
        for x in view.children(k):
            # the configured value went through a conversion that changed it (the wrong unit)
            if x.outcome == "return" and is_app_module(x.module) and not is_generated(x.function) \
                    and isinstance(x.value, int) and not isinstance(x.value, bool) \
                    and any(a in configured for a in x.args if isinstance(a, int)) and x.value not in configured:
                culprit = culprit_of(view, x, x.args[0] if len(x.args) == 1 else x.args)
                converted = f" {x.mfa} turned {fmt(x.args, 40)} into {x.value}, the interval actually used."
                break
        than = (f"{ratio:.1f}× the {1000.0 / expected:.0f} ms interval it was given" if expected
                else f"{ratio:.1f}× its rate before ({prev_rate:.1f}/s)")
        book.add(Finding(
            detector="rate_change",
            title=f"{view.label(pid)}'s {shape} timer runs {than} after {k.mfa}",
            summary=(f"After {k.mfa} handled {fmt(k.args[0] if k.args else None, 80)}, {view.label(pid)} handled {shape} "
                     f"{rate:.1f} times a second — {than}: the previous timer was not cancelled when the new one "
                     "started, so each change adds one more periodic timer — or the interval it set is not "
                     "the one it was given." + converted),
            severity="high", confidence=0.75, culprit=culprit,
            evidence=[view.call_evidence(k)] + [view.evidence(None, "sample", t, pid, f"{shape} handled") for t in after[:0]]
                     + [view.call_evidence(c) for c in periodic if c.ts in set(after[:4])],
            signatures=["callback:rate_high", "timer:leak"],
            fix_hint=("Keep the timer reference in the state and Process.cancel_timer/1 it before starting a new one "
                      "(or use a single :timer.send_interval and replace it).")),
            pid=pid, ts=k.ts)
