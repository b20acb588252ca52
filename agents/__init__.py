"""The diagnosis agent: a LangGraph graph that plans instrumentation, captures, detects and
explains, plus report rendering. Does not format MCP replies."""
