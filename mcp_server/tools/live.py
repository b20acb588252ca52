"""Live tools for one process or table: get_state, peek_mailbox, ets_tables, ets_sample,
read_logs. They look at the node as it is now, no recording needed; terms are redacted and
cut on the node (the agent is loaded on first use, as for a capture).

Each returns a compact text summary and the full data as structured content
(``tools.output``), in the node's syntax (``mcp_server.syntax``), within a byte budget.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..inspect_models import (
    EtsSampleResult,
    EtsTablesResult,
    LogsResult,
    MailboxResult,
    ProcessStateResult,
    bytes_text,
    iso_us,
    log_row,
    mailbox_result,
    sample_result,
    state_result,
    table_row,
)
from ..state import app_state
from ..syntax import node_syntax
from ..targets import named_process
from .annotations import READ_ONLY
from .common import CursorArg, NodeArg, parse_cursor
from .output import DEFAULT_BUDGET, fit, reply

ProcessArg = Annotated[str | None, Field(description="Registered name (SampleApp.Cart, :logger, rabbit_event), pid (<0.123.0>, #PID<0.123.0>) or a via/global name ({:via, Registry, {MyApp.Registry, \"user-42\"}}, {:global, :name}). Omit it when giving registry + key.")]
RegistryArg = Annotated[str | None, Field(description="An Elixir Registry (MyApp.Registry): name the process by its key there, with key, instead of process.")]
KeyArg = Annotated[str | int | None, Field(description='The Registry key, as an Elixir literal: "user-42" (a string, with its quotes), 42, :alice, {:user, 42}.')]
Level = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
SUMMARY_TERM_CHARS = 1500


def _short(text: str, n: int = SUMMARY_TERM_CHARS) -> str:
    return text if len(text) <= n else text[:n] + f"… ({len(text)} chars; the whole term is in structuredContent)"


def _who_text(who) -> str:
    if isinstance(who, str):
        return who.strip()
    from elixir_scope.instrument.introspect.via import name_text

    return name_text(who)


def _flags(truncated: bool, redacted: bool) -> str:
    notes = [w for w, on in (("cut on the node (max_bytes)", truncated), ("sensitive values redacted", redacted)) if on]
    return f" [{'; '.join(notes)}]" if notes else ""


async def log_owner(state, conn):
    """The mailbox that owns this server's log ring on a node (one per node, kept open)."""
    key = f"log_owner:{conn.node_name}"
    box = state.cache.get(key)
    if box is None or box.closed or getattr(box, "node", None) is not conn.node:
        box = conn.node.mailbox()
        state.cache[key] = box
    return box


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(title="Live process state", annotations=READ_ONLY)
    @tool_errors
    async def get_state(
        ctx: Context,
        process: ProcessArg = None,
        registry: RegistryArg = None,
        key: KeyArg = None,
        timeout_ms: Annotated[int, Field(ge=10, le=30_000, description="How long the process may take to answer (ms).")] = 5000,
        max_bytes: Annotated[int, Field(ge=256, le=65_536, description="Largest encoded state sent back; bigger states are cut on the node.")] = 8192,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, ProcessStateResult]:
        """The current state of a GenServer, gen_statem or other OTP process (sys:get_state).

        Use it to see what a process holds right now; for how the state changed over time,
        record with start_capture(state_of=[...]) and use state_evolution. A gen_statem's
        state name and data are given apart. Sensitive values are redacted on the node.
        A process held by an Elixir Registry is named by registry + key (key an Elixir
        literal, e.g. registry='MyApp.Registry', key='"user-42"')."""
        from elixir_scope.instrument.introspect import LiveOptions
        from elixir_scope.instrument.introspect import get_state as live_state

        who = named_process(process, registry, key)
        process = _who_text(who)
        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        st = await live_state(conn, who, timeout_ms=timeout_ms, options=LiveOptions(max_bytes=max_bytes))
        model = state_result(conn.node_name, st, sx)
        text = model.state
        head = f"{process} {model.pid} ({st.behaviour or 'process'}, {model.module or '?'}){_flags(model.truncated, model.redacted)}"
        if model.state_name is not None:
            body = f"state name: {model.state_name}\ndata: {_short(model.data or '')}"
        else:
            body = f"state: {_short(text)}"
        return reply(model, f"{head}\n{body}")

    @server.tool(title="Peek at a mailbox", annotations=READ_ONLY)
    @tool_errors
    async def peek_mailbox(
        ctx: Context,
        process: ProcessArg = None,
        registry: RegistryArg = None,
        key: KeyArg = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Messages to show, oldest first.")] = 10,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, MailboxResult]:
        """The first messages waiting in a process's mailbox, oldest first (redacted, cut).

        Use it when process_details or list_processes(sort_by='message_queue_len') shows a
        backlog: what is queued tells why the process falls behind. A mailbox longer than
        10,000 messages is not copied (only its length is given). A Registry-named process:
        registry + key, as for get_state."""
        from elixir_scope.instrument.introspect import LiveOptions
        from elixir_scope.instrument.introspect import peek_mailbox as live_peek

        who = named_process(process, registry, key)
        process = _who_text(who)
        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        peek = await live_peek(conn, who, limit=limit, options=LiveOptions(max_bytes=DEFAULT_BUDGET // 2))
        model = mailbox_result(conn.node_name, peek, sx, DEFAULT_BUDGET // 2)
        texts = model.messages
        if peek.messages is None:
            summary = (f"{process} {model.pid}: {peek.length} messages waiting, too many to copy safely "
                       f"(limit {peek.copy_limit}); capture its receives with start_capture(messages_of=[...]) instead")
        elif not texts:
            summary = f"{process} {model.pid}: mailbox empty"
        else:
            lines = [f"{i + 1}. {_short(t, 300)}" for i, t in enumerate(texts)]
            summary = f"{process} {model.pid}: {peek.length} waiting, first {len(texts)}:\n" + "\n".join(lines)
        return reply(model, summary)

    @server.tool(title="ETS tables", annotations=READ_ONLY)
    @tool_errors
    async def ets_tables(
        ctx: Context,
        sort_by: Annotated[Literal["memory", "size", "name"], Field(description="Largest memory first, most objects first, or by name.")] = "memory",
        text: Annotated[str | None, Field(description="Only tables whose name or owner contains this text.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Tables per page.")] = 50,
        cursor: CursorArg = None,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, EtsTablesResult]:
        """The node's ETS tables with size, memory, type, protection and owner.

        Use it to find caches that grow or tables a process shares; then ets_sample shows
        a table's first objects."""
        from elixir_scope.instrument.introspect import ets_tables as live_tables

        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        tables, total = await live_tables(conn)
        rows = [table_row(t, sx) for t in tables]
        if text:
            needle = text.lower()
            rows = [r for r in rows if needle in r.name.lower() or needle in (r.owner_name or "").lower()]
        key = {"memory": lambda r: -r.memory_bytes, "size": lambda r: -r.size, "name": lambda r: r.name}[sort_by]
        rows.sort(key=key)
        offset = parse_cursor(cursor)
        page = rows[offset:offset + limit]
        page = page[:fit(page, DEFAULT_BUDGET - 1000)]
        more = offset + len(page) < len(rows)
        nxt = str(offset + len(page)) if more else None
        model = EtsTablesResult(node=conn.node_name, items=page, total=len(rows), next_cursor=nxt,
                                hint=f"ets_tables(sort_by='{sort_by}', cursor='{nxt}') returns the next page" if nxt else None)
        lines = [f"{r.table}  {r.size} objects  {bytes_text(r.memory_bytes)}  {r.type}/{r.protection}  owner {r.owner_name or r.owner}"
                 for r in page]
        summary = f"{len(rows)} tables ({total} on the node), by {sort_by}, {offset + 1}-{offset + len(page)}:\n" + "\n".join(lines)
        if nxt:
            summary += f"\nmore: {model.hint}"
        return reply(model, summary)

    @server.tool(title="Sample an ETS table", annotations=READ_ONLY)
    @tool_errors
    async def ets_sample(
        ctx: Context,
        table: Annotated[str, Field(description="Table name (sample_app_stats, :ac_tab) or the #Ref<...> id ets_tables lists for an unnamed table.")],
        limit: Annotated[int, Field(ge=1, le=100, description="Objects to show.")] = 10,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, EtsSampleResult]:
        """The first objects of a public or protected ETS table (redacted, each cut).

        Use it to see what a cache or registry holds; ets_tables gives names and sizes.
        Private tables can only be read by their owner: use get_state on the owner."""
        from elixir_scope.instrument.introspect import LiveOptions
        from elixir_scope.instrument.introspect import ets_sample as live_sample

        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        sample = await live_sample(conn, table, limit=limit, options=LiveOptions(max_bytes=DEFAULT_BUDGET // 2))
        model = sample_result(conn.node_name, sample, sx, DEFAULT_BUDGET // 2)
        row, texts = model.table, model.objects
        head = f"{row.table}: {row.size} objects, {row.type}/{row.protection}, owner {row.owner_name or row.owner}"
        lines = [f"{i + 1}. {_short(t, 300)}" for i, t in enumerate(texts)]
        return reply(model, f"{head}; first {len(texts)}{_flags(model.truncated, model.redacted)}:\n" + "\n".join(lines))

    @server.tool(title="Read the node's logs", annotations=READ_ONLY)
    @tool_errors
    async def read_logs(
        ctx: Context,
        min_level: Annotated[Level, Field(description="Only events at this level or above.")] = "debug",
        text: Annotated[str, Field(description="Only events whose text contains this (case-insensitive).")] = "",
        after_seq: Annotated[int, Field(ge=0, description="Only events after this number: pass last_seq (or next_cursor) of the previous read.")] = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="Events per call, oldest first.")] = 50,
        node: NodeArg = None,
    ) -> Annotated[CallToolResult, LogsResult]:
        """Log events of the live node (Logger / logger), filtered by level and text.

        The first call installs a small logger handler that keeps the last 1000 events from
        then on (nothing logged earlier is available); it is removed when this server
        disconnects. Call again with after_seq=last_seq to read only what is new. While a
        capture runs with logs=true, the same events are recorded into it."""
        from elixir_scope.instrument.introspect import read_logs as live_read
        from elixir_scope.instrument.introspect import start_log_ring

        state = app_state(ctx)
        conn = await state.connection(node)
        sx = await node_syntax(state, conn)
        owner = await log_owner(state, conn)
        ring = await start_log_ring(conn, owner.pid)
        page = await live_read(conn, after_seq=after_seq, min_level=min_level, text=text, limit=limit)
        rows = [log_row(e, sx) for e in page.events]
        rows = rows[:fit(rows, DEFAULT_BUDGET // 2 - 500)]
        nxt = str(rows[-1].seq) if rows and len(rows) < page.matched else None
        fresh = ring.last_seq == 0 and after_seq == 0
        hint = (f"read_logs(after_seq={nxt}) returns the next events" if nxt else
                f"call read_logs(after_seq={page.last_seq}) later for newer events")
        model = LogsResult(node=conn.node_name, events=rows, matched=page.matched, last_seq=page.last_seq,
                           next_cursor=nxt, ring_started=iso_us(page.since_us), dropped=page.dropped, hint=hint)
        lines = [f"#{r.seq} {r.time} [{r.level}] {r.pid or ''} {_short(r.text, 300)}" for r in rows]
        head = (f"{page.matched} events match (level >= {min_level}"
                + (f", text ~ {text!r}" if text else "") + f"); showing {len(rows)}")
        if fresh and not rows:
            head = f"log ring installed on {conn.node_name} at {model.ring_started}: events are kept from now on"
            from ..discovery import notify

            await notify(ctx, "notice", f"installed a logger handler on {conn.node_name}; it is removed when "
                                        "this server disconnects")
        return reply(model, "\n".join([head, *lines, hint]))

