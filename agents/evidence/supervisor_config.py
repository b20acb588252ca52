"""Supervision configuration as the first cause: a supervisor that did what its child specs and
its ``init/1`` options told it to — and that is what made the app fail later, far away.

| kind | what | culprit |
| --- | --- | --- |
| ``intensity_exhausted`` | a supervisor gave up (exited) after more crashes of its children than its ``max_restarts`` allows in ``max_seconds`` — children that *worked* between crashes (each crashed process had answered before, or had been running since before the recording), so the crashes come now and then, not in a loop — and took its other children with it | the supervisor's ``init/1``, with its intensity and period |
| ``finished_child_restarted`` | a child that ended ``:normal`` again and again and was restarted each time (``:permanent``) until its supervisor exceeded its intensity and gave up | the child's ``child_spec/1`` when the recording shows the supervisor asking it for a spec with no ``restart`` (the default ``:permanent``), else the supervisor's ``init/1`` |
| ``temporary_child_needed`` | a child whose restart type is ``:temporary`` crashed, was (by that type) not restarted, and afterwards other processes still called or sent to it (``:noproc``, messages to its dead pid) | the child's ``child_spec/1`` when the restart type is the child module's own (``use GenServer, restart: :temporary`` in the sources, or a recorded ``child_spec/1`` returning it), else the supervisor's ``init/1`` (the child spec's ``restart: :temporary``) |

More steps link what these and :mod:`.supervision` found: a ``dead_send`` of a stale pid
whose target its supervisor had already restarted counts more than the repaired crash (the
crash's facts are marked weak: :func:`stale_after_restart`), and calls that found no process
where a child that was not restarted used to be are that ``not_restarted`` fact's effects; what a
supervisor that gave up did to its children (their ``:shutdown``) is the giving up's effect
(:func:`.cascade.taken_down_with`).

The first three read the supervision facts the capture records (``mark`` events: strategy, intensity,
period, each child's restart type — :mod:`elixir_scope.agents.marks`); without them they say
nothing. The failures that follow — calls to the lost children that end ``:noproc``, processes
that exit on them — are linked to the fact, so the report follows them to the configuration,
not to the crash that a right configuration would have survived.

Silent when the children crash without ever having worked (a crash loop: :mod:`.supervision`'s
``restart_loop`` follows it to the first crash), when the supervisor was stopped by its own
parent (no child crashed before it), for ``:temporary`` children that end ``:normal`` (a task
that finished) and for ones nobody asked for again.
"""

from __future__ import annotations

import re

from ..findings import Culprit, Finding
from ..view import RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook
from .failures import CALLBACKS, _identity
from .cascade import address_names, calls_found_gone, children_of, relink
from .supervision import _module_of_supervisor

MAX_EVIDENCE = 6


def _worked(view: RecordingView, pid: int, before: int) -> bool:
    """``pid`` ran an application callback that returned before ``before``, or was running before
    the recording began (no spawn of it recorded): it had been doing its job."""
    if not any(s.child == pid for s in view.spawns):
        return True
    return any(c.outcome == "return" and c.function in CALLBACKS and c.function not in ("init", "terminate")
               and is_app_module(c.module) and c.end_ts is not None and c.end_ts < before
               for c in view.calls_by_pid.get(pid, []))


def _label(view: RecordingView, sup) -> str:
    return sup.name or view.label(sup.proc)


def _sup_culprit(view: RecordingView, sup, detail: str) -> Culprit:
    module = mod_name(sup.module) if sup.module and is_app_module(sup.module) else _module_of_supervisor(view, sup.proc)
    return Culprit(module=module, function="init/1", detail=detail,
                   process=_label(view, sup))


