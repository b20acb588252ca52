"""Tools that change the target: evaluate code, send a message, kill a process.

They are registered only when the server starts with ``--allow-mutations``
(``ServerConfig.allow_mutations``); by default ElixirScope is observe-only, and a client
listing tools does not even see these. Each carries ``destructiveHint=True`` so a client
asks its user before running it, and when the client supports elicitation the server itself
asks the user to confirm the exact change (``confirm``): declined or cancelled, nothing runs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from elixir_scope.instrument.etf import Atom, Charlist

from .config import ServerConfig
from .errors import tool_errors
from .models import term_text
from .state import app_state
from .tools.annotations import DESTRUCTIVE
from .targets import resolve_pid
from .tools.common import NodeArg

ProcessArg = Annotated[
    str,
    Field(description="Pid as <0.123.0> / #PID<0.123.0>, or a registered name (MyApp.Cart, :logger)."),
]


class Confirm(BaseModel):
    """What the user is asked to fill in before a change to the target."""

    confirm: bool = Field(description="Yes: make this change on the node.")


async def confirm(ctx: Context, action: str) -> None:
    """Ask the user (through the client) to confirm ``action``; a ToolError unless they do.

    Clients without elicitation are not asked here: the tool's destructiveHint is their cue."""
    from mcp.types import ClientCapabilities, ElicitationCapability

    session = ctx.request_context.session
    if not session.check_client_capability(ClientCapabilities(elicitation=ElicitationCapability())):
        return
    answer = await ctx.elicit(f"ElixirScope wants to {action}. This changes the running system. Go ahead?", Confirm)
    if answer.action != "accept" or not getattr(answer.data, "confirm", False):
        raise ToolError(f"not done: the user did not confirm ({answer.action}) that ElixirScope may {action}; "
                        "nothing was changed on the node")


class EvalResult(BaseModel):
    node: str
    value: str = Field(description="The result as Elixir text (bounded).")


class Sent(BaseModel):
    node: str
    to: str
    message: str


class Killed(BaseModel):
    node: str
    process: str
    pid: str
    reason: str
    alive_after: bool


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=DESTRUCTIVE)
    @tool_errors
    async def eval_code(
        ctx: Context,
        code: Annotated[str, Field(description="Code to evaluate on the node.")],
        language: Annotated[Literal["elixir", "erlang"], Field(description="Syntax of code.")] = "elixir",
        node: NodeArg = None,
        timeout: Annotated[float, Field(gt=0, le=60, description="Seconds to wait.")] = 10.0,
    ) -> EvalResult:
        """Evaluate code on the target node and return its value. CHANGES THE TARGET: whatever
        the code does really happens there."""
        conn = await app_state(ctx).connection(node)
        await confirm(ctx, f"evaluate this {language} code on {conn.node_name}: {code[:300]}")
        if language == "elixir":
            value, _binding = await conn.rpc("Elixir.Code", "eval_string", [code.encode()], timeout=timeout)
        else:
            src = code if code.rstrip().endswith(".") else code + "."
            scanned = await conn.rpc("erl_scan", "string", [Charlist.from_text(src)], timeout=timeout)
            if scanned[0] != Atom("ok"):
                raise ToolError(f"Erlang syntax error: {term_text(scanned)}")
            parsed = await conn.rpc("erl_parse", "parse_exprs", [scanned[1]], timeout=timeout)
            if parsed[0] != Atom("ok"):
                raise ToolError(f"Erlang parse error: {term_text(parsed)}")
            _tag, value, _binding = await conn.rpc("erl_eval", "exprs", [parsed[1], []], timeout=timeout)
        return EvalResult(node=conn.node_name, value=term_text(value, limit=50, printable_limit=2000))

    @server.tool(annotations=DESTRUCTIVE)
    @tool_errors
    async def send_message(
        ctx: Context,
        to: ProcessArg,
        message: Annotated[str, Field(description="The message as an Elixir expression, e.g. {:refresh, 42}.")],
        node: NodeArg = None,
    ) -> Sent:
        """Send a message to a process on the target node. CHANGES THE TARGET."""
        conn = await app_state(ctx).connection(node)
        pid = await resolve_pid(conn, to)
        await confirm(ctx, f"send {message[:200]} to {to} ({pid}) on {conn.node_name}")
        term, _binding = await conn.rpc("Elixir.Code", "eval_string", [message.encode()])
        await conn.send(pid, term)
        return Sent(node=conn.node_name, to=term_text(pid), message=term_text(term))

    @server.tool(annotations=DESTRUCTIVE)
    @tool_errors
    async def kill_process(
        ctx: Context,
        process: ProcessArg,
        reason: Annotated[str, Field(description="Exit reason atom: kill (untrappable), shutdown, normal...")] = "kill",
        node: NodeArg = None,
    ) -> Killed:
        """Send an exit signal to a process on the target node (its supervisor may restart it).
        CHANGES THE TARGET."""
        conn = await app_state(ctx).connection(node)
        pid = await resolve_pid(conn, process)
        from elixir_scope.instrument.names import existing_atom

        # an atom the node already has (kill, shutdown, normal ...); any other text goes as a
        # binary reason: a typed reason never creates an atom there
        why = await existing_atom(conn, reason) or reason.encode("utf-8")
        await confirm(ctx, f"kill {process} ({pid}) on {conn.node_name} with reason {reason}")
        await conn.rpc("erlang", "exit", [pid, why])
        await asyncio.sleep(0.05)
        alive = await conn.rpc("erlang", "is_process_alive", [pid])
        return Killed(node=conn.node_name, process=process, pid=term_text(pid), reason=reason, alive_after=alive is True)
