"""The MCP server in process, through the SDK's own client, against real BEAM nodes.

Covers the tool surface (names, annotations, observe-only by default), connecting, bad
requests (unknown tool, wrong argument types, a node that does not exist, a node that dies)
each answered with an actionable error while the server keeps serving, and the mutation
tools behind ``allow_mutations``.
"""

from __future__ import annotations

from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.nodes import short_host, start_node

MUTATIONS = {"eval_code", "send_message", "kill_process", "replay"}


def make_server(tmp_path, **kw):
    return build_server(ServerConfig(store_path=tmp_path / "traces.db", **kw))


async def call_ok(client, name, args=None):
    result = await client.call_tool(name, args or {})
    assert not result.is_error, f"{name} failed: {result.content[0].text}"
    return result.structured_content


async def call_err(client, name, args=None) -> str:
    result = await client.call_tool(name, args or {})
    assert result.is_error, f"{name} unexpectedly succeeded: {result.structured_content}"
    return result.content[0].text


async def test_every_tool_is_described_and_annotated_and_observe_only_by_default(tmp_path):
    async with Client(make_server(tmp_path)) as client:
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert {"connect_node", "disconnect_node", "list_connections", "list_recordings"} <= names
    assert not names & MUTATIONS
    for t in tools:
        assert t.description and len(t.description) > 20, t.name
        assert t.annotations is not None and t.annotations.read_only_hint is not None, t.name
        assert t.annotations.destructive_hint is False, t.name
        for prop, schema in t.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{t.name}.{prop} has no description"