def intensity_exhausted(view: RecordingView, book: FactBook) -> None:
    exits_by_pid = {}
    for e in sorted(view.exits, key=lambda x: x.ts):
        exits_by_pid.setdefault(e.pid, e)
    for sup in view.supervisors.get("start", []):
        if sup.intensity is None or sup.period is None:
            continue
        gone = exits_by_pid.get(sup.proc)
        if gone is None:
            continue
        kids = children_of(view, sup)
        window = sup.period * view.time_unit
        crashes = [e for e in view.exits if e.pid in kids and not R.is_normal(e.reason)
                   and gone.ts - window <= e.ts <= gone.ts]
        if len(crashes) <= sup.intensity:
            continue   # fewer crashes than it allows: stopped for another reason (its parent, a shutdown)
        if not all(_worked(view, e.pid, e.ts) for e in crashes):
            continue   # a child that never worked between crashes: a crash loop, the crash is the cause
        siblings = [e for e in view.exits if e.pid in kids and e.pid not in {c.pid for c in crashes}
                    and R.is_normal(e.reason) and e.ts >= crashes[-1].ts]
        names = address_names(view, kids)
        effects = calls_found_gone(view, book, names, crashes[-1].ts)
        allowed = f"max_restarts: {sup.intensity}, max_seconds: {sup.period}"
        who = sorted({_identity(view, e.pid) or view.label(e.pid) for e in crashes})
        ev = [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{view.label(e.pid)} crashed: {fmt(R.core(e.reason), 80)}")
              for e in crashes[:MAX_EVIDENCE - 2]]
        ev.append(view.evidence(gone.event_id, "exit", gone.ts, gone.pid,
                                f"supervisor {_label(view, sup)} gave up: {fmt(gone.reason, 60)}"))
        ev += [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{view.label(e.pid)} stopped with it ({fmt(e.reason, 40)})")
               for e in siblings[:2]]
        lost = f", and with it {', '.join(view.label(e.pid) for e in siblings[:4])}" if siblings else ""
        fact = book.add(Finding(
            detector="intensity_exhausted",
            title=f"{_label(view, sup)} gave up after {len(crashes)} crashes ({allowed})",
            summary=(f"{', '.join(who)} crashed {len(crashes)} times within {sup.period} s — each time after it had "
                     f"worked (answered requests), so these are occasional failures, not a loop — and its supervisor "
                     f"{_label(view, sup)}, allowed {allowed}, exited with {fmt(gone.reason, 60)}{lost}. "
                     f"{len(effects)} later call(s) found no process. Restart intensity this low turns an occasional "
                     "crash into the loss of the whole subtree."),
            severity="critical", confidence=0.85, culprit=_sup_culprit(view, sup, allowed), evidence=ev,
            signatures=["exit:reached_max_restart_intensity", "supervisor:intensity_low", "exit:shutdown"]
                       + (["restart:siblings"] if siblings else []),
            fix_hint=("Size max_restarts/max_seconds to how often the child is expected to fail (the defaults are 3 in "
                      "5 s), or put the crash-prone child under a supervisor of its own so its restarts cannot take "
                      "its siblings down; and handle the expected bad input instead of crashing on it.")),
            pid=sup.proc, ts=gone.ts, taken=kids | {sup.proc}, since=crashes[-1].ts)
        relink(book, effects, fact, "the supervisor had given up: nothing was there to serve the call")


def _restart_declared(view: RecordingView, child, restart: str, child_specs: dict | None) -> Culprit | None:
    """The child's ``child_spec/1`` when the restart type comes from the child's own module: the
    recording shows the supervisor asking it for its spec and getting ``restart``, or the sources
    declare it in the module's ``use GenServer, restart: …`` (``child_specs``: module → the
    options its ``use`` sets, knowledge/source). None: the supervisor's child list set it."""
    ident = mod_name(child.module) if child.module else child.id
    call, got = _spec_call(view, ident)
    if call is not None and got == restart:
        return Culprit(module=ident, function="child_spec/1", detail=f"restart: :{restart}",
                       process=view.label(call.pid))
    declared = (child_specs or {}).get(ident) or {}
    if declared.get("restart") == restart:
        return Culprit(module=ident, function="child_spec/1", detail=f"use …, restart: :{restart}")
    return None


#: a symptom that says the service stayed gone after it failed: what later callers got
LASTING = re.compile(r"\bno ?proc\b|\bno (?:such )?process\b|\bnot alive\b|\bprocess (?:is |was )?(?:not|no longer) "
                     r"(?:running|alive|there)\b|\bever since\b|\bsince then\b|\ball day\b|\bevery (?:time|call|request)"
                     r"\b|\bnever (?:came|comes|come) back\b|\bstays? (?:down|dead|gone)\b|\bno longer (?:answers|responds|works)\b"
                     r"|\bonly (?:a |the |by )?restart\w*\b|\b(?:no|nothing|none)\b[^.;!?]{0,60}\bsince\b",
                     re.I)


def _named_service(view: RecordingView, sup, child) -> bool:
    """A child callers reach by its registered name, in a static supervisor's list: a service, not
    a one-off job (a task of a dynamic supervisor is :temporary by design)."""
    p = view.proc(child.proc)
    return sup.kind == "supervisor" and child.type == "worker" and p is not None and bool(p.name)


