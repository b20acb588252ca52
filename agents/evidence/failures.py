"""Failures and how they propagate: exceptions of every class, process exits, calls that failed
because of another process, messages sent to dead processes — and the links between them, so
that a report follows a chain of failures back to its first cause (restarts and supervision
are :mod:`.supervision`).

Facts made here (``Finding.detector``):

| kind | what | culprit if it is the first cause |
| --- | --- | --- |
| ``exception`` | an exception (error, exit, throw) unwinding through traced calls | the innermost application frame, with the message it was handling |
| ``call_failed`` | a call that failed because of its target: timeout, noproc, calling self, the target crashing | the caller's frame (calling itself, a stale pid), else explained by the target |
| ``exit`` | a process exiting abnormally | its own exception, the application frame of its stack trace, or the process that took it down |
| ``dead_send`` | a message sent to a process that had exited | the sending function (a stale pid) |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Culprit, Finding, MessageArrow
from ..view import Call, Exit, Message, RecordingView, fmt, is_app_module, is_atom, mod_name
from . import reasons as R
from .book import FactBook
from .common import message_senders, message_shape

CALLBACKS = ("handle_call", "handle_cast", "handle_info", "handle_continue", "handle_event", "init",
             "terminate", "code_change")


def _culprit(view: RecordingView, c: Call, detail=None) -> Culprit:
    fn = R.source_function(c.function, c.arity)
    if detail is None:
        if c.function.startswith("handle_") and c.args:
            detail = c.args[0]
        elif c.args:
            detail = c.args[0] if len(c.args) == 1 else c.args
    return Culprit(module=mod_name(c.module), function=fn,
                   detail=fmt(detail, 150) if detail is not None else None, process=view.label(c.pid))


def _same(a, b) -> bool:
    return fmt(a, 300) == fmt(b, 300)


# ----------------------------------------------------------------------------- exceptions
def _incidents(view: RecordingView) -> list[list[Call]]:
    """Exception events grouped by the throw that produced them: a throw unwinds through
    every traced frame, each ending with the same ``{Class, Reason}``."""
    groups: dict[int, list[Call]] = {}
    for c in view.calls:
        if c.outcome != "exception":
            continue
        top = c
        while top.parent is not None and top.parent.outcome == "exception" and _same(top.parent.value, c.value):
            top = top.parent
        groups.setdefault(top.call_id, []).append(c)
    return [sorted(cs, key=lambda c: c.depth) for _, cs in sorted(groups.items())]


def exceptions(view: RecordingView, book: FactBook) -> None:
    seen: dict[tuple, object] = {}
    for frames in _incidents(view):
        app = [c for c in frames if is_app_module(c.module)]
        inner = (app or frames)[-1]
        table = _ets_table(frames[-1], frames[-1].value)
        outer = frames[0]
        value = inner.value
        cls = R.atom_name(value[0]) if isinstance(value, tuple) and len(value) == 2 else "error"
        reason = value[1] if isinstance(value, tuple) and len(value) == 2 else value
        gc = R.gen_call(reason) if cls in ("exit", "error") else None
        callback = next((c for c in reversed(frames) if c.function in CALLBACKS), None)
        evidence = [view.call_evidence(inner), view.end_evidence(inner, f"{inner.mfa} raised {cls}: {fmt(reason, 200)}")]
        if outer is not inner:
            evidence.append(view.end_evidence(outer, f"… and unwound through {outer.mfa}"))
        stack = " <- ".join(c.mfa for c in reversed(frames[-6:]))
        if gc is not None:
            tokens = R.call_tokens(gc)
            title = f"{inner.mfa}: {gc.api} to {fmt(gc.target, 60)} failed ({gc.why})"
            book.add(Finding(
                detector="call_failed", title=title,
                summary=(f"{inner.mfa} called {fmt(gc.target, 80)} ({gc.api}) with {fmt(gc.request, 100)} and the call "
                         f"failed with {gc.why} (traced stack: {stack})."),
                severity="high", confidence=0.7 if gc.why in ("calling_self",) else 0.5,
                culprit=_culprit(view, inner), evidence=evidence, signatures=tokens,
                fix_hint=_call_fix(gc.why)),
                pid=inner.pid, ts=inner.end_ts, gc=gc, call=inner)
            continue
        key = (inner.module, inner.function, inner.arity, cls, fmt(R.core(reason), 200))
        if key in seen:  # the same failure again (a crash loop, a retried request): one fact, more evidence
            fact = seen[key]
            if len(fact.evidence) < 8:
                fact.evidence.append(view.end_evidence(inner, f"{inner.mfa} raised the same again"))
            book.meta[fact.id]["more"].append((inner.pid, inner.end_ts, reason))
            continue
        if cls == "throw":
            tokens = ["exception:throw"]
        elif cls == "exit":
            tokens = ["exception:exit"]
        else:
            tokens = ["exception:error", *R.error_tokens(reason)]
        if callback is not None and callback is inner and "exception:function_clause" in tokens \
                and inner.function.startswith("handle_"):
            tokens.append("callback:unhandled_message")
        detail = None
        core = R.core(reason)
        if isinstance(core, tuple) and len(core) == 2 and R.atom_name(core[0]) in ("badmatch", "case_clause", "badkey"):
            detail = core[1]
        culprit = _culprit(view, inner, detail if (detail is not None and not inner.function.startswith("handle_")) else None)
        if cls == "throw" and callback is not None and callback is not inner and is_app_module(callback.module):
            # a throw is control flow for a caller to catch: the callback that let it escape is at fault
            culprit = _culprit(view, callback)
            tokens.append("exception:bad_return")
        if "callback:unhandled_message" in tokens:
            sender = _inconsistent_sender(view, inner)
            if sender is not None:
                culprit = _culprit(view, sender, inner.args[0])
        during = f" while handling {fmt(callback.args[0], 100)}" if callback is not None and callback.args else ""
        seen[key] = book.add(Finding(
            detector="exception",
            title=f"{inner.mfa} raised {fmt(core, 80)}",
            summary=f"{inner.mfa} raised ({cls}) {fmt(reason, 200)}{during} (traced stack: {stack}).",
            severity="high", confidence=0.75 if cls != "exit" else 0.6,
            culprit=culprit, evidence=evidence, signatures=tokens,
            messages=[MessageArrow(sender="caller", receiver=view.label(inner.pid), message=fmt(callback.args[0], 50),
                                   at_ms=view.at_ms(callback.ts), kind="call")] if callback is not None and callback.args else [],
            fix_hint=("Handle the failing case where it happens: match the value explicitly, return "
                      "{:error, reason} for expected failures, and let only bugs crash.")),
            pid=inner.pid, ts=inner.end_ts, reason=reason, cls=cls, callback=callback, call=inner, more=[],
            table=table)


def _inconsistent_sender(view: RecordingView, handler: Call) -> Call | None:
    """The application function that sent a message no clause of ``handler`` matched — when the
    receiver handled messages with the same tag in another shape, so the receiver's contract is
    known and the sender broke it."""
    msg = handler.args[0] if handler.args else None
    if not (isinstance(msg, tuple) and msg):
        return None
    tag = fmt(msg[0], 60)
    shape = message_shape(msg)
    handled = any(c.function == handler.function and c.outcome == "return" and c.args
                  and isinstance(c.args[0], tuple) and c.args[0] and fmt(c.args[0][0], 60) == tag
                  and message_shape(c.args[0]) != shape
                  for c in view.calls_by_pid.get(handler.pid, []))
    if not handled:
        return None
    sender = message_senders(view).get(handler.call_id)
    return sender if sender is not None and sender.pid != handler.pid else None


def _ets_table(innermost: Call | None, reason) -> object | None:
    """The table an ETS call failed on: the traced ``:ets`` call's first argument, or the
    ``:ets`` frame's in a stack trace."""
    if innermost is not None and innermost.module == "ets" and innermost.args:
        return innermost.args[0]
    for f in R.stack_frames(reason):
        if f.module == "ets" and f.args:
            return f.args[0]
    return None


