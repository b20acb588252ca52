"""Synchronous calls as the recording shows them, on the server's side and the caller's: who asked
(the ``from`` of the ``$gen_call`` message), what (the request), what the server ran for it and
what it answered (the ``{tag, reply}`` message). Shared by :mod:`.races` and :mod:`.swapped`.

A call is read from the messages, so it is seen for any server whose mailbox is traced — a
GenServer of the application (its ``handle_call/3`` runs with the ``from``), and an ``Agent`` or
another behaviour whose loop is not traced (the functions it runs for the call — an Agent's
``get``/``update`` funs — are the application calls the server ran just before it answered).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from elixir_scope.instrument.etf import Atom, Pid

from ..view import Call, Message, RecordingView, fmt, is_app_module, is_atom
from .common import callback_states, message_shape

MAX_CALLS = 5_000        # calls read per recording (each is a message pair)
MAX_LEAVES = 200         # leaves read per term
TRIVIAL_ATOMS = {"ok", "error", "nil", "true", "false", "undefined", "noreply", "reply"}


@dataclass
class ServedCall:
    """One synchronous call a server answered."""

    server: int                 # the server's process (view index)
    caller: str                 # the caller's pid as printed (``<0.197.0>``)
    tag: Any                    # the from's tag (a hashable term; printed when it is not)
    request: Any                # the request term (``{:holder, "A12"}``)
    asked_ts: int               # when the request reached the server's mailbox
    reply: Any = None           # what the caller got (the second element of ``{tag, reply}``)
    reply_msg: Message | None = None
    steps: list[Call] = field(default_factory=list)  # the application code the server ran for it
    before: Any = None          # the server's state before and after (when recorded)
    after: Any = None
    changed: bool | None = None  # whether the call changed the server's state (None: unknown)
    _keys: set | None = field(default=None, repr=False, compare=False)
    _kind: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def step(self) -> Call | None:
        return self.steps[0] if self.steps else None

    @property
    def kind(self) -> tuple:
        """What kind of call it is: the callback and the request's shape, or the function the
        server ran for it (an Agent's fun) — computed once."""
        if self._kind is None:
            self._kind = self._own_kind()
        return self._kind

    def _own_kind(self) -> tuple:
        s = self.step
        if s is None:
            return ("?", message_shape(self.request))
        if s.function == "handle_call":
            return (s.module, s.function, message_shape(self.request))
        return (s.module, s.function, s.arity)

    def keys(self) -> set:
        """The request's own values (a key, an id, a name): the leaves of the request — for a
        function the server ran (an Agent's fun), its arguments after the state (computed once)."""
        if self._keys is None:
            self._keys = self._own_leaves()
        return self._keys

    def _own_leaves(self) -> set:
        s = self.step
        if s is not None and s.function != "handle_call" and len(s.args) > 1:
            return leaves(s.args[1:])
        if isinstance(self.request, Atom):
            return set()     # a bare atom is the request's name, not a value of it (:balance)
        head = self.request[1:] if isinstance(self.request, tuple) and self.request and isinstance(self.request[0], Atom) \
            else self.request
        return leaves(head)


def leaves(term: Any) -> set:
    """The scalar values inside ``term`` that can tell one request from another: binaries of two
    bytes or more, atoms other than the common ones, numbers other than 0 and ±1 (bounded)."""
    out: set = set()
    stack, seen = [term], 0
    while stack and seen < MAX_LEAVES:
        t = stack.pop()
        seen += 1
        if isinstance(t, bool) or t is None:
            continue
        if isinstance(t, (tuple, list)):
            stack.extend(t[:MAX_LEAVES])
        elif isinstance(t, dict):
            for k, v in list(t.items())[:MAX_LEAVES]:
                stack.extend((k, v))
        elif isinstance(t, bytes):
            if len(t) >= 2:
                out.add(("b", t[:200]))
        elif isinstance(t, Atom):
            if t.name not in TRIVIAL_ATOMS:
                out.add(("a", t.name))
        elif isinstance(t, (int, float)):
            if abs(t) > 1:
                out.add(("n", t))
    return out


def same(a: Any, b: Any) -> bool:
    """Whether two decoded terms are equal (compared as values: a large state is not printed)."""
    try:
        return a is b or bool(a == b)
    except Exception:   # a term type without equality: compare what it prints as
        return fmt(a, 4000) == fmt(b, 4000)


def show_leaf(leaf: tuple) -> str:
    kind, v = leaf
    if kind == "b":
        return '"' + v.decode("utf-8", "replace")[:40] + '"'
    if kind == "a":
        return ":" + v
    return str(v)


def _tag(t: Any) -> Any:
    """A from's tag as a dict key: the term itself (printing one costs more than the rest of
    the analysis), or its printed form when it cannot be hashed."""
    try:
        hash(t)
        return t
    except TypeError:
        return fmt(t, 200)


def _pid_of(from_: Any) -> str | None:
    if isinstance(from_, tuple) and len(from_) == 2:
        return str(from_[0]) if isinstance(from_[0], Pid) else fmt(from_[0], 60).removeprefix("#PID")
    return None


def served_calls(view: RecordingView) -> list[ServedCall]:
    """Every call a server answered (or not yet), in the order the server took them; computed
    once per view."""
    cached = getattr(view, "_es_served_calls", None)
    if cached is not None:
        return cached
    calls: list[ServedCall] = []
    by_tag: dict[tuple[int, str], ServedCall] = {}
    for m in view.messages:
        if len(calls) >= MAX_CALLS:
            break
        msg = m.msg
        if m.receiver is None or not (isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_call")):
            continue
        caller = _pid_of(msg[1])
        if caller is None or m.receive_ts is None:
            continue
        sc = ServedCall(server=m.receiver, caller=caller, tag=_tag(msg[1][1]), request=msg[2], asked_ts=m.receive_ts)
        calls.append(sc)
        by_tag[(m.receiver, sc.tag)] = sc
    if calls:
        servers = {c.server for c in calls}
        replies: dict[int, list[tuple[Message, ServedCall]]] = defaultdict(list)
        for m in view.messages:
            if m.sender in servers and m.send_ts is not None and isinstance(m.msg, tuple) and len(m.msg) == 2:
                sc = by_tag.get((m.sender, _tag(m.msg[0])))
                if sc is not None and sc.reply_msg is None:
                    sc.reply_msg, sc.reply = m, m.msg[1]
                    replies[m.sender].append((m, sc))
        _attach_steps(view, calls, replies)
    calls.sort(key=lambda c: (c.step.ts if c.step is not None else c.asked_ts))
    view._es_served_calls = calls   # type: ignore[attr-defined]
    return calls


def _outermost_app(k: Call) -> bool:
    """No application function encloses ``k`` in its process: a top-level callback, or an Agent's
    fun run inside ``Agent.Server``'s callbacks when those are traced too (an Agent's state history)."""
    p, hops = k.parent, 0
    while p is not None and hops < 64:
        if is_app_module(p.module):
            return False
        p, hops = p.parent, hops + 1
    return True


def _attach_steps(view: RecordingView, calls: list[ServedCall], replies: dict[int, list[tuple[Message, ServedCall]]]) -> None:
    """The application code each call ran: its ``handle_call/3`` (found by the from), else the
    top-level application functions the server ran after its previous answer and before this one
    (an Agent's funs)."""
    pairs = callback_states(view)
    by_tag = {(c.server, c.tag): c for c in calls}
    for server in {c.server for c in calls}:
        tops = [k for k in view.calls_by_pid.get(server, []) if is_app_module(k.module) and _outermost_app(k)]
        for k in tops:
            if k.function == "handle_call" and k.arity == 3 and len(k.args) == 3 and isinstance(k.args[1], tuple) \
                    and len(k.args[1]) == 2:
                sc = by_tag.get((server, _tag(k.args[1][1])))
                if sc is not None and not sc.steps:
                    sc.steps.append(k)
                    pair = pairs.get(k.call_id)
                    if pair is not None:
                        sc.before, sc.after = pair
                        sc.changed = not same(pair[0], pair[1])
        funs = sorted((k for k in tops if k.end_ts is not None and not k.function.startswith("handle_")),
                      key=lambda k: k.end_ts)
        ends = [k.end_ts for k in funs]
        prev = None
        for m, sc in sorted(replies.get(server, []), key=lambda x: x[0].send_ts):
            if not sc.steps and funs:
                lo = 0 if prev is None else bisect.bisect_right(ends, prev)
                ran = [k for k in funs[lo:bisect.bisect_right(ends, m.send_ts)] if prev is None or k.ts > prev]
                if len(ran) == 1:
                    _fun_step(sc, ran[0])
            prev = m.send_ts


def _fun_step(sc: ServedCall, k: Call) -> None:
    """A function the server ran with its state as first argument: a read when it returned the
    answer, a write when it returned a new state (``:ok`` answered) or ``{answer, new state}``."""
    sc.steps.append(k)
    if not k.args or k.outcome != "return":
        return
    state, value = k.args[0], k.value
    sc.before = state
    if same(value, sc.reply) and not is_atom(sc.reply, "ok"):
        sc.after, sc.changed = state, False
    elif isinstance(value, tuple) and len(value) == 2 and same(value[0], sc.reply):
        sc.after = value[1]
        sc.changed = not same(value[1], state)
    elif is_atom(sc.reply, "ok"):
        sc.after = value
        sc.changed = not same(value, state)
