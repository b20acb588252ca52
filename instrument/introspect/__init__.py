"""Live, agent-less introspection of a node over rpc: node facts, processes, supervision
trees. Nothing is loaded onto the target; only standard OTP functions are called (funs are
never sent, but export funs like ``fun erlang:process_info/2`` are, which is what lets one rpc
cover every process).

::

    info = await node_info(conn)
    top = await process_overview(conn, sort_by="memory", limit=20)
    details = await process_details(conn, "Elixir.SampleApp.Inventory")
    trees = await supervision_trees(conn)
"""

from .models import MFA, Application, ChildSpec, Memory, NodeInfo, ProcessDetails, ProcessSummary, SupervisorNode
from .node_info import node_info
from .processes import ProcessNotFound, process_details, process_overview, resolve_pid
from .supervision import supervision_trees, supervisor_tree

__all__ = [
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