def ets_owners(view: RecordingView, book: FactBook) -> None:
    """An ETS call that failed because the table was gone: its owner — the process that worked
    on the table and exited before — is the first cause (a table dies with its owner)."""
    exit_at = {}
    for e in view.exits:
        exit_at.setdefault(e.pid, e)
    for f in book.of_kind("exception", "exit"):
        m = book.meta[f.id]
        table = m.get("table")
        if table is None and f.detector == "exit":
            table = _ets_table(None, m.get("reason"))
        if table is None or not ("exception:badarg" in f.signatures or "exception:badarg:ets" in f.signatures):
            continue
        name = fmt(table, 80)
        ts = m.get("ts") or 0
        best = None
        for c in view.calls:
            if c.ts >= ts or c.pid == m.get("pid"):
                continue
            e = exit_at.get(c.pid)
            if e is None or e.ts > ts or not any(fmt(a, 200) == name for a in (c.args or [])):
                continue
            if not is_app_module(c.module):
                c = view.open_call_at(c.pid, c.ts) or c
                if not is_app_module(c.module):
                    continue
            while c.parent is not None and is_app_module(c.parent.module) and any(
                    fmt(a, 200) == name for a in (c.parent.args or [])):
                c = c.parent
            if best is None or c.ts > best[0].ts:
                best = (c, e)
        confidence = 0.8
        if best is None:
            best = _short_lived_before(view, m.get("pid"), ts)
            confidence = 0.6
        if best is None:
            continue
        c, e = best
        owner = book.add(Finding(
            detector="ets_owner_exit",
            title=f"ETS table {name} died with its owner {view.label(e.pid)}",
            summary=(f"{view.label(e.pid)} ran {c.mfa} on the table {name} and then exited ({fmt(e.reason, 60)}); an ETS "
                     f"table belongs to the process that created it and is deleted when that process ends, so every "
                     f"later call on {name} fails with badarg."),
            severity="high", confidence=confidence, culprit=_culprit(view, c, table),
            evidence=[view.call_evidence(c), view.evidence(e.event_id, "exit", e.ts, e.pid,
                                                           f"{view.label(e.pid)} exited: {fmt(e.reason, 80)}")],
            signatures=["ets:owner_exit", "exception:badarg:ets"],
            fix_hint=("Create the table in a long-lived process (a GenServer under the supervisor) and fill it from "
                      "anywhere with :public access, or give it an heir; never from a Task or a request process.")),
            pid=e.pid, ts=e.ts)
        book.link(book.origin(f), owner, "the table's owner had exited")


