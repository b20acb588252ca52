"""Transport safety, end to end over real HTTP: loopback by default, Host/Origin checks,
bearer tokens, and refusing to bind beyond loopback without a token and allowed hosts.
After every rejected request the same server answers a real client's tool call."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from elixir_scope.cli import main
from elixir_scope.mcp_server.config import ConfigError, ServerConfig
from support.mcp_servers import INSPECTOR_WITH_HEADERS, run_inspector, server_env, start_http_server

TOKEN = "test-token-7f3a-9c2e"
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("kwargs, complaint", [
    ({}, "bearer token"),
    ({"token": "t" * 16}, "--allowed-host"),
    ({"token": "short-token", "allowed_hosts": ("box:1",)}, "at least 16"),
    ({"allowed_hosts": ("box:1",)}, "bearer token"),
])
def test_non_loopback_http_needs_token_and_allowed_hosts(kwargs, complaint):
    with pytest.raises(ConfigError, match="refusing to serve HTTP on non-loopback") as err:
        ServerConfig(transport="http", host="0.0.0.0", **kwargs).validate()
    assert complaint in str(err.value)


def test_safe_configurations_validate():
    ServerConfig(transport="http").validate()
    ServerConfig(transport="http", host="::1").validate()
    ServerConfig(transport="http", host="0.0.0.0", token="t" * 16, allowed_hosts=("box:8765",)).validate()
    ServerConfig().validate()  # stdio


def test_environment_is_read_in_one_place(tmp_path):
    cfg = ServerConfig.from_env({
        "ELIXIR_SCOPE_STORE": str(tmp_path / "s.db"), "ELIXIR_SCOPE_NODE": "a@b",
        "ELIXIR_SCOPE_COOKIE": "c", "ELIXIR_SCOPE_TOKEN": "t", "ELIXIR_SCOPE_ALLOW_MUTATIONS": "1",
    })
    assert (cfg.store_path, cfg.default_node, cfg.cookie, cfg.token, cfg.allow_mutations) == (
        tmp_path / "s.db", "a@b", "c", "t", True)
    assert ServerConfig.from_env({}).allow_mutations is False


def test_cli_refuses_to_bind_beyond_loopback_without_token(capsys):
    code = main(["mcp", "--transport", "http", "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code != 0
    assert "refusing to serve HTTP on non-loopback address 0.0.0.0" in err
    assert "hint:" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("http")
    server = start_http_server(
        tmp, env=server_env(ELIXIR_SCOPE_TOKEN=TOKEN, ELIXIR_SCOPE_STORE=str(tmp / "traces.db")))
    yield server
    server.stop()


async def _still_serving(url: str) -> None:
    """A real MCP client session with the token: list tools and call one."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"list_recordings"} <= names
        result = await client.call_tool("list_recordings", {})
        assert not result.is_error, result.content
        assert result.structured_content["items"] == []


