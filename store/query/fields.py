"""Field values of one event, for the Python side of a query (payload patterns and any
condition SQL cannot answer).

A `Row` is an event plus what the engine learnt about it: the call's closing event (its
return or exception, paired by nesting) and the duration. `payload_field` and `meta_text`
read a field from it;
metadata fields come from the recording's interned names, payload fields from the payload
decoded on demand (memoised per query by `QueryContext.payload_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .nodes import PAtom, PBin, Pattern, PNum, PPid, PWild
from .terms import MISSING

if TYPE_CHECKING:
    from elixir_scope.store.events import Event

    from .context import QueryContext

CALL, RETURN, EXCEPTION, SEND, SEND_DEAD, RECEIVE, EXIT, STATE = 1, 2, 3, 4, 5, 6, 8, 13
MFA_KINDS = (1, 2, 3, 13)


@dataclass(slots=True)
class Row:
    event: "Event"
    closing: "Event | None" = None
    duration_ns: int | None = None


def _tuple_part(term: Any, i: int) -> Any:
    if isinstance(term, tuple) and len(term) > i:
        return term[i]
    return MISSING


def payload_field(name: str, row: Row, qc: "QueryContext") -> Any:
    """The decoded value of a payload field, or MISSING when this kind has no such field."""
    ev = row.event
    k = int(ev.kind)
    if name == "payload":
        return qc.payload_of(ev)
    if name == "args":
        return qc.payload_of(ev) if k == CALL else MISSING
    closing = row.closing
    if name == "return":
        if k == RETURN:
            return qc.payload_of(ev)
        if k == CALL and closing is not None and int(closing.kind) == RETURN:
            return qc.payload_of(closing)
        return MISSING
    if name in ("exception", "class", "reason"):
        exc = MISSING
        if k == EXCEPTION:
            exc = qc.payload_of(ev)
        elif k == CALL and closing is not None and int(closing.kind) == EXCEPTION:
            exc = qc.payload_of(closing)
        elif k == EXIT and name == "reason":
            return qc.payload_of(ev)
        if exc is MISSING or name == "exception":
            return exc
        return _tuple_part(exc, 0 if name == "class" else 1)
    if name == "message":
        if k in (SEND, SEND_DEAD):
            return _tuple_part(qc.payload_of(ev), 0)
        return qc.payload_of(ev) if k == RECEIVE else MISSING
    if name == "to":
        return _tuple_part(qc.payload_of(ev), 1) if k in (SEND, SEND_DEAD) else MISSING
    if name in ("state", "phase"):
        if k != STATE:
            return MISSING
        return _tuple_part(qc.payload_of(ev), 1 if name == "state" else 0)
    raise KeyError(name)


def meta_text(name: str, row: Row, qc: "QueryContext") -> str | int | None:
    """Metadata of an event as text (module, function, name, pid, node, kind) or int
    (arity, time); None when the event has none (a send has no function)."""
    ev = row.event
    if name == "kind":
        return ev.kind.name.lower()
    if name in ("module", "function", "arity"):
        if int(ev.kind) not in MFA_KINDS or not ev.aux:
            return None
        mfa = qc.ctx.functions.get((ev.node_id, ev.aux))
        if mfa is None:
            return None
        return getattr(mfa, name)
    if name in ("pid", "name"):
        proc = qc.ctx.processes.get((ev.node_id, ev.pid))
        if proc is None:
            return None
        return proc.pid_text if name == "pid" else proc.reg_name
    if name == "node":
        return qc.clocks[ev.node_id].name
    if name == "time":
        return qc.offset_ns(ev.node_id, ev.ts)
    if name == "duration":
        return row.duration_ns
    raise KeyError(name)


def text_matches(pat: Pattern, text: str | None) -> bool:
    """A metadata pattern against a name: atoms and strings compare by text (`*` globs),
    `MyApp.Cart` also matches `Elixir.MyApp.Cart`'s bare form."""
    if text is None:
        return False
    if isinstance(pat, PWild):
        return True
    if isinstance(pat, PAtom):
        want = pat.name
    elif isinstance(pat, PBin):
        want = pat.value.decode("utf-8", "replace")
    elif isinstance(pat, PPid):
        want = pat.text
    elif isinstance(pat, PNum):
        return False
    else:
        return False
    if want.endswith(".*") and want.startswith("Elixir."):
        base = want[:-2]
        return text == base or text.startswith(base + ".")
    if "*" in want:
        return fnmatchcase(text, want)
    if text == want:
        return True
    return (not want.startswith("Elixir.") and text == "Elixir." + want and want[:1].isupper())
