"""Locks and leases taken from a server process: who holds what, who waits for what.

A lock manager, a resource server or a pool hands out something with a ``GenServer.call``: a
lock on a key (``{:acquire, "acct-42"}`` → ``:ok``), a lease, a connection (``:checkout`` →
``conn``). When it is taken, the server defers the next caller's reply (``{:noreply, …}``) until
it is given back (``{:release, key}``, ``checkin(conn)``). The server is where everyone waits —
the *place* — but it answers as it was told: the culprit is the code that took the locks in an
order that closes a cycle, or that took one and never gave it back.

The recording shows the three parts without knowing the server's API:

- a **grant**: a call to the server that was answered and changed the server's state (it took
  something: a holder recorded, a slot removed from the free ones) — or that was deferred and
  answered later;
- a **wait**: a call to the same server for the same thing (the same non-atom values in its
  request — the key; for a request without any, such as ``:checkout``, the same request) that
  was never answered: its caller timed out, died, or still waited at the end;
- a **release**: a later message to the server with another tag (a cast, a call, a plain
  message) that names what was granted — the key, or the granted value itself (the
  connection handed back).

| kind | what | culprit |
| --- | --- | --- |
| ``lock_order_inversion`` | two processes each hold a grant of a server that the other waits for (process 1 took A then waits for B, process 2 took B then waits for A): the waits never end, the callers time out | the application function in which the last of them to wait took both — the order of its acquisitions closed the cycle — with both orders |
| ``lease_self_wait`` | a process asks a server for one more of what it was granted and has not given back (a slot per item of a batch, from a pool smaller than the batch): the only holder that could release one is itself; the others wait behind it | the application function that took them all, with its argument |
| ``lease_never_released`` | a caller waits for a grant another process holds and never gave back: that process died after taking it, or the function that took it returned (an early return, an error path) without releasing it | that function (the one above the server's client function that made the grant's call), with what it returned or how its process died |

Node-wide ``:global.set_lock`` locks are read the same way: a grant is a ``set_lock`` that returned
``true``, a wait one that returned ``false``, raised or was still running (≥ 500 ms) at the end, a
release a ``del_lock`` of the resource by its holder — or the holder's death (:global frees its locks).

The waiters' timeouts and the server's deferred replies that are never sent are effects of these
facts (linked to them). A correct order (every process takes the keys in the same order) or a
grant that is given back leaves no such fact: a wait that ends in a grant is not a failure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from . import reasons as R
from .book import FactBook
from .calls import same
from .reasons import source_function

MAX_FACTS = 3
MIN_WAIT_MS = 500.0
MAX_DEFERRED = 200     # deferred calls looked at per recording (a busy server defers thousands)
MAX_WAITS = 40         # failed waits per server matched against the grants


@dataclass
class _Call:
    cb: Call                 # the server's handle_call/3 for this request
    caller: int
    start: int               # when the server took the request
    end: int | None          # granted (at once, or when the caller's call returned), or the caller gave up / died
    granted: bool
    request: object
    reply: object = None
    client: Call | None = None   # the caller's innermost traced application frame while it waited


def _tag(request) -> str:
    if isinstance(request, tuple) and request and isinstance(request[0], Atom):
        return fmt(request[0], 60)
    return fmt(request, 60) if isinstance(request, Atom) else ""


def _leaves(term, depth: int = 0) -> list[str]:
    """The plain values of a term (text, numbers), as printed: what names the thing a request is
    about. Atoms, pids and references are not names of a resource."""
    if depth > 4:
        return []
    if isinstance(term, (str, bytes)) or (isinstance(term, (int, float)) and not isinstance(term, bool)):
        return [fmt(term, 80)]
    if isinstance(term, (tuple, list)):
        return [x for t in list(term)[:8] for x in _leaves(t, depth + 1)]
    if isinstance(term, dict):
        return [x for v in list(term.values())[:8] for x in _leaves(v, depth + 1)]
    return []


def _key(request) -> tuple[str, tuple[str, ...]]:
    """What a request asks for: its tag and its plain values (a request without any is keyed by
    its whole text — every ``:checkout`` asks for the same kind of thing)."""
    leaves = tuple(sorted(set(_leaves(request))))
    return (_tag(request), leaves or (fmt(request, 120),))


def _names(grant: _Call) -> list[str]:
    """Texts a release of ``grant`` contains: its key's plain values, else the granted value."""
    leaves = sorted(set(_leaves(grant.request)))
    if leaves:
        return leaves
    value = grant.reply
    if value is None or isinstance(value, Atom) or value == [] or value == ():
        return []
    return [fmt(value, 200)]


