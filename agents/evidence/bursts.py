"""Work done many times at once that should have been done once.

| kind | what | culprit |
| --- | --- | --- |
| ``stampede`` | many processes make the same call with the same arguments at the same moment — each started before the first one returned (a cold cache, every reader fetching for itself) | the application function the calls are made from |
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .silent import _culprit

MIN_PROCS = 5


def _caller(c: Call) -> Call | None:
    """The nearest enclosing application function (skipping library frames, anonymous
    functions and recursion)."""
    up = c.parent
    while up is not None and (not is_app_module(up.module) or up.function.startswith("-")
                              or (up.module, up.function) == (c.module, c.function)):
        up = up.parent
    return up


def stampedes(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls:
        if is_app_module(c.module) and c.args and not c.function.startswith(("-", "handle_", "init")) \
                and c.end_ts is not None:
            groups[(c.module, c.function, c.arity, fmt(c.args, 300))].append(c)
    cands: list[tuple[list[Call], set[int]]] = []
    for key in sorted(groups, key=str):
        calls = sorted(groups[key], key=lambda c: c.ts)
        if len({c.pid for c in calls}) < MIN_PROCS:
            continue
        first_end = min(c.end_ts for c in calls)
        burst = [c for c in calls if c.ts < first_end]
        pids = {c.pid for c in burst}
        if len(pids) >= MIN_PROCS:
            cands.append((burst, pids))
    # a burst of calls that each only wrap a burst further in (everyone asks the cache, the
    # cache asks the provider) is the same stampede: the innermost one names it
    enclosing: set[int] = set()
    for burst, _p in cands:
        for c in burst:
            up = c.parent
            while up is not None:
                enclosing.add(up.call_id)
                up = up.parent
    done: set[tuple] = set()
    for burst, pids in cands:
        if sum(c.call_id in enclosing for c in burst) * 2 > len(burst):
            continue
        callers = [x for x in (_caller(c) for c in burst) if x is not None]
        where = callers[0] if callers else burst[0]
        if (where.module, where.function, burst[0].function) in done:
            continue
        done.add((where.module, where.function, burst[0].function))
        c0 = burst[0]
        book.add(Finding(
            detector="stampede",
            title=f"{len(pids)} processes call {c0.mfa}({fmt(c0.args, 40)}) at the same moment",
            summary=(f"{len(burst)} calls of {c0.mfa} with the same arguments ({fmt(c0.args, 60)}) from {len(pids)} "
                     f"processes started before the first of them returned"
                     + (f", each from {where.mfa}" if callers else "")
                     + ": every caller found nothing (a cold cache, an expired entry) and did the work itself, at once "
                       "— a stampede on whatever that call costs (an external API's quota, a database)."),
            severity="high", confidence=0.7, culprit=_culprit(view, where, c0.args[0] if len(c0.args) == 1 else c0.args),
            evidence=[view.call_evidence(x, f"{view.label(x.pid)} calls {x.mfa}({fmt(x.args, 40)})") for x in burst[:5]],
            signatures=["call:stampede"],
            fix_hint="Let one process fetch and the others wait for its answer (a GenServer that owns the refresh and "
                     "replies to every waiting caller), or refresh before expiry; never let every reader fetch on a miss."),
            pid=c0.pid, ts=c0.ts)