def _spawned_by_rpc(view: RecordingView, pid: int) -> bool:
    return pid in view.rpc_workers


def _short_lived_before(view: RecordingView, failing_pid, ts: int):
    """The last process to exit before ``ts`` that ran application code (not an rpc handler):
    (its outermost application call, its exit)."""
    best = None
    for e in view.exits:
        if e.ts > ts or e.pid == failing_pid or _spawned_by_rpc(view, e.pid):
            continue
        calls = [c for c in view.calls_by_pid.get(e.pid, []) if is_app_module(c.module)]
        named = [c for c in calls if not c.function.startswith(("-", "__")) and c.function != "module_info"]
        if not named:
            continue
        top = min(named, key=lambda c: (c.depth, c.ts))
        if best is None or e.ts > best[1].ts:
            best = (top, e)
    return best


def _call_fix(why: str) -> str:
    return {
        "timeout": "Find what the called process was doing (it was busy or blocked); move slow work out of "
                   "its callbacks or make the caller's timeout match the work.",
        "noproc": "Look the process up by name (Registry / a registered name) at call time instead of keeping "
                  "its pid, and handle {:noproc, _} exits where the callee may be gone.",
        "calling_self": "A process cannot GenServer.call itself: do the work directly in the callback, or "
                        "send itself a message and handle it later.",
    }.get(why, "Fix the called process's failure; the caller is its victim.")


# ----------------------------------------------------------------------------- exits
def _identity(view: RecordingView, pid: int) -> str | None:
    p = view.proc(pid)
    if p is None:
        return None
    mod = view.module_of_pid.get(pid)
    if p.name:
        return p.name
    if mod and is_app_module(mod):
        return mod_name(mod)
    if p.initial_call and not p.initial_call.startswith((":proc_lib", "proc_lib", ":erlang")):
        return p.initial_call
    return None