def _frame(view: RecordingView, pid: int, ts: int, server_mod: str | None) -> Call | None:
    """The application function that made a call to the server at ``ts``: the innermost running
    application frame, above the server's own client functions and anonymous functions."""
    c = view.open_call_at(pid, ts)
    while c is not None and (c.module == server_mod or c.function.startswith("-")) and c.parent is not None:
        c = c.parent
    if c is None or c.module == server_mod or not is_app_module(c.module):
        return None
    return c


def _common(a: Call, b: Call) -> Call | None:
    """The innermost frame both calls run under (themselves included)."""
    up = set()
    cur: Call | None = a
    while cur is not None:
        up.add(cur.call_id)
        cur = cur.parent
    cur = b
    while cur is not None and cur.call_id not in up:
        cur = cur.parent
    return cur


def _culprit(view: RecordingView, c: Call, detail: str) -> Culprit:
    return Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity), detail=detail,
                   process=view.label(c.pid))


def _caller(by_text: dict[str, int], from_) -> int | None:
    """The process a ``from`` (``{pid, tag}``) names."""
    if not (isinstance(from_, tuple) and len(from_) == 2):
        return None
    return by_text.get(fmt(from_[0], 60).removeprefix("#PID"))


def _failed(view: RecordingView, caller: int, after: int, client: Call | None, end_of_recording: int) -> int | None:
    """When the caller's wait failed: its call raised (a timeout exit), its process died, or it
    still waited (≥ MIN_WAIT_MS) when the recording ended. None: the wait ended in a reply."""
    if client is not None and client.end_ts is not None:
        return client.end_ts if client.outcome == "exception" else None
    died = next((e for e in view.exits if e.pid == caller and e.ts >= after), None)
    if died is not None:
        return died.ts if not R.is_normal(died.reason) else None
    if client is not None and (end_of_recording - after) >= MIN_WAIT_MS * view.time_unit / 1000.0:
        return end_of_recording
    return None


def _calls_by_server(view: RecordingView, end_of_recording: int) -> dict[int, list[_Call]]:
    """Every ``handle_call/3`` a server ran, as a grant (answered at once, or later: the
    caller's call returned) or a failed wait (deferred, and the caller never got an answer)."""
    out: dict[int, list[_Call]] = defaultdict(list)
    by_text = {p.pid: idx for idx, p in view.procs.items()}
    deferred = 0
    for c in view.calls:
        if c.function != "handle_call" or c.arity != 3 or len(c.args) != 3 or c.outcome != "return" \
                or not isinstance(c.value, tuple) or not c.value:
            continue
        caller = _caller(by_text, c.args[1])
        if caller is None or caller == c.pid:
            continue
        client = view.open_call_at(caller, c.ts)
        if is_atom(c.value[0], "reply") and len(c.value) >= 3:
            if same(c.value[2], c.args[2]):   # compared as values: a large state is not printed twice per call
                continue   # answered without taking anything: a query, not a grant
            out[c.pid].append(_Call(c, caller, c.ts, c.end_ts or c.ts, True, c.args[0], c.value[1], client))
        elif is_atom(c.value[0], "noreply") and deferred < MAX_DEFERRED:
            deferred += 1
            failed = _failed(view, caller, c.ts, client, end_of_recording)
            if failed is not None:
                out[c.pid].append(_Call(c, caller, c.ts, failed, False, c.args[0], None, client))
            elif client is not None and client.end_ts is not None:   # answered later: a grant then
                out[c.pid].append(_Call(c, caller, c.ts, client.end_ts, True, c.args[0], client.value, client))
    return out


