"""Growth of what the periodic samples measure: ETS tables, a process's memory and binaries,
the process count — and who is responsible.

The diagnosis samples resources while it records (``agents/capture.py``, parsed into
``view.resources``). A series that rises at almost every sample and ends well above where it
started is growth; the culprit is found in the calls the recording holds:

| kind | what | culprit |
| --- | --- | --- |
| ``ets_growth`` | an ETS table's size grows sample after sample | a cleanup function (sweep, expire, evict, prune, purge, delete) that ran meanwhile and removed nothing; else the function that inserts; else the table's owner |
| ``memory_growth`` | one process's memory (or binary memory) grows | the callback that runs most in it |
"""

from __future__ import annotations

import re
from collections import Counter

from ..findings import Culprit, Finding
from ..view import RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from .reasons import source_function

CLEANUP = re.compile(r"(sweep|expire|evict|prune|purge|clean|gc|trim|delete|remove|reap|vacuum|compact)", re.I)


def _growing(series: list, min_rise: int) -> bool:
    series = [v for v in series if isinstance(v, int)]  # a sample may not have measured it (None)
    if len(series) < 3 or series[-1] - series[0] < min_rise:
        return False
    ups = sum(1 for a, b in zip(series, series[1:]) if b > a)
    downs = sum(1 for a, b in zip(series, series[1:]) if b < a)
    return ups >= 0.3 * (len(series) - 1) and downs <= 0.2 * (len(series) - 1)


def ets_growth(view: RecordingView, book: FactBook) -> None:
    samples = getattr(view, "resources", []) or []
    if len(samples) < 3:
        return
    names = sorted({t.name for s in samples for t in s.ets})
    for name in names:
        series = [(s, s.table(name)) for s in samples]
        sizes = [t.size for _s, t in series if t is not None]
        if not _growing(sizes, max(20, sizes[0] // 4 if sizes else 20)):
            continue
        first = next(t for _s, t in series if t is not None)
        t0 = next(s.ts for s, t in series if t is not None)
        t1 = [s.ts for s, t in series if t is not None][-1]
        inserts = Counter()
        for c in view.calls:
            if c.module == "ets" and c.function in ("insert", "insert_new") and c.args and fmt(c.args[0], 80) == name:
                p = c.parent
                if p is not None and is_app_module(p.module):
                    inserts[(p.module, p.function, p.arity)] += 1
        cleaners = [c for c in view.calls if is_app_module(c.module) and CLEANUP.search(c.function)
                    and not c.function.startswith("-") and t0 <= c.ts <= t1]
        who, why = None, ""
        if cleaners:
            c = cleaners[0]
            who = Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity),
                          detail=fmt(c.args[0] if len(c.args) == 1 else c.args, 100) if c.args else None,
                          process=view.label(c.pid))
            why = (f" {c.mfa} ran {len(cleaners)} time(s) meanwhile and the table kept growing: the cleanup removes "
                   "nothing (its match or its time arithmetic is wrong).")
        elif inserts:
            (m, f, a), n = sorted(inserts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
            who = Culprit(module=mod_name(m), function=source_function(f, a), detail=name)
            why = f" {mod_name(m)}.{f}/{a} inserted into it {n} time(s) and nothing deletes."
        else:
            mod = view.module_of_pid.get(first.owner) if first.owner is not None else None
            who = Culprit(module=mod_name(mod) if mod else (first.owner_pid or name), detail=name,
                          process=first.owner_pid)
            why = " Nothing the recording holds removes entries."
        ev = [view.evidence(s.event_id, "mark", s.ts, None, f"table {name}: {t.size} entries, {t.memory} bytes")
              for s, t in series if t is not None][:: max(1, len(sizes) // 4)][:5]
        if cleaners:
            ev.insert(0, view.call_evidence(cleaners[0]))
        book.add(Finding(
            detector="ets_growth",
            title=f"ETS table {name} grows from {sizes[0]} to {sizes[-1]} entries",
            summary=f"The ETS table {name} grew from {sizes[0]} to {sizes[-1]} entries while recording.{why}",
            severity="high", confidence=0.75 if cleaners else 0.65, culprit=who, evidence=ev,
            signatures=["memory:ets_growing"],
            fix_hint="Bound the table: expire entries by time (and check the cleanup's match spec), or cap its size."),
            pid=first.owner, ts=t0)


def _ours(p) -> bool:
    """ElixirScope's own processes on the node (the tracer agent, its log ring): never a culprit."""
    text = " ".join(str(x) for x in (p.module, p.current, p.name) if x)
    return "elixir_scope" in text


def memory_growth(view: RecordingView, book: FactBook) -> None:
    samples = getattr(view, "resources", []) or []
    if len(samples) < 3:
        return
    procs = sorted({p.proc for s in samples for p in s.processes})
    for proc in procs:
        series = [p for s in samples if (p := s.process(proc)) is not None]
        if len(series) < 3 or _ours(series[0]):
            continue
        mem = [p.memory or 0 for p in series]
        binm = [p.binary_bytes or 0 for p in series]
        kind = None
        if _growing(binm, 1_000_000):
            kind, vals, token = "binary memory", binm, "memory:binary_growing"
        elif _growing(mem, 2_000_000):
            kind, vals, token = "memory", mem, "memory:process_heap_growing"
        if kind is None:
            continue
        cbs = Counter((c.module, c.function, c.arity) for c in view.calls_by_pid.get(proc, [])
                      if is_app_module(c.module) and c.function.startswith("handle_"))
        p0 = series[0]
        if cbs:
            (m, f, a), _n = sorted(cbs.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
            who = Culprit(module=mod_name(m), function=source_function(f, a), process=view.label(proc))
        else:
            who = Culprit(module=mod_name(p0.module) if p0.module else view.label(proc), process=view.label(proc))
        book.add(Finding(
            detector="memory_growth",
            title=f"{view.label(proc)}'s {kind} grows from {vals[0]} to {vals[-1]} bytes",
            summary=(f"The {kind} of {view.label(proc)} grew at almost every sample, from {vals[0]} to {vals[-1]} bytes: "
                     "it keeps data (or references to binaries) it no longer needs."),
            severity="high", confidence=0.6, culprit=who,
            evidence=[view.evidence(None, "sample", s.ts, proc, f"{kind} {v} bytes")
                      for s, v in zip([s for s in samples if s.process(proc)], vals)][:: max(1, len(vals) // 4)][:5],
            signatures=[token], fix_hint="Keep only what is needed in the state; copy sub-binaries you keep (:binary.copy/1)."),
            pid=proc, ts=samples[0].ts)