def _deepen(cause: Finding, reason: Any, frame: R.Frame, value: Any) -> None:
    """An exception raised below the traced frames (a private helper, a module not recorded)
    was raised where the exit's stack trace puts its top application frame, not in the
    innermost traced function it unwound through: when that function is further down the same
    stack trace, the fact names the top frame, with the value it was given. A
    ``function_clause`` raised there is that helper's, not the callback's: no unhandled message."""
    names = [(mod_name(f.module), f.function) for f in R.stack_frames(reason)]
    top = (mod_name(frame.module), frame.function)
    here = (cause.culprit.module, cause.culprit.function)
    if top == here or here not in names or names.index(here) < names.index(top):
        return
    cause.culprit = Culprit(module=top[0], function=top[1], detail=fmt(value, 150), process=cause.culprit.process)
    cause.signatures = [t for t in cause.signatures if t != "callback:unhandled_message"]
    cause.summary += f" The stack trace puts the raise in {top[0]}.{top[1]}, below the traced frames."


def exits(view: RecordingView, book: FactBook) -> None:
    by_pid_exc: dict[int, list[tuple[int, object, Finding]]] = defaultdict(list)
    # a process ending with the trigger's own failure (agents/evidence/trigger.py: the trigger's
    # code in a process it started) is the end of that failure, not a cause of its own
    for f in book.of_kind("exception", "call_failed", "trigger_failed"):
        m = book.meta[f.id]
        for pid, ts, reason in [(m["pid"], m["ts"], m.get("reason")), *m.get("more", [])]:
            by_pid_exc[pid].append((ts or 0, reason, f))
    parent_of = {s.child: s.parent for s in view.spawns}
    earlier: list[tuple[Exit, Finding]] = []
    for e in sorted(view.exits, key=lambda x: (x.ts, x.event_id)):
        if R.is_normal(e.reason):
            continue
        ident = _identity(view, e.pid)
        core = R.core(e.reason)
        tokens = ["exit:abnormal"]
        if R.atom_name(core) == "killed":
            tokens.append("exit:killed")
        gc = R.gen_call(e.reason)
        tokens += R.call_tokens(gc) if gc else R.error_tokens(e.reason)
        own = sorted((x for x in by_pid_exc.get(e.pid, []) if x[0] <= e.ts), key=lambda x: x[0])
        cause = None
        for _ts, reason, f in reversed(own):
            if f.detector == "call_failed" or _same(R.core(reason), core) or _same(reason, e.reason):
                cause = f
                break
        frame, value = R.app_frame(e.reason)
        if cause is not None and cause.culprit.detail is None and frame is not None \
                and (mod_name(frame.module), frame.function) == (cause.culprit.module, cause.culprit.function):
            cause.culprit.detail = fmt(value, 150)  # the offending value the stack trace names
        if cause is not None and frame is not None and cause.detector == "exception":
            _deepen(cause, e.reason, frame, value)
        mod = view.module_of_pid.get(e.pid)
        if frame is not None:
            culprit = Culprit(module=mod_name(frame.module), function=frame.function, detail=fmt(value, 150),
                              process=view.label(e.pid))
        else:
            culprit = Culprit(module=mod_name(mod) if mod else (ident or view.label(e.pid)), function=None,
                              detail=fmt(core, 150), process=view.label(e.pid))
        # propagation: the same reason from a process it was linked to (or its parent/child) just before
        source = None
        if cause is None and gc is None:
            for pe, pf in reversed(earlier):
                if pe.pid == e.pid or not _same(R.core(pe.reason), core):
                    continue
                related = view.linked(e.pid, pe.pid) or parent_of.get(e.pid) == pe.pid or parent_of.get(pe.pid) == e.pid
                if related or (e.ts - pe.ts) * 1000.0 / view.time_unit < 20.0:
                    source = (pe, pf)
                    break
            if source is None and R.atom_name(core) == "killed":
                source = None
        if source is not None:
            tokens += ["exit:caused_by_other", "link:unexpected_exit", "exit:linked_cascade"]
            if parent_of.get(source[0].pid) == e.pid:
                tokens.append("task:crash_propagates")
        ev = view.evidence(e.event_id, "exit", e.ts, e.pid, f"{view.label(e.pid)} exited: {fmt(e.reason, 200)}")
        app_culprit = frame is not None or (mod is not None and is_app_module(mod))
        fact = book.add(Finding(
            detector="exit", title=f"{ident or view.label(e.pid)} exited: {fmt(core, 80)}",
            summary=f"{view.label(e.pid)} exited abnormally with {fmt(e.reason, 200)}."
                    + (f" It was taken down by {view.label(source[0].pid)}, which had exited with the same reason just before."
                       if source else ""),
            severity="high", confidence=0.6 if app_culprit else 0.3, culprit=culprit, evidence=[ev],
            signatures=list(dict.fromkeys(tokens)),
            fix_hint="Fix the first failure in the chain; the processes that went down with it are its victims."),
            pid=e.pid, ts=e.ts, reason=e.reason, ident=ident, gc=gc, exit=e)
        if cause is not None:
            book.link(fact, cause, "the exit is the end of its own exception")
        elif source is not None:
            book.link(fact, source[1], "taken down by a linked process")
        earlier.append((e, fact))


