"""A process's mailbox at a moment, rebuilt from the recording.

Mailbox at ``t``: the BEAM's ``receive`` trace event fires when a message is *put in* the
mailbox, not when it is handled. A message counts as handled when a GenServer/gen_statem
callback was called with it: ``{'$gen_call', From, Req}`` by ``handle_call(Req, From, _)``,
``{'$gen_cast', Req}`` by ``handle_cast(Req, _)``, anything else by ``handle_info(Msg, _)``
(gen_statem: ``{call, From}, Req`` / ``cast, Req`` / ``info, Msg`` as the first two
arguments). Received-before-t minus handled-before-t, matched in order on the message bytes.
Only meaningful where both messages and callbacks were traced: otherwise the mailbox is
reported as unknown (None), never as empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import etfscan
from .errors import BatchFormatError
from .events import MFA, Event, EventKind, ProcessInfo
from .blocks import PROC_FROM, PROC_ORDER, PROC_WHERE, qualified
from .reader import EVENT_COLUMNS

if TYPE_CHECKING:
    from .reader import Recording


_HANDLERS = {"handle_call", "handle_cast", "handle_info"}


def _handled_key(args_bytes: bytes, mfa: MFA | None) -> bytes | None:
    """The mailbox message bytes a callback call consumes (see module doc), or None."""
    if mfa is None:
        return None
    args = etfscan.list_elements(args_bytes)
    if not args:
        return None
    if mfa.function in _HANDLERS:
        return args[0]
    if mfa.arity >= 3:  # gen_statem: state function / handle_event(Type, Content, ...)
        kind = args[0]
        name = etfscan.atom_text(kind)
        if name in ("cast", "info"):
            return args[1]
        try:
            elems = etfscan.tuple_elements(kind)
        except BatchFormatError:
            return None
        if len(elems) == 2 and etfscan.atom_text(elems[0]) == "call":
            return args[1]
    return None


def _mailbox_key(msg: bytes) -> bytes:
    """What a callback receives for mailbox message ``msg``: ``Req`` of ``{'$gen_call', From,
    Req}`` / ``{'$gen_cast', Req}``, else the message itself."""
    try:
        elems = etfscan.tuple_elements(msg)
    except BatchFormatError:
        return msg
    if len(elems) == 3 and etfscan.atom_text(elems[0]) == "$gen_call":
        return elems[2]
    if len(elems) == 2 and etfscan.atom_text(elems[0]) == "$gen_cast":
        return elems[1]
    return msg


def mailbox_at(rec: "Recording", proc: ProcessInfo, ts: int, uniq: int = 2**63 - 1) -> list[Event] | None:
    """Messages received by ``proc`` at or before ``(ts, uniq)`` and not yet handled by a
    callback; None if the recording cannot tell (no receive or no callback call traced)."""
    rows = rec.db.query(
        f"SELECT {qualified(EVENT_COLUMNS)} FROM {PROC_FROM} WHERE {PROC_WHERE} AND e.kind IN (1, 6) "
        f"AND (e.ts < ? OR (e.ts = ? AND e.uniq <= ?)) ORDER BY {PROC_ORDER}", (proc.node_id, proc.idx, ts, ts, uniq))
    evs = rec.events_from_rows(rows)
    if not any(e.kind == EventKind.RECEIVE for e in evs):
        return None
    handlers = [e for e in evs if e.kind == EventKind.CALL and e.mfa is not None
                and (e.mfa.function in _HANDLERS or e.mfa.arity >= 3)]
    if not handlers:
        return None
    queue: list[tuple[bytes, Event]] = []
    for e in evs:
        if e.kind == EventKind.RECEIVE:
            queue.append((_mailbox_key(e.payload_bytes), e))
        else:
            key = _handled_key(e.payload_bytes, e.mfa)
            if key is None:
                continue
            for i, (k, _) in enumerate(queue):
                if k == key:
                    del queue[i]
                    break
    return [e for _, e in queue]
