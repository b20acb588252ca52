"""Live process tools: top processes, search, one process in depth, supervision trees,
``:pg`` process groups.

The introspection module is imported on first use (start-up stays fast). All read-only: they
call standard OTP functions over rpc (``instrument.introspect``); what the application calls
its processes (labels, via-names) and the ``:pg`` groups are read by the agent, which bounds
what it sends. Every result is a bounded page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from elixir_scope.instrument.etf import Atom

from ..config import ServerConfig
from ..errors import tool_errors
from ..budget import DEFAULT_BUDGET, fit
from ..live_models import (
    ProcessDetailsModel,
    ProcessRow,
    SupervisorModel,
    supervisor_model,
    tree_outline,
)
from ..pg_models import PgGroupsResult
from ..process_rows import details_model, matches, pg_view, process_rows
from ..state import app_state
from ..syntax import node_syntax
from .annotations import READ_ONLY
from ..targets import named_process, resolve_pid
from .common import CursorArg, NodeArg, Page, page, parse_cursor

SortBy = Literal["memory", "reductions", "message_queue_len"]
# find_processes describes every process; beyond this many it would be too slow to be useful.
FIND_SCAN_LIMIT = 20_000


class SupervisionForest(BaseModel):
    """Supervision trees of the running applications."""

    outline: str = Field(description="The trees as indented text: name [kind, strategy] pid - what the strategy does; children in start order.")
    trees: list[SupervisorModel]
    applications: list[str]


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def list_processes(
        ctx: Context,
        sort_by: Annotated[SortBy, Field(description="Rank by memory (bytes), reductions (CPU work) or message_queue_len (backlog).")] = "memory",
        limit: Annotated[int, Field(ge=1, le=200, description="Processes per page.")] = 20,
        cursor: CursorArg = None,
        node: NodeArg = None,
    ) -> Page[ProcessRow]:
        """The top processes of a node, ranked by memory, reductions or mailbox length, with
        registered name, process label / app-kept name, initial call, current function and
        behaviour."""
        from elixir_scope.instrument.introspect import process_overview

        conn = await app_state(ctx).connection(node)
        sx = await node_syntax(app_state(ctx), conn)
        offset = parse_cursor(cursor)
        top = await process_overview(conn, sort_by=sort_by, limit=offset + limit)
        total = await conn.rpc("erlang", "system_info", [Atom("process_count")])
        items = await process_rows(conn, top[offset:offset + limit], sx)
        return Page[ProcessRow](**page(
            items, offset, limit, total=total,
            call=f"list_processes(sort_by='{sort_by}', limit={limit}, cursor='{{cursor}}')"))

    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def find_processes(
        ctx: Context,
        text: Annotated[str, Field(min_length=1, description="Case-insensitive text to find in the registered name, initial call, current function, behaviour or pid, e.g. 'Cart' or 'gen_statem'.")],
        limit: Annotated[int, Field(ge=1, le=200, description="Matches per page.")] = 20,
        cursor: CursorArg = None,
        node: NodeArg = None,
    ) -> Page[ProcessRow]:
        """Find live processes by name (registered, label or app-kept), module, function or
        behaviour (largest memory first)."""
        from elixir_scope.instrument.introspect import process_overview

        conn = await app_state(ctx).connection(node)
        sx = await node_syntax(app_state(ctx), conn)
        offset = parse_cursor(cursor)
        everyone = await process_overview(conn, sort_by="memory", limit=FIND_SCAN_LIMIT)
        hits = [r for r in await process_rows(conn, everyone, sx) if matches(r, text)]
        return Page[ProcessRow](**page(
            hits[offset:offset + limit], offset, limit, total=len(hits),
            call=f"find_processes(text={text!r}, limit={limit}, cursor='{{cursor}}')"))

    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def process_details(
        ctx: Context,
        process: Annotated[str | None, Field(description="Registered name (SampleApp.Cart, :logger), pid text (<0.123.0>, #PID<0.123.0>) or a via/global name ({:via, Registry, {MyApp.Registry, \"user-42\"}}, {:global, :name}). Omit it when giving registry + key.")] = None,
        registry: Annotated[str | None, Field(description="An Elixir Registry (MyApp.Registry): name the process by its key there, with key.")] = None,
        key: Annotated[str | int | None, Field(description='The Registry key as an Elixir literal: "user-42" (with its quotes), 42, :alice, {:user, 42}.')] = None,
        node: NodeArg = None,
    ) -> ProcessDetailsModel:
        """One process in depth: links, monitors, mailbox, heap, trap_exit, dictionary keys,
        the :pg groups it is in (per scope), and its current stacktrace (where it is right
        now). A process held by an Elixir Registry is named by registry + key."""
        conn = await app_state(ctx).connection(node)
        pid = await resolve_pid(conn, named_process(process, registry, key))
        return await details_model(conn, pid, await node_syntax(app_state(ctx), conn))

    @server.tool(title="Process groups (:pg)", annotations=READ_ONLY)
    @tool_errors
    async def pg_groups(
        ctx: Context,
        scope: Annotated[str | None, Field(description="A :pg scope: pg (the default scope) or the name an app gave :pg.start_link/1 (MyApp.PubSub). Omit it to list the running scopes.")] = None,
        group: Annotated[str | None, Field(description='One group of the scope, as an Elixir literal: :workers, "lobby" (a string, with its quotes), {:room, 42}. Omit it to list the scope\'s groups.')] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Groups to list.")] = 50,
        member_limit: Annotated[int, Field(ge=0, le=50, description="Members shown per group.")] = 5,
        node: NodeArg = None,
    ) -> PgGroupsResult:
        """Erlang :pg process groups: the running scopes, the groups of one scope with their
        member counts and first members, or one group's members.

        Phoenix.PubSub, Horde, Swarm and many apps fan messages out through :pg groups: a
        subscriber missing from its group never hears a broadcast. process_details shows the
        groups one process is in."""
        conn = await app_state(ctx).connection(node)
        sx = await node_syntax(app_state(ctx), conn)
        model = await pg_view(conn, sx, scope, group, limit=limit, member_limit=member_limit)
        keep = fit(model.groups, DEFAULT_BUDGET - 2000)
        if keep < len(model.groups):
            model.groups = model.groups[:keep]
            model.hint = (f"{keep} of {model.total_groups} groups fit this reply: lower member_limit, or name one "
                          "group (group=...) to see it alone")
        return model

    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def supervision_tree(
        ctx: Context,
        application: Annotated[str | None, Field(description="Only this application's tree (e.g. sample_app). Omit for all.")] = None,
        max_depth: Annotated[int, Field(ge=0, le=12, description="Levels of supervisors to descend.")] = 6,
        max_children: Annotated[int, Field(ge=1, le=500, description="Children listed per supervisor (a DynamicSupervisor may have thousands).")] = 50,
        node: NodeArg = None,
    ) -> SupervisionForest:
        """The supervision trees of the node's applications: supervisors with their strategy
        (and what it means on a crash), children in start order with restart type and pid."""
        from elixir_scope.instrument.introspect import supervision_trees

        conn = await app_state(ctx).connection(node)
        sx = await node_syntax(app_state(ctx), conn)
        trees = await supervision_trees(conn, max_depth=max_depth, max_children=max_children)
        if application is not None:
            trees = [t for t in trees if t.application == application]
        models = [supervisor_model(t, sx) for t in trees]
        lines: list[str] = []
        for m in models:
            lines += tree_outline(m)
        return SupervisionForest(outline="\n".join(lines), trees=models,
                                 applications=[t.application for t in trees if t.application])
