"""Restarts and supervision: children that crash again and again, siblings taken down by a
supervisor's strategy, children not restarted, an ``init`` that calls the supervisor starting
it, and names already taken.

| kind | what | culprit if it is the first cause |
| --- | --- | --- |
| ``restart_loop`` | the same child crashing and being replaced again and again | the first crash's origin |
| ``sibling_restart`` | one child's crash made its (surviving) supervisor restart healthy siblings | the supervisor's ``init/1`` and strategy |
| ``not_restarted`` | a supervised child that exited and was not replaced | the callback that ended it — for a child stopped on request (``terminate_child``), the callback whose request to start it again the supervisor refused, else the one that stopped it (:mod:`.stopped`) |
| ``init_calls_supervisor`` | an ``init/1`` calling the process that is starting it | that ``init/1`` |
| ``already_started`` | a ``start_link`` finding its name taken | that ``start_link`` — in a race to start the same instance (same arguments, one got the name), the caller that turned ``{:already_started, pid}`` into an error |
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook
from .common import is_error, is_success
from .failures import CALLBACKS, _culprit, _identity
from .stopped import stopped_on_request


# ----------------------------------------------------------------------------- restarts
def restarts(view: RecordingView, book: FactBook) -> None:
    exit_facts = book.of_kind("exit")
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in exit_facts:
        ident = book.meta[f.id]["ident"]
        if ident and (f.caused_by is None or book.get(f.caused_by).detector != "exit"):
            groups[ident].append(f)
    parent_of = {s.child: s.parent for s in view.spawns}
    spawned: dict[str, list] = defaultdict(list)
    for s in view.spawns:
        ident = _identity(view, s.child)
        if ident:
            spawned[ident].append(s)
    for ident in sorted(groups):
        crashes = groups[ident]
        exits_ = [book.meta[f.id]["exit"] for f in crashes]
        pids = {e.pid for e in exits_}
        times = sorted({round(e.ts * 1000.0 / view.time_unit, 1) for e in exits_})
        replacements = [s for s in spawned.get(ident, []) if any(s.ts > e.ts for e in exits_)
                        and parent_of.get(s.child) in {parent_of.get(p) for p in pids}]
        if len(pids) < 3 or len(times) < 3 or len(replacements) < 2:
            continue
        first = min(crashes, key=lambda f: book.meta[f.id]["ts"])
        parents = {parent_of.get(p) for p in pids} - {None}
        tokens = ["restart:loop", "exit:abnormal"]
        sup_exit = next((e for e in sorted(view.exits, key=lambda x: x.ts) if e.pid in parents
                         and e.ts >= book.meta[first.id]["ts"]), None)
        evidence = [f.evidence[0] for f in crashes[:5]] + [
            view.evidence(s.event_id, "spawn", s.ts, s.parent, f"restarted {ident} as {view.label(s.child)}")
            for s in replacements[:3]]
        gave_up = ""
        if sup_exit is not None:
            tokens.append("exit:reached_max_restart_intensity")
            evidence.append(view.evidence(sup_exit.event_id, "exit", sup_exit.ts, sup_exit.pid,
                                          f"supervisor {view.label(sup_exit.pid)} exited: {fmt(sup_exit.reason)}"))
            info = next((x for x in view.supervisors.get("start", []) if x.proc == sup_exit.pid), None)
            allowed = (f", allowed max_restarts: {info.intensity} within max_seconds: {info.period},"
                       if info is not None and info.intensity is not None and info.period is not None else "")
            gave_up = (f" Its supervisor {view.label(sup_exit.pid)}{allowed} then gave up and exited with "
                       f"{fmt(sup_exit.reason)}: that shutdown, and what went down with it, are effects of the crashes.")
            sibs = [e for e in view.exits if parent_of.get(e.pid) in parents and e.pid not in pids and e.ts >= sup_exit.ts - 1]
            if sibs:
                tokens.append("restart:siblings")
        origin = book.origin(first)
        where = ""
        if origin.culprit is not None and origin.culprit.function:
            on = f" on {origin.culprit.detail}" if origin.culprit.detail else ""
            where = f" The first crash was raised in {origin.culprit.module}.{origin.culprit.function}{on}."
        loop = book.add(Finding(
            detector="restart_loop", title=f"Crash loop: {ident} crashed {len(crashes)} times",
            summary=(f"{ident} crashed {len(crashes)} times and was restarted {len(replacements)} times, each time with "
                     f"{fmt(R.core(book.meta[first.id]['reason']), 120)}: restarting cannot help.{where}{gave_up}"),
            severity="critical", confidence=0.85, culprit=origin.culprit.model_copy(), evidence=evidence,
            signatures=tokens,
            fix_hint=("Fix the crash itself (it is the same every time); validate configuration before starting the "
                      "child and return {:stop, reason} from init for expected failures.")),
            pid=book.meta[first.id]["pid"], ts=book.meta[first.id]["ts"],
            sup_exit=sup_exit, last_crash=max(e.ts for e in exits_), crashed=sorted(pids))
        book.link(loop, first, "the loop is the same crash, restarted")


def sibling_restarts(view: RecordingView, book: FactBook) -> None:
    """A child's crash made its supervisor (which lived on) stop and restart healthy siblings:
    the restart strategy (``:one_for_all``, ``:rest_for_one``) turned one crash into many.

    Children started before the recording have no spawn event: their supervisor is the process
    that spawned their replacement (same registered name or module) afterwards."""
    parent_of = {s.child: s.parent for s in view.spawns}
    dead = {e.pid for e in view.exits}
    ms = view.time_unit / 1000.0

    def replacement(pid: int, after: int):
        ident = _identity(view, pid)
        if ident is None:
            return None
        return next((s for s in sorted(view.spawns, key=lambda s: s.ts) if s.ts > after and s.child != pid
                     and _identity(view, s.child) == ident), None)

    done: set[int] = set()
    for f in sorted(book.of_kind("exit"), key=lambda f: book.meta[f.id]["ts"]):
        e = book.meta[f.id]["exit"]
        own = replacement(e.pid, e.ts)
        sup = parent_of.get(e.pid) or (own.parent if own else None)
        if sup is None or sup in dead or sup in done:
            continue
        replaced = []
        for x in view.exits:
            if x.pid == e.pid or not R.is_normal(x.reason) or not (0 <= x.ts - e.ts <= 200 * ms):
                continue
            r = replacement(x.pid, x.ts)
            if r is not None and r.parent == sup:
                replaced.append((x, r))
        if not replaced:
            continue
        done.add(sup)
        older = [x for x, r in replaced if own is not None and r.ts < own.ts]
        strategy = _strategy(view, sup) or (":one_for_all" if older or own is None else ":rest_for_one")
        ev = [f.evidence[0]] + [view.evidence(x.event_id, "exit", x.ts, x.pid,
                                              f"sibling {view.label(x.pid)} stopped ({fmt(x.reason, 40)})")
                                for x, _r in replaced[:4]] + [
            view.evidence(r.event_id, "spawn", r.ts, r.parent, f"{view.label(sup)} restarted {view.label(r.child)}")
            for _x, r in replaced[:4]]
        book.add(Finding(
            detector="sibling_restart",
            title=f"one crash in {view.label(e.pid)} restarted {len(replaced)} healthy sibling(s)",
            summary=(f"When {view.label(e.pid)} crashed, its supervisor {view.label(sup)} also stopped and restarted "
                     f"{', '.join(view.label(x.pid) for x, _r in replaced[:4])}, which had not failed: its restart "
                     f"strategy ({strategy}) ties their fate to the crashing child, so their state (sessions, caches, "
                     "connections) is lost with every such crash."),
            severity="high", confidence=0.8,
            culprit=Culprit(module=_module_of_supervisor(view, sup), function="init/1", detail=strategy,
                            process=view.label(sup)),
            evidence=ev, signatures=["restart:siblings", "exit:shutdown"],
            fix_hint=("Use :one_for_one unless children really depend on each other, or move the crash-prone child "
                      "under a supervisor of its own.")),
            pid=sup, ts=e.ts)


def _module_of_supervisor(view: RecordingView, sup: int) -> str:
    """A supervisor's callback module: ``{supervisor, Mod, 1}`` is how proc_lib names its initial call."""
    p = view.proc(sup)
    if p is not None and p.initial_call:
        text = p.initial_call
        for prefix in ("supervisor:", ":supervisor."):
            if text.startswith(prefix):
                return mod_name(text[len(prefix):].rsplit("/", 1)[0])
    mod = view.module_of_pid.get(sup)
    if mod and is_app_module(mod):
        return mod_name(mod)
    return (p.name if p and p.name else view.label(sup))


