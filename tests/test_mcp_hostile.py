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


def test_malformed_stdio_lines_get_jsonrpc_errors_and_the_server_goes_on(tmp_path):
    """A real `elixir-scope mcp` subprocess fed raw lines: -32700 for non-JSON, -32600 for
    JSON that is not a message (with its id when it has one), then a normal session."""
    import json
    import subprocess

    from support.mcp_servers import server_argv, stdio_client_env

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "raw", "version": "1"}}}
    lines = ["this is not json", '{"jsonrpc": "2.0", "id": 5, "methodz": "x"}', "[1, 2, 3]",
             '{"unterminated": ', json.dumps(init)]
    proc = subprocess.Popen(server_argv("mcp"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=stdio_client_env(ELIXIR_SCOPE_STORE=str(tmp_path / "t.db")))
    try:
        got = []
        for line in lines:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            got.append(json.loads(proc.stdout.readline()))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert got[0]["error"]["code"] == -32700 and got[0]["id"] is None
    assert got[1]["error"]["code"] == -32600 and got[1]["id"] == 5
    assert got[2]["error"]["code"] == -32600 and got[2]["id"] is None
    assert got[3]["error"]["code"] == -32700
    assert got[4]["id"] == 1 and got[4]["result"]["serverInfo"]["name"]


# --- HTTP: origins, per-client session caps, per-session state ----------------------------

HTTP_TOKEN = "hostile-test-token-0123456789"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "Authorization": f"Bearer {HTTP_TOKEN}"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}}


@pytest.fixture(scope="module")
def erl_target():
    from support.nodes import start_node

    n = start_node("erl")
    yield n
    n.stop()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory, erl_target):
    from support.mcp_servers import server_env, start_http_server

    tmp = tmp_path_factory.mktemp("hostile-http")
    server = start_http_server(tmp, env=server_env(
        ELIXIR_SCOPE_TOKEN=HTTP_TOKEN, ELIXIR_SCOPE_STORE=str(tmp / "t.db"),
        ELIXIR_SCOPE_COOKIE=erl_target.cookie))
    yield server
    server.stop()


async def test_loopback_origins_only_for_the_servers_own_port(http_server):
    import httpx2

    async with httpx2.AsyncClient() as http:
        other = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Origin": f"http://localhost:{http_server.port + 1}"})
        assert other.status_code == 403
        other_host = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Host": f"127.0.0.1:{http_server.port + 1}"})
        assert other_host.status_code == 421
        own = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Origin": f"http://localhost:{http_server.port}"})
        assert own.status_code == 200


async def test_sessions_are_capped_per_client_with_eviction(http_server):
    import httpx2

    from elixir_scope.mcp_server.http_sessions import MAX_PER_CLIENT

    async with httpx2.AsyncClient() as http:
        ids = []
        for _ in range(MAX_PER_CLIENT + 3):
            r = await http.post(http_server.url, json=INIT, headers=HEADERS)
            assert r.status_code == 200  # never locked out
            ids.append(r.headers["mcp-session-id"])
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}

        async def status(sid: str) -> int:
            r = await http.post(http_server.url, json=ping, headers={**HEADERS, "mcp-session-id": sid,
                                                                      "mcp-protocol-version": "2025-06-18"})
            return r.status_code

        assert [await status(s) for s in ids[:3]] == [404, 404, 404]  # this client's oldest went
        assert await status(ids[-1]) == 200 and await status(ids[3]) == 200


async def test_http_sessions_keep_their_own_current_node(http_server, erl_target):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    def client(mode):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"})
        return http, Client(streamable_http_client(http_server.url, http_client=http), mode=mode)

    ha, a = client("legacy")
    hb, b = client("legacy")
    async with ha, hb, a, b:
        got = await a.call_tool("connect_node", {"node": erl_target.name})
        assert not got.is_error, got.content[0].text
        seen_a = (await a.call_tool("list_connections", {})).structured_content
        seen_b = (await b.call_tool("list_connections", {})).structured_content
        assert seen_a["current"] == erl_target.name
        assert seen_b["current"] is None and erl_target.name in seen_b["connected"]
        no_node = await b.call_tool("node_overview", {})
        assert no_node.is_error and "connect_node" in no_node.content[0].text
        assert not (await a.call_tool("node_overview", {})).is_error


async def test_wrong_cookie_is_an_error_even_when_connected(store_path, erl_target):
    server = build_server(ServerConfig(store_path=store_path))
    async with Client(server) as client:
        ok = await client.call_tool("connect_node", {"node": erl_target.name, "cookie": erl_target.cookie})
        assert not ok.is_error, ok.content[0].text
        text = await _err(client, "connect_node", {"node": erl_target.name, "cookie": "definitely-wrong"})
        assert "different cookie" in text and "definitely-wrong" not in text
        again = await client.call_tool("connect_node", {"node": erl_target.name})
        assert not again.is_error
        same = await client.call_tool("connect_node", {"node": erl_target.name, "cookie": erl_target.cookie})
        assert not same.is_error
        await client.call_tool("disconnect_node", {"node": erl_target.name})
        text = await _err(client, "connect_node", {"node": erl_target.name, "cookie": "definitely-wrong"})
        assert "authentication failed" in text


async def test_stateless_http_requests_do_not_share_the_current_node_across_addresses(http_server, erl_target):
    """Newest-protocol requests carry no session: their scope is the client address. The
    shared (stdio) scope is never touched by them."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"})
    async with http, Client(streamable_http_client(http_server.url, http_client=http)) as a:
        got = await a.call_tool("connect_node", {"node": erl_target.name})
        assert not got.is_error, got.content[0].text
        # the same client (address) keeps its choice across stateless requests
        assert (await a.call_tool("list_connections", {})).structured_content["current"] == erl_target.name
        assert not (await a.call_tool("node_overview", {})).is_error


async def test_at_the_global_cap_the_biggest_holder_is_evicted_not_the_newcomer(tmp_path):
    """Three client addresses against a server capped at 2 sessions per client and 3 in all
    (the real SDK session manager behind a real uvicorn socket)."""
    import asyncio

    import httpx2
    import uvicorn

    from elixir_scope.mcp_server.http_sessions import install
    from elixir_scope.mcp_server.transports import http_app
    from support.mcp_servers import free_port

    port = free_port()
    config = ServerConfig(transport="http", port=port, store_path=tmp_path / "t.db")
    server = build_server(config)
    app = http_app(server, config)
    install(server, max_per_client=2, max_total=3)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.ensure_future(uv.serve())
    try:
        while not uv.started:
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

        def client(addr: str):
            return httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(local_address=addr))

        async def open_session(http) -> str:
            r = await http.post(url, json=INIT, headers=headers)
            assert r.status_code == 200, r.text
            return r.headers["mcp-session-id"]

        async def alive(http, sid: str) -> bool:
            r = await http.post(url, json={"jsonrpc": "2.0", "id": 9, "method": "ping"},
                                headers={**headers, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"})
            return r.status_code == 200

        async with client("127.0.0.2") as a, client("127.0.0.3") as b, client("127.0.0.4") as c:
            a1, a2 = await open_session(a), await open_session(a)
            b1 = await open_session(b)
            c1 = await open_session(c)  # the server is full: a newcomer still gets in
            assert [await alive(a, a1), await alive(a, a2), await alive(b, b1), await alive(c, c1)] == [
                False, True, True, True]
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 30)
