"""The MCP server under hostile or careless input: oversized and pathological queries,
malformed stdio lines, per-session state and caps over HTTP, tokens and origins."""

from __future__ import annotations

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.cart_recording import build_cart_recording


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile-mcp") / "traces.db"
    build_cart_recording(path)
    return path


@pytest.fixture
def server(store_path):
    return build_server(ServerConfig(store_path=store_path))


async def _err(client, name, args) -> str:
    r = await client.call_tool(name, args)
    assert r.is_error, r.structured_content
    return r.content[0].text


async def test_query_text_is_capped_and_pathological_queries_end_with_advice(server):
    async with Client(server) as client:
        text = await _err(client, "query", {"text": "calls where arg[1] = " + "1" * 3000})
        assert "2000" in text
        text = await _err(client, "query", {"text": "sequence " + " then ".join(["call"] * 100)})
        assert "at most 32 steps" in text and "^" in text
        text = await _err(client, "query", {"text": "calls where " + "(" * 100 + "arg[1] = 1" + ")" * 100})
        assert "nested more than 64" in text
        ok = await client.call_tool("query", {"text": "calls | count"})
        assert not ok.is_error
