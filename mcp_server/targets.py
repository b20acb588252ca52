"""Naming a live process the way people and models do: pid text or a registered name.

Kept free of the MCP SDK so the command line uses the same rules without importing it; the
capture and introspection modules are imported on use, keeping server start-up light.
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf import Charlist, Pid

PID_TEXT = re.compile(r"(?:#PID)?<(\d+)\.(\d+)\.(\d+)>\Z")


def named_process(process: str | None, registry: str | None = None, key: str | int | None = None) -> Any:
    """What a tool's process arguments name: ``process`` as typed (pid, registered name, or a
    ``{:via, Registry, {...}}`` / ``{:global, ...}`` tuple), or a ``ViaName`` from ``registry``
    (``MyApp.Registry``) and ``key`` (an Elixir literal: ``"user-42"`` with its quotes, ``42``,
    ``{:user, 42}``). Raises ``ValueError`` saying which argument is missing or extra."""
    if registry is None and key is None:
        if process is None or not process.strip():
            raise ValueError("name a process: a registered name (SampleApp.Cart), a pid (<0.123.0>), "
                             'or registry + key for a Registry via-name (registry="MyApp.Registry", key=\'"user-42"\')')
        return process
    if registry is None or key is None:
        raise ValueError("a Registry via-name needs both registry (e.g. MyApp.Registry) and key (an Elixir "
                         'literal, e.g. "user-42" with its quotes, 42, {:user, 42})')
    if process:
        raise ValueError("give either process or registry + key, not both")
    from elixir_scope.instrument.introspect.via import via_name

    return via_name(registry, key)


async def resolve_pid(conn: Any, process: Any) -> Pid:
    """A pid on ``conn``'s node from ``<0.123.0>`` / ``#PID<0.123.0>``, a registered name
    (``SampleApp.Cart``, ``Elixir.SampleApp.Cart``, ``:logger``, ``logger``) or a via / global
    name (text ``{:via, Registry, {MyApp.Registry, "k"}}``, ``{:global, :x}`` or a ``ViaName``;
    resolved by the agent).

    Raises ``ProcessNotFound`` when no process has that name."""
    from elixir_scope.instrument.introspect import ProcessNotFound

    if not isinstance(process, str) or process.strip().startswith("{"):
        from elixir_scope.instrument.introspect import whereis_process

        return await whereis_process(conn, process)
    text = process.strip()
    if PID_TEXT.match(text):
        return await conn.rpc("erlang", "list_to_pid", [Charlist.from_text(text.removeprefix("#PID"))])
    name = text.removeprefix(":")
    if name[:1].isupper() and not name.startswith("Elixir."):
        name = "Elixir." + name
    from elixir_scope.instrument.names import whereis

    pid = await whereis(conn, name)  # an existing atom only: nothing is created on the node
    if not isinstance(pid, Pid):
        raise ProcessNotFound(f"registered as {process!r}", conn.node_name)
    return pid


async def message_targets(conn: Any, names: list[str]) -> tuple:
    """Registered names, pids, via / global names (``{:via, Registry, {MyApp.Registry, "k"}}``,
    resolved to the pid holding it now), or (when nothing has the name) every process of that module.
    ``conn`` may be a list of connections (a multi-node capture): a name registered on any of
    them is a registered name (each node's agent skips it where it is not); a pid is the first
    node's."""
    from elixir_scope.instrument.capture import Registered, RunningModule

    conns = list(conn) if isinstance(conn, (list, tuple)) else [conn]
    conn = conns[0]
    out: list = []
    for name in names:
        text = name.strip()
        if PID_TEXT.match(text) or text.startswith("{"):  # a pid, or a via / global name
            out.append(await resolve_pid(conn, text))
            continue
        full = text.removeprefix(":")
        if full[:1].isupper() and not full.startswith("Elixir."):
            full = "Elixir." + full
        from elixir_scope.instrument.names import whereis

        found = False
        for c in conns:
            if isinstance(await whereis(c, full), Pid):
                found = True
                break
        out.append(Registered(full) if found else RunningModule(full))
    return tuple(out)


def module_name(name: str) -> str:
    return name if name.startswith("Elixir.") or not name[:1].isupper() else "Elixir." + name


class EmptyCapture(ValueError):
    """A capture request that names nothing to record."""


async def capture_plan(conn: Any, spec: list[str], *, state_of: list[str] = (), messages_of: list[str] = (),
                       lifecycle: bool = False, checkpoint_ms: int = 0, force: bool = False) -> Any:
    """The capture plan for a request as tools and the command line phrase it (specs as text,
    modules and processes by name; ``conn`` may be a list of connections, see
    ``message_targets``). Raises ``SpecError`` for a bad spec, ``EmptyCapture``.
    ``force`` lets a spec the safety rules refuse through (never one tracing the agent)."""
    from elixir_scope.instrument.capture import CapturePlan

    plan = CapturePlan.from_strings(
        list(spec), force=force, state_modules=tuple(module_name(m) for m in state_of),
        message_procs=await message_targets(conn, list(messages_of)),
        lifecycle_procs="all" if lifecycle else (), checkpoint_ms=checkpoint_ms)
    if plan.is_empty():
        raise EmptyCapture("nothing to capture: give trace specs (calls), state_of (GenServer modules), "
                           "messages_of (processes) or lifecycle")
    return plan
