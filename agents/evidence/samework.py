"""The same expensive work done again and again: one call repeated with the same arguments and the
same result inside a loop, where it could have run once.

| kind | what | culprit |
| --- | --- | --- |
| ``work_repeated`` | only when the symptom is slow or busy: an application function called :data:`MIN_REPEATS` or more times in one process with the *same* arguments, returning the *same* result every time (a parse of the same table, a compile of the same patterns, a read of the same file), its calls holding :data:`MIN_SHARE` or more of the run that made them — the nearest application call that holds them all — and :data:`MIN_MS` ms or more in all | the function that repeats it: the caller that calls it once per item (its calls all inside one call of that caller), or the function that re-derives what it was given (called once per item itself, each call making one of them); with N, the share of the time, and the identical argument and result |

The work behind a cache that never hits (:mod:`.cachemiss`: every miss ran it again) is that
fact's effect. A function that answers the same thing for the same input is doing work whose result its caller
could have kept: parse before the loop, compile once, read the file once. A call repeated with the
same arguments but a different result (a clock, a counter, a queue) is no such thing, nor a cheap
one (a getter) whose time is a small share of the run. The calls counted are those the recording
holds: when a busy loop shed events (a gap), N is at least what was stored, and the share is taken
over the stored spans. Bounded: :data:`MAX_CALLS` application calls, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

import re
from collections import defaultdict

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, is_generated, named_app_caller

__all__ = ["work_repeated"]

MAX_CALLS = 50_000
MIN_REPEATS = 4
MIN_SHARE = 0.4
MIN_MS = 10.0
MAX_FACTS = 2
MAX_UP = 12

#: a symptom of slowness or a busy machine
SLOW = re.compile(r"\bslow\w*|\btak(?:es|ing|e) (?:\w+ )?(?:long|ages|seconds|minutes)|\bseconds\b|\bminutes\b|\bcpu\b"
                  r"|\bbusy\b|\bpegged\b|\bsluggish\b|\blatenc\w*|\btim(?:es|ed|ing)? ?out\b|\btimeouts?\b|\bhang\w*"
                  r"|\bforever\b|\bcrawl\w*|\bexpensive\b|\bheavy\b|\bload\b", re.I)


def _cut(term) -> bool:
    """A term the capture replaced whole by its size limit's marker (``max_term_bytes``): nothing of
    it is known. A term cut part-way keeps its beginning, and is compared as recorded."""
    return isinstance(term, Atom) and term.name == "$truncated"



def _chain(c: Call) -> list[Call]:
    out, p = [], c.parent
    while p is not None and len(out) < 200:
        out.append(p)
        p = p.parent
    return out


def _enclosing(calls: list[Call]) -> Call | None:
    """The nearest application call (not a generated one) that holds every call of ``calls``."""
    common = None
    for c in calls:
        ids = {p.call_id for p in _chain(c)}
        common = ids if common is None else common & ids
    if not common:
        return None
    for p in _chain(calls[0]):
        if p.call_id in common and is_app_module(p.module) and not is_generated(p.function) and p.end_ts is not None:
            return p
    return None


def work_repeated(view: RecordingView, book: FactBook, symptom: str = "") -> None:
    if not SLOW.search(symptom or ""):
        return
    unit = view.time_unit
    by_fun: dict[tuple, list[Call]] = defaultdict(list)
    for i, c in enumerate(view.calls):
        if i >= MAX_CALLS:
            break
        if c.outcome != "return" or c.end_ts is None or not is_app_module(c.module) or is_generated(c.function) \
                or c.function.startswith(("handle_", "init", "__")) or (c.pid in view.rpc_workers and c.parent is None):
            continue
        by_fun[(c.pid, c.module, c.function, c.arity)].append(c)
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for fun, calls in by_fun.items():
        # only a function whose calls together take long enough is compared call by call
        if len(calls) < MIN_REPEATS or sum(c.end_ts - c.ts for c in calls) * 1000.0 / unit < MIN_MS:
            continue
        for c in calls:
            if any(_cut(a) for a in c.args) or _cut(c.value):
                continue    # an argument the capture cut off whole: whether the calls were the same is unknown
            groups[fun + (fmt(c.args, 2000), fmt(c.value, 2000))].append(c)
    found = []
    for key, calls in groups.items():
        if len(calls) < MIN_REPEATS:
            continue
        total = sum(c.end_ts - c.ts for c in calls)
        if total * 1000.0 / unit < MIN_MS:
            continue
        run = _enclosing(calls)
        if run is None or run.end_ts is None or run.end_ts <= run.ts:
            continue
        share = total / (run.end_ts - run.ts)
        if share < MIN_SHARE:
            continue
        found.append((total, key, calls, run, share))
    found.sort(key=lambda x: -x[0])
    taken: set[int] = set()
    made = 0
    for total, key, calls, run, share in found:
        if made >= MAX_FACTS:
            return
        if any(p.call_id in taken for p in _chain(calls[0])):
            continue    # inside a repeated call already named: that one is the waste
        parents = [named_app_caller(c, MAX_UP) for c in calls]
        if any(p is None for p in parents):
            continue
        one = len({p.call_id for p in parents}) == 1
        culprit = parents[0]
        if not one and len({(p.module, p.function, p.arity) for p in parents}) != 1:
            culprit = run
        taken.update(c.call_id for c in calls)
        c0 = calls[0]
        ms = total * 1000.0 / unit
        how = (f"{culprit.mfa} called it {len(calls)} times in one run, once per item"
               if one else f"{culprit.mfa} was called once per item and made it again each time from what it was given")
        ev = [view.call_evidence(c0, f"{c0.mfa}({fmt(c0.args, 60)}) → {fmt(c0.value, 40)}")]
        ev += [view.call_evidence(c, f"{c.mfa} called again with the same arguments: the same result, "
                                     f"{(c.end_ts - c.ts) * 1000.0 / unit:.1f} ms") for c in calls[1:4]]
        ev.append(view.call_evidence(culprit, f"{culprit.mfa} made the repeated calls"))
        book.add(Finding(
            detector="work_repeated",
            title=f"{culprit.mfa} repeats {c0.mfa} {len(calls)} times with the same arguments and the same result",
            summary=(f"{c0.mfa} was called {len(calls)} times with the same arguments ({fmt(c0.args, 80)}) and returned "
                     f"the same result each time ({fmt(c0.value, 60)}): {ms:.0f} ms, {share:.0%} of the "
                     f"{(run.end_ts - run.ts) * 1000.0 / unit:.0f} ms {run.mfa} took. {how}: the work could run once "
                     "and its result be reused." + (" Events were dropped while it ran: at least that many calls."
                                                     if view.gaps else "")),
            severity="high", confidence=0.76,
            culprit=culprit_of(view, culprit, c0.args[0] if len(c0.args) == 1 else c0.args),
            evidence=ev, causal_chain=ev[:2],
            signatures=["callback:slow:repeated_work", "callback:slow:repeated_work:same_args"],
            fix_hint=(f"Call {c0.mfa} once, before the loop, and pass its result in (or keep it: a module attribute at "
                      "compile time, :persistent_term for configuration read at boot, the state of the process that "
                      "owns it) instead of deriving it again for every item.")),
            pid=culprit.pid, ts=c0.ts)
        made += 1
        fact = book.facts[-1]
        for cache in book.of_kind("cache_never_hits"):
            if c0.mfa in book.meta[cache.id].get("works", ()):
                book.link(fact, cache, "it is the work behind a cache that never hits: every miss ran it again")
        for slow in book.of_kind("slow_callback"):
            if slow.culprit.process == view.label(culprit.pid):
                book.link(slow, fact, "its time went in work repeated with the same arguments")
