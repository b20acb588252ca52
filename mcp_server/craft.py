"""Finishing touches every tool gets once all are registered:

- a title for people (clients show it in menus and approval prompts) and a description
  without the docstring's indentation;
- results as a compact text summary plus the full structured content, instead of the SDK's
  indented-JSON copy of the structured content (``tools.summary``);
- argument errors in plain words ("limit must be an integer, got 'lots'") instead of
  pydantic's report with its link.

Titles of the tools written before titles existed live here, in one table, so that a tool
module stays a list of typed functions; a tool that sets its own title keeps it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from .tools.summary import summarize

__all__ = ["TITLES", "polish"]

TITLES: dict[str, str] = {
    "connect_node": "Connect to a node",
    "disconnect_node": "Disconnect from a node",
    "list_connections": "Connected nodes",
    "node_overview": "Node overview",
    "list_processes": "Top processes",
    "find_processes": "Find processes",
    "process_details": "Process details",
    "supervision_tree": "Supervision trees",
    "start_capture": "Start recording",
    "capture_status": "Recording status",
    "stop_capture": "Stop recording",
    "list_recordings": "Recordings",
    "recording_summary": "Recording summary",
    "export_recording": "Export a recording",
    "query": "Query a recording",
    "query_help": "Query language help",
    "state_at": "State at a moment",
    "state_evolution": "State over time",
    "system_snapshot": "System at a moment",
    "process_timeline": "Process timeline",
    "message_flow": "Message flow",
    "step_event": "Step through events",
    "causal_past": "What led to an event",
    "causal_future": "What an event caused",
    "knowledge_search": "Search OTP failure patterns",
    "analyze_source": "Analyze Elixir sources",
    "plan_instrumentation": "Plan what to record",
    "diagnose": "Diagnose a symptom",
    "eval_code": "Evaluate code on the node",
    "send_message": "Send a message",
    "kill_process": "Kill a process",
}


def polish(server: MCPServer) -> None:
    """Titles, dedented descriptions, summarized results, plain-worded argument errors."""
    for tool in server._tool_manager.list_tools():  # the SDK offers no public setter
        if tool.description:
            tool.description = inspect.cleandoc(tool.description)
        if not tool.title:
            tool.title = TITLES.get(tool.name) or tool.name.replace("_", " ").capitalize()
        if tool.output_schema is not None:
            tool.fn = _summarized(tool.fn)
    original = server.call_tool

    async def call_tool(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await original(name, arguments, context)
        except ToolError as exc:
            # arguments that fail the input schema (a failing *output* is UnexpectedToolError)
            if isinstance(exc.__cause__, ValidationError) and not isinstance(exc, UnexpectedToolError):
                raise ToolError(plain_words(name, exc.__cause__)) from exc.__cause__
            raise

    server.call_tool = call_tool  # _handle_call_tool calls self.call_tool


def _summarized(fn):
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        if isinstance(result, BaseModel) and not isinstance(result, CallToolResult):
            return CallToolResult(content=[TextContent(type="text", text=summarize(result))],
                                  structured_content=result.model_dump(mode="json", by_alias=True))
        return result

    return wrapper


_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
               "list": "a list", "dict": "an object"}


def plain_words(tool: str, exc: ValidationError) -> str:
    """``limit must be an integer, got 'lots'; node is required`` for ``tool``'s arguments."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        kind = err.get("type", "")
        got = err.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        if kind == "missing":
            parts.append(f"{field} is required")
        elif kind == "extra_forbidden":
            parts.append(f"{field} is not an argument of {tool}")
        elif kind.endswith(("_type", "_parsing")) and kind.split("_")[0] in _TYPE_WORDS:
            parts.append(f"{field} must be {_TYPE_WORDS[kind.split('_')[0]]}, got {shown}")
        else:
            msg = err.get("msg", "is invalid").removeprefix("Input ").removeprefix("Value error, ")
            parts.append(f"{field}: {msg[0].lower() + msg[1:] if msg else msg}, got {shown}")
    return f"invalid arguments for {tool}: " + "; ".join(parts) + " (the tool's input schema lists what it accepts)"
