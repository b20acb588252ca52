"""The vocabulary the evidence analyses share: who a fact blames (:func:`culprit_of`), what a
return value says (:func:`is_error`, :func:`is_success`), compiler-generated functions
(:func:`is_generated`), the shape of a message (:func:`message_shape`), a callback's state before
and after (:func:`callback_states`) and the application call that sent the message a callback
handles (:func:`message_senders`).

Each is a pure function of a :class:`~elixir_scope.agents.view.RecordingView` or of a term;
the two that walk the whole recording are computed once per view.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList, FrozenMap

from ..findings import Culprit
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .reasons import source_function

__all__ = ["callback_states", "culprit_of", "is_error", "is_generated", "is_success", "message_senders",
           "message_shape"]


def culprit_of(view: RecordingView, c: Call, detail: Any = None) -> Culprit:
    """The culprit a fact names for the call ``c``: its module, its source-level function, a
    bounded rendering of ``detail`` and the process it ran in. A callback of ``Agent.Server`` (an
    Agent's ``get``/``update``/``get_and_update``/``cast``) is named by the application function
    that passed the closure it ran (``Audit.Log.record/1`` for its ``-record/1-fun-0-``)."""
    if c.module == "Elixir.Agent.Server":
        closure = agent_closure(view, c)
        if closure is not None:
            c = closure
    return Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity),
                   detail=fmt(detail, 150) if detail is not None else None, process=view.label(c.pid))


def agent_closure(view: RecordingView, c: Call) -> Call | None:
    """The application's anonymous function an ``Agent.Server`` callback ran (the closure given to
    ``Agent.update/3`` and the like: it runs in the Agent's process), when it was traced."""
    stack, n = list(view.children(c)), 0
    while stack and n < 50:
        d = stack.pop(0)
        n += 1
        if is_app_module(d.module):
            return d
        stack.extend(view.children(d))
    return None


def app_returns(view: RecordingView) -> Iterator[Call]:
    """The application's calls that returned, in order: not generated functions (``__info__``)
    nor the trigger itself (the outermost call of an rpc worker: it returns whatever it ran,
    and nothing calls it)."""
    for c in view.calls:
        if c.outcome == "return" and is_app_module(c.module) and not c.function.startswith("__") \
                and not (c.pid in view.rpc_workers and c.parent is None):
            yield c


def app_caller(c: Call) -> Call | None:
    """The nearest application call ``c`` ran inside, past library frames (``Enum``, ``:ets``…)."""
    p = c.parent
    while p is not None and not is_app_module(p.module):
        p = p.parent
    return p


def named_app_caller(c: Call, limit: int = 12) -> Call | None:
    """The nearest application function ``c`` ran inside that is not an anonymous function
    (past ``Enum``, ``Process``, closures), at most ``limit`` callers up."""
    p, up = c.parent, 0
    while p is not None and up < limit:
        if is_app_module(p.module) and not is_generated(p.function):
            return p
        p, up = p.parent, up + 1
    return None


def ancestors(c: Call) -> set[int]:
    """The call ids of the calls ``c`` ran inside (its callers, bounded)."""
    out, p = set(), c.parent
    while p is not None and len(out) < 200:
        out.add(p.call_id)
        p = p.parent
    return out


def deepest_per_function(hits: list[tuple[Call, Any]]) -> Iterator[tuple[Call, Any, int]]:
    """Of ``hits`` (a call and what was found on it), in order, the first of each function that
    ran inside no other hit — where the finding was made, not the callers that passed it on —
    with how many hits that function has."""
    outer: set[int] = set()
    for c, _ in hits:
        outer |= ancestors(c)
    count: dict[tuple, int] = {}
    for c, _ in hits:
        key = (c.module, c.function, c.arity)
        count[key] = count.get(key, 0) + 1
    done: set[tuple] = set()
    for c, found in hits:
        key = (c.module, c.function, c.arity)
        if c.call_id in outer or key in done:
            continue
        done.add(key)
        yield c, found, count[key]


def is_empty(v: Any) -> bool:
    """What a caller returns when nothing came out: an empty collection, zero, nil."""
    if v is None or (isinstance(v, Atom) and v.name == "nil"):
        return True
    if isinstance(v, (list, FrozenList, dict, FrozenMap, tuple)) and not isinstance(v, Atom):
        return len(v) == 0
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0


def is_error(v: Any) -> bool:
    """``:error`` or a tuple tagged ``:error``."""
    if is_atom(v, "error"):
        return True
    return isinstance(v, tuple) and len(v) >= 2 and is_atom(v[0], "error")


def is_success(v: Any) -> bool:
    """What a caller returns when it says it succeeded (``:ok``, ``{:ok, _}``, a reply that is
    not an error); a caller that returns anything but an error went on all the same."""
    if is_atom(v, "ok") or is_atom(v, "true"):
        return True
    if isinstance(v, tuple) and v:
        head = v[0]
        if is_atom(head, "ok") or is_atom(head, "noreply"):
            return True
        if is_atom(head, "reply") and len(v) == 3:
            return not is_error(v[1])
    return False


def is_generated(name: str) -> bool:
    """A function the compiler made (an anonymous fun, a comprehension): its name starts with ``-``."""
    return name.startswith("-")


def message_shape(msg: Any) -> str:
    """A message's shape: its tag, size and the kinds of its fields (a cast is unwrapped), so
    messages of one kind group together whatever their values."""
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_cast"):
        msg = msg[1]
    if isinstance(msg, tuple) and msg:
        head = msg[0]
        kinds = "".join("m" if isinstance(x, dict) else "l" if isinstance(x, list) else "t" if isinstance(x, tuple)
                        else "_" for x in msg[1:])
        return f"{{{fmt(head, 40) if isinstance(head, Atom) else '_'}, … /{len(msg)}{kinds and ' ' + kinds}}}"
    if isinstance(msg, Atom):
        return fmt(msg)
    return type(msg).__name__


def callback_states(view: RecordingView) -> dict[int, tuple[Any, Any]]:
    """callback call id → (state before, state after), from the state history (computed once per
    view, like :func:`message_senders`; several facts ask). The before state is the first one
    recorded while the callback ran, the after state the first one from its end on (1 tick of
    slack) if within 5 ms of it: found by bisection, a busy process has thousands of each."""
    cached = getattr(view, "_es_callback_states", None)
    if cached is not None:
        return cached
    by_pid: dict[int, dict[str, list]] = defaultdict(lambda: {"before": [], "after": []})
    for s in view.states:
        if s.phase in ("before", "after"):
            by_pid[s.pid][s.phase].append(s)
    out: dict[int, tuple[Any, Any]] = {}
    slack = 5.0 * view.time_unit / 1000.0
    for pid, phases in by_pid.items():
        befores = sorted(phases["before"], key=lambda s: s.ts)
        afters = sorted(phases["after"], key=lambda s: s.ts)
        b_ts = [s.ts for s in befores]
        a_ts = [s.ts for s in afters]
        for c in view.calls_by_pid.get(pid, []):
            if c.end_ts is None or not c.function.startswith("handle_"):
                continue
            i = bisect.bisect_left(b_ts, c.ts)
            if i == len(befores) or befores[i].ts > c.end_ts:
                continue
            j = bisect.bisect_left(a_ts, max(c.ts, c.end_ts - 1))
            if j == len(afters) or afters[j].ts - c.end_ts >= slack:
                continue
            out[c.call_id] = (befores[i].state, afters[j].state)
    view._es_callback_states = out
    return out


def message_senders(view: RecordingView) -> dict[int, Call]:
    """callback call id → the application call that sent the message it handles (computed
    once per view: the message received last before the callback that carries its argument)."""
    cached = getattr(view, "_es_senders", None)
    if cached is not None:
        return cached
    out: dict[int, Call] = {}
    by_receiver: dict[int, list] = defaultdict(list)
    # sends the store could not pair with their receive (addressed by a registered name): found
    # again by the message itself
    loose: dict[str, list] = defaultdict(list)
    for m in view.messages:
        if m.receiver is not None and m.receive_ts is not None and m.sender is not None:
            by_receiver[m.receiver].append(m)
        elif m.sender is not None and m.send_ts is not None and m.receive_id is None:
            loose[fmt(m.msg, 300)].append(m)
    for pid, msgs in by_receiver.items():
        msgs.sort(key=lambda m: m.receive_ts)
        times = [m.receive_ts for m in msgs]
        texts: dict[int, str] = {}
        for c in view.calls_by_pid.get(pid, []):
            if c.function not in ("handle_info", "handle_cast") or not c.args:
                continue
            text = fmt(c.args[0], 300)
            i = bisect.bisect_right(times, c.ts)
            for j in range(i - 1, max(i - 40, 0) - 1, -1):
                m = msgs[j]
                t = texts.get(j)
                if t is None:
                    t = texts[j] = fmt(m.msg, 400)
                if text in t:
                    if m.send_ts is not None:
                        frame = view.open_call_at(m.sender, m.send_ts)
                        if frame is not None:
                            out[c.call_id] = frame
                    break
    if loose:
        for c in view.calls:
            if c.call_id in out or c.function not in ("handle_info", "handle_cast") or not c.args:
                continue
            msg = c.args[0]
            if c.function == "handle_cast":
                msg = (Atom("$gen_cast"), msg)
            cands = [m for m in loose.get(fmt(msg, 300), []) if m.send_ts <= c.ts]
            if cands:
                m = cands[-1]
                frame = view.open_call_at(m.sender, m.send_ts)
                if frame is not None:
                    out[c.call_id] = frame
    view._es_senders = out
    return out


def fed_by_others(view: RecordingView, pid: int, hits: list) -> int:
    """How many of the callbacks handled a message another process sent. A cast whose sender the
    recording does not show counts too: a cast is a request from whoever asks (work, not a timer
    the process set itself), unless the process is seen casting to itself."""
    senders = message_senders(view)
    n = 0
    for h in hits:
        s = senders.get(h.call_id)
        if (s is not None and s.pid != pid) or (s is None and h.function == "handle_cast"):
            n += 1
    return n


def maps_in(term: Any, budget: int = 2000) -> list[dict]:
    """The maps in ``term``, nested ones too, looking at no more than ``budget`` nodes."""
    out, stack, n = [], [term], 0
    while stack and n < budget:
        t = stack.pop()
        n += 1
        if isinstance(t, dict):
            out.append(t)
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return out
