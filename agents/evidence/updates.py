"""An update that answered as if it worked but kept the old values — seen in one callback's request,
the state it was given and the state it returned, with no symptom needed:

| kind | what | culprit |
| --- | --- | --- |
| ``update_ignored`` | a callback asked to change a record it keeps by its id (``{:update, "sub-311", %{plan: :family}}``) — the record is in its state under that id and holds other values for some of the requested fields — returned a state in which the record keeps every one of those old values, while it did not answer with an error (``Map.put_new/3`` where ``Map.put/3`` was meant, a merge the wrong way round, a changeset never applied) | the callback, the id and the fields it kept |

Bounded: the first :data:`MAX_CALLS` application calls; records found at most two levels deep.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000
MAX_FACTS = 3
MAX_KEYS = 30


def _after(c: Call) -> tuple[Any, Any] | None:
    """(reply or None, new state) of a callback's result."""
    v = c.value
    if not isinstance(v, tuple) or not v or not isinstance(v[0], Atom):
        return None
    if v[0].name == "reply" and len(v) >= 3:
        return v[1], v[2]
    if v[0].name == "noreply" and len(v) >= 2:
        return None, v[1]
    return None


def _refused(reply: Any) -> bool:
    if isinstance(reply, Atom):
        return reply.name in ("error", "false")
    return isinstance(reply, tuple) and bool(reply) and isinstance(reply[0], Atom) and reply[0].name == "error"


def _record(state: Any, key: Any) -> list[Any]:
    """The path to the map kept under ``key`` in ``state`` (or in a map field of it), else []."""
    if not isinstance(state, dict):
        return []
    if isinstance(state.get(key), dict):
        return [key]
    for k, v in state.items():
        if isinstance(v, dict) and isinstance(v.get(key), dict):
            return [k, key]
    return []


def _at(state: Any, path: list[Any]) -> Any:
    for k in path:
        if not isinstance(state, dict):
            return None
        state = state.get(k)
    return state


def _ignored(c: Call) -> tuple[Any, list[Any], dict] | None:
    """(id, fields kept, the record before) when ``c`` kept the old values of an update it was asked for."""
    after = _after(c)
    if after is None or not isinstance(c.args[0], tuple):
        return None
    reply, new = after
    if _refused(reply):
        return None
    request, old = c.args[0], c.args[-1]
    ids = [x for x in request[1:] if isinstance(x, (bytes, int)) and not isinstance(x, bool)]
    changes = [x for x in request[1:] if isinstance(x, dict) and 0 < len(x) <= MAX_KEYS]
    for key in ids:
        path = _record(old, key)
        if not path:
            continue
        before, now = _at(old, path), _at(new, path)
        if not isinstance(now, dict):
            continue
        for ch in changes:
            asked = [k for k in ch if k in before and before[k] != ch[k]]
            if asked and all(k in now and now[k] == before[k] for k in asked):
                return key, asked, before
    return None


def updates_ignored(view: RecordingView, book: FactBook) -> None:
    named: set[tuple] = set()
    n = made = 0
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or c.function not in ("handle_call", "handle_cast") \
                or len(c.args) < 2:
            continue
        n += 1
        if n > MAX_CALLS:
            break
        hit = _ignored(c)
        key_ = (c.module, c.function, c.arity)
        if hit is None or key_ in named:
            continue
        named.add(key_)
        key, kept, before = hit
        fields = ", ".join(fmt(k, 30) for k in kept[:6])
        book.add(Finding(
            detector="update_ignored",
            title=f"{c.mfa} was asked to change {fields} of {fmt(key, 40)} and kept the old values",
            summary=(f"{c.mfa} handled {fmt(c.args[0], 120)}: its state holds {fmt(key, 40)} as {fmt(before, 120)}, "
                     f"and the state it returned still has the old {fields} — yet it did not answer with an error "
                     f"({fmt(c.value, 80)}). The update was accepted and not applied."),
            severity="high", confidence=0.7, culprit=culprit_of(view, c, c.args[0]),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args[0], 80)})"),
                      view.end_evidence(c, f"returned {fmt(c.value, 80)}: {fields} unchanged")],
            signatures=["state:update_ignored"],
            fix_hint=("Apply every requested field: `Map.merge(record, changes)` or `Map.put/3` (`Map.put_new/3` only "
                      "adds missing keys), with the changes as the second argument of the merge; answer with an "
                      "error for a field that may not change.")),
            pid=c.pid, ts=c.ts)
        made += 1
        if made >= MAX_FACTS:
            return
