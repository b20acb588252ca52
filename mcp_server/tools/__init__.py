"""The MCP tools, one module per area. Each module exposes ``register(server, config)``.

Every tool is a thin typed function: described parameters (``Annotated[..., Field]``), a
pydantic return model (structured output), read-only/destructive annotations, bounded and
paged output, and ``@tool_errors`` so failures reach the model as actionable ``ToolError``s.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from ..config import ServerConfig


def register_all(server: MCPServer, config: ServerConfig) -> None:
    from . import (captures, diagnose, knowledge, live, live_node, nodes, processes, query, recordings, replay,
                   timetravel)

    for module in (nodes, processes, live, live_node, captures, recordings, query, timetravel, replay, knowledge,
                   diagnose):
        module.register(server, config)
