"""What a supervisor that gave up took down, followed back to why it gave up.

A supervisor exits when its children crash more often than its intensity allows — in a crash
loop (``restart_loop``: a worker crashes on the same input again and again) or now and then
(``intensity_exhausted``, ``finished_child_restarted``: :mod:`.supervisor_config`). Whatever was
linked to it goes down with the same reason — its other children (a registry), the process that
started it with ``start_link`` (a queue) — so later calls find no process (``:noproc``), their
``terminate/2`` may not run, their mailboxes are lost. Each of those facts is true, and none is a
cause: the supervisor's shutdown is an *effect* of the crashes before it, and so is what the
shutdown took down. These steps (run after the other analyses) link them to the fact that made
the supervisor give up, so the chain ends at the exception that started the restarts — the
function that raised it, on the input it crashed on — or at the configuration, and not at the
process that relayed the shutdown. The helpers (a supervisor's children, the names a caller may
address them by, the calls that found them gone, relinking those) serve
:mod:`.supervisor_config` too.
"""

from __future__ import annotations

from ..findings import Finding
from ..view import Exit, RecordingView, fmt
from . import reasons as R
from .book import FactBook

__all__ = ["TAKEN_DOWN", "address_names", "calls_found_gone", "children_of", "loop_taken_down", "relink",
           "taken_down_with"]

WITH_IT_MS = 100.0   # a process that exits with the supervisor's reason this soon after it went down with it


def children_of(view: RecordingView, sup) -> set[int]:
    """The processes that were children of ``sup``: the ones its facts list and the ones it spawned."""
    kids = {c.proc for c in sup.children if c.proc is not None}
    kids |= {s.child for s in view.spawns if s.parent == sup.proc}
    return kids


def address_names(view: RecordingView, pids: set[int]) -> dict[str, int]:
    """Every text a caller may address one of ``pids`` by (its registered name, its pid) → the pid."""
    out: dict[str, int] = {}
    for pid in pids:
        p = view.proc(pid)
        if p is None:
            continue
        out[p.pid] = pid
        if p.name:
            out[p.name] = pid
            out[":" + p.name] = pid
    return out


def calls_found_gone(view: RecordingView, book: FactBook, names: dict[str, int], after: int) -> list[Finding]:
    """Failures after ``after`` of calls to one of ``names`` that found no process, and exits on them."""
    out = []
    for f in book.of_kind("call_failed", "exit"):
        gc = book.meta[f.id].get("gc")
        ts = book.meta[f.id].get("ts") or 0
        if gc is None or ts < after or gc.why not in ("noproc", "shutdown"):
            continue
        target = fmt(gc.target, 200)
        if target in names or target.removeprefix("#PID") in names or str(gc.target) in names:
            out.append(f)
    return out


def relink(book: FactBook, effects: list[Finding], cause: Finding, note: str) -> None:
    """``effects`` failed because ``cause`` left nothing to serve them: linked to it, replacing a
    link to the crash of the process they addressed (that crash is not why nothing was there)."""
    for f in effects:
        if f.caused_by is not None and book.get(f.caused_by) is not None \
                and book.get(f.caused_by).detector in ("exit", "exception"):
            f.caused_by = None
        book.link(f, cause, note)


TAKEN_DOWN = ("exit_reason_produced", "exception", "exit", "terminate_skipped", "lost_in_mailbox")


def taken_down_with(view: RecordingView, book: FactBook) -> None:
    """(After the other analyses.) What a supervisor that gave up did to its children — stopped
    them with ``:shutdown``, so their calls in flight exit ``:shutdown``, their ``terminate`` may
    not run, their mailboxes are lost — is an effect of the fact that it gave up
    (``intensity_exhausted``, ``finished_child_restarted``), not a first cause of its own: facts
    with no cause about those processes after the last crash or finish are linked to it."""
    for fact in book.of_kind("intensity_exhausted", "finished_child_restarted"):
        taken, since = book.meta[fact.id].get("taken") or set(), book.meta[fact.id].get("since")
        if since is None:
            continue
        for f in book.of_kind(*TAKEN_DOWN):
            m = book.meta.get(f.id, {})
            if f.caused_by is None and m.get("pid") in taken and (m.get("ts") or 0) >= since and f.id != fact.id:
                reason = m["exit"].reason if m.get("exit") is not None else m.get("reason")
                if f.detector in ("exception", "exit") and not (reason is not None and R.is_normal(R.core(reason))):
                    continue   # a crash of its own, not the shutdown
                book.link(f, fact, "stopped by the supervisor that gave up")


def _taken(view: RecordingView, sup_exit: Exit) -> set[int]:
    """The supervisor, its children, and the processes that exited with its very reason right
    after it (linked to it: the one that started it, a registry it held)."""
    taken = {sup_exit.pid}
    for sup in view.supervisors.get("start", []):
        if sup.proc == sup_exit.pid:
            taken |= children_of(view, sup)
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
        effects = [f for f in calls_found_gone(view, book, address_names(view, taken - crashed), since) if f is not loop]
        relink(book, [f for f in effects if not _caused_by_loop(book, f, loop)], loop,
                "the crash loop's supervisor had given up, and took this process down with it")


def _same(a, b) -> bool:
    return a is not None and fmt(a, 300) == fmt(b, 300)


def _caused_by_loop(book: FactBook, f: Finding, loop: Finding) -> bool:
    return any(x.id == loop.id for x in book.chain(f))