GLOBAL = -1   # the "server" of :global.set_lock/2,3 locks (the lock is the node's, not a process's)


def _global_locks(view: RecordingView, end_of_recording: int) -> list[_Call]:
    """``:global.set_lock(lock_id, …)`` calls as grants (returned ``true``) and failed waits
    (returned ``false``, raised, or still waiting ≥ MIN_WAIT_MS at the end); the lock is the
    ``lock_id``'s resource (``{resource, requester}``)."""
    out = []
    for c in view.calls:
        if c.module != "global" or c.function != "set_lock" or not c.args or not isinstance(c.args[0], tuple) \
                or len(c.args[0]) != 2:
            continue
        request = (Atom("set_lock"), c.args[0][0])
        if c.end_ts is not None and c.outcome == "return" and c.value is True:
            out.append(_Call(c, c.pid, c.ts, c.end_ts, True, request, None, view.open_call_at(c.pid, c.ts)))
        elif (c.end_ts is not None and (c.outcome == "exception" or c.value is False)) or \
                (c.open and (end_of_recording - c.ts) >= MIN_WAIT_MS * view.time_unit / 1000.0):
            out.append(_Call(c, c.pid, c.ts, c.end_ts, False, request, None, view.open_call_at(c.pid, c.ts)))
    return out


def _label(view: RecordingView, server: int) -> str:
    return ":global" if server == GLOBAL else view.label(server)


def _released(view: RecordingView, server: int, grant: _Call, until: int) -> bool:
    """Whether a later callback of ``server`` (before ``until``) took it back: a request with
    another tag that names what was granted (for :global, a ``del_lock`` of the resource by the
    holder — or the holder's death, which :global releases by itself)."""
    if server == GLOBAL:
        resource = fmt(grant.request[1], 200)
        if any(e.pid == grant.caller and grant.end <= e.ts <= until for e in view.exits):
            return True
        return any(c.module == "global" and c.function == "del_lock" and c.pid == grant.caller and c.args
                   and isinstance(c.args[0], tuple) and c.args[0] and fmt(c.args[0][0], 200) == resource
                   and grant.end <= c.ts <= until for c in view.calls_by_pid.get(grant.caller, []))
    names = _names(grant)
    if not names:
        return True   # nothing tells a release: assume it was given back (no fact)
    tag = _tag(grant.request)
    for c in view.calls_by_pid.get(server, []):
        if c.ts < grant.end or c.ts > until or not c.function.startswith("handle_") or not c.args:
            continue
        if _tag(c.args[0]) == tag:
            continue
        text = fmt(c.args[0], 600)
        if all(n in text for n in names):
            return True
    return False


def holds_and_waits(view: RecordingView):
    """Every failed wait for something a server granted to another process and that was not
    given back: (server, wait, holder's grant, when the wait ended)."""
    end_of_recording = max([c.ts for c in view.calls] + [e.ts for e in view.exits] + [0])
    out = []
    by_server = _calls_by_server(view, end_of_recording)
    glob = _global_locks(view, end_of_recording)
    if glob:
        by_server[GLOBAL] = glob
    for server, calls in sorted(by_server.items()):
        waits = [c for c in calls if not c.granted]
        if not waits:
            continue
        grants: dict[tuple, list[_Call]] = defaultdict(list)
        for c in calls:
            if c.granted:
                grants[_key(c.request)].append(c)
        for w in waits[:MAX_WAITS]:
            until = w.end if w.end is not None else end_of_recording
            for g in grants.get(_key(w.request), []):
                if g.end > w.start:
                    continue   # granted after the wait began: not what the waiter found taken
                if not _released(view, server, g, until):
                    out.append((server, w, g, until))
    return out


