"""The server as desktop clients run it: a real ``elixir-scope mcp`` subprocess over stdio,
driven by the SDK's client, against a real node; and the start-up import budget."""

from __future__ import annotations

import json
import subprocess
import sys

from mcp import Client, StdioServerParameters

from support.mcp_servers import server_argv, stdio_client_env

HEAVY = ["torch", "sentence_transformers", "chromadb", "langgraph", "anthropic", "transformers", "numpy", "pyarrow",
         "psutil", "elixir_scope.store.ingest", "elixir_scope.store.tracestore"]


def test_building_the_server_imports_no_heavy_library():
    code = (
        "import sys, json\n"
        "from elixir_scope.mcp_server.server import build_server\n"
        "from elixir_scope.mcp_server.config import ServerConfig\n"
        "build_server(ServerConfig(allow_mutations=True))\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


async def test_stdio_subprocess_serves_a_real_node(tmp_path, sample_app_module):
    node = sample_app_module
    argv = server_argv("mcp")
    params = StdioServerParameters(
        command=argv[0], args=argv[1:],
        # a stdio client passes almost no environment: everything is given explicitly
        env=stdio_client_env(ELIXIR_SCOPE_COOKIE=node.cookie, ELIXIR_SCOPE_NODE=node.name,
                       ELIXIR_SCOPE_STORE=str(tmp_path / "traces.db"), HF_HUB_OFFLINE="1"),
    )
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "connect_node" in names
        # nothing is connected until a tool needs a node
        result = await client.call_tool("list_connections", {})
        assert result.structured_content["connected"] == []
        result = await client.call_tool("connect_node", {"node": node.name})
        assert not result.is_error, result.content[0].text
        result = await client.call_tool("connect_node", {"node": "bad name"})
        assert result.is_error and "name@host" in result.content[0].text
        result = await client.call_tool("list_connections", {})
        assert result.structured_content["connected"] == [node.name]
