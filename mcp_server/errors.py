"""Domain failures become ``ToolError`` messages a model can act on.

The SDK turns any exception that is not a ``ToolError`` into the bare text "Error executing
tool X" (the details stay in the server log). That is safe but useless to a model, which
needs to know *what* failed and *what to do*: reconnect, fix the query at column 14, pass a
cookie. ``tool_errors`` wraps each tool so that every failure from the layers below is
translated here, at the boundary, with the advice from ``hints``.

Unanticipated exceptions are translated too, prefixed with their class name: the model
still gets a concrete message, and the server keeps serving.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from .hints import describe

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)


def to_tool_error(exc: BaseException) -> ToolError:
    """The ``ToolError`` for a domain failure: message, then what to do next."""
    d = describe(exc)
    if not d.known:
        log.warning("unanticipated error in a tool", exc_info=exc)
    text = f"{d.message}. Next step: {d.hint}" if d.hint else d.message
    return ToolError(text)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an async tool so every failure reaches the model as an actionable ToolError."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (ToolError, MCPError):
            raise
        except Exception as exc:  # translated at the boundary, never swallowed
            raise to_tool_error(exc) from exc

    return wrapper
