"""Knowledge tools through the MCP client: the real knowledge base with its real (offline)
embedding model and Chroma index, and source analysis of a bundled example app."""

from __future__ import annotations

from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.nodes import REPO


async def test_knowledge_search_and_source_analysis(tmp_path):
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", knowledge_dir=tmp_path / "kb-index"))
    async with Client(server) as client:
        r = await client.call_tool("knowledge_search", {"text": "two servers call each other and callers time out", "k": 3})
        assert not r.is_error, r.content[0].text
        hits = r.structured_content["hits"]
        assert hits[0]["id"] == "genserver-call-cycle" and hits[0]["fix"] and hits[0]["why"]
        r = await client.call_tool("knowledge_search", {"signatures": ["call:cycle"], "k": 2})
        assert r.structured_content["hits"][0]["id"] == "genserver-call-cycle"
        r = await client.call_tool("knowledge_search", {})
        assert r.is_error and "symptom text, observed signatures, or both" in r.content[0].text

        r = await client.call_tool("analyze_source", {"path": str(REPO / "examples" / "call_cycle"),
                                                      "symptom": "checkout times out"})
        assert not r.is_error, r.content[0].text
        got = r.structured_content
        assert [f["kind"] for f in got["flags"]] == ["call_cycle"]
        assert got["candidates"][0]["spec"] == "CallCycle.Orders.handle_call/3"
        r = await client.call_tool("analyze_source", {"path": str(tmp_path / "missing")})
        assert r.is_error and "not a folder" in r.content[0].text
