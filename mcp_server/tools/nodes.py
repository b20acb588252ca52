"""Node tools: connect to a target node, see what is connected, get a node's overview.

ElixirScope joins the target as a *hidden* node (it does not appear in ``Node.list()``
and does not join the target's cluster mesh), so connecting is invisible to the application.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from elixir_scope.instrument.etf import Atom, Charlist

from ..config import ServerConfig
from ..errors import tool_errors
from ..state import app_state
from ..live_models import NodeOverview, node_overview_model
from .annotations import ADDITIVE_IDEMPOTENT, READ_ONLY, READ_ONLY_LOCAL
from .common import NodeArg

OTP_RELEASE = Atom("otp_release")


class Connected(BaseModel):
    """The node is attached and is now the current node."""

    node: str
    otp_release: str
    current: str | None
    connected: list[str]
    next_steps: str = "node_overview, list_processes, supervision_tree, or start_capture"


class Connections(BaseModel):
    """The nodes this server is connected to."""

    current: str | None = Field(description="The node tools use when none is named.")
    connected: list[str]


class Disconnected(BaseModel):
    node: str
    was_connected: bool
    connections: Connections


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=ADDITIVE_IDEMPOTENT)
    @tool_errors
    async def connect_node(
        ctx: Context,
        node: Annotated[str, Field(description="Node to attach to, as name@host (e.g. my_app@myhost).")],
        cookie: Annotated[
            str | None,
            Field(description="The node's distribution cookie. Omit to use the server's configured cookie."),
        ] = None,
    ) -> Connected:
        """Attach to a running BEAM node as a hidden node (no code change, invisible to the
        application's cluster) and make it the current node for the other tools."""
        state = app_state(ctx)
        conn = await state.connect(node, cookie=cookie)
        release = await conn.rpc("erlang", "system_info", [OTP_RELEASE])
        return Connected(node=conn.node_name, otp_release=release.text if isinstance(release, Charlist) else str(release),
                         current=state.current, connected=state.connected())

    @server.tool(annotations=ADDITIVE_IDEMPOTENT)
    @tool_errors
    async def disconnect_node(
        ctx: Context,
        node: Annotated[str, Field(description="Node to detach from, as name@host.")],
    ) -> Disconnected:
        """Close the connection to a node (running captures on it stop)."""
        state = app_state(ctx)
        was = await state.disconnect(node)
        return Disconnected(node=node, was_connected=was, connections=Connections(current=state.current, connected=state.connected()))

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def list_connections(ctx: Context) -> Connections:
        """The nodes this server is connected to, and which one is current."""
        state = app_state(ctx)
        return Connections(current=state.current, connected=state.connected())

    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def node_overview(ctx: Context, node: NodeArg = None) -> NodeOverview:
        """Overview of a node: OTP/Elixir versions, uptime, process and port counts and limits,
        memory by category, schedulers, running applications."""
        from elixir_scope.instrument.introspect import node_info

        conn = await app_state(ctx).connection(node)
        return node_overview_model(await node_info(conn))