# ----------------------------------------------------------------------------- dead targets
def kept_since(view: RecordingView, pid: int, text: str, detail, before: int) -> Culprit | None | bool:
    """The callback of process ``pid`` whose result first put ``text`` (a term as :func:`fmt`
    prints it) into its state, before ``before`` — ``init/1`` when the first state recorded
    already held it. None when a state held it but nothing names the writer; False when no
    recorded state held it."""
    for s in sorted((s for s in view.states if s.pid == pid and s.ts <= before), key=lambda s: (s.ts, s.event_id)):
        if text not in fmt(s.state, 20000):
            continue
        best = None
        for c in view.calls_by_pid.get(pid, []):
            if c.function in CALLBACKS and c.running_at(s.ts):
                best = c
        if best is not None:
            return _culprit(view, best, detail)
        mod = view.module_of_pid.get(pid)
        if mod:  # held since before the recording: kept when the process started
            return Culprit(module=mod_name(mod), function="init/1", detail=fmt(detail, 150), process=view.label(pid))
        return None
    return False


def pid_source(view: RecordingView, pid: int, target, before: int) -> Culprit | None:
    """Where process ``pid`` got hold of ``target`` (a pid it used after that process died):
    the callback whose result first put it into the state — ``init/1`` when the first state
    recorded already held it — else the first traced call that returned it. That is where the
    stale pid was cached."""
    text = fmt(target, 80)
    if not text.startswith("#PID"):
        return None
    found = kept_since(view, pid, text, target, before)
    if found is not False:
        return found
    for c in view.calls_by_pid.get(pid, []):
        if c.ts > before:
            break
        if c.outcome == "return" and is_app_module(c.module) and text in fmt(c.value, 4000):
            return _culprit(view, c, target)
    return None


