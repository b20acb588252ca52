"""Runs of one job that overlap and do the same thing twice.

A job started on a fixed interval in a new process each time (``:timer.apply_interval/4``, a
``Task`` per tick, one worker per request for the same key) can start again before its last run
has finished. When each run checks "not done yet", does slow work, and only then marks the work
done, two overlapping runs both pass the check and both act: the user sees everything twice. The
recording shows it as two processes running the same outermost function at the same time, both
making the same call with the same arguments (the notification, the booking, the payout).

Only when the symptom speaks of things happening twice (twice, two … a moment apart, duplicate,
double, more than once): the same call with the same arguments from two processes is otherwise
ordinary (two readers of one key).

| kind | what | culprit |
| --- | --- | --- |
| ``overlapping_runs`` | an application function (not a callback) was called with the same arguments from two processes whose outermost calls are the same function, the later run started before the earlier one ended, and both calls changed another process's state (a write, not a read: a callback that ran while each waited left a different state) | that outermost function (the job), with the duplicated call |
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .common import callback_states, culprit_of, is_generated

# the symptom's words for one thing done twice
_TWICE = re.compile(
    r"\b(?:twice|two times|doubled?|duplicated?|duplicates|more than once|again and again|"
    r"two (?:[\w'-]+ ){0,3}(?:a moment|seconds?|milliseconds?|minutes?) apart|(?:listed|sent|charged|booked|"
    r"published|notified|paid|shipped|posted|created) (?:\w+ )?two times)\b", re.I)
MAX_GROUPS = 2000   # distinct (function, arguments) pairs looked at
MAX_FACTS = 3
MAX_SAME = 200      # calls of one (function, arguments) pair compared
MAX_CALLS = 50_000  # calls looked at


def _root(c: Call) -> Call:
    """The outermost named function ``c`` ran in (a process's anonymous entry fun is its spawner's
    code, not the job)."""
    best = c
    while c.parent is not None:
        c = c.parent
        if not is_generated(c.function):
            best = c
    return best


def _is_callback(c: Call) -> bool:
    return c.function.startswith("handle_") or c.function in ("init", "terminate", "code_change")


def overlapping_runs(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls[:MAX_CALLS]:
        if not is_app_module(c.module) or is_generated(c.function) or _is_callback(c):
            continue
        key = (c.module, c.function, c.arity, fmt(c.args, 400))
        if (key in groups or len(groups) < MAX_GROUPS) and len(groups[key]) < MAX_SAME:
            groups[key].append(c)
    states = callback_states(view)
    changed = sorted((h for h in view.calls if h.call_id in states
                      and fmt(states[h.call_id][0], 4000) != fmt(states[h.call_id][1], 4000)), key=lambda h: h.ts)
    times = [h.ts for h in changed]
    found: dict[str, list] = {}
    for key in sorted(groups, key=lambda k: groups[k][0].ts):
        calls = groups[key]
        if len({c.pid for c in calls}) < 2:
            continue
        pair = _overlapping(view, calls)
        if pair is not None and all(_writes(x, changed, times) for x in (pair[0][0], pair[1][0])):
            found.setdefault(pair[0][1].mfa, []).append(pair)
    for mfa in list(found)[:MAX_FACTS]:
        pairs = found[mfa]
        (a, ra), (b, rb) = pairs[-1]   # the last thing both runs did: the effect the user sees
        also = sorted({f"{x.mfa}" for (x, _), _ in pairs[:-1]})[:3]
        u = view.time_unit / 1000.0
        took = (ra.end_ts - ra.ts) / u
        later = (rb.ts - ra.ts) / u
        effect = f"{mod_name(a.module)}.{a.function}/{a.arity}({fmt(a.args, 80)[1:-1]})"
        book.add(Finding(
            detector="overlapping_runs",
            title=f"Two runs of {ra.mfa} overlapped and both called {effect}",
            summary=(f"{ra.mfa} ran in {view.label(ra.pid)} for {took:.0f} ms; {later:.0f} ms after it started, another "
                     f"run began in {view.label(rb.pid)} before the first had ended, and both called {effect} — the "
                     "same call with the same arguments, once per run"
                     + (f" (and before it {', '.join(also)}, twice too)" if also else "")
                     + ". A job started again before its last run finished "
                     "(a fixed interval shorter than a run, a new process per tick) checks what is still to do before "
                     "the earlier run has marked it done, so the work is done twice."),
            severity="high", confidence=0.65,
            culprit=culprit_of(view, ra, effect),
            evidence=[view.call_evidence(ra, f"{ra.mfa} starts in {view.label(ra.pid)}"),
                      view.call_evidence(rb, f"{rb.mfa} starts again in {view.label(rb.pid)} while the first still runs"),
                      view.call_evidence(a, f"{a.mfa}({fmt(a.args, 60)}) from the first run"),
                      view.call_evidence(b, f"{b.mfa}({fmt(b.args, 60)}) from the second run"),
                      view.end_evidence(ra, f"the first run ends {took:.0f} ms after it started")],
            signatures=["process:overlapping_runs"],
            fix_hint=("Do not start a run while the last one is still going: schedule the next run from the end of the "
                      "previous one (Process.send_after in one process), or mark the work taken before the slow part "
                      "(atomically, in the process that owns it) so a second run skips it.")),
            pid=ra.pid, ts=ra.ts, calls=[ra.call_id, rb.call_id, a.call_id, b.call_id])


def _writes(c: Call, changed: list[Call], times: list[int]) -> bool:
    """While ``c`` ran, a callback of another process changed that process's state (``changed``:
    those callbacks in time order): ``c`` did something (booked, sent, marked), it did not only read."""
    end = c.end_ts if c.end_ts is not None else c.ts
    i = bisect_left(times, c.ts)
    return any(h.pid != c.pid for h in changed[i:] if h.ts <= end) if i < len(changed) else False


def _overlapping(view: RecordingView, calls: list[Call]) -> tuple[tuple[Call, Call], tuple[Call, Call]] | None:
    """Two of ``calls`` in different processes whose outermost calls are the same function and
    overlap in time (the later began before the earlier ended): ((call, its root), (call, its root))."""
    rooted = []
    for c in calls:
        r = _root(c)
        if r is c or r.end_ts is None or r.pid in view.rpc_workers or not is_app_module(r.module):
            continue
        rooted.append((c, r))
    rooted.sort(key=lambda cr: cr[1].ts)
    for i, (a, ra) in enumerate(rooted):
        for b, rb in rooted[i + 1:]:
            if rb.pid != ra.pid and rb.mfa == ra.mfa and ra.ts <= rb.ts < ra.end_ts:
                return (a, ra), (b, rb)
    return None


def analyses(symptom: str):
    """The analysis when ``symptom`` speaks of something done twice, else none."""
    return [overlapping_runs] if _TWICE.search(symptom or "") else []
