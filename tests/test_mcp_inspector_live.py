"""The MCP Inspector CLI (a client nobody here wrote) calls every live tool against a real
Elixir node running tests/fixtures/live_app: over streamable HTTP (one server, so the log ring
persists between calls) and, for get_state and read_logs, over stdio."""

from __future__ import annotations

import json

import pytest

from elixir_scope.mcp_server.tools.output import DEFAULT_BUDGET
from support.mcp_servers import run_inspector, server_argv, server_env, start_http_server
from support.nodes import REPO, start_node

pytestmark = pytest.mark.slow

LIVE_APP = REPO / "tests" / "fixtures" / "live_app" / "live_app.ex"


@pytest.fixture(scope="module")
def live_node():
    node = start_node("elixir", elixir_files=[LIVE_APP], eval_code=":ok = LiveApp.start()")
    yield node
    node.stop()


def _ok(out) -> dict:
    assert out.returncode == 0, f"inspector failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    got = json.loads(out.stdout)
    assert not got.get("isError"), got
    assert len(out.stdout.encode()) <= DEFAULT_BUDGET * 1.3, "result over its budget (plus JSON-RPC framing)"
    return got


def test_inspector_calls_every_live_tool_over_http(live_node, tmp_path):
    server = start_http_server(tmp_path, env=server_env(
        ELIXIR_SCOPE_NODE=live_node.name, ELIXIR_SCOPE_COOKIE=live_node.cookie,
        ELIXIR_SCOPE_STORE=str(tmp_path / "traces.db")))

    def call(tool: str, **args) -> dict:
        argv = [server.url, "--transport", "http", "--method", "tools/call", "--tool-name", tool]
        for k, v in args.items():
            argv += ["--tool-arg", f"{k}={v}"]
        return _ok(run_inspector(*argv))

    try:
        got = call("get_state", process="LiveApp.Light")
        assert got["structuredContent"]["behaviour"] == "gen_statem"
        assert "state name: :off" in got["content"][0]["text"]
        got = call("peek_mailbox", process="LiveApp.Sleeper", limit=3)
        assert got["structuredContent"]["length"] == 25 and got["structuredContent"]["shown"] == 3
        got = call("ets_tables", text="live_app")
        assert {r["table"] for r in got["structuredContent"]["items"]} >= {":live_app_cache", ":live_app_private"}
        got = call("ets_sample", table="live_app_cache", limit=2)
        assert got["structuredContent"]["shown"] == 2
        got = call("read_logs", min_level="warning")
        first = got["structuredContent"]["last_seq"]
        got = call("app_env", application="live_app")
        assert {e["key"]: e["value"] for e in got["structuredContent"]["entries"]}["db_password"] == "«redacted»"
        got = call("scheduler_usage", interval_ms=100)
        assert got["structuredContent"]["schedulers"]
        got = call("memory_usage")
        assert got["structuredContent"]["by_kind"]["total"] > 0
        got = call("ports", kind="sockets")
        assert any(r["kind"] == "tcp" for r in got["structuredContent"]["items"])
        got = call("read_logs", after_seq=first)
        assert got["structuredContent"]["ring_started"]
        # a name nobody has: a clear error, and no atom made on the node
        out = run_inspector(server.url, "--transport", "http", "--method", "tools/call", "--tool-name",
                            "get_state", "--tool-arg", "process=Nobody.Has.This.Name.Zq9")
        err = json.loads(out.stdout)
        assert err["isError"] is True and "no process" in err["content"][0]["text"]
    finally:
        server.stop()


def test_inspector_get_state_and_logs_over_stdio(live_node, tmp_path):
    env = ["-e", f"ELIXIR_SCOPE_NODE={live_node.name}", "-e", f"ELIXIR_SCOPE_COOKIE={live_node.cookie}",
           "-e", f"ELIXIR_SCOPE_STORE={tmp_path / 'traces.db'}"]
    got = _ok(run_inspector(*env, *server_argv("mcp"), "--method", "tools/call", "--tool-name", "get_state",
                            "--tool-arg", "process=LiveApp.Vault"))
    assert got["structuredContent"]["redacted"] is True
    got = _ok(run_inspector(*env, *server_argv("mcp"), "--method", "tools/call", "--tool-name", "read_logs"))
    assert "log ring installed" in got["content"][0]["text"]
