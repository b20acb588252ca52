"""``build_server(config)``: the ElixirScope MCP server, assembled from small tool modules.

The server holds no analysis logic. Each module under ``tools/`` is a handful of thin, typed
tool functions over ``instrument``, ``store``, ``knowledge`` and ``agents``; ``resources``
and ``prompts`` expose recordings, reports and debugging recipes; ``mutations`` (eval, send,
kill) is registered only with ``allow_mutations``. Shared state (connections, the store,
running captures) lives in an ``AppState`` created by the lifespan.

Start-up is kept fast on purpose: nothing here imports torch, sentence-transformers,
chromadb, langgraph or anthropic; the tools that need them import them when called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from elixir_scope import __version__

from . import craft, discovery, prompts, resources, tools
from .apps import build_apps
from .config import ServerConfig
from .state import AppState

INSTRUCTIONS = """\
ElixirScope debugs live Elixir/Erlang (BEAM) systems. Typical flow:
1. connect_node(node="app@host") — then node_overview, list_processes, process_details,
   supervision_tree to see what runs.
2. start_capture(spec=..., max_events=..., max_seconds=...) records calls, messages and
   GenServer state into the trace store; capture_status / stop_capture manage it.
3. list_recordings, then query (the query language; query_help shows it), state_at,
   state_evolution, system_snapshot, message_flow, process_timeline, causal_past/future
   travel through a recording.
Listing tools are paged: when a result has next_cursor, call again with cursor=<it>.
Observe-only by default: tools that change the target exist only when the server was
started with --allow-mutations."""


def build_server(config: ServerConfig | None = None) -> MCPServer:
    """A ready-to-run server for ``config`` (validated first; unsafe settings raise)."""
    config = (config or ServerConfig()).validate()

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[AppState]:
        state = AppState(config)
        try:
            yield state
        finally:
            await state.close()

    server = MCPServer(
        name="elixir-scope",
        title="ElixirScope",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        extensions=[build_apps()],  # MCP Apps: pictures for hosts that render UI (apps.py)
    )
    tools.register_all(server, config)
    resources.register(server)
    prompts.register(server)
    discovery.register(server)
    if config.allow_mutations:
        from . import mutations

        mutations.register(server, config)
    craft.polish(server)
    return server
