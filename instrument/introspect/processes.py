"""Processes: a sorted overview and a detailed look at one process, without code on the node.

How the overview stays cheap for thousands of processes: funs cannot be sent, but *export*
funs (``fun erlang:process_info/2``) can, so one rpc of
``lists:zipwith(fun erlang:process_info/2, Pids, [Key, Key, ...])`` returns the sort key of
every process. Only the ``limit`` processes that make the cut then get every item (a second
``zipwith``), their initial call translated (``proc_lib:translate_initial_call/1`` via
``lists:map``) and their behaviour looked up (module attributes of the distinct callback
modules, in parallel). Five round trips in all, whatever the process count, and the bulk of the
data is one small tuple per process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from ..dist import Connection
from ..dist.errors import DistError, RpcError
from ..etf import Atom, Export, Pid
from ..names import whereis
from ._terms import mfa, name, proplist
from .models import MFA, ProcessDetails, ProcessSummary

__all__ = ["process_overview", "process_details", "resolve_pid", "ProcessNotFound"]

SortKey = Literal["memory", "reductions", "message_queue_len"]
_A = Atom
OVERVIEW_ITEMS = [_A(i) for i in ("registered_name", "initial_call", "current_function", "status",
                                  "message_queue_len", "memory", "reductions")]
DETAIL_ITEMS = OVERVIEW_ITEMS + [_A(i) for i in ("links", "monitors", "monitored_by", "dictionary", "heap_size",
                                                 "total_heap_size", "stack_size", "trap_exit", "group_leader",
                                                 "priority", "current_stacktrace")]
_BEHAVIOURS = {
    "gen_server": "gen_server",
    "Elixir.GenServer": "gen_server",
    # RabbitMQ's gen_server2 / supervisor2 speak gen_server's protocol
    "gen_server2": "gen_server",
    "supervisor2": "supervisor",
    "supervisor": "supervisor",
    "Elixir.Supervisor": "supervisor",
    "gen_statem": "gen_statem",
    "gen_event": "gen_event",
    "supervisor_bridge": "supervisor_bridge",
    "application": "application",
    "Elixir.Application": "application",
}
_LOOP_MODULES = {"gen_server": "gen_server", "gen_statem": "gen_statem", "gen_event": "gen_event",
                 "gen_server2": "gen_server"}
_PROC_LIB_FALLBACK = MFA("proc_lib", "init_p", 5)


class ProcessNotFound(DistError, LookupError):
    def __init__(self, what: Any, node: str) -> None:
        super().__init__(f"no process {what} on {node}; it may have exited (list live ones with process_overview)")


async def resolve_pid(conn: Connection, pid_or_name: Pid | Atom | str) -> Pid:
    """A pid as is; a registered name (``"Elixir.Foo"`` or Elixir-style ``"Foo"``) via whereis.

    The name travels as a binary and is looked up as an *existing* atom (instrument/names.py):
    an unknown name creates nothing on the node."""
    if isinstance(pid_or_name, Pid):
        return pid_or_name
    names = [pid_or_name.name if isinstance(pid_or_name, Atom) else pid_or_name]
    if isinstance(pid_or_name, str) and pid_or_name[:1].isupper() and not pid_or_name.startswith("Elixir."):
        names.append("Elixir." + pid_or_name)
    for n in names:
        found = await whereis(conn, n)
        if found is not None:
            return found
    raise ProcessNotFound(pid_or_name, conn.node_name)


def _summary(pid: Pid, info: dict[str, Any], initial: MFA | None, behaviour: str | None) -> ProcessSummary:
    return ProcessSummary(
        pid=pid,
        registered_name=name(info.get("registered_name")),
        initial_call=initial or mfa(info.get("initial_call")),
        current_function=mfa(info.get("current_function")),
        status=str(info.get("status")),
        message_queue_len=info.get("message_queue_len", 0),
        memory=info.get("memory", 0),
        reductions=info.get("reductions", 0),
        behaviour=behaviour,
    )


async def _translated(conn: Connection, pids: list[Pid], timeout: float) -> list[MFA | None]:
    """proc_lib's idea of each initial call; None where it has none (it then says proc_lib:init_p/5)."""
    try:
        raw = await conn.rpc("lists", "map", [Export(_A("proc_lib"), _A("translate_initial_call"), 1), pids],
                             timeout=timeout)
    except RpcError:  # a process died between the calls: fall back to one call each
        raw = await asyncio.gather(*(conn.rpc("proc_lib", "translate_initial_call", [p], timeout=timeout)
                                     for p in pids), return_exceptions=True)
    out = []
    for r in raw:
        m = None if isinstance(r, BaseException) else mfa(r)
        out.append(None if m == _PROC_LIB_FALLBACK else m)
    return out