async def test_mutations_only_with_the_flag_and_marked_destructive(tmp_path):
    async with Client(make_server(tmp_path, allow_mutations=True)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert MUTATIONS <= set(tools)
    for name in MUTATIONS:
        assert tools[name].annotations.destructive_hint is True
        assert tools[name].annotations.read_only_hint is False


async def test_connect_and_bad_requests_keep_the_server_serving(tmp_path, sample_app_module):
    node = sample_app_module
    async with Client(make_server(tmp_path, cookie=node.cookie)) as client:
        got = await call_ok(client, "connect_node", {"node": node.name})
        assert got["node"] == node.name and got["otp_release"].isdigit()
        assert (await call_ok(client, "list_connections"))["connected"] == [node.name]

        # unknown tool
        result = await client.call_tool("no_such_tool", {})
        assert result.is_error and "no_such_tool" in result.content[0].text
        # wrong argument types
        text = await call_err(client, "list_recordings", {"limit": "lots"})
        assert "limit" in text and "integer" in text
        # a node that does not exist: the error names what to do
        text = await call_err(client, "connect_node", {"node": f"nobody_here@{short_host()}"})
        assert "no node named 'nobody_here'" in text and "Next step:" in text
        text = await call_err(client, "connect_node", {"node": "no-at-sign"})
        assert "name@host" in text
        # still serving
        assert (await call_ok(client, "list_connections"))["current"] == node.name


async def test_wrong_cookie_is_an_actionable_error(tmp_path):
    node = start_node("erl")
    try:
        async with Client(make_server(tmp_path, cookie="not-the-cookie")) as client:
            text = await call_err(client, "connect_node", {"node": node.name})
            assert "authentication failed, check the cookie" in text
            got = await call_ok(client, "connect_node", {"node": node.name, "cookie": node.cookie})
            assert got["node"] == node.name
    finally:
        node.stop()


async def test_a_node_that_dies_gives_a_clear_error_then_reconnects(tmp_path):
    node = start_node("erl")
    async with Client(make_server(tmp_path, cookie=node.cookie, allow_mutations=True)) as client:
        await call_ok(client, "connect_node", {"node": node.name})
        node.kill()
        text = await call_err(client, "eval_code", {"code": "1 + 1", "language": "erlang"})
        assert node.name in text and ("down" in text or "cannot reach" in text or "no node named" in text)
        assert (await call_ok(client, "list_connections"))["connected"] == []
        # the same name comes back: the next call reconnects by itself
        back = start_node("erl", sname=node.sname, cookie=node.cookie)
        try:
            got = await call_ok(client, "eval_code", {"code": "1 + 1", "language": "erlang"})
            assert got["value"] == "2"
        finally:
            back.stop()


async def test_mutation_tools_change_the_target(tmp_path, sample_app_module):
    node = sample_app_module
    async with Client(make_server(tmp_path, cookie=node.cookie, allow_mutations=True)) as client:
        await call_ok(client, "connect_node", {"node": node.name})
        got = await call_ok(client, "eval_code", {"code": "Enum.sum([1, 2, 3])"})
        assert got["value"] == "6"
        got = await call_ok(client, "eval_code", {"code": "lists:reverse([1,2,3])", "language": "erlang"})
        assert got["value"] == "[3, 2, 1]"
        text = await call_err(client, "eval_code", {"code": "1 +", "language": "erlang"})
        assert "Erlang parse error" in text or "syntax error" in text

        before = await call_ok(client, "eval_code", {"code": "inspect(Process.whereis(SampleApp.Ticker))"})
        killed = await call_ok(client, "kill_process", {"process": "SampleApp.Ticker"})
        assert killed["alive_after"] is False and killed["pid"] == before["value"].strip('"')
        after = await call_ok(client, "eval_code", {"code": "inspect(Process.whereis(SampleApp.Ticker))"})
        assert after["value"] != before["value"]  # its supervisor restarted it

        sent = await call_ok(client, "send_message", {"to": "SampleApp.Ticker", "message": ":tick"})
        assert sent["message"] == ":tick"
        text = await call_err(client, "kill_process", {"process": "NoSuch.Process"})
        assert "no process registered as 'NoSuch.Process'" in text


async def test_live_tools_with_paging(tmp_path, sample_app_module):
    node = sample_app_module
    # the configured default node is used (and connected) without connect_node
    async with Client(make_server(tmp_path, cookie=node.cookie, default_node=node.name)) as client:
        ov = await call_ok(client, "node_overview")
        assert ov["node"] == node.name and ov["elixir_version"]
        assert "sample_app" in {a["name"] for a in ov["applications"]}

        first = await call_ok(client, "list_processes", {"sort_by": "reductions", "limit": 5})
        assert len(first["items"]) == 5 and first["total"] > 5
        assert first["next_cursor"] == "5" and "cursor='5'" in first["hint"]
        second = await call_ok(client, "list_processes", {"sort_by": "reductions", "limit": 5,
                                                          "cursor": first["next_cursor"]})
        assert not {p["pid"] for p in first["items"]} & {p["pid"] for p in second["items"]}
        text = await call_err(client, "list_processes", {"cursor": "bogus"})
        assert "invalid cursor" in text
        text = await call_err(client, "list_processes", {"sort_by": "size"})
        assert "sort_by" in text

        found = await call_ok(client, "find_processes", {"text": "SampleApp.Inv"})
        assert [p["name"] for p in found["items"]] == ["SampleApp.Inventory"] and found["next_cursor"] is None

        details = await call_ok(client, "process_details", {"process": "SampleApp.Inventory"})
        assert details["process"]["behaviour"] == "gen_server"
        assert details["current_stacktrace"][0].startswith(":gen_server.loop/")
        text = await call_err(client, "process_details", {"process": "<0.9999.0>"})
        assert "no process" in text and "find_processes" in text

        tree = await call_ok(client, "supervision_tree", {"application": "sample_app", "max_children": 2})
        assert tree["applications"] == ["sample_app"]
        assert tree["outline"].startswith("SampleApp.Supervisor [supervisor, one_for_one]")
        assert tree["trees"][0]["truncated"] is True and "raise max_children" in tree["outline"]


async def test_tools_without_a_node_say_how_to_get_one(tmp_path):
    async with Client(make_server(tmp_path)) as client:
        text = await call_err(client, "node_overview")
        assert "connect_node" in text