def _exit_of(view: RecordingView, pid: int, after: int):
    return next((e for e in view.exits if e.pid == pid and e.ts >= after), None)


def locks_and_leases(view: RecordingView, book: FactBook) -> None:
    found = holds_and_waits(view)
    if not found:
        return
    waiting: dict[int, list] = defaultdict(list)               # waiter → [(server, wait, its holder's grant)]
    for server, w, g, until in found:
        waiting[w.caller].append((server, w, g))
    done: set[tuple[int, int]] = set()
    facts = 0
    # a caller that waits for itself first (the others wait behind it), then the latest waits
    for server, w, g, until in sorted(found, key=lambda x: (x[1].caller != x[2].caller, -x[1].start)):
        if facts >= MAX_FACTS:
            break
        waiter, holder = w.caller, g.caller
        if (waiter, holder) in done:
            continue
        server_mod = view.module_of_pid.get(server)
        if waiter == holder:
            done.add((waiter, holder))
            behind = {x[1].caller for x in found if x[0] == server and x[2].caller == waiter}
            if _self_wait(view, book, server, server_mod, w, [x[2] for x in found if x[0] == server and x[1] is w], behind):
                facts += 1
            continue
        # a cycle: the holder itself waits for something the waiter holds
        back = next(((s2, w2, g2) for s2, w2, g2 in waiting.get(holder, []) if g2.caller == waiter), None)
        if back is not None:
            done |= {(waiter, holder), (holder, waiter)}
            if _inversion(view, book, server, server_mod, (w, g), back):
                facts += 1
            continue
        done.add((waiter, holder))
        if _never_released(view, book, server, server_mod, w, g, until, found):
            facts += 1


def _wait_evidence(view: RecordingView, w: _Call, summary: str):
    """The caller's failed call when it was traced, else the server's deferring callback."""
    if w.client is not None and w.client.end_ts is not None and w.client.outcome == "exception":
        return view.end_evidence(w.client, summary + f" ({fmt(w.client.value, 80)})")
    return view.call_evidence(w.cb, summary)


def _inversion(view: RecordingView, book: FactBook, server: int, server_mod, ab, back) -> bool:
    (w1, g2) = ab                     # waiter 1 waits (w1) for what process 2 was granted (g2)
    s2, w2, g1 = back                 # process 2 waits (w2) for what waiter 1 was granted (g1)
    p1, p2 = w1.caller, w2.caller
    # the last of the two to start waiting closed the cycle
    closer, other = ((p1, g1, w1), (p2, g2, w2)) if w1.start >= w2.start else ((p2, g2, w2), (p1, g1, w1))
    pid, grant, wait = closer
    a, b = _frame(view, pid, grant.start, server_mod), _frame(view, pid, wait.start, server_mod)
    frame = _common(a, b) if a is not None and b is not None else None
    if frame is None:
        return False
    opid, ogrant, owait = other
    detail = f"{fmt(grant.request, 60)} then {fmt(wait.request, 60)}"
    srv = _label(view, server)
    ev = [view.call_evidence(grant.cb, f"{view.label(pid)} took {fmt(grant.request, 60)} from {srv} (granted)"),
          view.call_evidence(ogrant.cb, f"{view.label(opid)} took {fmt(ogrant.request, 60)} from {srv} (granted)"),
          _wait_evidence(view, owait, f"{view.label(opid)} asked {_label(view, s2)} for {fmt(owait.request, 60)}: "
                         "deferred, never answered"),
          _wait_evidence(view, wait, f"{view.label(pid)} asked {srv} for {fmt(wait.request, 60)}: deferred, "
                         "never answered")]
    fact = book.add(Finding(
        detector="lock_order_inversion",
        title=f"{frame.mfa} takes {detail} while another process holds them in the opposite order",
        summary=(f"{view.label(pid)} ({frame.mfa}) took {fmt(grant.request, 60)} from {srv} and then asked for "
                 f"{fmt(wait.request, 60)}, which {view.label(opid)} held — while {view.label(opid)} held it and "
                 f"waited for {fmt(owait.request, 60)}, held by {view.label(pid)}. Neither request can be answered: "
                 f"a deadlock through {srv}, which only answers as it is told. Taking the same locks in one "
                 "fixed order everywhere makes the cycle impossible."),
        severity="high", confidence=0.9,
        culprit=_culprit(view, frame, detail),
        evidence=ev, signatures=["lock:order_inversion", "call:cycle", "call:blocked_waiting"],
        fix_hint=("Take the locks in one global order (sort the keys before acquiring), or take them all in one "
                  "request the server grants atomically; a lock request should also carry a timeout the caller "
                  "handles by releasing what it already holds.")),
        pid=pid, ts=wait.start, server=server, waiters=[p1, p2])
    _link_effects(view, book, fact, server, {p1, p2})
    return True