def temporary_needed(view: RecordingView, book: FactBook, child_specs: dict | None = None, symptom: str = "") -> None:
    """``temporary_child_needed``: a ``:temporary`` child crashed and later calls or messages still
    addressed it — seen in the recording, or (the trigger's caller went down with the crash)
    stated by the symptom for a registered service: every later call failing with ``noproc``,
    "ever since"."""
    lasting = bool(LASTING.search(symptom[:4000]))
    for sup in view.supervisors.get("start", []):
        if sup.proc in {e.pid for e in view.exits}:
            continue   # the supervisor itself went away: not the child's restart type
        for child in sup.children:
            if child.restart != "temporary" or child.proc is None:
                continue
            crash = next((e for e in sorted(view.exits, key=lambda x: x.ts)
                          if e.pid == child.proc and not R.is_normal(e.reason)), None)
            if crash is None:
                continue
            ident = _identity(view, child.proc)
            if any(s.ts > crash.ts and _identity(view, s.child) == ident for s in view.spawns):
                continue   # started again (by someone): not lost
            names = address_names(view, {child.proc})
            effects = calls_found_gone(view, book, names, crash.ts)
            dead = [d for d in view.dead_sends if d.ts > crash.ts and fmt(d.to, 200).removeprefix("#PID") in names]
            if not effects and not dead and not (lasting and _named_service(view, sup, child)):
                continue   # nobody needed it again: a one-off job may well be temporary
            ev = [view.evidence(crash.event_id, "exit", crash.ts, crash.pid,
                                f"{view.label(crash.pid)} crashed ({fmt(R.core(crash.reason), 60)}); "
                                "restart :temporary: not restarted")]
            ev += [f.evidence[0] for f in effects[:MAX_EVIDENCE - 1] if f.evidence]
            ev += [view.evidence(d.event_id, "send_dead", d.ts, d.sender, f"sent {fmt(d.msg, 60)} to the lost {child.label}")
                   for d in dead[:2]]
            fact = book.add(Finding(
                detector="temporary_child_needed",
                title=f"{child.label} (restart: :temporary) crashed once and was never started again",
                summary=(f"{child.label}, a child of {_label(view, sup)} with restart type :temporary, crashed with "
                         f"{fmt(R.core(crash.reason), 100)}; a :temporary child is never restarted, yet "
                         + (f"{len(effects) + len(dead)} later call(s)/message(s) still addressed it and failed. "
                            if effects or dead else
                            "the symptom says it was still needed afterwards (later calls failing, ever since). ")
                         + "One crash a :permanent child would have survived removed the service for good."),
                severity="critical", confidence=0.85 if effects or dead else 0.7,
                culprit=_restart_declared(view, child, "temporary", child_specs)
                or _sup_culprit(view, sup, f"{child.label}: restart: :temporary"), evidence=ev,
                signatures=["exit:not_restarted", "supervisor:restart_type", "call:noproc"],
                fix_hint=("Give a long-lived service restart: :permanent (the default of use GenServer); keep :temporary "
                          "for one-off work nobody calls again, and handle the bad input that crashed it.")),
                pid=sup.proc, ts=crash.ts)
            relink(book, effects, fact, "the process it addressed was :temporary and had not been restarted")
            for nr in book.of_kind("not_restarted"):
                if book.meta[nr.id].get("pid") == child.proc and nr.caused_by is not None:
                    nr.caused_by = None
                    book.link(nr, fact, "not restarted because of its restart type")


