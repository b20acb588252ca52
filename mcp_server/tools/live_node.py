"""Live tools for the whole node: scheduler_usage, memory_usage, ports, app_env.

Figures, not recordings: each call measures the node now. Application environments are
redacted on the node (the capture's redaction keys).
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..inspect_models import (
    AppEnvResult,
    AppRow,
    MemoryUsageResult,
    PortsResult,
    SchedulerUsageResult,
    bytes_text,
    env_entries,
    filter_ports,
    memory_result,
    port_rows,
    scheduler_result,
)
from ..state import app_state
from ..syntax import node_syntax
from .annotations import READ_ONLY
from .common import CursorArg, NodeArg, parse_cursor
from .output import DEFAULT_BUDGET, fit, reply

PortKind = Literal["all", "sockets", "files", "programs"]


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(title="Scheduler usage", annotations=READ_ONLY)
    @tool_errors
    async def scheduler_usage(
        ctx: Context,
        interval_ms: Annotated[int, Field(ge=50, le=10_000, description="How long to measure (ms).")] = 1000,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, SchedulerUsageResult]:
        """How busy the node's schedulers were over an interval (as recon measures it).

        Use it to tell "the node is CPU-bound" (normal schedulers near 1.0, a long run
        queue) from "a process is slow" (low utilization: look at list_processes and
        peek_mailbox instead). Dirty schedulers run NIFs and file I/O."""
        from elixir_scope.instrument.introspect import scheduler_usage as live_usage

        state = app_state(ctx)
        conn = await state.connection(node)
        u = await live_usage(conn, interval_ms=interval_ms)
        model = scheduler_result(conn.node_name, u)
        normal = " ".join(f"{s.utilization:.0%}" for s in u.schedulers if s.type == "normal")
        summary = (f"over {u.interval_ms} ms: normal schedulers {model.normal_average:.0%} on average ({normal}); "
                   f"dirty cpu {model.dirty_cpu_average:.0%}, dirty io {model.dirty_io_average:.0%}; "
                   f"{u.online} online; run queue {u.run_queue}")
        return reply(model, summary)

    @server.tool(title="Memory by kind and allocator", annotations=READ_ONLY)
    @tool_errors
    async def memory_usage(ctx: Context, node: NodeArg = None) -> Annotated[CallToolResult, MemoryUsageResult]:
        """The node's memory by kind (processes, binaries, ETS, code, atoms) and by allocator.

        Use it when memory grows: by kind tells where (binary -> refc binaries held by
        processes; ets -> ets_tables; processes -> list_processes(sort_by='memory')); a low
        allocator utilization means memory is held from the OS but mostly free (fragmentation)."""
        from elixir_scope.instrument.introspect import memory_usage as live_memory

        state = app_state(ctx)
        conn = await state.connection(node)
        m = await live_memory(conn)
        model = memory_result(conn.node_name, m)
        rows = model.allocators
        kinds = ", ".join(f"{k} {bytes_text(v)}" for k, v in m.by_kind.items()
                          if k in ("total", "processes", "binary", "ets", "code", "atom", "system"))
        allocs = "; ".join(f"{a.allocator} {bytes_text(a.carriers_bytes)} ({a.utilization:.0%} used)" for a in rows[:6])
        return reply(model, f"memory: {kinds}\nlargest allocators: {allocs}")

    @server.tool(title="Ports, sockets and files", annotations=READ_ONLY)
    @tool_errors
    async def ports(
        ctx: Context,
        kind: Annotated[PortKind, Field(description="sockets (tcp/udp/sctp and socket module), files (open file io servers), programs (spawned OS processes), or all.")] = "all",
        limit: Annotated[int, Field(ge=1, le=500, description="Items per page.")] = 50,
        cursor: CursorArg = None,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, PortsResult]:
        """Open sockets, files and external programs of the node, each with its owner process.

        Use it for "too many open files/connections", a leaking connection pool, or to find
        which process owns a socket (then process_details / get_state on the owner)."""
        from elixir_scope.instrument.introspect import ports as live_ports

        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        view = await live_ports(conn)
        rows = port_rows(view, sx)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        rows = filter_ports(rows, kind)
        offset = parse_cursor(cursor)
        page = rows[offset:offset + limit]
        page = page[:fit(page, DEFAULT_BUDGET // 2)]
        nxt = str(offset + len(page)) if offset + len(page) < len(rows) else None
        hint = f"ports(kind='{kind}', cursor='{nxt}') returns the next page" if nxt else None
        model = PortsResult(node=conn.node_name, items=page, total=len(rows), counts=counts, next_cursor=nxt, hint=hint)
        lines = [f"{r.kind:7} {r.id}  {r.local or ''}{' -> ' + r.peer if r.peer else ''}  owner {r.owner_name or r.owner}"
                 for r in page]
        head = f"{len(rows)} {kind if kind != 'all' else 'items'} ({', '.join(f'{k} {n}' for k, n in sorted(counts.items()))})"
        return reply(model, "\n".join([head, *lines] + ([f"more: {hint}"] if hint else [])))

    @server.tool(title="Application environment", annotations=READ_ONLY)
    @tool_errors
    async def app_env(
        ctx: Context,
        application: Annotated[str | None, Field(description="Application name (sample_app, kernel). Omit to list the applications.")] = None,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, AppEnvResult]:
        """An application's configuration as the running node sees it (Application.get_all_env),
        with secrets redacted on the node. Omit application to list the loaded applications.

        Use it to check the configuration a release actually runs with (pool sizes,
        timeouts, endpoints) rather than what the config files say."""
        from elixir_scope.instrument.introspect import LiveOptions, applications
        from elixir_scope.instrument.introspect import app_env as live_env

        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        if application is None:
            apps = await applications(conn)
            model = AppEnvResult(node=conn.node_name, application=None,
                                 applications=[AppRow(application=a.application, running=a.running, env_keys=a.env_keys)
                                               for a in apps])
            lines = [f"{a.application}{'' if a.running else ' (loaded, not running)'}: {a.env_keys} keys" for a in apps]
            return reply(model, f"{len(apps)} applications; app_env(application=NAME) shows one:\n" + "\n".join(lines))
        env = await live_env(conn, application, options=LiveOptions(max_bytes=4096))
        entries = env_entries(env, sx)
        entries = entries[:fit(entries, DEFAULT_BUDGET // 2)]
        model = AppEnvResult(node=conn.node_name, application=env.application, entries=entries)
        lines = [f"{e.key}: {e.value if len(e.value) <= 300 else e.value[:300] + '…'}" for e in entries]
        shown = "" if len(entries) == len(env.entries) else f" (first {len(entries)} of {len(env.entries)})"
        return reply(model, f"{env.application}: {len(env.entries)} keys{shown}\n" + "\n".join(lines))