def _never_released(view: RecordingView, book: FactBook, server: int, server_mod, w: _Call, g: _Call,
                    until: int, found) -> bool:
    holder = g.caller
    frame = _frame(view, holder, g.start, server_mod)
    if frame is None:
        return False
    for f in book.of_kind("lease_never_released", "lease_self_wait"):   # one fact per function and server
        if book.meta[f.id].get("server") == server and book.meta[f.id].get("mfa") == frame.mfa:
            book.meta[f.id]["holders"].add(holder)
            return False
    died = _exit_of(view, holder, g.end or g.start)
    if died is not None and died.ts > until:
        died = None
    returned = frame.end_ts is not None and frame.end_ts <= until
    if died is None and not returned:
        return False   # still at work: a slow holder, not a lost one
    waiters = sorted({x[1].caller for x in found if x[2].caller == holder and x[0] == server and x[1].caller != holder})
    srv = _label(view, server)
    took = f"{view.label(holder)} ({frame.mfa}) took {fmt(g.request, 60)} from {srv}"
    if g.reply is not None and not isinstance(g.reply, Atom):
        took += f" (got {fmt(g.reply, 60)})"
    if returned and frame.outcome == "return" and (died is None or frame.end_ts <= died.ts):
        how = f"{frame.mfa} returned {fmt(frame.value, 80)} without giving it back"
        detail = fmt(frame.value, 120)
        end_ev = view.end_evidence(frame, how)
    elif returned:
        how = f"{frame.mfa} raised {fmt(frame.value, 80)} without giving it back"
        detail = fmt(g.request, 120)
        end_ev = view.end_evidence(frame, how)
    else:
        how = f"{view.label(holder)} died holding it ({fmt(died.reason, 80)})"
        detail = fmt(g.request, 120)
        end_ev = view.evidence(died.event_id, "exit", died.ts, holder, how)
    ev = [view.call_evidence(g.cb, took + " (granted)"), end_ev]
    waits = {id(x[1]): x[1] for x in found if x[2].caller == holder and x[0] == server and x[1].caller != holder}
    for x in list(waits.values())[:3]:
        ev.append(_wait_evidence(view, x, f"{view.label(x.caller)} asked {srv} for {fmt(x.request, 60)}: "
                                 "deferred, never answered"))
    fact = book.add(Finding(
        detector="lease_never_released",
        title=f"{frame.mfa} takes {fmt(g.request, 60)} from {srv} and never gives it back",
        summary=(f"{took}; {how}. {len(waiters)} later caller(s) asked {srv} for the same and were never "
                 f"answered: the server keeps it for a holder that is gone. {srv} is where they wait; the grant "
                 f"nobody returned is {frame.mfa}'s."),
        severity="high", confidence=0.85,
        culprit=_culprit(view, frame, detail),
        evidence=ev, signatures=["lock:never_released", "call:blocked_waiting"],
        fix_hint=("Give it back on every path: release in an `after` block (try … after) or in each branch of the "
                  "error path, or let the server monitor each holder and take back what a dead holder held.")),
        pid=holder, ts=g.start, server=server, waiters=waiters, mfa=frame.mfa, holders={holder})
    _link_effects(view, book, fact, server, set(waiters))
    return True


