"""A crash loop's cascade: what a supervisor that gave up took down, followed back to the loop.

A worker crashes on the same input again and again (``restart_loop``), its supervisor reaches
its restart intensity and exits ``:shutdown``, and whatever was linked to it goes down with the
same reason — its other children (a registry), the process that started it with ``start_link``
(a queue) — so later calls find no process (``:noproc``). Each of those facts is true, and none
is a cause: the supervisor's shutdown is an *effect* of the crashes before it, and so is what the
shutdown took down. This step (run after the other analyses, beside
:func:`.supervisor_config.taken_down_with`, which does the same for ``intensity_exhausted``)
links them to the loop, so the chain ends at the exception that started the restarts — the
function that raised it, on the input it crashed on — and not at the process that relayed the
shutdown.
"""

from __future__ import annotations

from ..findings import Finding
from ..view import Exit, RecordingView, fmt
from . import reasons as R
from .book import FactBook
from .supervisor_config import TAKEN_DOWN, _addressed, _children, _names, _rewire

__all__ = ["loop_taken_down"]

WITH_IT_MS = 100.0   # a process that exits with the supervisor's reason this soon after it went down with it


def _taken(view: RecordingView, sup_exit: Exit) -> set[int]:
    """The supervisor, its children, and the processes that exited with its very reason right
    after it (linked to it: the one that started it, a registry it held)."""
    taken = {sup_exit.pid}
    for sup in view.supervisors.get("start", []):
        if sup.proc == sup_exit.pid:
            taken |= _children(view, sup)
    taken |= {s.child for s in view.spawns if s.parent == sup_exit.pid}
    reason = fmt(sup_exit.reason, 300)
    for e in view.exits:
        if e.pid not in taken and 0 <= (e.ts - sup_exit.ts) * 1000.0 / view.time_unit <= WITH_IT_MS \
                and fmt(e.reason, 300) == reason:
            taken.add(e.pid)
    return taken


def loop_taken_down(view: RecordingView, book: FactBook) -> None:
    """Facts about the processes a crash loop's supervisor took down when it gave up, after the
    loop's last crash — their ``:shutdown`` exits, a skipped ``terminate/2``, an exit reason
    "produced" by the supervisor's shutdown, calls to them that found no process — are the loop's
    effects (not causes of their own)."""
    for loop in book.of_kind("restart_loop"):
        m = book.meta.get(loop.id, {})
        sup_exit, since = m.get("sup_exit"), m.get("last_crash")
        if sup_exit is None or since is None:
            continue
        taken = _taken(view, sup_exit)
        crashed = set(m.get("crashed") or ())
        for f in book.of_kind(*TAKEN_DOWN):
            fm = book.meta.get(f.id, {})
            if f is loop or f.caused_by is not None or fm.get("pid") not in taken or fm.get("pid") in crashed \
                    or (fm.get("ts") or 0) < since:
                continue
            reason = fm["exit"].reason if fm.get("exit") is not None else fm.get("reason")
            if f.detector in ("exception", "exit") and not (reason is not None and R.is_normal(R.core(reason))
                                                           or _same(reason, sup_exit.reason)):
                continue   # a crash of its own, not the shutdown
            book.link(f, loop, "taken down when the supervisor of the crash loop gave up")
        effects = [f for f in _addressed(view, book, _names(view, taken - crashed), since) if f is not loop]
        _rewire(book, [f for f in effects if not _caused_by_loop(book, f, loop)], loop,
                "the crash loop's supervisor had given up, and took this process down with it")


def _same(a, b) -> bool:
    return a is not None and fmt(a, 300) == fmt(b, 300)


def _caused_by_loop(book: FactBook, f: Finding, loop: Finding) -> bool:
    return any(x.id == loop.id for x in book.chain(f))