def stale_after_restart(view: RecordingView, book: FactBook) -> None:
    """A crash its supervisor repaired, and a pid that stayed broken: messages (or calls) to a
    process's old pid sent *after* its supervisor had started the replacement (``dead_send``
    facts of a stale pid). The crash was one incident, the restart did its job; what keeps
    failing is the process that kept the pid from before (a pid captured at start, where a
    registered name, a Registry lookup or a ``:rest_for_one`` strategy was needed). The stale
    send then counts more, and the crash — whose process came back before the failures — is
    marked as what it is: one failure already repaired, not the lasting one."""
    exited = {}
    for e in sorted(view.exits, key=lambda x: x.ts):
        p = view.proc(e.pid)
        if p is not None:
            exited.setdefault(p.pid, e)
    crash_of = {book.meta[f.id]["exit"].pid: f for f in book.of_kind("exit") if "exit" in book.meta[f.id]}
    for f in book.of_kind("dead_send"):
        if not book.meta[f.id].get("stale"):
            continue
        sends = [d for d in view.dead_sends if d.sender == book.meta[f.id].get("pid")]
        dead = next((exited.get(fmt(d.to, 200).removeprefix("#PID")) or exited.get(str(d.to)) for d in sends), None)
        if dead is None:
            continue
        ident = _identity(view, dead.pid)
        back = next((s for s in sorted(view.spawns, key=lambda s: s.ts) if s.ts > dead.ts and s.child != dead.pid
                     and _identity(view, s.child) == ident), None)
        later = [d for d in sends if back is not None and d.ts > back.ts]
        if back is None or not later:
            continue
        f.confidence = max(f.confidence, 0.8)
        if "supervisor:stale_pid" not in f.signatures:
            f.signatures.append("supervisor:stale_pid")
        f.summary += (f" Its supervisor had already started {ident} again as {view.label(back.child)} before "
                      f"{len(later)} of these: the crash was repaired, the pid kept from before was not.")
        crash = crash_of.get(dead.pid)
        why = (f"{view.label(dead.pid)} was restarted by its supervisor ({view.label(back.child)}) right after; the "
               f"failures that went on were {view.label(book.meta[f.id]['pid'])}'s messages to its old pid")
        for x in (book.chain(crash) if crash is not None else []):
            if x.detector in ("exception", "exit") and not x.weak:
                x.weak = why


def calls_to_lost_children(view: RecordingView, book: FactBook) -> None:
    """Calls that found no process where a child that was not restarted (``not_restarted``)
    used to be: its absence is why they failed, so they are its effects (not first causes of
    their own). A child nobody addressed afterwards whose whole recorded life was one job — it
    started in the recording, ran one application callback besides ``init`` and ended plain
    ``:normal`` — is a job that finished, which is what ``:transient`` and ``:temporary`` are
    for: its ``not_restarted`` fact, and the ``child_down`` fact of the same child, are weak
    (:func:`finished_jobs`, run after ``child_down``)."""
    for nr in book.of_kind("not_restarted"):
        pid, ts = book.meta[nr.id].get("pid"), book.meta[nr.id].get("ts")
        if pid is None or ts is None:
            continue
        effects = calls_found_gone(view, book, address_names(view, {pid}), ts)
        for f in effects:
            if f.caused_by is None:
                book.link(f, nr, "the process it called had exited and was not restarted")


def finished_jobs(view: RecordingView, book: FactBook) -> None:
    """(After ``child_down``.) The finished-job reading of :func:`calls_to_lost_children`."""
    for nr in book.of_kind("not_restarted"):
        pid, ts = book.meta[nr.id].get("pid"), book.meta[nr.id].get("ts")
        if pid is None or ts is None or calls_found_gone(view, book, address_names(view, {pid}), ts):
            continue
        why = _one_job(view, pid)
        if why is None:
            continue
        ident = _identity(view, pid)
        for f in [nr] + [d for d in book.of_kind("child_down") if d.culprit.process == ident]:
            if not f.weak:
                f.weak = why


def _one_job(view: RecordingView, pid: int) -> str | None:
    """Why the plain ``:normal`` end of ``pid`` reads as a finished job (None when it does not)."""
    e = next((x for x in view.exits if x.pid == pid), None)
    if e is None or R.atom_name(e.reason) != "normal" or not any(s.child == pid for s in view.spawns):
        return None
    runs = [c for c in view.calls_by_pid.get(pid, []) if c.depth == 0 and is_app_module(c.module)
            and c.function in CALLBACKS and c.function not in ("init", "terminate", "code_change")]
    if len(runs) != 1 or view.dead_sends and any(fmt(d.to, 200).removeprefix("#PID") in address_names(view, {pid})
                                                 for d in view.dead_sends):
        return None
    return (f"{view.label(pid)} was started in the recording, ran one job ({runs[0].mfa}) and ended :normal, and "
            "nothing addressed it afterwards: a finished job looks the same")


def _spec_call(view: RecordingView, ident: str):
    """The recorded call of ``ident``'s ``child_spec/1`` (what a supervisor asks when the child is
    given as ``{Mod, arg}``) and the restart type it returned (``permanent`` when the map has none)."""
    for c in view.calls:
        if c.function == "child_spec" and c.arity == 1 and c.outcome == "return" and is_app_module(c.module) \
                and mod_name(c.module) == ident and isinstance(c.value, dict):
            restart = next((R.atom_name(v) for k, v in c.value.items() if R.atom_name(k) == "restart"), None)
            return c, restart or "permanent"
    return None, None