def _self_wait(view: RecordingView, book: FactBook, server: int, server_mod, w: _Call, held: list[_Call],
               behind: set[int]) -> bool:
    """A process asks a server for one more of what it already holds and never gave back (a slot
    per item of a batch, from a pool smaller than the batch): it waits for itself."""
    frame = _frame(view, w.caller, w.start, server_mod)
    firsts = [g for g in held if (f := _frame(view, g.caller, g.start, server_mod)) is not None
              and _common(f, frame) is frame] if frame is not None else []
    if frame is None or not firsts:
        return False
    srv = _label(view, server)
    ev = [view.call_evidence(g.cb, f"{view.label(w.caller)} took {fmt(g.request, 60)} from {srv} (granted "
                                   f"{fmt(g.reply, 40)})") for g in firsts[:3]]
    ev.append(_wait_evidence(view, w, f"{view.label(w.caller)} asked {srv} for {fmt(w.request, 60)} once more, "
                                      f"holding {len(firsts)}: deferred, never answered"))
    detail = fmt(frame.args[0] if len(frame.args) == 1 else frame.args, 120) if frame.args else fmt(w.request, 120)
    fact = book.add(Finding(
        detector="lease_self_wait",
        title=f"{frame.mfa} waits for {fmt(w.request, 40)} from {srv} while it holds {len(firsts)} it never gave back",
        summary=(f"{view.label(w.caller)} ({frame.mfa}) took {len(firsts)} grant(s) of {fmt(w.request, 60)} from {srv} "
                 f"and asked for one more before giving any back: the server has none left to give, and the only "
                 f"holder that could release one is the caller itself. It waits for itself until its call times out, "
                 f"and every other caller of {srv} waits behind it."),
        severity="high", confidence=0.85,
        culprit=_culprit(view, frame, detail),
        evidence=ev, signatures=["lock:never_released", "call:blocked_waiting"],
        fix_hint=("Take one at a time (give each back before taking the next), or bound what one caller may hold "
                  "below the pool's size, or ask for all of them in one request the server can refuse.")),
        pid=w.caller, ts=w.start, server=server, waiters=sorted(behind | {w.caller}), mfa=frame.mfa, holders={w.caller})
    _link_effects(view, book, fact, server, behind | {w.caller})
    return True


EFFECTS = ("reply_never_sent", "reply_dropped", "call_failed", "exception", "exit", "slow_callback",
           "blocked_chain", "call_cycle", "lock_left_behind")


def _link_effects(view: RecordingView, book: FactBook, fact: Finding, server: int, waiters: set[int]) -> None:
    """The waiters' failures and the server's unanswered deferred replies are this fact's effects."""
    label = _label(view, server)
    for f in book.of_kind(*EFFECTS):
        if f.id == fact.id:
            continue
        meta = book.meta.get(f.id, {})
        pid = meta.get("pid")
        if f.detector in ("reply_never_sent", "reply_dropped") and (pid == server or f.culprit.process == label):
            _relink(book, f, fact, "the server kept this reply for a grant that was never given back")
        elif pid in waiters and f.detector in ("call_failed", "exception", "exit"):
            _relink(book, f, fact, "its call waited for a lock another process held")
        elif f.detector in ("call_cycle", "blocked_chain", "slow_callback") and \
                any(e.pid in waiters or e.pid == server for e in f.evidence):
            _relink(book, f, fact, "the wait is for a lock another process held")


def _relink(book: FactBook, effect: Finding, cause: Finding, note: str) -> None:
    """Link ``effect`` (or, when it already has a cause, the first cause of its chain that the
    lock explains better: the server's or a waiter's own failure) to ``cause``."""
    book.link_origin(effect, cause, note, origins=_RELINKED)


_RELINKED = tuple(k for k in EFFECTS if k != "exception")
