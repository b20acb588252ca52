"""The application's supervisors as facts: strategy, restart intensity and period, and each
child's id, pid, restart type, shutdown and type — what a diagnosis needs to say whether a
crash was restarted, whether a sibling went down with it, or why a supervisor gave up.

Which supervisors: every supervisor process (its initial call, as ``proc_lib`` translates it,
is ``{supervisor, CallbackModule, 1}``; a ``DynamicSupervisor``'s too) whose callback module belongs to the application, or that has a child
running an application module, plus the supervisors below those. Elixir's inline
``Supervisor.start_link(children, opts)`` runs ``Supervisor.Default``, so the children decide
(a supervisor with more than ``list_limit`` children is not listed, so it is kept only by its
callback module or by sitting below a kept one).

Bounded and safe on the target:
- every request to a supervisor is a ``gen_server:call`` with a timeout (``which_children``,
  ``count_children``, ``get_childspec``) or ``sys:get_state/2`` with a timeout, so a busy or
  stuck supervisor costs at most ``timeout`` and is reported without its details;
  ``get_childspec`` goes only to a process whose state shows OTP's ``supervisor`` (a
  ``DynamicSupervisor`` also calls itself ``{supervisor, Supervisor.Default, 1}`` but has no
  clause for that request: it would crash);
- ``count_children`` comes first: the children are listed only up to ``list_limit``;
  ``sys:get_state`` (for intensity and period, and a ``DynamicSupervisor``'s children) is read
  only when the supervisor has at most ``max_children`` children; at most ``max_supervisors``
  supervisors and ``max_children`` children each are described;
- no atom is created: the names sent are the node's own atoms or fixed ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .dist import Connection
from .dist.errors import RpcError, RpcTimeout
from .etf import Atom, Export, Pid
from .introspect._terms import text

__all__ = ["ChildFacts", "SupervisorFacts", "app_supervisors"]

_A = Atom
_STRATEGIES = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}


@dataclass(frozen=True, slots=True)
class ChildFacts:
    id: str                        # the child id as Elixir prints it: "Feeds.Sessions", "{OrderFlow.Order, 101}"
    pid: Pid | None
    status: str                    # running | restarting | undefined
    restart: str | None            # permanent | transient | temporary
    shutdown: str | int | None     # milliseconds, "brutal_kill" or "infinity"
    type: str                      # worker | supervisor
    modules: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SupervisorFacts:
    pid: Pid
    registered_name: str | None    # "Elixir.Feeds.Supervisor"
    module: str | None             # callback module ("Elixir.Supervisor.Default" for inline ones)
    kind: str                      # supervisor | dynamic_supervisor (told apart by its state) | unknown (state not read)
    strategy: str | None
    intensity: int | None          # max restarts ...
    period: int | None             # ... within this many seconds
    children: list[ChildFacts]
    child_count: int               # all children, even past the limit
    error: str | None = None       # why some details are missing (busy supervisor, too many children)


async def _call(conn: Connection, mod: str, fun: str, args: list, timeout: float, default: Any = None) -> Any:
    try:
        return await conn.rpc(mod, fun, args, timeout=timeout + 1.0)
    except (RpcError, RpcTimeout):
        return default


def _elixir_text(term: Any) -> str:
    from .etf.inspect import inspect

    out = inspect(term)
    return out if len(out) <= 200 else out[:197] + "..."


def _shutdown(value: Any) -> str | int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return value.name if isinstance(value, Atom) else None


def _state_limits(state: Any) -> tuple[str | None, int | None, int | None, dict[Pid, tuple]]:
    """(strategy, intensity, period, dynamic children) from a supervisor's state.

    ``supervisor``'s ``#state{name, strategy, children, dynamics, intensity, period, ...}``
    (the same positions from OTP 21 to 28) or Elixir's ``%DynamicSupervisor{}``."""
    if isinstance(state, tuple) and len(state) > 6 and state[0] == _A("state"):
        s = state[2]
        strategy = s.name if isinstance(s, Atom) and s.name in _STRATEGIES else None
        i, p = state[5], state[6]
        return (strategy, i if isinstance(i, int) else None, p if isinstance(p, int) else None, {})
    if isinstance(state, dict) and state.get(_A("__struct__")) == _A("Elixir.DynamicSupervisor"):
        s, i, p = state.get(_A("strategy")), state.get(_A("max_restarts")), state.get(_A("max_seconds"))
        children = state.get(_A("children"))
        dyn = {pid: spec for pid, spec in children.items()
               if isinstance(pid, Pid) and isinstance(spec, tuple)} if isinstance(children, dict) else {}
        return (s.name if isinstance(s, Atom) else None, i if isinstance(i, int) else None,
                p if isinstance(p, int) else None, dyn)
    return None, None, None, {}