def dead_sends(view: RecordingView, book: FactBook) -> None:
    exited = {view.proc(e.pid).pid: e for e in view.exits if view.proc(e.pid)}
    groups: dict[tuple, list] = defaultdict(list)
    for d in view.dead_sends:
        groups[(d.sender, fmt(d.to, 80))].append(d)
    for (sender, target), sends in sorted(groups.items(), key=lambda kv: kv[1][0].ts):
        d = sends[0]
        frame = view.open_call_at(d.sender, d.ts)
        dead = exited.get(str(d.to))
        stale = dead is not None and any(
            _identity(view, s.child) == _identity(view, dead.pid) and s.ts > dead.ts for s in view.spawns)
        culprit = _culprit(view, frame, d.msg) if frame else Culprit(module=mod_name(view.module_of_pid.get(d.sender, "?")),
                                                                       detail=fmt(d.msg, 150), process=view.label(d.sender))
        keeper = pid_source(view, d.sender, d.to, d.ts) if (stale or dead is None) else None
        where = ""
        if keeper is not None:
            culprit = keeper
            # the process the stale pid stood for: from its exit here, else from an earlier recording
            whose = _identity(view, dead.pid) if dead is not None else view.earlier_names.get(str(d.to))
            if whose:
                culprit.detail = whose   # the process the stale pid stood for
            where = f" The pid was kept by {keeper.where}."
        fact = book.add(Finding(
            detector="dead_send", title=f"{view.label(d.sender)} sends to dead process {target}",
            summary=(f"{view.label(d.sender)} sent {len(sends)} message(s) (e.g. {fmt(d.msg, 100)}) to {target}, which no "
                     "longer existed" + (" — it had been restarted under a new pid, so the sender holds a stale pid."
                                         if stale else ": the messages are silently lost.") + where),
            severity="high", confidence=0.65 if (stale or keeper) else 0.45, culprit=culprit,
            evidence=[view.evidence(x.event_id, "send_dead", x.ts, x.sender, f"sent {fmt(x.msg, 80)} to dead {target}")
                      for x in sends[:5]],
            signatures=["message:send_dead", "call:noproc"] if (stale or keeper) else ["message:send_dead"],
            fix_hint="Address processes by name (Registry, registered names) or monitor them and drop the pid on :DOWN."),
            pid=d.sender, ts=d.ts, stale=stale)
        if dead is not None and not stale and keeper is None:
            cause = next((f for f in book.of_kind("exit") if book.meta[f.id]["exit"] is dead), None)
            if cause is not None:
                book.link(fact, cause, "the target had crashed")


_CALLBACK_OF = {"$gen_cast": "handle_cast", "$gen_call": "handle_call"}


def _callback_key(msg: Any) -> tuple[str, str] | None:
    """The ``gen_server`` callback a delivered message goes to and the argument it gets
    (printed), or ``None`` for what the behaviour loop handles itself (system messages, the
    parent's exit)."""
    if isinstance(msg, tuple) and msg and is_atom(msg[0], "system"):
        return None
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "EXIT"):
        return None
    if isinstance(msg, tuple) and len(msg) == 2 and is_atom(msg[0], "$gen_cast"):
        return "handle_cast", fmt(msg[1], 400)
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_call"):
        return "handle_call", fmt(msg[2], 400)
    return "handle_info", fmt(msg, 400)


def _unhandled(view: RecordingView, e: Exit) -> list[Message]:
    """Messages delivered to a ``gen_server`` whose callbacks the recording shows that it had
    not handled when it stopped (normally or on a shutdown): they died with its mailbox. Each
    callback run takes the earliest delivered message it matches (a mailbox is FIFO per sender)."""
    if not R.is_normal(e.reason):
        return []
    runs = sorted((c for c in view.calls_by_pid.get(e.pid, []) if c.function in ("handle_cast", "handle_call", "handle_info")
                   and c.ts <= e.ts and c.args), key=lambda c: c.ts)
    if not runs:
        return []
    pending: dict[tuple[str, str], list[Message]] = defaultdict(list)
    delivered = sorted((m for m in view.messages if m.receiver == e.pid and m.receive_id is not None
                        and m.receive_ts is not None and m.receive_ts <= e.ts and m.sender != e.pid),
                       key=lambda m: m.receive_ts)
    i = 0
    for c in runs:
        while i < len(delivered) and delivered[i].receive_ts <= c.ts:
            k = _callback_key(delivered[i].msg)
            if k is not None:
                pending[k].append(delivered[i])
            i += 1
        queue = pending.get((c.function, fmt(c.args[0], 400)))
        if queue:
            queue.pop(0)
    for m in delivered[i:]:
        k = _callback_key(m.msg)
        if k is not None:
            pending[k].append(m)
    return sorted((m for q in pending.values() for m in q if m.sender is not None), key=lambda m: m.receive_ts)


