"""Instrumenting a live BEAM node: the Erlang distribution client (``dist``), the External
Term Format (``etf``), the tracer agent loaded onto the target, trace specs, and capture
sessions that write to the store. Knows nothing of MCP, LLMs or prompts."""
