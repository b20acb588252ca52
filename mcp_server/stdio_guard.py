"""stdio with JSON-RPC error answers for lines that are not messages.

The SDK's stdio transport turns a line it cannot parse into an exception on the read stream
and the server only logs it: the client never hears back, and a client waiting for an answer
hangs. JSON-RPC 2.0 says a line that is not JSON gets ``-32700 Parse error`` and a JSON value
that is not a valid request gets ``-32600 Invalid Request`` (with the request's ``id`` when it
has one, else ``null``). ``run_stdio`` sits between the transport and the server and answers
exactly that; valid messages pass through unchanged, and the SDK's claim of the standard file
descriptors (stray prints never reach the wire) is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from .fast_start import Relay

__all__ = ["run_stdio", "error_for"]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_for(exc: BaseException) -> tuple[int, Any, str]:
    """``(code, id, message)`` of the JSON-RPC error that answers a line the transport could
    not read (``exc`` is the SDK's validation error for it)."""
    try:
        errors = exc.errors()  # type: ignore[attr-defined]
    except Exception:
        errors = []
    if not errors or any(e.get("type") == "json_invalid" for e in errors):
        detail = next((e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), None)
        return PARSE_ERROR, None, "Parse error: the line is not valid JSON" + (f" ({detail})" if detail else "")
    value = errors[0].get("input")
    rid = value.get("id") if isinstance(value, dict) else None
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        rid = None
    return INVALID_REQUEST, rid, ("Invalid Request: not a JSON-RPC 2.0 message (it needs jsonrpc \"2.0\", "
                                 "and method (with id for a request) or result/error with id)")


async def run_stdio(server: "MCPServer", *, stdin: Any = None, stdout: Any = None, relay: "Relay | None" = None) -> None:
    """Serve ``server`` on stdio (the process's, or the given ``stdin``/``stdout`` async files).

    With a ``relay`` (``fast_start``), the server's answers pass through it first: answers to
    requests the client already got from the start cache are dropped (and stored), a stale
    cached tool list is followed by ``notifications/tools/list_changed``."""
    import json

    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared._context_streams import create_context_streams
    from mcp.shared.message import SessionMessage
    from mcp_types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCResponse

    low = server._lowlevel_server
    async with stdio_server(stdin, stdout) as (read_stream, write_stream):
        to_server, from_guard = create_context_streams[Any](0)
        server_out, from_server = create_context_streams[Any](0)

        async def guard() -> None:
            async with to_server:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        code, rid, message = error_for(item)
                        reply = JSONRPCError(jsonrpc="2.0", id=rid, error=ErrorData(code=code, message=message))
                        await write_stream.send(SessionMessage(reply))
                        continue
                    await to_server.send(item)

        async def answers(done: anyio.Event) -> None:
            try:
                async with from_server:
                    async for item in from_server:
                        msg = item.message
                        if relay is not None and isinstance(msg, (JSONRPCResponse, JSONRPCError)):
                            result = msg.result if isinstance(msg, JSONRPCResponse) else None
                            suppress, stale = relay.settle(json.dumps(msg.id), result)
                            if stale:
                                changed = JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed")
                                await write_stream.send(SessionMessage(changed))
                            if suppress:
                                continue
                        await write_stream.send(item)
            finally:
                await write_stream.aclose()  # lets the transport's writer finish
                done.set()

        async with anyio.create_task_group() as tg:
            done = anyio.Event()
            tg.start_soon(guard)
            tg.start_soon(answers, done)
            await low.run(from_guard, server_out, low.create_initialization_options())
            await server_out.aclose()
            await done.wait()  # the last answers reach the wire before the transport closes
            tg.cancel_scope.cancel()
