"""The tracer agent (Erlang source, ``elixir_scope_agent.erl``) and its loader.

``ensure_agent(conn)`` loads the current agent version on a node with no file written there
(see ``loader``); the agent's protocol is docs/event-format.md.
"""

from .loader import (
    AgentLoadError,
    AttachTimeouts,
    LoadResult,
    NewerAgentError,
    NodeBusyError,
    agent_source,
    agent_version,
    ensure_agent,
)

__all__ = ["AgentLoadError", "AttachTimeouts", "LoadResult", "NewerAgentError", "NodeBusyError", "agent_source", "agent_version", "ensure_agent"]
