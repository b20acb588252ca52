"""Live, agent-less introspection of a node over rpc: node facts, processes, supervision
trees. Nothing is loaded onto the target; only standard OTP functions are called (funs are
never sent, but export funs like ``fun erlang:process_info/2`` are, which is what lets one rpc
cover every process).

::

    info = await node_info(conn)
    top = await process_overview(conn, sort_by="memory", limit=20)
    details = await process_details(conn, "Elixir.SampleApp.Inventory")
    trees = await supervision_trees(conn)

The live tools (``live_*`` modules) run inside the agent instead, so that terms are redacted
and cut on the node before they leave it::

    state = await get_state(conn, "SampleApp.Inventory")
    peek = await peek_mailbox(conn, "<0.123.0>", limit=5)
    tables, total = await ets_tables(conn)
    logs = await read_logs(conn, min_level="warning")
    groups = await pg_memberships(conn, "<0.123.0>")   # :pg groups, per scope
"""

from .models import MFA, Application, ChildSpec, Memory, NodeInfo, ProcessDetails, ProcessSummary, SupervisorNode
from .node_info import node_info
from .processes import ProcessNotFound, process_details, process_overview, resolve_pid
from .supervision import supervision_trees, supervisor_tree
from .live_call import (
    LiveError,
    LiveOptions,
    AmbiguousKey,
    LiveTimeout,
    NoLogRing,
    NoSuchApplication,
    NoSuchKey,
    NoSuchPgGroup,
    NoSuchPgScope,
    NoSuchRegistry,
    NoSuchTable,
    NotSysProcess,
    PrivateTable,
    Shown,
)
from .live_ets import ets_sample, ets_tables
from .live_logs import LEVELS, forward_logs, read_logs, release_log_ring, start_log_ring
from .live_pg import pg_groups, pg_memberships, pg_scopes
from .live_procs import AppNames, get_state, peek_mailbox, process_labels, whereis_process
from .live_system import app_env, applications, memory_usage, ports, scheduler_usage
from .via import GlobalName, ViaName, parse_process_name, via_name

__all__ = [
    "AmbiguousKey",
    "GlobalName",
    "NoSuchKey",
    "NoSuchPgGroup",
    "NoSuchPgScope",
    "NoSuchRegistry",
    "ViaName",
    "parse_process_name",
    "via_name",
    "whereis_process",
    "LEVELS",
    "LiveError",
    "LiveOptions",
    "LiveTimeout",
    "NoLogRing",
    "NoSuchApplication",
    "NoSuchTable",
    "NotSysProcess",
    "PrivateTable",
    "Shown",
    "app_env",
    "applications",
    "ets_sample",
    "ets_tables",
    "forward_logs",
    "get_state",
    "memory_usage",
    "peek_mailbox",
    "pg_groups",
    "pg_memberships",
    "pg_scopes",
    "process_labels",
    "AppNames",
    "ports",
    "read_logs",
    "release_log_ring",
    "scheduler_usage",
    "start_log_ring",
    "MFA",
    "Application",
    "ChildSpec",
    "Memory",
    "NodeInfo",
    "ProcessDetails",
    "ProcessNotFound",
    "ProcessSummary",
    "SupervisorNode",
    "node_info",
    "process_details",
    "process_overview",
    "resolve_pid",
    "supervision_trees",
    "supervisor_tree",
]
