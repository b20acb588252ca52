"""Prompts: short recipes for common debugging tasks, in terms of this server's tools.

A prompt is a starting message a client can offer its user ("Investigate a slow GenServer");
it names the tools in the order that usually works, so the model does not have to discover
the workflow by trial and error.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field


def register(server: MCPServer) -> None:
    @server.prompt(title="Investigate a slow or stuck process")
    def investigate_slow_process(
        node: Annotated[str, Field(description="Target node name@host")],
        process: Annotated[str, Field(description="Registered name or pid (<0.123.0>) of the process")],
    ) -> str:
        """Find out why one process is slow, stuck or has a growing mailbox."""
        return (
            f"Investigate why process {process} on {node} is slow or stuck.\n"
            f"1. connect_node(node='{node}'), then process_details(process='{process}'): look at "
            "message_queue_len, current_function, reductions and status.\n"
            "2. list_processes(sort_by='message_queue_len') to see whether others back up too.\n"
            f"3. start_capture(spec='<the module of {process}>', max_seconds=10) while the problem "
            "happens, then query the recording for slow calls and the messages it received.\n"
            "4. Explain the cause with the evidence (events, timings, state) and propose a fix."
        )

    @server.prompt(title="Explain a crash")
    def explain_crash(
        node: Annotated[str, Field(description="Target node name@host")],
        module: Annotated[str, Field(description="Elixir module that crashes, e.g. MyApp.Cart")],
    ) -> str:
        """Record until a crash happens and explain it from the recorded state and messages."""
        return (
            f"A process running {module} on {node} crashes. Find out why.\n"
            f"1. connect_node(node='{node}'); supervision_tree to see who restarts it.\n"
            f"2. start_capture(spec='{module}', max_seconds=30) and wait for a crash "
            "(capture_status shows events as they arrive).\n"
            "3. query the recording for exceptions and exits; for the crashing process use "
            "state_evolution and state_at just before the exit, and causal_past of the exit event "
            "to find the message that triggered it.\n"
            "4. Report the root cause with the event ids as evidence."
        )

    @server.prompt(title="Tour a running system")
    def tour_system(node: Annotated[str, Field(description="Target node name@host")]) -> str:
        """Get oriented in an unfamiliar running system before debugging it."""
        return (
            f"Give me a tour of the running system {node}.\n"
            f"connect_node(node='{node}'), node_overview, supervision_tree, then list_processes "
            "sorted by memory and by reductions. Summarise the applications, the main supervisors "
            "and workers, and anything that looks unhealthy (big mailboxes, memory outliers)."
        )
