"""Where an exit reason was made, when a linked process died of it.

A process that does not trap exits dies of any exit signal but ``:normal`` that reaches it
through a link — ``:shutdown`` and ``{:shutdown, :no_config}`` too, the reasons OTP calls
"clean". A worker that stops itself with ``{:stop, {:shutdown, :no_config}, state}``, a task that
calls ``exit({:shutdown, :empty_file})``, a coordinator that sends
``Process.exit(pid, {:shutdown, :rebalance})`` take down whatever is linked to them: a buffer
started with ``start_link`` in ``init/1``, the server that started a ``Task.start_link``. The
victim's own code did nothing wrong (its ``init/1`` not trapping exits is the default); the
culprit is where the reason was *produced*.

| kind | what | culprit |
| --- | --- | --- |
| ``exit_reason_produced`` | a process exited with a reason other than ``:normal`` and another process — linked to it, its parent or child, or going down with the very same reason within 20 ms — died of the same reason after it; the reason was made in application code: a callback returned ``{:stop, reason, state}``, a function ended with ``exit(reason)``, or another process called ``exit(pid, reason)`` on it | that callback or function (for ``exit/2``, the application function that sent it), with the reason |

A supervisor stopping its child (``:shutdown`` from the supervisor's own code, ``terminate_child``)
produces its reason in OTP, not in the application: it is no fact here — an orderly shutdown is
not a bug unless something depended on it. The victims' facts (their exits, a ``terminate/2``
that never ran) are linked to this one: the first cause is where the reason came from.
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding
from ..view import Call, Exit, RecordingView, fmt, is_app_module, is_atom, mod_name
from . import reasons as R
from .book import FactBook
from .reasons import source_function

WINDOW_MS = 20.0
MAX_FACTS = 3


def _same(a, b) -> bool:
    return fmt(a, 300) == fmt(b, 300)


def _victims(view: RecordingView, e: Exit, same_reason: list[Exit], parent_of: dict[int, int]) -> list[Exit]:
    """Processes that died of ``e``'s reason after it (``same_reason``: the exits with that
    reason): linked to it, its parent or child, or at once (within WINDOW_MS: a link made before
    the recording began)."""
    out = []
    for v in same_reason:
        if v.pid == e.pid or v.ts < e.ts:
            continue
        related = view.linked(v.pid, e.pid) or parent_of.get(v.pid) == e.pid or parent_of.get(e.pid) == v.pid
        if (related or (v.ts - e.ts) * 1000.0 / view.time_unit <= WINDOW_MS) and _own_producer(view, v) is None:
            out.append(v)
    return out


def _app_frame(c: Call | None) -> Call | None:
    """The application function a call runs in (anonymous functions belong to theirs)."""
    while c is not None and (not is_app_module(c.module) or c.function.startswith("-")):
        c = c.parent
    return c


def _producer(view: RecordingView, e: Exit, exit_calls: list[Call]) -> tuple[Call, str] | None:
    """(the call that made ``e``'s reason, how) — a ``{:stop, reason, _}`` returned by a callback
    of the process, an ``exit(reason)`` that ended one of its application functions, or an
    ``exit(pid, reason)`` another process aimed at it."""
    own = _own_producer(view, e)
    if own is not None:
        return own
    target = view.proc(e.pid)
    for c in reversed(exit_calls):
        if c.ts <= e.ts and c.pid != e.pid and target is not None and fmt(c.args[0], 60).removeprefix("#PID") == target.pid \
                and _same(c.args[1], e.reason):
            sender = _app_frame(c.parent)
            if sender is not None:
                return sender, f"sent exit({target.pid}, {fmt(e.reason, 60)}) to {view.label(e.pid)}"
    return None


def _own_producer(view: RecordingView, e: Exit) -> tuple[Call, str] | None:
    """The process's own code made its exit reason (a stop return, an ``exit/1``, a call that
    exited with it: a timeout) — such a process is no victim of another's exit."""
    own = [c for c in view.calls_by_pid.get(e.pid, []) if c.ts <= e.ts and c.end_ts is not None and is_app_module(c.module)]
    stops = [c for c in own if c.outcome == "return" and isinstance(c.value, tuple) and len(c.value) >= 3
             and is_atom(c.value[0], "stop") and _same(c.value[1], e.reason)]
    if stops:
        return stops[-1], f"returned {{:stop, {fmt(e.reason, 60)}, state}}"
    exits = [c for c in own if c.outcome == "exception" and isinstance(c.value, tuple) and len(c.value) == 2
             and is_atom(c.value[0], "exit") and _same(c.value[1], e.reason) and not c.function.startswith("-")]
    if exits:
        # the innermost function the exit started in (its callers only passed it on)
        first = min(exits, key=lambda c: (c.end_ts, -c.depth))
        return first, f"called exit({fmt(e.reason, 60)})"
    return None


