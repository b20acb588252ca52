"""Finishing touches every tool gets once all are registered: a title for people (clients show
it in menus and approval prompts) and a description without the docstring's indentation.

Titles of the tools written before titles existed live here, in one table, so that a tool
module stays a list of typed functions; a tool that sets its own title keeps it.
"""

from __future__ import annotations

import inspect

from mcp.server.mcpserver import MCPServer

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
    """Dedent every tool's description and give every tool a title."""
    for tool in server._tool_manager.list_tools():  # the SDK offers no public setter
        if tool.description:
            tool.description = inspect.cleandoc(tool.description)
        if not tool.title:
            tool.title = TITLES.get(tool.name) or tool.name.replace("_", " ").capitalize()
