"""Logs of a live node, through a ring buffer the agent keeps.

``start_log_ring`` makes the agent install a logger handler (``elixir_scope_log_ring``) that
formats each event on the node (single line, at most 2000 bytes, report and format arguments
redacted) into a ring of the last ``capacity`` events. The ring monitors its owners (mailboxes
of this Python node): when the last one goes - we disconnect, or this process dies - it removes
the handler and exits, so nothing stays behind on the target. Events are kept from the moment
the ring starts; logger has no history before that.

``forward_logs`` makes the ring also send each new event to a capture's agent, which records it
as a ``mark`` ``{log, Level, Pid, Text}`` in the recording, ordered with the traced events.

::

    ring = await start_log_ring(conn, owner=mailbox.pid)
    page = await read_logs(conn, min_level="warning", text="timeout")
"""

from __future__ import annotations

from ..dist import Connection
from ..etf import Atom, Pid
from .live_call import LiveOptions, live_call
from .live_models import LogEvent, LogPage

__all__ = ["LEVELS", "start_log_ring", "read_logs", "forward_logs", "release_log_ring"]

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def _a(m: dict, key: str):
    return m.get(Atom(key))


def _page(r: dict) -> LogPage:
    events = []
    for seq, t, level, pid, mfa, text in _a(r, "events") or []:
        mfa_text = (f"{mfa[0].name}:{mfa[1].name}/{mfa[2]}"
                    if isinstance(mfa, tuple) and len(mfa) == 3 and isinstance(mfa[0], Atom) else None)
        events.append(LogEvent(seq=seq, time_us=t if isinstance(t, int) else 0, level=level.name,
                               pid=pid if isinstance(pid, Pid) else None, mfa=mfa_text,
                               text=text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)))
    return LogPage(events=events, matched=_a(r, "matched") or 0, last_seq=_a(r, "last_seq"), held=_a(r, "held"),
                   dropped=_a(r, "dropped"), capacity=_a(r, "capacity"), since_us=_a(r, "since"))


async def start_log_ring(conn: Connection, owner: Pid, *, capacity: int = 1000,
                         options: LiveOptions | None = None) -> LogPage:
    """Install the ring (or join the running one as another owner); its figures, no events."""
    if not 10 <= capacity <= 10_000:  # each event is at most 2000 bytes: at most 20 MB on the node
        raise ValueError(f"capacity must be between 10 and 10000, got {capacity}")
    return _page(await live_call(conn, (Atom("log_ring"), owner, capacity), options))


async def read_logs(conn: Connection, *, after_seq: int = 0, min_level: str = "debug", text: str = "",
                    limit: int = 50, options: LiveOptions | None = None) -> LogPage:
    """Events in the ring newer than ``after_seq``, at ``min_level`` or above, whose text
    contains ``text`` (case-insensitive), oldest first, at most ``limit``."""
    if min_level not in LEVELS:
        raise ValueError(f"min_level must be one of {', '.join(LEVELS)}, got {min_level!r}")
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, got {limit}")
    if after_seq < 0:
        raise ValueError("after_seq must be 0 or the last_seq of an earlier read")
    level = Atom("all") if min_level == "debug" else Atom(min_level)
    req = (Atom("read_logs"), after_seq, level, text.lower().encode(), limit)
    return _page(await live_call(conn, req, options))


async def forward_logs(conn: Connection, agent: Pid, *, options: LiveOptions | None = None) -> None:
    """Record every new log event into the capture run by ``agent`` (as ``mark`` records)."""
    await live_call(conn, (Atom("log_forward"), agent), options)


async def release_log_ring(conn: Connection, owner: Pid, *, options: LiveOptions | None = None) -> None:
    """Leave the ring; the last owner to leave removes the handler and stops the ring."""
    await live_call(conn, (Atom("log_release"), owner), options)