def reasons_produced(view: RecordingView, book: FactBook) -> None:
    by_reason: dict[str, list[Exit]] = defaultdict(list)
    for e in view.exits:
        if not is_atom(e.reason, "normal"):
            by_reason[fmt(e.reason, 300)].append(e)
    parent_of = {s.child: s.parent for s in view.spawns}
    exit_calls = [c for c in view.calls if c.module == "erlang" and c.function == "exit" and c.arity == 2 and len(c.args) == 2]
    done: set[int] = set()
    facts = 0
    for e in sorted((x for group in by_reason.values() if len(group) > 1 for x in group), key=lambda x: (x.ts, x.event_id)):
        if facts >= MAX_FACTS:
            break
        if e.pid in done:
            continue
        victims = [v for v in _victims(view, e, by_reason[fmt(e.reason, 300)], parent_of) if v.pid not in done]
        if not victims:
            continue
        found = _producer(view, e, exit_calls)
        if found is None:
            continue
        call, how = found
        done.add(e.pid)
        done.update(v.pid for v in victims)
        reason = fmt(e.reason, 120)
        who = view.label(e.pid)
        names = ", ".join(view.label(v.pid) for v in victims[:3])
        ev = [view.end_evidence(call, f"{call.mfa} {how}") if call.end_ts is not None else view.call_evidence(call, how),
              view.evidence(e.event_id, "exit", e.ts, e.pid, f"{who} exited {reason}")]
        ev += [view.evidence(v.event_id, "exit", v.ts, v.pid, f"{view.label(v.pid)} went down with it: {reason}")
               for v in victims[:3]]
        clean = R.is_normal(e.reason)
        fact = book.add(Finding(
            detector="exit_reason_produced",
            title=f"{call.mfa} ends {who} with {fmt(e.reason, 60)}, which takes down {names}",
            summary=(f"{call.mfa} {how}; {who} exited with it and {len(victims)} process(es) linked to it "
                     f"({names}) died of the same reason"
                     + (" — a \"clean\" reason kills a linked process that does not trap exits like any other"
                        if clean else "")
                     + ". The victims did nothing wrong: the reason was made here."),
            severity="high", confidence=0.8,
            culprit=Culprit(module=mod_name(call.module), function=source_function(call.function, call.arity),
                            detail=fmt(e.reason, 150), process=view.label(call.pid)),
            evidence=ev,
            signatures=["exit:reason_produced", "exit:linked_cascade", "link:unexpected_exit", "exit:caused_by_other"]
            + (["exit:shutdown"] if clean else []),
            fix_hint=("Stop only what should stop: do not link a process that must outlive this one (start it under "
                      "its own supervisor, or monitor instead of linking), or trap exits in the linked process and "
                      "handle {:EXIT, pid, reason}; for a task whose failure is expected, start it with "
                      "Task.Supervisor.async_nolink or return an error instead of exiting.")),
            pid=e.pid, ts=e.ts, victims=[v.pid for v in victims])
        facts += 1
        _link_victims(book, fact, {e.pid} | {v.pid for v in victims})


def _link_victims(book: FactBook, fact: Finding, pids: set[int]) -> None:
    for f in book.facts:
        if f.id == fact.id or book.meta.get(f.id, {}).get("pid") not in pids:
            continue
        if f.detector in ("exit", "terminate_skipped", "not_restarted", "lost_in_mailbox", "child_down"):
            if not book.link_origin(f, fact, "it went down with a linked process's exit reason",
                                    origins=("exit", "terminate_skipped")):
                continue
        if f.detector == "terminate_skipped" and f.weak is None:
            f.weak = ("it was stopped by a linked process's exit, not by its supervisor: the reason was made "
                      "elsewhere (exit_reason_produced)")