def _strategy(view: RecordingView, sup: int) -> str | None:
    """The supervisor's strategy when the recording holds its supervision facts."""
    facts = getattr(view, "supervisors", None) or {}
    p = view.proc(sup)
    for key in (p.pid if p else None, p.name if p else None):
        info = facts.get(key) if key else None
        strat = getattr(info, "strategy", None) if info is not None else None
        if strat:
            return ":" + str(strat).lstrip(":")
    return None


def not_restarted(view: RecordingView, book: FactBook) -> None:
    """A child of a supervisor that exited (normally or not) and was not replaced."""
    parent_of = {s.child: s.parent for s in view.spawns}
    children: dict[int, list[int]] = defaultdict(list)
    for s in view.spawns:
        children[s.parent].append(s.child)
    exit_fact = {book.meta[f.id]["exit"].event_id: f for f in book.of_kind("exit")}
    dead_parents = {e.pid for e in view.exits}
    for e in sorted(view.exits, key=lambda x: (x.ts, x.event_id)):
        parent = parent_of.get(e.pid)
        restart = None
        found = view.supervisor_of(e.pid, "start") if hasattr(view, "supervisor_of") else None
        if found is not None:
            parent, restart = found[0].proc, found[1].restart
        if parent is None or parent in dead_parents or (found is None and not _is_supervisor(view, parent)):
            continue
        if restart == "permanent" and not R.is_normal(e.reason):
            continue
        ident = _identity(view, e.pid)
        if ident is None:
            continue
        later = [c for c in children[parent] if c != e.pid and _identity(view, c) == ident
                 and any(s.ts > e.ts for s in view.spawns if s.child == c)]
        if later:
            continue
        last = next((c for c in reversed(view.calls_by_pid.get(e.pid, [])) if is_app_module(c.module)
                     and c.function in CALLBACKS and c.function not in ("terminate", "code_change")
                     and c.ts <= e.ts), None)
        culprit = _culprit(view, last) if last else Culprit(module=ident, process=view.label(e.pid))
        ev = [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{view.label(e.pid)} exited with {fmt(e.reason)} and was not restarted")]
        if last is not None:
            ev.insert(0, view.end_evidence(last, f"{last.mfa} returned {fmt(last.value, 120)}"))
        kind = f" (restart type :{restart})" if restart else ""
        asked = stopped_on_request(view, parent, e.ts) if R.is_normal(e.reason) else None
        why = ""
        if asked is not None and asked.starter is not None and not is_success(asked.answer):
            # asked to start it again, and nothing started: the request failed, unnoticed
            culprit = _culprit(view, asked.starter)
            refused = f"refused ({fmt(asked.answer, 60)})" if asked.answer is not None else "started nothing"
            why = (f" It was stopped on request ({asked.stopper.mfa} sent {fmt(asked.request, 60)}); "
                   f"{asked.starter.mfa} then asked for it again with {fmt(asked.start_request, 80)} and the "
                   f"supervisor {refused}, which went unnoticed.")
        elif asked is not None and asked.starter is None:
            culprit = _culprit(view, asked.stopper)
            why = f" It was stopped on request ({asked.stopper.mfa} sent {fmt(asked.request, 60)}) and never started again."
        fact = book.add(Finding(
            detector="not_restarted", title=f"{ident} exited ({fmt(R.core(e.reason), 40)}) and was not restarted",
            summary=(f"{view.label(e.pid)} ({ident}), a child of {view.label(parent)}{kind}, exited with "
                     f"{fmt(e.reason, 120)} and no replacement was started: it is gone for good, and whatever "
                     "it did stops happening without an error." + why),
            severity="high", confidence=(0.7 if restart in ("transient", "temporary") and R.is_normal(e.reason)
                                         else 0.5 if R.is_normal(e.reason) else 0.4),
            culprit=culprit, evidence=ev,
            signatures=["exit:not_restarted"] + (["exit:shutdown"] if R.is_normal(e.reason) else []),
            fix_hint=("Choose the restart type on purpose: a :transient child is not restarted after a :normal exit, "
                      "a :temporary one never; return {:stop, reason} only when the process should really end."),
            weak=_task_done(view, e) if R.is_normal(e.reason) and asked is None else None),
            pid=e.pid, ts=e.ts)
        ef = exit_fact.get(e.event_id)
        if ef is not None:
            book.link(fact, ef, "it exited abnormally")


def _task_done(view: RecordingView, e) -> str | None:
    """Why a :normal exit of a task is no evidence: a process a ``Task.Supervisor`` started to run a
    function (its spawn runs ``Task.Supervised``; such children are ``:temporary``) ends :normal when
    the function returns — its work is done, which is what it is for. None for any other process."""
    spawn = next((s for s in view.spawns if s.child == e.pid), None)
    if spawn is None or "Task.Supervised" not in fmt(spawn.mfa, 400):
        return None
    return (f"{view.label(e.pid)} is a task a Task.Supervisor started (its children are :temporary): it ended :normal "
            "when the function it ran returned — a finished job looks the same")


def _is_supervisor(view: RecordingView, pid: int) -> bool:
    p = view.proc(pid)
    mod = view.module_of_pid.get(pid) or (p.init_module if p else None) or ""
    text = " ".join(x for x in (p.name if p else None, p.initial_call if p else None, mod) if x)
    return "supervisor" in text.lower() or "Sup" in text


def init_calls_parent(view: RecordingView, book: FactBook) -> None:
    """An ``init/1`` that makes a synchronous call to the process starting it (its supervisor):
    the supervisor waits for ``init`` to return and cannot answer, so both hang until the call
    times out — everything that calls the supervisor meanwhile hangs too."""
    parent_of = {s.child: s.parent for s in view.spawns}
    for c in view.calls:
        if c.function != "init" or not is_app_module(c.module):
            continue
        parent = parent_of.get(c.pid)
        end = c.end_ts if c.end_ts is not None else None
        for m in view.messages:
            if m.sender != c.pid or m.send_ts is None or m.send_ts < c.ts or (end is not None and m.send_ts > end):
                continue
            gcall = m.msg if isinstance(m.msg, tuple) and len(m.msg) == 3 and R.atom_name(m.msg[0]) == "$gen_call" else None
            if gcall is None:
                continue
            target = m.receiver
            if target is None or (target != parent and not _is_supervisor(view, target)):
                continue
            waited = ((end if end is not None else max((x.ts for x in view.exits), default=m.send_ts)) - m.send_ts)
            frame = view.open_call_at(c.pid, m.send_ts) or c
            book.add(Finding(
                detector="init_calls_supervisor",
                title=f"{c.mfa} calls {view.label(target)}, which is waiting for it to start",
                summary=(f"While {view.label(target)} was starting {view.label(c.pid)}, its {c.mfa} made a synchronous call "
                         f"to {view.label(target)} ({fmt(gcall[2], 80)}); a supervisor answers nothing until init/1 returns, "
                         f"so both waited {waited * 1000.0 / view.time_unit:.0f} ms (until the call timed out), and every "
                         "caller of the supervisor hung meanwhile."),
                severity="critical", confidence=0.85, culprit=_culprit(view, c, gcall[2]),
                evidence=[view.call_evidence(c), view.evidence(m.send_id, "send", m.send_ts, c.pid,
                                                               f"{frame.mfa} called {view.label(target)} with {fmt(gcall[2], 60)}")],
                signatures=["call:cycle", "callback:slow_init", "call:blocked_waiting"],
                fix_hint=("Never call your own supervisor (or whoever starts you) from init/1: return from init fast and "
                          "do the work in handle_continue/2, or ask the supervisor from another process.")),
                pid=c.pid, ts=m.send_ts)
            break


def already_started(view: RecordingView, book: FactBook) -> None:
    """A ``start_link`` that returned ``{:error, {:already_started, pid}}``: a process registered
    under a name that is already taken — two instances meant to run share one name."""
    groups: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls:
        v = c.value
        if c.outcome == "return" and is_app_module(c.module) and isinstance(v, tuple) and len(v) == 2 \
                and R.atom_name(v[0]) == "error" and isinstance(v[1], tuple) and v[1] \
                and R.atom_name(v[1][0]) == "already_started":
            groups[(c.module, c.function, c.arity)].append(c)
    for key in sorted(groups):
        calls = groups[key]
        c = calls[0]
        culprit = _culprit(view, c, c.args[0] if c.args else None)
        title = f"{c.mfa} found its name already taken {len(calls)} time(s)"
        summary = (f"{c.mfa} returned {fmt(c.value, 80)} for {fmt(c.args, 80)}: the name it registers is already held "
                   "by another process, so the new instance never starts and callers talk to the old one.")
        loser = _race_loser(view, calls)
        if loser is not None:
            # the very instance asked for is running: the caller that turned that into a failure decided wrong
            culprit = _culprit(view, loser, loser.args[0] if loser.args else None)
            title = f"{loser.mfa} treats {{:already_started, pid}} as a failure"
            summary = (f"{c.mfa} was started twice at once with the same arguments ({fmt(c.args, 80)}); the second "
                       f"start returned {fmt(c.value, 60)} — the process asked for is running — and {loser.mfa} "
                       f"turned that into {fmt(loser.value, 60)}: a lookup-or-start race whose loser fails instead "
                       "of using the pid it was given.")
        book.add(Finding(
            detector="already_started", title=title, summary=summary,
            severity="high", confidence=0.75, culprit=culprit,
            evidence=[view.end_evidence(x, f"{x.mfa}({fmt(x.args, 60)}) returned {fmt(x.value, 60)}") for x in calls[:5]],
            signatures=["registry:already_started", "supervisor:start_error"],
            fix_hint=("Give each instance its own name (a {:via, Registry, {MyRegistry, id}} tuple), or do not "
                      "register instances that are meant to be many."),
            weak=_trigger_restart(view, calls) if loser is None else None),
            pid=c.pid, ts=c.ts)


def _race_loser(view: RecordingView, calls: list[Call]) -> Call | None:
    """The application function that lost a start race and failed: another start with the same
    arguments got the name (``{:ok, pid}``), and a caller in another process — running while the
    refused start ran — returned an error. The innermost such caller, else None."""
    c0 = calls[0]
    same = {fmt(x.args, 300) for x in calls}
    if not any((x.module, x.function, x.arity) == (c0.module, c0.function, c0.arity) and x.outcome == "return"
               and isinstance(x.value, tuple) and x.value and R.atom_name(x.value[0]) == "ok"
               and fmt(x.args, 300) in same for x in view.calls):
        return None
    found = [x for c in calls for x in view.calls
             if x.pid != c.pid and x.outcome == "return" and is_app_module(x.module) and x.module != c.module
             and not x.function.startswith("-") and x.end_ts is not None and x.ts <= c.ts <= x.end_ts
             and is_error(x.value)]
    return max(found, key=lambda x: (x.ts, x.depth)) if found else None


def _holder(c: Call) -> object:
    """The process ``{:error, {:already_started, pid}}`` names as holding the name (None when it
    names none)."""
    v = c.value[1]
    return fmt(v[1], 60) if len(v) >= 2 else None


def _one_instance_per_holder(view: RecordingView, calls: list[Call]) -> bool:
    """Each name found taken was refused to one instance only: the refused starts that name one
    holder all had the same arguments (starts with other arguments each refused by a holder of
    their own are instances each asked for again, not two instances sharing one name), and no
    start with other arguments got a holder's name (``{:ok, holder}``) in the recording. Refused
    starts that name no holder are taken as one name."""
    c0 = calls[0]
    by_holder: dict[object, set[str]] = defaultdict(set)
    for x in calls:
        by_holder[_holder(x)].add(fmt(x.args, 300))
    if None in by_holder and len(by_holder) > 1:
        by_holder = {None: set().union(*by_holder.values())}
    if any(len(args) > 1 for args in by_holder.values()):
        return False   # instances with different arguments were refused the one name
    failed = set().union(*by_holder.values())
    for x in view.calls:
        if (x.module, x.function, x.arity) == (c0.module, c0.function, c0.arity) and x.outcome == "return" \
                and isinstance(x.value, tuple) and len(x.value) == 2 and R.atom_name(x.value[0]) == "ok":
            args = fmt(x.args, 300)
            got = fmt(x.value[1], 60)
            if (None in by_holder and args not in failed) or (got in by_holder and args not in by_holder[got]):
                return False   # another instance, with other arguments, holds the name: two meant to run share it
    return True


def _trigger_restart(view: RecordingView, calls: list[Call]) -> str | None:
    """Why a name found taken is no evidence on its own: every such start ran while the trigger
    (a call of an rpc worker) was running, the trigger went on to succeed, the refused starts all
    had the same arguments, and no instance with other arguments got the name in the recording — the reproduction, run once more, asked again
    for the named process its earlier run had started."""
    c0 = calls[0]
    if not _one_instance_per_holder(view, calls):
        return None
    runs = [c for c in view.calls if c.pid in view.rpc_workers and c.depth == 0 and c.end_ts is not None
            and c.outcome == "return" and not is_error(c.value)]
    for x in calls:
        if not any(t.ts <= x.ts and x.ts <= t.end_ts for t in runs):
            return None
    t = next(t for t in runs if t.ts <= calls[0].ts <= t.end_ts)
    return (f"every start that found the name taken ran inside {t.mfa}, which then returned {fmt(t.value, 40)}: "
            "the reproduction asked again for the process its earlier run started")
