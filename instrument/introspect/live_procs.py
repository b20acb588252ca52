"""A live process's state (``sys:get_state`` with a timeout), the head of its mailbox, and
what the application calls its processes.

::

    st = await get_state(conn, "SampleApp.Inventory")
    peek = await peek_mailbox(conn, "<0.123.0>", limit=5)
    names = await process_labels(conn, pids)   # {pid: AppNames(label=..., process_name=...)}
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dist import Connection
from ..etf import Atom, Pid
from .live_call import LiveOptions, Shown, live_call, process_ref, shown
from .live_call import atom_name as _name, reply_field as _a
from .live_models import MailboxPeek, ProcessState
from .processes import _BEHAVIOURS
from .via import GlobalName, ViaName

__all__ = ["get_state", "peek_mailbox", "process_labels", "whereis_process", "AppNames", "MAILBOX_COPY_LIMIT",
           "LABELS_MAX"]

# Reading a mailbox copies all of it (process_info(P, messages) has no limit): beyond this many
# messages only the length is reported.
MAILBOX_COPY_LIMIT = 10_000


async def get_state(conn: Connection, process: str | Pid | ViaName | GlobalName, *, timeout_ms: int = 5000,
                    options: LiveOptions | None = None) -> ProcessState:
    """The state of a GenServer, gen_statem or other ``sys``-speaking process (redacted and cut
    to ``options.max_bytes`` on the node)."""
    if not 10 <= timeout_ms <= 30_000:
        raise ValueError(f"timeout_ms must be between 10 and 30000, got {timeout_ms}")
    r = await live_call(conn, (Atom("get_state"), process_ref(process), timeout_ms), options,
                        timeout=timeout_ms / 1000 + 10)
    state = shown(_a(r, "state"))
    raw = _name(_a(r, "behaviour"))
    beh = _BEHAVIOURS.get(raw, raw) if raw else None
    name = data = None
    if beh == "gen_statem" and isinstance(state.term, tuple) and len(state.term) == 2:
        name, data = state.term
    return ProcessState(pid=_a(r, "pid"), module=_name(_a(r, "module")), behaviour=beh, state=state,
                        state_name=name, data=data)


async def peek_mailbox(conn: Connection, process: str | Pid | ViaName | GlobalName, *, limit: int = 10,
                       copy_limit: int = MAILBOX_COPY_LIMIT, options: LiveOptions | None = None) -> MailboxPeek:
    """The first ``limit`` messages waiting in a process's mailbox (oldest first)."""
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, got {limit}")
    r = await live_call(conn, (Atom("peek_mailbox"), process_ref(process), limit, copy_limit), options)
    msgs = _a(r, "messages")
    return MailboxPeek(pid=_a(r, "pid"), length=_a(r, "len"), copy_limit=copy_limit,
                       messages=None if msgs == Atom("too_many") else [shown(m) for m in msgs])


# Processes one process_labels call asks about (the agent refuses more).
LABELS_MAX = 20_000


@dataclass(frozen=True)
class AppNames:
    """Names a process carries besides its registered name: the process label
    (``proc_lib:set_label/1`` on OTP 27+, kept under ``'$process_label'``; the same key set by
    hand on older releases), an app-kept ``process_name`` entry (RabbitMQ) and a ``global``
    name (``{global, Name}`` / ``{:global, name}`` via registrations) and the keys it holds in
    Elixir ``Registry``s (``{:via, Registry, {MyApp.Registry, key}}``)."""

    label: Shown | None = None
    process_name: Shown | None = None
    global_name: Shown | None = None
    #: ``(registry, key)`` of the Elixir Registry names it holds (first 5): ``registry`` the
    #: module atom's text (``Elixir.MyApp.Registry``), ``key`` as the node let it out
    registry_names: tuple[tuple[str, Shown], ...] = ()


async def process_labels(conn: Connection, pids: list[Pid], *, options: LiveOptions | None = None,
                         timeout: float = 30.0) -> dict[Pid, AppNames]:
    """The ``AppNames`` of those of ``pids`` that have any (read on the node from each process
    dictionary; values redacted and cut there)."""
    if len(pids) > LABELS_MAX:
        raise ValueError(f"at most {LABELS_MAX} processes per call, got {len(pids)}")
    if not pids:
        return {}
    rows = await live_call(conn, (Atom("labels"), list(pids)), options, timeout=timeout)
    out: dict[Pid, AppNames] = {}
    for pid, entries in rows:
        found = {k.name: v for k, v in entries if isinstance(k, Atom)}
        one = {k: shown(found[k]) for k in ("$process_label", "process_name", "global_name") if k in found}
        via = tuple((reg.name, shown(key)) for reg, key in found.get("registry_names", ()) if isinstance(reg, Atom))
        out[pid] = AppNames(label=one.get("$process_label"), process_name=one.get("process_name"),
                            global_name=one.get("global_name"), registry_names=via)
    return out


async def whereis_process(conn: Connection, process: str | Pid | ViaName | GlobalName, *,
                          timeout: float = 15.0) -> Pid:
    """The live pid ``process`` names on the node: a pid, a registered name or a via / global
    name (resolved by the agent; unknown names create nothing there)."""
    return await live_call(conn, (Atom("whereis"), process_ref(process)), None, timeout=timeout)