async def _describe(conn: Connection, pid: Pid, reg: str | None, module: str | None, children_raw: list,
                    count: int, *, max_children: int, timeout: float) -> SupervisorFacts:
    ms = int(timeout * 1000)
    error = None
    kind = "supervisor"
    state = None
    if count <= max_children:
        state = await _call(conn, "sys", "get_state", [pid, ms], timeout)
        if state is None:
            error = "its state could not be read in time"
    elif len(children_raw) < count:
        error = f"{count} children: too many to list them or to read the restart limits"
    else:
        error = f"{count} children: only the first {max_children} are described, no restart limits"
    strategy, intensity, period, dyn = _state_limits(state)
    otp_supervisor = isinstance(state, tuple) and len(state) > 6 and state[0] == _A("state")
    if isinstance(state, dict) and state.get(_A("__struct__")) == _A("Elixir.DynamicSupervisor"):
        # a DynamicSupervisor says {supervisor, Supervisor.Default, 1} as its initial call
        kind = "dynamic_supervisor"
    elif not otp_supervisor:
        kind = "unknown"  # its state was not read
    rows = [r for r in children_raw[:max_children] if isinstance(r, tuple) and len(r) == 4]
    specs: list[Any] = []
    # get_childspec only to a process known (by its state) to run OTP's supervisor: a
    # DynamicSupervisor has no clause for it and would crash
    if otp_supervisor and rows:
        keys = [c[1] if c[0] == _A("undefined") and isinstance(c[1], Pid) else c[0] for c in rows]
        specs = await _call(conn, "lists", "zipwith3",
                            [Export(_A("gen_server"), _A("call"), 3), [pid] * len(keys),
                             [(_A("get_childspec"), k) for k in keys], [ms] * len(keys)], timeout, [])
        if not specs and error is None:
            error = "its child specs could not be read in time"
    children = []
    for i, row in enumerate(rows):
        cid, child, ctype, mods = row
        cpid = child if isinstance(child, Pid) else None
        restart = shutdown = None
        spec = specs[i] if isinstance(specs, list) and i < len(specs) else None
        if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == _A("ok") and isinstance(spec[1], dict):
            r = spec[1].get(_A("restart"))
            restart = r.name if isinstance(r, Atom) else None
            shutdown = _shutdown(spec[1].get(_A("shutdown")))
        elif cpid is not None and cpid in dyn:
            d = dyn[cpid]  # {MFA, Restart, Shutdown, Type, Modules}
            restart = d[1].name if len(d) > 1 and isinstance(d[1], Atom) else None
            shutdown = _shutdown(d[2]) if len(d) > 2 else None
        modules = [m.name for m in mods if isinstance(m, Atom)] if isinstance(mods, list) else [text(mods)]
        children.append(ChildFacts(
            id=_elixir_text(cid) if cid != _A("undefined") else "undefined", pid=cpid,
            status="running" if cpid else text(child), restart=restart, shutdown=shutdown,
            type=text(ctype), modules=modules))
    return SupervisorFacts(pid, reg, module, kind, strategy, intensity, period, children, count, error)


