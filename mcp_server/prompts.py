"""Prompts: short recipes for common debugging tasks, in terms of this server's tools.

A prompt is a starting message a client can offer its user ("Investigate a slow GenServer");
it names the tools in the order that usually works, so the model does not have to discover
the workflow by trial and error. Every call written in a prompt is a real call with real
argument types (``spec`` is a list): ``tests/test_mcp_prompts.py`` runs each one against a
node, so a prompt cannot teach a model a call that fails.
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
            "message_queue_len, current_function (where it is now), reductions and status.\n"
            f"2. peek_mailbox(process='{process}', limit=10) shows what waits in its mailbox; "
            f"get_state(process='{process}') shows what it holds now.\n"
            "3. list_processes(sort_by='message_queue_len', limit=10) shows whether others back up "
            "too; scheduler_usage(interval_ms=1000) tells a busy node from a slow process.\n"
            f"4. start_capture(messages_of=['{process}'], max_seconds=10, wait=True) records what it "
            "receives and sends while the problem happens; then query(text='receives | limit 20') "
            "and process_timeline on the recording.\n"
            "5. Explain the cause with the evidence (events, timings, state) and propose a fix."
        )

    @server.prompt(title="Explain a crash")
    def explain_crash(
        node: Annotated[str, Field(description="Target node name@host")],
        module: Annotated[str, Field(description="Module whose processes crash, e.g. MyApp.Cart or my_worker")],
    ) -> str:
        """Record until a crash happens and explain it from the recorded state and messages."""
        return (
            f"A process running {module} on {node} crashes. Find out why.\n"
            f"1. connect_node(node='{node}'); supervision_tree() shows who restarts it and how; "
            "read_logs(min_level='error') shows the crash reports logged from now on.\n"
            f"2. start_capture(spec=['{module}'], state_of=['{module}'], lifecycle=True, logs=True, "
            "max_seconds=30) and wait for a crash (capture_status shows events as they arrive).\n"
            "3. query(text='exceptions | count by function') on the recording; for the crashing process "
            "use state_evolution and state_at just before the exit, and causal_past of the exit event "
            "to find the message that triggered it.\n"
            "4. Report the root cause with the event ids as evidence."
        )

    @server.prompt(title="Tour a running system")
    def tour_system(node: Annotated[str, Field(description="Target node name@host")]) -> str:
        """Get oriented in an unfamiliar running system before debugging it."""
        return (
            f"Give me a tour of the running system {node}.\n"
            f"connect_node(node='{node}'), node_overview(), supervision_tree(), then "
            "list_processes(sort_by='memory', limit=10) and list_processes(sort_by='reductions', limit=10); "
            "memory_usage() and ets_tables(limit=10) show where memory goes; app_env() lists the "
            "applications and their configuration. Summarise the applications, the main supervisors "
            "and workers, and anything that looks unhealthy (big mailboxes, memory outliers)."
        )