def finished_restarted(view: RecordingView, book: FactBook) -> None:
    """A ``:permanent`` child that is meant to finish: it ends ``:normal`` and its supervisor,
    as ``:permanent`` says, starts it again — the work runs again each time — until the
    restarts exceed the supervisor's intensity and it gives up, taking its other children with
    it. The culprit is the restart type: the child's ``child_spec/1`` when the recording shows
    the supervisor asking it (the default of ``use GenServer`` is ``:permanent``), else the
    supervisor's ``init/1``."""
    exits = sorted(view.exits, key=lambda x: x.ts)
    for sup in view.supervisors.get("start", []):
        if sup.intensity is None or sup.period is None:
            continue
        gone = next((e for e in exits if e.pid == sup.proc), None)
        if gone is None:
            continue
        window = sup.period * view.time_unit
        spawned = [s for s in view.spawns if s.parent == sup.proc]
        by_ident: dict[str, list] = {}
        for e in exits:
            if gone.ts - window <= e.ts <= gone.ts and R.atom_name(e.reason) == "normal" \
                    and any(s.child == e.pid for s in spawned):
                ident = _identity(view, e.pid)
                if ident:
                    by_ident.setdefault(ident, []).append(e)
        for ident, done in sorted(by_ident.items()):
            again = [e for e in done if any(s.ts > e.ts and _identity(view, s.child) == ident for s in spawned)]
            if len(done) <= sup.intensity or len(again) < sup.intensity:
                continue   # not the restarts that exhausted it
            call, restart = _spec_call(view, ident)
            if call is not None and restart != "permanent":
                continue
            if call is not None:
                culprit = Culprit(module=ident, function="child_spec/1", detail="restart: :permanent (the default)",
                                  process=view.label(call.pid))
            else:
                culprit = (_sup_culprit(view, sup, f"{ident}: restart: :permanent") if sup.module and is_app_module(sup.module)
                           else Culprit(module=ident, function="child_spec/1", detail="restart: :permanent"))
            siblings = [e for e in exits if e.pid in children_of(view, sup) and e.ts >= done[-1].ts
                        and _identity(view, e.pid) != ident and R.is_normal(e.reason)]
            effects = calls_found_gone(view, book, address_names(view, children_of(view, sup)), done[-1].ts)
            ev = [view.evidence(e.event_id, "exit", e.ts, e.pid, f"{ident} finished (:normal) and was started again")
                  for e in again[:MAX_EVIDENCE - 2]]
            ev.append(view.evidence(gone.event_id, "exit", gone.ts, gone.pid,
                                    f"supervisor {_label(view, sup)} gave up: {fmt(gone.reason, 60)}"))
            if call is not None:
                ev.insert(0, view.end_evidence(call, f"{call.mfa} returned {fmt(call.value, 100)}: no restart key, :permanent"))
            fact = book.add(Finding(
                detector="finished_child_restarted",
                title=f"{ident} ends :normal and is restarted (:permanent) until {_label(view, sup)} gives up",
                summary=(f"{ident} finished its work and exited :normal {len(done)} times; being :permanent it was started "
                         f"again each time (its work ran again), and the restarts exceeded {_label(view, sup)}'s "
                         f"intensity (max_restarts: {sup.intensity}, max_seconds: {sup.period}): the supervisor exited with "
                         f"{fmt(gone.reason, 40)}" + (f", taking {', '.join(view.label(e.pid) for e in siblings[:3])} with it"
                                                      if siblings else "") + f"; {len(effects)} later call(s) found no process."),
                severity="critical", confidence=0.85, culprit=culprit, evidence=ev,
                signatures=["supervisor:restart_type", "exit:reached_max_restart_intensity", "exit:shutdown"],
                fix_hint=("A child that is meant to finish must not be :permanent: use restart: :transient (restarted only "
                          "after a crash) or :temporary, e.g. use GenServer, restart: :transient, or run it as a Task.")),
                pid=sup.proc, ts=gone.ts, taken=children_of(view, sup) | {sup.proc}, since=done[-1].ts)
            relink(book, effects, fact, "the supervisor had given up: nothing was there to serve the call")