async def _module_behaviours(conn: Connection, modules: set[str], timeout: float) -> dict[str, str | None]:
    mods = sorted(modules)

    async def one(mod: str) -> str | None:
        try:
            attrs = await conn.rpc("erlang", "get_module_info", [Atom(mod), _A("attributes")], timeout=timeout)
        except RpcError:
            return None
        props = proplist(attrs)
        for key in ("behaviour", "behavior"):
            for b in props.get(key, []) or []:
                if isinstance(b, Atom) and b.name in _BEHAVIOURS:
                    return _BEHAVIOURS[b.name]
        return None

    found = await asyncio.gather(*(one(m) for m in mods))
    return dict(zip(mods, found))


def _behaviour(initial: MFA | None, current: MFA | None, by_module: dict[str, str | None]) -> str | None:
    if initial is not None:
        if initial.module in ("supervisor", "supervisor2"):  # proc_lib: {supervisor, CallbackMod, 1}
            return "supervisor"
        if initial.module in ("Elixir.DynamicSupervisor", "Elixir.Task.Supervisor"):
            return "supervisor"
        found = by_module.get(initial.module)
        if found:
            return found
    if current is not None and current.module in _LOOP_MODULES:
        return _LOOP_MODULES[current.module]
    return None


async def _describe(conn: Connection, rows: list[tuple[Pid, dict[str, Any]]], timeout: float) -> list[ProcessSummary]:
    initials = await _translated(conn, [p for p, _ in rows], timeout) if rows else []
    modules = {m.module for m in initials if m is not None}
    by_module = await _module_behaviours(conn, modules, timeout) if modules else {}
    out = []
    for (pid, info), initial in zip(rows, initials):
        behaviour = _behaviour(initial or mfa(info.get("initial_call")), mfa(info.get("current_function")), by_module)
        out.append(_summary(pid, info, initial, behaviour))
    return out


async def process_overview(
    conn: Connection, *, sort_by: SortKey = "memory", limit: int = 20, timeout: float = 30.0
) -> list[ProcessSummary]:
    """The top ``limit`` processes by ``sort_by`` (descending)."""
    if sort_by not in ("memory", "reductions", "message_queue_len"):
        raise ValueError(f"sort_by must be memory, reductions or message_queue_len, not {sort_by!r}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    info2 = Export(_A("erlang"), _A("process_info"), 2)
    pids = await conn.rpc("erlang", "processes", [], timeout=timeout)
    # Phase 1: only the sort key of every process (one small tuple each) ...
    key = _A(sort_by)
    keyed = await conn.rpc("lists", "zipwith", [info2, pids, [key] * len(pids)], timeout=timeout)
    ranked = sorted(
        ((k[1], p) for p, k in zip(pids, keyed) if type(k) is tuple),  # undefined: exited meanwhile
        key=lambda kp: kp[0], reverse=True,
    )
    # ... phase 2: every item, for the top ones only (a few spare for processes that exit).
    top = [p for _, p in ranked[: limit + max(5, limit // 10)]]
    infos = await conn.rpc("lists", "zipwith", [info2, top, [OVERVIEW_ITEMS] * len(top)], timeout=timeout)
    rows = [(p, proplist(i)) for p, i in zip(top, infos) if isinstance(i, list)]
    rows.sort(key=lambda r: r[1].get(sort_by, 0), reverse=True)
    return await _describe(conn, rows[:limit], timeout)


async def process_details(conn: Connection, pid_or_name: Pid | Atom | str, *, timeout: float = 10.0) -> ProcessDetails:
    """Everything ``process_overview`` shows plus links, monitors, dictionary keys, heap."""
    pid = await resolve_pid(conn, pid_or_name)
    raw = await conn.rpc("erlang", "process_info", [pid, DETAIL_ITEMS], timeout=timeout)
    if not isinstance(raw, list):
        raise ProcessNotFound(pid, conn.node_name)
    info = proplist(raw)
    (summary,) = await _describe(conn, [(pid, info)], timeout)
    dictionary = info.get("dictionary") or []
    return ProcessDetails(
        summary=summary,
        links=list(info.get("links") or []),
        monitors=list(info.get("monitors") or []),
        monitored_by=list(info.get("monitored_by") or []),
        dictionary_keys=[kv[0] for kv in dictionary if isinstance(kv, tuple) and len(kv) == 2],
        heap_size=info.get("heap_size", 0),
        total_heap_size=info.get("total_heap_size", 0),
        stack_size=info.get("stack_size", 0),
        trap_exit=info.get("trap_exit") is True,
        group_leader=info.get("group_leader"),
        priority=str(info.get("priority")),
        current_stacktrace=list(info.get("current_stacktrace") or []),
        label=_label(dictionary),
    )


_LABEL_KEYS = (Atom("$process_label"), Atom("process_name"))


def _label(dictionary: Any) -> Any:
    """The process label (OTP 27+ ``proc_lib:set_label/1``) or an app-kept ``process_name``."""
    for key in _LABEL_KEYS:
        for kv in dictionary if isinstance(dictionary, list) else []:
            if isinstance(kv, tuple) and len(kv) == 2 and kv[0] == key:
                return kv[1]
    return None
