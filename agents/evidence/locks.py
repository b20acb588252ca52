"""A lock row that outlived its holder: work refused for ever after one failure.

A process takes a lock by inserting a row naming itself (``:ets.insert_new(:locks, {key,
self()})``) and deletes it when its work is done. When it dies before that (a timeout, a crash),
nothing deletes the row: every later ``insert_new`` of that key is refused, and the work for the
key never runs again — long after the failure that killed the holder has passed.

| kind | what | culprit |
| --- | --- | --- |
| ``lock_left_behind`` | an ``:ets.insert_new/2`` of a row holding the inserting process's own pid returned ``true``, that process exited abnormally, and two or more ``insert_new`` of the same key by other processes afterwards returned ``false`` — with no successful insert of the key in between (the refusals are the dead holder's row) | the application function that took the lock (the insert's caller), with the insert |

The failure that killed the holder is a fact of its own (an exception, a slow callback's
timeout); it happened once, the refusals go on. When a slow callback's only victims are such
holders, that ``slow_callback`` is weak: a caller's timeout ends with the timeout, the harm that
lasts is the lock nobody released.
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from . import reasons as R
from .book import FactBook


def _is(value, flag: bool) -> bool:
    return value is flag or is_atom(value, "true" if flag else "false")


def _owner_key(c: Call, view: RecordingView) -> tuple[str, str] | None:
    """(table, key) of an ``insert_new`` whose row names the inserting process, else None."""
    if len(c.args) != 2 or not isinstance(c.args[1], tuple) or len(c.args[1]) < 2:
        return None
    row = c.args[1]
    own = view.proc(c.pid)
    if own is None or not any(fmt(x, 60).removeprefix("#PID") == own.pid for x in row[1:]):
        return None
    return fmt(c.args[0], 80), fmt(row[0], 120)


def locks_left_behind(view: RecordingView, book: FactBook) -> None:
    inserts: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.module == "ets" and c.function == "insert_new" and c.outcome == "return" and len(c.args) == 2 \
                and isinstance(c.args[1], tuple) and c.args[1]:
            inserts[(fmt(c.args[0], 80), fmt(c.args[1][0], 120))].append(c)
    abnormal = {e.pid: e for e in view.exits if not R.is_normal(e.reason)}
    holders: set[int] = set()
    for key in sorted(inserts):
        if len(holders) >= 3:
            break
        calls = sorted(inserts[key], key=lambda c: c.ts)
        for i, c in enumerate(calls):
            if not _is(c.value, True) or _owner_key(c, view) != key or c.pid not in abnormal:
                continue
            death = abnormal[c.pid]
            if death.ts < c.ts:
                continue
            later = calls[i + 1:]
            if any(x.ts > death.ts and _is(x.value, True) for x in later):
                continue
            refused = [x for x in later if x.ts > death.ts and x.pid != c.pid and _is(x.value, False)]
            taker = c.parent
            while taker is not None and (not is_app_module(taker.module) or taker.function.startswith("-")):
                taker = taker.parent
            if len(refused) < 2 or taker is None:
                continue
            detail = f":ets.insert_new({key[0]}, {fmt(c.args[1], 80)})"
            ev = [view.end_evidence(c, f"{taker.mfa} took the lock {key[1]} in {key[0]} ({detail} → true)"),
                  view.evidence(death.event_id, "exit", death.ts, death.pid,
                                f"{view.label(death.pid)} died holding it: {fmt(death.reason, 80)}")]
            ev += [view.end_evidence(x, f"{view.label(x.pid)} was refused the lock afterwards (insert_new → false)")
                   for x in refused[:3]]
            book.add(Finding(
                detector="lock_left_behind",
                title=f"{taker.mfa} leaves the lock {key[1]} behind when its process dies",
                summary=(f"{taker.mfa} took the lock {key[1]} with {detail} in {view.label(c.pid)}, which then died "
                         f"({fmt(R.core(death.reason), 80)}) without deleting the row; {len(refused)} later attempt(s) "
                         f"to take it by other processes were refused: the work for {key[1]} never runs again, long "
                         "after the failure that killed the holder."),
                severity="high", confidence=0.9,
                culprit=Culprit(module=mod_name(taker.module), function=R.source_function(taker.function, taker.arity),
                                detail=detail, process=view.label(taker.pid)),
                evidence=ev, signatures=["ets:lock_left_behind"],
                fix_hint=("Release the lock whatever happens: delete the row in an `after` block (try … after), or let "
                          "a process that monitors the holder delete it on :DOWN, or store the holder's pid and "
                          "treat a row whose holder is dead as free.")),
                pid=c.pid, ts=c.ts)
            holders.add(c.pid)
            break
    if holders:
        _weaken_slow(book, holders)


def _weaken_slow(book: FactBook, holders: set[int]) -> None:
    """A slow callback whose every timed-out caller died holding a lock it left behind: the
    timeout happened once; what goes on failing is the lock nobody released."""
    for slow in book.of_kind("slow_callback"):
        victims = [f for f in book.of_kind("call_failed") if f.caused_by == slow.id]
        pids = {book.meta[f.id].get("pid") for f in victims}
        if victims and pids <= holders and slow.weak is None:
            slow.weak = ("every caller it made time out died holding a lock row it never released "
                         "(lock_left_behind): the timeout happened once, the refusals that followed are the lock's")
