"""What a client can browse and complete without calling a tool: recordings in
``resources/list``, completions for prompt and resource-template arguments, and the logging
capability.

- ``resources/list`` returns the server's static resources and then every recording in the
  trace store (newest first, 100 per page, with a cursor), each as
  ``elixir-scope://recordings/{id}`` - the same document the template serves.
- ``completion/complete`` offers values for arguments named ``node`` (connected, configured
  and EPMD-registered nodes on this host), ``recording_id`` (recording ids), ``process``
  (registered names on the current node) and ``module`` (loaded modules on the current node),
  in the node's syntax, matching the typed prefix case-insensitively, at most 100 values.
- ``logging/setLevel`` is accepted; the server then sends ``notifications/message`` at that
  level or above (``notify``) for things the model did not ask about but should know (the agent
  or the log handler being installed on a node).

The SDK's decorators do not hand these handlers the request context, so they are registered on
the low-level server, where the lifespan state is reachable.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import (
    CompleteRequestParams,
    CompleteResult,
    Completion,
    EmptyResult,
    ListResourcesResult,
    PaginatedRequestParams,
    Resource,
    SetLevelRequestParams,
)

__all__ = ["register", "notify", "LEVELS", "RESOURCES_PAGE", "COMPLETIONS_MAX"]

RESOURCES_PAGE = 100
COMPLETIONS_MAX = 100
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def _recording_resource(info: Any) -> Resource:
    created = datetime.fromtimestamp(info.created_at, tz=timezone.utc).isoformat(timespec="seconds")
    return Resource(
        uri=f"elixir-scope://recordings/{info.id}", name=f"recording-{info.id}",
        title=f"Recording {info.id}: {info.name}"[:120],
        description=f"{info.event_count} events, {info.status}, recorded {created}",
        mime_type="application/json")


def _prefixed(values: list[str], typed: str) -> Completion:
    low = typed.lower()
    hits = sorted({v for v in values if v.lower().startswith(low)} or {v for v in values if low in v.lower()})
    return Completion(values=hits[:COMPLETIONS_MAX], total=len(hits), has_more=len(hits) > COMPLETIONS_MAX)


async def _node_names(state: Any) -> list[str]:
    from elixir_scope.instrument.dist.epmd import names

    found = set(state.connected())
    if state.config.default_node:
        found.add(state.config.default_node)
    host = socket.gethostname().split(".")[0]
    try:
        found.update(f"{n}@{host}" for n in await names("localhost", timeout=1.0))
    except Exception:  # no EPMD here: offer what is known
        pass
    return sorted(found)


async def _on_node(state: Any, fn: str, args: list) -> list:
    """``erlang:fn(args)`` on the current node, or [] when no node is selected or reachable."""
    if not (state.current or state.config.default_node):
        return []
    try:
        conn = await state.connection()
        got = await conn.rpc("erlang", fn, args, timeout=5.0)
    except Exception:  # a completion is a nicety: never an error
        return []
    return got if isinstance(got, list) else []


async def _complete(state: Any, argument: str, typed: str) -> Completion:
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.instrument.etf.syntax import ELIXIR

    if argument == "node":
        return _prefixed(await _node_names(state), typed)
    if argument in ("recording_id", "recording"):
        infos = state.store().recordings() if state.config.resolved_store_path.exists() else []
        return _prefixed([str(i.id) for i in reversed(infos)], typed)
    if argument == "process":
        names = await _on_node(state, "registered", [])
        return _prefixed([ELIXIR.name(n) for n in names if isinstance(n, Atom)], typed.removeprefix(":"))
    if argument == "module":
        loaded = await _on_node(state, "loaded", [])
        return _prefixed([ELIXIR.name(m) for m in loaded if isinstance(m, Atom)], typed.removeprefix(":"))
    return Completion(values=[])


async def notify(ctx: Any, level: str, message: str) -> None:
    """Send a log notification when the client asked for ``level`` or lower (logging/setLevel)."""
    state = ctx.request_context.lifespan_context
    wanted = state.cache.get("log_level")
    if wanted is None or LEVELS.index(level) < LEVELS.index(wanted):
        return
    try:
        await ctx.request_context.session.send_log_message(level=level, data=message, logger="elixir-scope")
    except Exception:  # a client that went away must not fail the tool
        pass


def register(server: MCPServer) -> None:
    low = server._lowlevel_server  # the decorators hide the request context these handlers need

    async def list_resources(ctx: Any, params: PaginatedRequestParams) -> ListResourcesResult:
        static = await server.list_resources()
        state = ctx.lifespan_context
        offset = int(params.cursor) if params.cursor and params.cursor.isdigit() else 0
        infos = list(reversed(state.store().recordings())) if state.config.resolved_store_path.exists() else []
        page = infos[offset:offset + RESOURCES_PAGE]
        nxt = str(offset + len(page)) if offset + len(page) < len(infos) else None
        return ListResourcesResult(resources=(static if offset == 0 else []) + [_recording_resource(i) for i in page],
                                   next_cursor=nxt)

    async def complete(ctx: Any, params: CompleteRequestParams) -> CompleteResult:
        return CompleteResult(completion=await _complete(ctx.lifespan_context, params.argument.name,
                                                         params.argument.value))

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        ctx.lifespan_context.cache["log_level"] = params.level
        return EmptyResult()

    low.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    low.add_request_handler("completion/complete", CompleteRequestParams, complete)
    low.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
