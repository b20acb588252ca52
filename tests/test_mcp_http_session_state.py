"""Two MCP clients on one HTTP server at the same time: each keeps its own current node, its
own captures and its own diagnosis reports; the recordings in the store are everyone's.

A real uvicorn socket, the real SDK client over streamable HTTP, a real Erlang node, a real
store and the real knowledge index (diagnose runs over a recording, offline)."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.mcp_server.transports import http_app
from support.cart_recording import build_cart_recording
from support.mcp_calls import err, ok
from support.mcp_servers import free_port

TOKEN = "session-state-token-0123456789"


@pytest.fixture(scope="module")
def erl_target():
    from support.nodes import start_node

    n = start_node("erl")
    yield n
    n.stop()


async def test_two_concurrent_http_sessions_keep_captures_reports_and_node_apart(
        tmp_path, erl_target, kb_index_dir):
    store = tmp_path / "traces.db"
    cart = build_cart_recording(store)
    port = free_port()
    config = ServerConfig(transport="http", port=port, store_path=store, token=TOKEN,
                          cookie=erl_target.cookie, knowledge_dir=kb_index_dir)
    server = build_server(config)
    uv = uvicorn.Server(uvicorn.Config(http_app(server, config), host="127.0.0.1", port=port,
                                       log_level="warning"))
    task = asyncio.ensure_future(uv.serve())
    try:
        while not uv.started:
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"

        def client():
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
            return http, Client(streamable_http_client(url, http_client=http), mode="legacy")

        (ha, a), (hb, b) = client(), client()
        async with ha, hb, a, b:
            await ok(a, "connect_node", {"node": erl_target.name})
            assert (await ok(b, "list_connections"))["current"] is None

            # both sessions at once: A records, B diagnoses the stored cart recording
            capture = {"lifecycle": True, "max_seconds": 30, "name": "session A"}
            started, diagnosed = await asyncio.gather(
                ok(a, "start_capture", capture),
                ok(b, "diagnose", {"symptom": "the cart total is wrong", "recording": cart}))
            cap_id, report_id = started["capture_id"], diagnosed["report_id"]

            assert [c["capture_id"] for c in (await ok(a, "capture_status"))["captures"]] == [cap_id]
            assert (await ok(b, "capture_status"))["captures"] == []
            assert "no capture" in await err(b, "capture_status", {"capture_id": cap_id})
            assert "no capture" in await err(b, "stop_capture", {"capture_id": cap_id})
            assert (await ok(a, "capture_status", {"capture_id": cap_id}))["captures"][0]["running"]

            uri = f"elixir-scope://reports/{report_id}"
            md = await b.read_resource(uri)
            assert "the cart total is wrong" in md.contents[0].text
            with pytest.raises(Exception, match="no report"):
                await a.read_resource(uri)

            stopped = await ok(a, "stop_capture", {"capture_id": cap_id})
            assert not stopped["running"]
            # the recordings themselves are shared: B reads what A recorded
            ids = {r["id"] for r in (await ok(b, "list_recordings"))["items"]}
            assert {cap_id, cart} <= ids
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 30)
