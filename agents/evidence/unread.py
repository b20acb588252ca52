"""Messages a receive loop never takes: a plain process (``spawn`` + a recursive ``loop/1``, not
a GenServer) waits in a ``receive`` whose clauses match some messages and not others — a tag
spelled differently, a tuple of another size, a message nobody meant for it — so those stay in
its mailbox for ever. Nothing crashes; the mailbox, the process's memory and every later
``receive`` (which scans past them) grow until a restart.

| kind | what | culprit |
| --- | --- | --- |
| ``messages_unread`` | the samples show a process holding :data:`MIN_GROWTH` or more messages and never fewer — what arrives stays, also once the senders stop — while, at most samples, it waited in one application function — not busy working (overload is :mod:`~elixir_scope.agents.detectors.mailbox_growth`'s), not in a behaviour's loop (a GenServer takes every message) | that function (its ``receive``), with the messages delivered to the process that it did not take, by shape, when the recording has them |

A process waiting in ``receive`` with messages in its mailbox waits because none of them matches:
a queue that stays at its size or grows while the process sits in the same function is those
messages. A process that works flat out on a growing queue is overload, not this (it drains, or
is seen in its handlers); a GenServer whose catch-all drops messages does not keep them. Bounded: the samples the diagnosis took.
"""

from __future__ import annotations

from collections import Counter

from ..findings import Culprit, Finding
from ..view import RecordingView, fmt, is_app_module, mod_name
from .book import FactBook

__all__ = ["unread_messages", "MIN_GROWTH"]

MIN_GROWTH = 20
MIN_SHARE = 0.6
_BEHAVIOURS = ("gen_server", "gen_statem", "gen_event", "proc_lib", "supervisor", "Elixir.Task", "Elixir.Agent")


def _split(current: str | None) -> tuple[str, str, int] | None:
    """``"Elixir.Lifts.Counter.loop/1"`` → (module, function, arity)."""
    if not current or "/" not in current:
        return None
    head, _, arity = current.rpartition("/")
    module, _, fun = head.rpartition(".")
    if not module or not arity.isdigit():
        return None
    return module, fun, int(arity)


def _tag(msg) -> str:
    if isinstance(msg, tuple) and msg:
        return f"{{{fmt(msg[0], 30)}, …/{len(msg)}}}"
    return fmt(msg, 40)


def unread_messages(view: RecordingView, book: FactBook) -> None:
    samples = getattr(view, "resources", []) or []
    if len(samples) < 3:
        return
    procs = {p.proc for s in samples for p in s.processes}
    for proc in sorted(procs):
        series = [(s, s.process(proc)) for s in samples]
        series = [(s, p) for s, p in series if p is not None]
        if len(series) < 3:
            continue
        queues = [p.queue_len for _, p in series]
        steps = list(zip(queues, queues[1:]))
        if queues[-1] < MIN_GROWTH or any(b < a for a, b in steps):
            continue   # few, or drained (a backlog worked off is overload, not this)
        where = Counter(p.current for _, p in series)
        current, n = where.most_common(1)[0]
        mfa = _split(current)
        if mfa is None or n < MIN_SHARE * len(series) or not is_app_module(mfa[0]) \
                or mfa[0].startswith(_BEHAVIOURS) or mfa[1].startswith("handle_"):
            continue   # busy elsewhere (overload), or a behaviour's loop
        if any(c.function.startswith("handle_") for c in view.calls_by_pid.get(proc, [])[:2000]):
            continue   # a behaviour process after all: its loop takes every message
        module, fun, arity = mfa
        delivered = Counter(_tag(m.msg) for m in view.messages if m.receiver == proc and m.receive_ts is not None)
        iterations = sum(1 for c in view.calls_by_pid.get(proc, []) if c.module == module and c.function == fun)
        first_s, first_p = series[0]
        last_s, last_p = series[-1]
        secs = max((last_s.ts - first_s.ts) / view.time_unit, 1e-9)
        shapes = ", ".join(f"{t} ×{k}" for t, k in delivered.most_common(3))
        label = view.label(proc)
        book.add(Finding(
            detector="messages_unread",
            title=f"{label} waits in {mod_name(module)}.{fun}/{arity} with {last_p.queue_len} messages its receive never takes",
            summary=(f"{label}'s mailbox held {first_p.queue_len}, then {last_p.queue_len} messages over {secs:.1f} s, never fewer, "
                     f"while it was waiting in {mod_name(module)}.{fun}/{arity} at {n} of {len(series)} samples — not "
                     "busy: the messages piling up are ones its receive clauses do not match, so they stay in the "
                     "mailbox for ever, and every receive scans past them"
                     + (f" (its loop ran {iterations} time(s) meanwhile, taking the others)" if iterations else "")
                     + (f". Delivered to it: {shapes}." if shapes else ".")),
            severity="high", confidence=0.8,
            culprit=Culprit(module=mod_name(module), function=f"{fun}/{arity}",
                            detail=(delivered.most_common(1)[0][0] if delivered else f"{last_p.queue_len} messages unread"),
                            process=label),
            evidence=[view.evidence(s.event_id, "mark", s.ts, proc,
                                    f"{label}: {p.queue_len} message(s) queued, waiting in {mod_name(module)}.{fun}/{arity}"
                                    if p.current == current else f"{label}: {p.queue_len} message(s) queued")
                      for s, p in series[:: max(1, len(series) // 4)][:5]],
            signatures=["mailbox:growing", "message:unmatched", "receive:selective_scan"],
            fix_hint=("Give the loop's receive a clause for every message it is sent (or stop sending those), and a "
                      "last clause that logs and drops anything else: `other -> Logger.warning(...); loop(state)`.")),
            pid=proc, ts=first_s.ts)
