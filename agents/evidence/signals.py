"""Exit signals that do nothing: ``exit(pid, :normal)`` aimed at another process.

A ``:normal`` exit signal is ignored by a process that does not trap exits (and only becomes
an ``{:EXIT, from, :normal}`` message in one that does). Code that "cancels" or "stops" a
worker with ``Process.exit(pid, :normal)`` therefore stops nothing: the worker runs to the
end and does everything it was meant not to do.

| kind | what | culprit |
| --- | --- | --- |
| ``normal_exit_ignored`` | ``:erlang.exit(Pid, :normal)`` called on another process, which went on working afterwards (calls, sends, a normal exit at the end of its work) | the application function that sent the signal, and the call |
| ``killed_mid_work`` | ``:erlang.exit(Pid, :kill)`` called on another process that was inside its own traced functions and had finished at least one step of that work: its exception ``:killed`` unwound through them, cutting the work between steps (what it had done and what it had not yet are the evidence); the victim's exception and exit are linked to it | the application function that sent the kill, and the call |

The opposite mistake is as general: ``exit(pid, :kill)`` stops the target wherever it is — in the
middle of a multi-step change (stock taken, not yet put) — and nothing of it is undone.
"""

from __future__ import annotations

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .reasons import source_function


def _sender(c: Call) -> Call | None:
    """The application frame that called ``exit/2`` (anonymous functions belong to theirs)."""
    p = c.parent
    while p is not None and (not is_app_module(p.module) or p.function.startswith("-")) and p.parent is not None:
        p = p.parent
    return p if p is not None and is_app_module(p.module) else None


def normal_exits(view: RecordingView, book: FactBook) -> None:
    by_text = {p.pid: idx for idx, p in view.procs.items()}
    for c in view.calls:
        if c.module != "erlang" or c.function != "exit" or c.arity != 2 or len(c.args) != 2 \
                or not is_atom(c.args[1], "normal"):
            continue
        target = by_text.get(fmt(c.args[0], 60).removeprefix("#PID"))
        if target is None or target == c.pid:
            continue
        after_calls = [x for x in view.calls_by_pid.get(target, []) if x.ts > c.ts]
        after_sends = [m for m in view.messages if m.sender == target and m.send_ts is not None and m.send_ts > c.ts]
        if not after_calls and not after_sends:
            continue
        ended = next((e for e in view.exits if e.pid == target and e.ts > c.ts), None)
        sender = _sender(c)
        if sender is None:
            continue
        detail = f"Process.exit({fmt(c.args[0], 40)}, :normal)"
        ev = [view.call_evidence(c, f"{sender.mfa} sent exit(…, :normal) to {view.label(target)}")]
        ev += [view.call_evidence(x, f"{view.label(target)} went on: {x.mfa}") for x in after_calls[-2:]]
        if ended is not None:
            ev.append(view.evidence(ended.event_id, "exit", ended.ts, target,
                                    f"{view.label(target)} ended later on its own: {fmt(ended.reason, 60)}"))
        work = f"{len(after_calls)} traced call(s) and {len(after_sends)} message(s)"
        book.add(Finding(
            detector="normal_exit_ignored",
            title=f"{sender.mfa} sends exit(pid, :normal) to {view.label(target)}, which keeps running",
            summary=(f"{sender.mfa} called exit({fmt(c.args[0], 40)}, :normal) — while handling "
                     f"{fmt(sender.args[0] if sender.args else None, 80)} — but a :normal exit signal is ignored by a "
                     f"process that does not trap exits: {view.label(target)} went on with {work} after it"
                     + (f" and ended on its own ({fmt(ended.reason, 40)})" if ended is not None else "") + "."),
            severity="high", confidence=0.8 if after_calls else 0.7,
            culprit=Culprit(module=mod_name(sender.module), function=source_function(sender.function, sender.arity),
                            detail=detail, process=view.label(sender.pid)),
            evidence=ev, signatures=["exit:normal_signal_ignored"],
            fix_hint=("Stop a worker with a reason it does not ignore: Process.exit(pid, :kill) or :shutdown "
                      "(Task.Supervisor.terminate_child/2 for a supervised task), or send it a message it checks; "
                      "a :normal exit signal only stops the caller itself.")),
            pid=c.pid, ts=c.ts)


def kills_mid_work(view: RecordingView, book: FactBook) -> None:
    by_text = {p.pid: idx for idx, p in view.procs.items()}
    for c in view.calls:
        if c.module != "erlang" or c.function != "exit" or c.arity != 2 or len(c.args) != 2 \
                or not is_atom(c.args[1], "kill"):
            continue
        target = by_text.get(fmt(c.args[0], 60).removeprefix("#PID"))
        if target is None or target == c.pid:
            continue
        victims = [f for f in book.of_kind("exception")
                   if book.meta[f.id].get("pid") == target and (book.meta[f.id].get("ts") or 0) >= c.ts
                   and is_atom(book.meta[f.id].get("reason"), "killed")]
        sender = _sender(c)
        if not victims or sender is None:
            continue
        inner = book.meta[victims[0].id]["call"]
        top = inner
        while top.parent is not None:
            top = top.parent
        # the steps it had finished inside the work the kill cut (none: it had not started, nothing is half done)
        done = [x for x in view.calls_by_pid.get(target, []) if x.outcome == "return" and x.end_ts is not None
                and top.ts <= x.ts and x.end_ts <= c.ts and is_app_module(x.module) and not x.function.startswith("-")]
        if not done:
            continue
        ev = [view.call_evidence(c, f"{sender.mfa} sent exit(…, :kill) to {view.label(target)}")]
        ev += [view.end_evidence(x, f"{view.label(target)} had done {x.mfa}({fmt(x.args, 50)})") for x in done[-3:]]
        ev.append(view.call_evidence(inner, f"… and was inside {inner.mfa}({fmt(inner.args, 50)}) when it was killed"))
        fact = book.add(Finding(
            detector="killed_mid_work",
            title=f"{sender.mfa} killed {view.label(target)} in the middle of {inner.mfa}",
            summary=(f"{sender.mfa} called exit({fmt(c.args[0], 40)}, :kill) — while handling "
                     f"{fmt(sender.args[0] if sender.args else None, 80)} — and {view.label(target)} died inside "
                     f"{inner.mfa}, after {len(done)} completed traced call(s)"
                     + (f" (the last: {done[-1].mfa})" if done else "") + ": a kill stops a process between the "
                     "steps of its work, and nothing it had done is undone."),
            severity="high", confidence=0.72,
            culprit=Culprit(module=mod_name(sender.module), function=source_function(sender.function, sender.arity),
                            detail=f"Process.exit({fmt(c.args[0], 40)}, :kill)", process=view.label(sender.pid)),
            evidence=ev, signatures=["exit:killed_mid_work"],
            fix_hint=("Do not kill a worker in the middle of a multi-step change: ask it to stop at a safe point "
                      "(a message it checks between steps), or undo what it did (compensate) when it is cancelled, "
                      "or make the steps one atomic operation.")),
            pid=c.pid, ts=c.ts)
        for v in victims:
            book.link(v, fact, "it was killed by another process")
