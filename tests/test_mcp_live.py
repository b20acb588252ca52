"""The live tools through the MCP SDK's own client (in process) against a real Elixir node
running tests/fixtures/live_app, and the syntax switch (Erlang for a pure Erlang node)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.mcp_server.tools.output import DEFAULT_BUDGET
from support.nodes import REPO, start_node

LIVE_APP = REPO / "tests" / "fixtures" / "live_app" / "live_app.ex"
LIVE_TOOLS = {"get_state", "peek_mailbox", "ets_tables", "ets_sample", "read_logs", "scheduler_usage",
              "memory_usage", "ports", "app_env"}


@pytest.fixture(scope="module")
def live_node():
    node = start_node("elixir", elixir_files=[LIVE_APP], eval_code=":ok = LiveApp.start()")
    yield node
    node.stop()


def make_server(tmp_path, node, **kw):
    return build_server(ServerConfig(store_path=tmp_path / "traces.db", default_node=node.name,
                                     cookie=node.cookie, **kw))


async def call(client, name, args=None):
    result = await client.call_tool(name, args or {})
    assert not result.is_error, f"{name} failed: {result.content[0].text}"
    text = result.content[0].text
    assert len(result.content) == 1 and not text.lstrip().startswith("{"), "text must be a summary, not JSON"
    size = len(text.encode()) + len(json.dumps(result.structured_content).encode())
    assert size <= DEFAULT_BUDGET, f"{name} returned {size} bytes"
    return result.structured_content, text


async def test_live_tools_are_listed_titled_and_read_only(tmp_path, live_node):
    async with Client(make_server(tmp_path, live_node)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert LIVE_TOOLS <= set(tools)
    for name in LIVE_TOOLS:
        t = tools[name]
        assert t.title and t.annotations.read_only_hint is True and t.output_schema, name
        assert "\n    " not in t.description, f"{name}: description keeps docstring indentation"


async def test_live_tools_answer_in_elixir_with_summaries(tmp_path, live_node):
    async with Client(make_server(tmp_path, live_node)) as client:
        st, text = await call(client, "get_state", {"process": "LiveApp.Vault", "max_bytes": 1024})
        assert st["behaviour"] == "gen_server" and st["module"] == "LiveApp.Vault"
        assert st["truncated"] and st["pid"].startswith("#PID<") and "LiveApp.Vault #PID<" in text
        st, text = await call(client, "get_state", {"process": "LiveApp.Light"})
        assert st["state_name"] in (":off", ":on") and "api_key: «redacted»" in st["data"] and "state name:" in text
        mb, text = await call(client, "peek_mailbox", {"process": "LiveApp.Sleeper", "limit": 2})
        assert mb["length"] == 25 and mb["shown"] == 2 and mb["messages"][0].startswith("{:job, 1,")
        assert "25 waiting" in text
        tabs, text = await call(client, "ets_tables", {"text": "live_app", "sort_by": "size"})
        assert tabs["items"][0]["table"] == ":live_app_cache" and tabs["items"][0]["size"] == 200
        sample, _ = await call(client, "ets_sample", {"table": ":live_app_cache", "limit": 3})
        assert sample["shown"] == 3 and sample["redacted"] and "secret: «redacted»" in sample["objects"][0]
        env, text = await call(client, "app_env", {"application": "live_app"})
        values = {e["key"]: e["value"] for e in env["entries"]}
        assert values["db_password"] == "«redacted»" and values["pool_size"] == "10"
        apps, _ = await call(client, "app_env")
        assert "kernel" in {a["application"] for a in apps["applications"]}
        sched, text = await call(client, "scheduler_usage", {"interval_ms": 100})
        assert 0 <= sched["normal_average"] <= 1 and "normal schedulers" in text
        mem, text = await call(client, "memory_usage")
        assert mem["by_kind"]["total"] > 0 and "binary_alloc" in {a["allocator"] for a in mem["allocators"]}
        ports, text = await call(client, "ports", {"kind": "sockets"})
        assert any(r["kind"] == "tcp" and r["owner_name"] == ":live_app_port_owner" for r in ports["items"])
        files, _ = await call(client, "ports", {"kind": "files"})
        assert any("live_app_" in (r["local"] or "") for r in files["items"])
        logs, text = await call(client, "read_logs")
        assert logs["ring_started"] and "after_seq=" in text
        errs = await client.call_tool("get_state", {"process": "No.Such.Proc.Zq"})
        assert errs.is_error and "no process" in errs.content[0].text


async def test_read_logs_after_events_and_bad_input_in_plain_words(tmp_path, live_node):
    from elixir_scope.instrument.dist import Node

    async with Client(make_server(tmp_path, live_node)) as client:
        first, _ = await call(client, "read_logs", {"min_level": "warning"})
        node = Node()
        c = await node.connect(live_node.name, cookie=live_node.cookie)
        try:
            await c.rpc("logger", "error", [b"payment gateway timeout"])
            await c.rpc("logger", "info", [b"heartbeat"])
        finally:
            await node.close()
        import asyncio

        for _ in range(40):
            got, text = await call(client, "read_logs", {"min_level": "warning", "after_seq": first["last_seq"]})
            if got["events"]:
                break
            await asyncio.sleep(0.05)
        assert [e["text"] for e in got["events"]] == ["payment gateway timeout"]
        assert got["events"][0]["time"].endswith("+00:00") and "payment gateway timeout" in text
        bad = await client.call_tool("read_logs", {"min_level": "loud"})
        assert bad.is_error


async def test_erlang_syntax_for_a_pure_erlang_node(tmp_path, erl_node_module):
    async with Client(make_server(tmp_path, erl_node_module)) as client:
        st, text = await call(client, "get_state", {"process": "logger"})
        assert st["module"] == "logger_server" and st["pid"].startswith("<0.") and "#PID" not in text
        tabs, _ = await call(client, "ets_tables", {"text": "ac_tab"})
        assert tabs["items"][0]["table"] == "ac_tab" and tabs["items"][0]["owner_name"] == "application_controller"
        got = await client.call_tool("list_processes", {"limit": 50})
        rows = got.structured_content["items"]
        assert all(r["pid"].startswith("<0.") for r in rows)
        assert "code_server" in {r["name"] for r in rows}
        assert any(r["current_function"] == "gen_server:loop/7" for r in rows)
        tree = (await client.call_tool("supervision_tree", {"application": "kernel"})).structured_content
        assert tree["outline"].startswith("kernel_sup [supervisor, one_for_all] <0.")


async def test_syntax_forced_to_erlang_on_an_elixir_node(tmp_path, live_node):
    async with Client(make_server(tmp_path, live_node, syntax="erlang")) as client:
        st, _ = await call(client, "get_state", {"process": "LiveApp.Vault"})
        assert st["module"] == "'Elixir.LiveApp.Vault'" and "#{" in st["state"]
