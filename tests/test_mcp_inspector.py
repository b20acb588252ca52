"""A client nobody here wrote: the MCP Inspector CLI from npm lists our tools and calls
several of them against a real node, over stdio and over streamable HTTP.

The first run downloads the Inspector into the npm cache (~45 s); later runs take seconds.
Each stdio call starts a fresh server, so the node is given as ``ELIXIR_SCOPE_NODE`` and tools
connect on first use. A tool error prints ``isError: true`` with exit status 0.
"""

from __future__ import annotations

import json

import pytest

from support.mcp_servers import run_inspector, server_argv, server_env, start_http_server

pytestmark = pytest.mark.slow


def _json(out) -> dict:
    assert out.returncode == 0, f"inspector failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def stdio_target(sample_app_module, tmp_path_factory):
    """Inspector arguments that start our stdio server for the sample app."""
    node = sample_app_module
    store = tmp_path_factory.mktemp("inspector") / "traces.db"
    env_args = ["-e", f"ELIXIR_SCOPE_NODE={node.name}", "-e", f"ELIXIR_SCOPE_COOKIE={node.cookie}",
                "-e", f"ELIXIR_SCOPE_STORE={store}", "-e", "HF_HUB_OFFLINE=1"]
    return node, [*env_args, *server_argv("mcp")]


def test_inspector_lists_tools_over_stdio(stdio_target):
    _, target = stdio_target
    listed = _json(run_inspector(*target, "--method", "tools/list"))
    names = {t["name"] for t in listed["tools"]}
    assert {"connect_node", "list_connections", "list_recordings"} <= names
    assert not names & {"eval_code", "kill_process", "send_message"}
    connect = next(t for t in listed["tools"] if t["name"] == "connect_node")
    assert connect["inputSchema"]["required"] == ["node"]
    assert connect["annotations"]["readOnlyHint"] is False


def test_inspector_calls_tools_against_a_real_node(stdio_target):
    node, target = stdio_target
    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "connect_node",
                              "--tool-arg", f"node={node.name}"))
    assert not got.get("isError"), got
    assert got["structuredContent"]["node"] == node.name

    # the node comes from ELIXIR_SCOPE_NODE: these connect on first use
    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "node_overview"))
    assert not got.get("isError"), got
    assert "sample_app" in {a["name"] for a in got["structuredContent"]["applications"]}

    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "list_processes",
                              "--tool-arg", "sort_by=reductions", "--tool-arg", "limit=3"))
    assert not got.get("isError"), got
    assert len(got["structuredContent"]["items"]) == 3 and got["structuredContent"]["next_cursor"] == "3"

    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "supervision_tree",
                              "--tool-arg", "application=sample_app"))
    assert got["structuredContent"]["outline"].startswith("SampleApp.Supervisor")

    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "process_details",
                              "--tool-arg", "process=SampleApp.Inventory"))
    assert got["structuredContent"]["process"]["behaviour"] == "gen_server"

    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "list_recordings",
                              "--tool-arg", "limit=5"))
    assert not got.get("isError"), got
    assert got["structuredContent"]["items"] == []

    # a query with a syntax error, and an unknown tool: clear errors
    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "query",
                              "--tool-arg", "text=calls where fucntion = add"))
    assert got["isError"] is True

    # a bad request: a clear tool error, not a crash
    got = _json(run_inspector(*target, "--method", "tools/call", "--tool-name", "connect_node",
                              "--tool-arg", "node=nobody@nowhere.invalid"))
    assert got["isError"] is True
    assert "nowhere.invalid" in got["content"][0]["text"]


def test_inspector_reads_prompts_over_stdio(stdio_target):
    node, target = stdio_target
    got = _json(run_inspector(*target, "--method", "prompts/get", "--prompt-name", "tour_system",
                              "--prompt-args", f"node={node.name}"))
    assert node.name in got["messages"][0]["content"]["text"]


def test_inspector_over_streamable_http(sample_app_module, tmp_path):
    node = sample_app_module
    server = start_http_server(tmp_path, env=server_env(
        ELIXIR_SCOPE_NODE=node.name, ELIXIR_SCOPE_COOKIE=node.cookie,
        ELIXIR_SCOPE_STORE=str(tmp_path / "traces.db")))
    try:
        listed = _json(run_inspector(server.url, "--transport", "http", "--method", "tools/list"))
        assert "connect_node" in {t["name"] for t in listed["tools"]}
        got = _json(run_inspector(server.url, "--transport", "http", "--method", "tools/call",
                                  "--tool-name", "connect_node", "--tool-arg", f"node={node.name}"))
        assert got["structuredContent"]["node"] == node.name
    finally:
        server.stop()