async def test_missing_or_wrong_token_is_401_and_server_keeps_serving(http_server):
    async with httpx2.AsyncClient() as http:
        r = await http.post(http_server.url, json=INIT, headers=HEADERS)
        assert r.status_code == 401
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
        r = await http.post(http_server.url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"})
        assert r.status_code == 401
    await _still_serving(http_server.url)


async def test_401_names_no_oauth_metadata_and_none_is_published(http_server):
    """A static token is not OAuth: the 401 points at no resource metadata, and no well-known
    OAuth document exists (the SDK's AuthSettings used to publish one naming an authorization
    server that answered 404)."""
    base = http_server.url.removesuffix("/mcp")
    async with httpx2.AsyncClient() as http:
        r = await http.post(http_server.url, json=INIT, headers={**HEADERS, "Authorization": "Basic eDp5"})
        assert r.status_code == 401
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and "resource_metadata" not in challenge
        assert "Authorization: Bearer <token>" in r.json()["error"]["message"]
        for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
                     "/.well-known/oauth-authorization-server"):
            got = await http.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert got.status_code == 404, (path, got.status_code, got.text)
        # a token that is right but for one trailing character, and one with a longer prefix
        for wrong in (TOKEN[:-1] + "x", TOKEN + "x", TOKEN[:-1]):
            r = await http.post(http_server.url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {wrong}"})
            assert r.status_code == 401
        ok = await http.post(http_server.url, json=INIT, headers={**HEADERS, "Authorization": f"bearer {TOKEN}"})
        assert ok.status_code == 200  # the scheme is case-insensitive (RFC 7235)


def test_inspector_over_http_with_and_without_the_token(http_server):
    """The MCP Inspector CLI (a client nobody here wrote) over HTTP: refused without the token,
    served with it."""
    common = (http_server.url, "--transport", "http", "--method", "tools/call",
              "--tool-name", "list_recordings")
    refused = run_inspector(*common, inspector=INSPECTOR_WITH_HEADERS)
    assert refused.returncode != 0
    assert "unauthorized: no Authorization header" in refused.stdout + refused.stderr
    wrong = run_inspector(*common, "--header", "Authorization: Bearer not-the-token",
                          inspector=INSPECTOR_WITH_HEADERS)
    assert wrong.returncode != 0 and "the bearer token is wrong" in wrong.stdout + wrong.stderr
    served = run_inspector(*common, "--header", f"Authorization: Bearer {TOKEN}", inspector=INSPECTOR_WITH_HEADERS)
    assert served.returncode == 0, served.stdout + served.stderr
    got = json.loads(served.stdout)
    assert got["structuredContent"]["items"] == []


async def test_foreign_origin_is_403_and_server_keeps_serving(http_server):
    async with httpx2.AsyncClient() as http:
        r = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
        assert r.status_code == 403
        ok = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Authorization": f"Bearer {TOKEN}", "Origin": f"http://127.0.0.1:{http_server.port}"})
        assert ok.status_code == 200
    await _still_serving(http_server.url)


async def test_bad_host_is_421_and_server_keeps_serving(http_server):
    async with httpx2.AsyncClient() as http:
        r = await http.post(http_server.url, json=INIT, headers={
            **HEADERS, "Authorization": f"Bearer {TOKEN}", "Host": f"evil.example:{http_server.port}"})
        assert r.status_code == 421
    await _still_serving(http_server.url)


async def test_sdk_client_over_http_against_a_real_node(tmp_path, sample_app_module):
    node = sample_app_module
    server = start_http_server(tmp_path, env=server_env(
        ELIXIR_SCOPE_TOKEN=TOKEN, ELIXIR_SCOPE_NODE=node.name, ELIXIR_SCOPE_COOKIE=node.cookie,
        ELIXIR_SCOPE_STORE=str(tmp_path / "traces.db")))
    try:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http, Client(streamable_http_client(server.url, http_client=http)) as client:
            ov = await client.call_tool("node_overview", {})
            assert not ov.is_error, ov.content[0].text
            assert ov.structured_content["node"] == node.name
            page = await client.call_tool("find_processes", {"text": "SampleApp.Inventory"})
            assert page.structured_content["items"][0]["name"] == "SampleApp.Inventory"
            bad = await client.call_tool("process_details", {"process": "Nope.Nothing"})
            assert bad.is_error and "find_processes" in bad.content[0].text
            again = await client.call_tool("list_connections", {})
            assert again.structured_content["connected"] == [node.name]
    finally:
        server.stop()


async def test_beyond_loopback_only_the_allowed_hosts_and_the_token_pass(tmp_path):
    server = start_http_server(tmp_path, "--host", "0.0.0.0", "--allowed-host", "127.0.0.1:*",
                               env=server_env(ELIXIR_SCOPE_TOKEN=TOKEN, ELIXIR_SCOPE_STORE=str(tmp_path / "t.db")))
    try:
        async with httpx2.AsyncClient() as http:
            auth = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
            assert (await http.post(server.url, json=INIT, headers=HEADERS)).status_code == 401
            bad_host = {**auth, "Host": f"localhost:{server.port}"}  # loopback, but not in the list
            assert (await http.post(server.url, json=INIT, headers=bad_host)).status_code == 421
            assert (await http.post(server.url, json=INIT, headers=auth)).status_code == 200
        await _still_serving(server.url)
    finally:
        server.stop()