def lost_mailboxes(view: RecordingView, book: FactBook) -> None:
    """Messages sent to a process that exited before they reached it, or that reached a
    ``gen_server`` which stopped before it handled them: they die with its mailbox (a trace's
    ``receive`` is the delivery into the mailbox, not the ``receive`` that takes it). When the process was then replaced (restarted under a new pid) and the senders
    go on addressing the old pid, the pid they keep is the first cause. Only for a process whose
    receives the capture traced: another may well have taken them (and exited because of one)."""
    for e in sorted(view.exits, key=lambda x: (x.ts, x.event_id)):
        if not view.receives_traced(e.pid):
            continue
        lost = [m for m in view.messages if m.receiver == e.pid and m.send_ts is not None and m.send_ts <= e.ts
                and m.receive_id is None and m.sender is not None and m.sender != e.pid] or _unhandled(view, e)
        if not lost:
            continue
        ident = _identity(view, e.pid)
        replaced = ident is not None and any(_identity(view, s.child) == ident and s.ts > e.ts for s in view.spawns)
        senders = sorted({m.sender for m in lost})
        sender = senders[0]
        target = view.proc(e.pid).pid if view.proc(e.pid) else None
        keeper = pid_source(view, sender, lost[0].to, e.ts) if target else None
        frame = view.open_call_at(sender, lost[0].send_ts)
        culprit = keeper or (_culprit(view, frame, lost[0].msg) if frame else
                             Culprit(module=mod_name(view.module_of_pid.get(e.pid, "?")), process=view.label(e.pid)))
        if keeper is not None and ident:
            culprit.detail = ident
        book.add(Finding(
            detector="lost_in_mailbox",
            title=f"{len(lost)} message(s) died in {view.label(e.pid)}'s mailbox",
            summary=(f"{view.label(e.pid)} exited ({fmt(e.reason, 40)}) with {len(lost)} message(s) it had not received yet "
                     f"(from {', '.join(view.label(s) for s in senders[:3])}, e.g. {fmt(lost[0].msg, 80)}): they were "
                     "lost without an error" + ("; it was restarted under a new pid, and senders that keep the old "
                                                "pid lose every later message too." if replaced else ".")),
            severity="high", confidence=0.65 if (replaced and keeper) else 0.5,
            culprit=culprit,
            evidence=[view.evidence(m.send_id, "send", m.send_ts, m.sender, f"sent {fmt(m.msg, 60)}, never received")
                      for m in lost[:4]] + [view.evidence(e.event_id, "exit", e.ts, e.pid, f"exited: {fmt(e.reason, 60)}")],
            signatures=["message:unmatched", "message:send_dead"] + (["call:noproc"] if replaced else []),
            fix_hint=("Address the process by name (or through a Registry) so messages reach the current process, "
                      "and stop a server only when its mailbox is drained (or hand the work over).")),
            pid=sender, ts=e.ts)


def link_calls(view: RecordingView, book: FactBook) -> None:
    """Explain failed calls by their target: the target's crash, slow callback or call cycle."""
    exits_by_label: dict[str, list[Finding]] = defaultdict(list)
    for f in book.of_kind("exit"):
        e = book.meta[f.id]["exit"]
        p = view.proc(e.pid)
        if p is not None:
            exits_by_label[p.pid].append(f)
            if p.name:
                exits_by_label[p.name].append(f)
                exits_by_label[":" + p.name].append(f)
    by_event = book.by_event()
    for f in book.of_kind("call_failed", "exit"):
        gc = book.meta[f.id].get("gc")
        if gc is None or f.caused_by is not None:
            continue
        ts = book.meta[f.id]["ts"] or 0
        # a detector that already explained this very event (slow callback, call cycle)
        for eid in f.event_ids:
            for other in by_event.get(eid, []):
                if other.detector in ("slow_callback", "call_cycle") and other.id != f.id:
                    book.link(f, other, f"the target was busy ({other.detector})")
        if f.caused_by is not None:
            continue
        target = fmt(gc.target, 200).removeprefix("#PID")
        candidates = [x for key in (str(gc.target), fmt(gc.target, 200), target) for x in exits_by_label.get(key, [])]
        crashed = [x for x in candidates if (book.meta[x.id]["ts"] or 0) <= ts + view.time_unit]
        if gc.why in ("noproc", "crashed", "normal", "killed", "shutdown") and crashed:
            book.link(f, crashed[-1], "the target had crashed")
            continue
        if gc.why == "noproc" and not crashed and fmt(gc.target).startswith("#PID"):
            f.summary += " The call addressed a pid that no longer existed: a stale pid kept after the process ended."
            f.confidence = max(f.confidence, 0.6)
