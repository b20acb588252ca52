"""Supervision trees: every running application's top supervisor, walked down.

How: ``application:which_applications/0``, then per application its master
(``application_controller:get_master/1``) and the master's child
(``application_master:get_child/1``) - the top supervisor. Each supervisor is asked
``supervisor:which_children/1``; its strategy comes from ``sys:get_state/1`` (the
``#state{}`` record of ``supervisor``, or the ``%DynamicSupervisor{}`` struct), read only
when it has at most ``state_limit`` children so a huge dynamic supervisor is never copied;
restart types come from one ``lists:zipwith(fun supervisor:get_childspec/2, ...)`` per
supervisor. Children of a static supervisor are listed in start order (``which_children``
gives them newest first). Sibling supervisors are walked in parallel. The walk is bounded by ``max_depth``
and ``max_children`` (``SupervisorNode.truncated`` says when it cut).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..dist import Connection
from ..dist.errors import RpcError, RpcTimeout
from ..etf import Atom, Export, Pid
from ._terms import name, text
from .models import ChildSpec, SupervisorNode

__all__ = ["supervision_trees", "supervisor_tree"]

_A = Atom
_OK = _A("ok")
_STRATEGIES = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}


async def _safe(coro, default=None):
    try:
        return await coro
    except (RpcError, RpcTimeout):
        return default


def _strategy_and_restarts(state: Any) -> tuple[str | None, str, dict[Pid, str]]:
    """(strategy, kind, restart type by child pid for dynamic supervisors)."""
    if isinstance(state, tuple) and len(state) > 2 and state[0] == _A("state"):
        s = state[2]
        return (s.name if isinstance(s, Atom) and s.name in _STRATEGIES else None), "supervisor", {}
    if isinstance(state, dict) and state.get(_A("__struct__")) == _A("Elixir.DynamicSupervisor"):
        s = state.get(_A("strategy"))
        restarts = {}
        children = state.get(_A("children"))
        if isinstance(children, dict):
            for pid, spec in children.items():
                # {MFA, Restart, Shutdown, Type, Modules}
                if isinstance(pid, Pid) and isinstance(spec, tuple) and len(spec) >= 2 and isinstance(spec[1], Atom):
                    restarts[pid] = spec[1].name
        return (s.name if isinstance(s, Atom) else None), "dynamic_supervisor", restarts
    return None, "supervisor", {}


async def supervisor_tree(
    conn: Connection,
    sup: Pid,
    *,
    application: str | None = None,
    max_depth: int = 8,
    max_children: int = 200,
    state_limit: int = 500,
    timeout: float = 10.0,
) -> SupervisorNode:
    """The tree below one supervisor pid."""
    children_raw, info = await asyncio.gather(
        _safe(conn.rpc("supervisor", "which_children", [sup], timeout=timeout), []),
        _safe(conn.rpc("erlang", "process_info", [sup, [_A("registered_name")]], timeout=timeout), []),
    )
    reg = name(info[0][1]) if isinstance(info, list) and info else None
    children_raw = children_raw if isinstance(children_raw, list) else []
    state = await _safe(conn.rpc("sys", "get_state", [sup], timeout=timeout)) if len(children_raw) <= state_limit else None
    strategy, kind, dyn_restarts = _strategy_and_restarts(state)
    if kind == "supervisor" and strategy in ("one_for_one", "one_for_all", "rest_for_one"):
        # which_children lists a static supervisor's children last-started first: put them in
        # start order, the order rest_for_one and shutdown (reversed) follow
        children_raw = children_raw[::-1]
    truncated = len(children_raw) > max_children
    children_raw = children_raw[:max_children]
    module = await _safe(conn.rpc("proc_lib", "translate_initial_call", [sup], timeout=timeout))
    module_name = text(module[1]) if isinstance(module, tuple) and module[0] == _A("supervisor") else None
    if kind == "dynamic_supervisor":
        module_name = module_name or "Elixir.DynamicSupervisor"

    restarts: dict[int, str] = {}
    if kind == "supervisor" and children_raw:
        keys = [c[1] if c[0] == _A("undefined") and isinstance(c[1], Pid) else c[0] for c in children_raw]
        specs = await _safe(conn.rpc(
            "lists", "zipwith",
            [Export(_A("supervisor"), _A("get_childspec"), 2), [sup] * len(keys), keys], timeout=timeout), [])
        for i, spec in enumerate(specs or []):
            if isinstance(spec, tuple) and spec[0] == _OK and isinstance(spec[1], dict):
                r = spec[1].get(_A("restart"))
                if isinstance(r, Atom):
                    restarts[i] = r.name

    children: list[ChildSpec] = []
    for i, (cid, child, ctype, mods) in enumerate(children_raw):
        pid = child if isinstance(child, Pid) else None
        status = "running" if pid else text(child)
        restart = restarts.get(i) or (dyn_restarts.get(pid) if pid else None)
        modules = [m.name for m in mods if isinstance(m, Atom)] if isinstance(mods, list) else [text(mods)]
        children.append(ChildSpec(cid, pid, status, text(ctype), restart, modules))

    if max_depth > 0:
        subs = [c for c in children if c.type == "supervisor" and c.pid is not None]
        trees = await asyncio.gather(*(
            supervisor_tree(conn, c.pid, max_depth=max_depth - 1, max_children=max_children,
                            state_limit=state_limit, timeout=timeout)
            for c in subs
        ))
        for c, t in zip(subs, trees):
            c.supervisor = t
    return SupervisorNode(sup, reg, module_name, strategy, kind, application, children, truncated)


async def supervision_trees(
    conn: Connection, *, max_depth: int = 8, max_children: int = 200, timeout: float = 10.0
) -> list[SupervisorNode]:
    """The supervision tree of every running application that has one (library
    applications such as ``stdlib`` have none)."""
    apps = await conn.rpc("application", "which_applications", [], timeout=timeout)
    names = [a[0] for a in apps if isinstance(a, tuple) and isinstance(a[0], Atom)]
    masters = await asyncio.gather(*(
        _safe(conn.rpc("application_controller", "get_master", [a], timeout=timeout)) for a in names
    ))
    tops = await asyncio.gather(*(
        _safe(conn.rpc("application_master", "get_child", [m], timeout=timeout)) if isinstance(m, Pid) else _none()
        for m in masters
    ))
    roots = [(app, top[0]) for app, top in zip(names, tops) if isinstance(top, tuple) and isinstance(top[0], Pid)]
    trees = await asyncio.gather(*(
        supervisor_tree(conn, pid, application=app.name, max_depth=max_depth, max_children=max_children,
                        timeout=timeout)
        for app, pid in roots
    ))
    return list(trees)


async def _none() -> None:
    return None
