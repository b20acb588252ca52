"""Exit signals that do nothing: ``exit(pid, :normal)`` aimed at another process.

A ``:normal`` exit signal is ignored by a process that does not trap exits (and only becomes
an ``{:EXIT, from, :normal}`` message in one that does). Code that "cancels" or "stops" a
worker with ``Process.exit(pid, :normal)`` therefore stops nothing: the worker runs to the
end and does everything it was meant not to do.

| kind | what | culprit |
| --- | --- | --- |
| ``normal_exit_ignored`` | ``:erlang.exit(Pid, :normal)`` called on another process, which went on working afterwards (calls, sends, a normal exit at the end of its work) | the application function that sent the signal, and the call |
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
