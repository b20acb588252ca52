"""Work done many times at once that should have been done once.

| kind | what | culprit |
| --- | --- | --- |
| ``stampede`` | many processes make the same call with the same arguments at the same moment — each started before the first one returned (a cold cache, every reader fetching for itself) | the application function the calls are made from |
| ``retry_after_normal_exit`` | a callback for a ``:DOWN``/``:EXIT`` with reason ``:normal`` starts work already done before again | that callback and the notice |
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MIN_PROCS = 5
MIN_MS = 5.0   # median duration of the calls of a burst


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
        # the work must cost something (an external request, a query): a cheap local call that
        # many processes make at once is just concurrency
        took = sorted((c.end_ts - c.ts) * 1000.0 / view.time_unit for c in burst)
        if len(pids) >= MIN_PROCS and took[len(took) // 2] >= MIN_MS:
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
            severity="medium", confidence=0.55,
            culprit=culprit_of(view, where, c0.args[0] if len(c0.args) == 1 else c0.args),
            evidence=[view.call_evidence(x, f"{view.label(x.pid)} calls {x.mfa}({fmt(x.args, 40)})") for x in burst[:5]],
            signatures=["call:stampede"],
            fix_hint="Let one process fetch and the others wait for its answer (a GenServer that owns the refresh and "
                     "replies to every waiting caller), or refresh before expiry; never let every reader fetch on a miss."),
            pid=c0.pid, ts=c0.ts)


def _normal_exit_notice(msg: object) -> bool:
    """``{:DOWN, ref, :process, pid, :normal}`` or ``{:EXIT, pid, :normal}``."""
    from ..view import is_atom

    return (isinstance(msg, tuple) and len(msg) in (3, 5) and (is_atom(msg[0], "DOWN") or is_atom(msg[0], "EXIT"))
            and is_atom(msg[-1], "normal"))


def retries_after_normal_exit(view: RecordingView, book: FactBook) -> None:
    """A process that finished its work and exited ``:normal`` is treated as failed: the
    callback for its ``:DOWN``/``:EXIT`` starts the same work again (a task whose result was
    already handled, whose monitor was not flushed)."""
    def work(c: Call) -> tuple | None:
        """What a call does, without the state it carries and its attempt counter."""
        key = tuple(fmt(a, 200) for a in c.args if not isinstance(a, dict)
                    and not (isinstance(a, int) and not isinstance(a, bool) and abs(a) < 100))
        return (c.module, c.function, c.arity, key) if key else None

    first_seen: dict[tuple, Call] = {}
    for c in sorted(view.calls, key=lambda c: c.ts):
        if is_app_module(c.module) and c.args and not c.function.startswith("-") and (w := work(c)) is not None:
            first_seen.setdefault(w, c)   # (each call's arguments printed once)
    hits: dict[tuple, list[tuple[Call, Call, Call]]] = defaultdict(list)
    for h in view.calls:
        if h.function != "handle_info" or not h.args or not _normal_exit_notice(h.args[0]) or h.end_ts is None:
            continue
        for x in view.children(h):
            if not (h.ts < x.ts <= h.end_ts) or not is_app_module(x.module) or not x.args:
                continue
            before = first_seen.get(w) if (w := work(x)) is not None else None
            if before is not None and before.ts < h.ts:
                hits[(h.pid, h.module)].append((h, x, before))
    for (pid, _mod), rows in sorted(hits.items()):
        h, x, before = rows[0]
        book.add(Finding(
            detector="retry_after_normal_exit",
            title=f"{h.mfa} redoes {x.mfa} when a process ends normally",
            summary=(f"{view.label(pid)} got {fmt(h.args[0], 90)} — a process that ended *normally* — and "
                     f"started {x.mfa}({fmt(x.args, 50)}) again, work already done before "
                     f"({len(rows)} time(s)): a normal exit is treated as a failure and the work is repeated "
                     "(for a task whose result was already handled, the monitor was not flushed)."),
            severity="high", confidence=0.7, culprit=culprit_of(view, h, h.args[0]),
            evidence=[view.call_evidence(before, f"first {before.mfa}({fmt(before.args, 40)})"),
                      view.call_evidence(h, f"{h.mfa} got a normal exit notice"),
                      view.call_evidence(x, f"… and called {x.mfa}({fmt(x.args, 40)}) again")],
            signatures=["monitor:normal_down_retried"],
            fix_hint="When a task's result arrives, Process.demonitor(ref, [:flush]) (Task.Supervisor.async_nolink); "
                     "treat :DOWN with reason :normal as done, not as a failure."),
            pid=pid, ts=h.ts)
