"""The MCP server: tool, resource and prompt definitions over the other packages, the stdio
and streamable-HTTP transports, and HTTP auth. Holds no analysis logic."""