async def _supervisor_processes(conn: Connection, timeout: float) -> dict[Pid, tuple[str | None, str | None]]:
    """Every supervisor process: pid → (registered name, callback module). Three round trips:
    the processes, the current function and name of each, and the initial call (as
    ``proc_lib`` translates it) of those in a ``gen_server`` loop — a supervisor's is
    ``{supervisor, CallbackModule, 1}`` (a ``DynamicSupervisor`` says so too)."""
    info2 = Export(_A("erlang"), _A("process_info"), 2)
    pids = await conn.rpc("erlang", "processes", [], timeout=timeout * 5)
    infos = await conn.rpc("lists", "zipwith",
                           [info2, pids, [[_A("current_function"), _A("registered_name")]] * len(pids)],
                           timeout=timeout * 5)
    looping: list[tuple[Pid, str | None]] = []
    for p, raw in zip(pids, infos):
        if not (isinstance(raw, list) and len(raw) == 2):
            continue
        cf, reg = raw[0][1], raw[1][1]
        if isinstance(cf, tuple) and len(cf) == 3 and cf[0] in (_A("gen_server"), _A("erlang")):
            looping.append((p, reg.name if isinstance(reg, Atom) else None))
    if not looping:
        return {}
    initial = await conn.rpc("lists", "map", [Export(_A("proc_lib"), _A("translate_initial_call"), 1),
                                              [p for p, _ in looping]], timeout=timeout * 5)
    out = {}
    for (p, reg), ic in zip(looping, initial if isinstance(initial, list) else []):
        if isinstance(ic, tuple) and len(ic) == 3 and ic[0] == _A("supervisor") and isinstance(ic[1], Atom):
            out[p] = (reg, ic[1].name)
    return out


def _child_count(reply: Any) -> int:
    """``count_children``'s ``specs`` (a proplist; a DynamicSupervisor's call answers one too)."""
    if isinstance(reply, list):
        for item in reply:
            if isinstance(item, tuple) and len(item) == 2 and item[0] == _A("specs") and isinstance(item[1], int):
                return item[1]
    return 0


async def app_supervisors(conn: Connection, app_modules: list[str] | set[str], *, max_supervisors: int = 20,
                          max_children: int = 50, list_limit: int = 1000,
                          timeout: float = 2.0) -> list[SupervisorFacts]:
    """The supervisors of the application made of ``app_modules`` (``"Elixir.MyApp.X"`` names,
    as :func:`~elixir_scope.instrument.survey.app_modules` returns them). A supervisor's
    children are listed only when it has at most ``list_limit`` (``count_children`` first)."""
    if max_supervisors < 1 or max_children < 1 or list_limit < max_children:
        raise ValueError("max_supervisors and max_children must be at least 1, list_limit at least max_children")
    mods = set(app_modules)
    sups = await _supervisor_processes(conn, timeout)
    ms = int(timeout * 1000)
    order = list(sups)
    counts = dict(zip(order, [_child_count(r) for r in await asyncio.gather(*(
        _call(conn, "gen_server", "call", [pid, _A("count_children"), ms], timeout, None) for pid in order))]))
    listable = [pid for pid in order if counts[pid] <= list_limit]
    raw = await asyncio.gather(*(
        _call(conn, "gen_server", "call", [pid, _A("which_children"), ms], timeout, None) for pid in listable))
    children: dict[Pid, list] = {pid: [] for pid in order}
    children.update({pid: (r if isinstance(r, list) else []) for pid, r in zip(listable, raw)})

    def runs_app_code(pid: Pid) -> bool:
        if sups[pid][1] in mods:
            return True
        return any(isinstance(row, tuple) and len(row) == 4 and isinstance(row[3], list)
                   and any(isinstance(m, Atom) and m.name in mods for m in row[3])
                   for row in children[pid])

    kept = [pid for pid in order if runs_app_code(pid)]
    # and the supervisors below them (a Registry's, a nested tree's), breadth first
    i = 0
    while i < len(kept):
        for row in children.get(kept[i], []):
            if isinstance(row, tuple) and len(row) == 4 and isinstance(row[1], Pid) and row[1] in sups \
                    and row[1] not in kept:
                kept.append(row[1])
        i += 1
    kept = kept[:max_supervisors]
    facts = await asyncio.gather(*(
        _describe(conn, pid, sups[pid][0], sups[pid][1], children[pid], max(counts[pid], len(children[pid])),
                  max_children=max_children, timeout=timeout)
        for pid in kept))
    return list(facts)
