"""ElixirScope: attach to a live BEAM node, record what it does, travel through the
recording, and explain root causes with evidence.

The package's parts live in the repository's top-level folders and are installed under
this namespace:

- ``elixir_scope.instrument`` - the Erlang distribution client, the tracer agent, captures
- ``elixir_scope.store`` - the recorded history: schema, ingest, time travel, queries
- ``elixir_scope.knowledge`` - OTP-pattern knowledge base, Elixir source analysis
- ``elixir_scope.agents`` - the diagnosis graph and report rendering
- ``elixir_scope.mcp_server`` - MCP tools, resources and transports
- ``elixir_scope.cli`` - the ``elixir-scope`` command line
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
