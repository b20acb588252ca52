"""ETS tables leaked: a long-lived process creates a table again and again (per request, per
job, per quote) and never deletes one — each lives as long as its owner, so memory grows with
the requests until a restart, and on a busy node table creation fails (``system_limit``).

| kind | what | culprit |
| --- | --- | --- |
| ``ets_tables_leaked`` | one process created :data:`MIN_TABLES` or more tables (``:ets.new/2`` returning, the same name) during the recording, deleted none of them (``:ets.delete/1``) and was still alive at its end | the application function that called ``:ets.new/2`` (the nearest application caller), with the call as the detail |

A table per short-lived process (a task, a connection process that ends) dies with it: its
owner's exit rules it out. It counts in full when the symptom speaks of memory, growth, a leak or
a (system) limit; **weak** otherwise (a process may keep a table per session on purpose).
Bounded: the first :data:`MAX_CALLS` ``:ets`` calls.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_caller, culprit_of

__all__ = ["tables_leaked", "MIN_TABLES"]

MIN_TABLES = 5
MAX_CALLS = 20_000
MAX_FACTS = 3
_GROWTH = re.compile(r"\b(memory|ram|grow|grows|growing|leak\w*|limit|system_limit|tables?|ets|restart\w*|oom)\b", re.I)


def tables_leaked(view: RecordingView, book: FactBook, symptom: str = "") -> None:
    ets = [c for c in view.calls if c.module == "ets"][:MAX_CALLS]
    made = [c for c in ets if c.function == "new" and c.arity == 2 and c.outcome == "return"]
    if len(made) < MIN_TABLES:
        return
    deleted = {fmt(c.args[0], 80) for c in ets if c.function == "delete" and c.arity == 1 and c.args}
    ended = {e.pid for e in view.exits}
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in made:
        if c.pid in ended or not c.args or fmt(c.value, 80) in deleted:
            continue   # the table died with its owner, or was deleted
        caller = app_caller(c)
        groups[(c.pid, fmt(c.args[0], 60), caller.mfa if caller else None)].append(c)
    strong = bool(_GROWTH.search(symptom[:4000]))
    n = 0
    for (pid, name, _where), cs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if len(cs) < MIN_TABLES:
            break
        first, last = cs[0], cs[-1]
        caller = app_caller(first)
        seconds = max(0.0, (last.ts - first.ts) / view.time_unit)
        call_text = f":ets.new({name}, {fmt(first.args[1], 60)})"
        who = caller.mfa if caller else view.label(pid)
        book.add(Finding(
            detector="ets_tables_leaked",
            title=f"{who} creates a new ETS table {name} each time and never deletes one ({len(cs)} tables)",
            summary=(f"{view.label(pid)} created {len(cs)} ETS tables named {name} in {seconds:.1f} s "
                     f"({call_text}, from {who}), deleted none of them (no :ets.delete/1) and was still running "
                     "when the recording ended: a table lives as long as its owner, so every request adds one "
                     "that is never freed — memory grows until the process restarts, and creating tables "
                     "fails once the node's limit is reached."),
            severity="high", confidence=0.8,
            culprit=culprit_of(view, caller or first, call_text),
            evidence=[view.end_evidence(c, f"{view.label(c.pid)} created table {fmt(c.value, 40)} ({name})")
                      for c in (cs[:3] + ([last] if len(cs) > 3 else []))],
            signatures=["ets:table_count_growing", "memory:ets_growing"],
            weak=None if strong else "the symptom says nothing of memory or limits: a table per session may be kept on purpose",
            fix_hint=("Create the table once (in init/1) and key the entries per request; or delete the table when "
                      "the work is done (:ets.delete/1 in an after block); or create it in a short-lived process "
                      "so it dies with it.")),
            pid=pid, ts=first.ts)
        n += 1
        if n >= MAX_FACTS:
            return
