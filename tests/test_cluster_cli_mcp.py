"""Multi-node capture through the command line (``record --node … --node …``, ``--cluster``)
and MCP (``start_capture`` with ``nodes`` / ``cluster``) against a real three-node cluster
(two OTP 25 nodes, one OTP 28) whose client calls servers on the other two by itself."""

from __future__ import annotations

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import TraceStore
from support.cluster import start_cluster, stop_cluster
from support.nodes import short_host, unique
from support.cli_run import run_fail, run_json


@pytest.fixture(scope="module")
def busy_cluster():
    nodes = start_cluster(traffic_ms=50)
    yield nodes
    stop_cluster(nodes)


def test_cli_record_two_nodes_then_the_whole_cluster(capsys, busy_cluster, tmp_path):
    a, b, c = busy_cluster
    store = str(tmp_path / "cli.db")
    got = run_json(capsys, "record", "--node", a.name, "--node", b.name, "--cookie", a.cookie,
                   "--messages-of", "client", "--messages-of", "srv", "--max-seconds", "1.5", "--store", store)
    assert got["end_reason"] == "max_seconds" and set(got["nodes"]) == {a.name, b.name}
    assert all(p["end_reason"] == "max_seconds" and p["stored"] > 0 for p in got["nodes"].values())
    shown = run_json(capsys, "recordings", str(got["recording"]), "--store", store)
    assert [n["name"] for n in shown["nodes"]] == [a.name, b.name]
    assert all(n["end_reason"] == "max_seconds" and n["clock_error_us"] > 0 for n in shown["nodes"])
    # messages of a to b's server are matched across the two nodes
    rows = run_json(capsys, "query", f"receives on {b.name} | count", "--store", store,
                    "--recording", str(got["recording"]))["items"]
    assert rows[0]["count"] > 0

    whole = run_json(capsys, "record", "--node", a.name, "--cluster", "--cookie", a.cookie,
                     "--messages-of", "srv", "--max-seconds", "1.5", "--max-events-total", "40",
                     "--store", store)
    assert set(whole["nodes"]) == {a.name, b.name, c.name}
    assert whole["end_reason"] == "max_events" and whole["events_stored"] >= 40
    rec = TraceStore.open(store).recording(whole["recording"])
    assert {n.otp_release for n in rec.nodes()} >= {"25", "28"}
    assert rec.info.end_reason == "max_events"


def test_cli_errors_name_the_node(capsys, busy_cluster, tmp_path):
    a, b, _c = busy_cluster
    store = str(tmp_path / "cli.db")
    ghost = f"{unique('ghost')}@{short_host()}"
    err = run_fail(capsys, "record", "--node", a.name, "--node", ghost, "--cookie", a.cookie,
                   "--messages-of", "srv", "--store", store)
    assert f"cannot connect to node {ghost}" in err and "hint:" in err
    err = run_fail(capsys, "record", "--node", a.name, "--messages-of", "srv", "--cookie", a.cookie,
                   "--max-events-total", "10", "--store", store)
    assert "--max-events-total" in err
    err = run_fail(capsys, "overview", "--node", a.name, "--node", b.name, "--cookie", a.cookie)
    assert "one node" in err and "record" in err


async def test_mcp_start_capture_on_several_nodes(busy_cluster, tmp_path):
    a, b, c = busy_cluster
    server = build_server(ServerConfig(store_path=tmp_path / "mcp.db", cookie=a.cookie, default_node=a.name))
    async with Client(server) as client:
        r = await client.call_tool("start_capture", {"messages_of": ["srv", "client"], "nodes": [a.name, c.name],
                                                     "max_seconds": 1.5, "wait": True})
        assert not r.is_error, r.content[0].text
        st = r.structured_content
        assert st["end_reason"] == "max_seconds" and st["node"] == f"{a.name}, {c.name}"
        assert {p["node"]: p["end_reason"] for p in st["nodes"]} == {a.name: "max_seconds", c.name: "max_seconds"}
        summary = (await client.call_tool("recording_summary", {"recording": st["capture_id"]})).structured_content
        assert [p["name"] for p in summary["node_parts"]] == [a.name, c.name]
        assert {p["otp_release"] for p in summary["node_parts"]} == {"25", "28"}

        r = await client.call_tool("start_capture", {"messages_of": ["srv"], "cluster": True, "max_seconds": 30,
                                                     "max_events_total": 30, "wait": True})
        assert not r.is_error, r.content[0].text
        st = r.structured_content
        assert st["end_reason"] == "max_events" and len(st["nodes"]) == 3

        bad = await client.call_tool("start_capture", {"messages_of": ["srv"],
                                                       "nodes": [a.name, f"nobody@{short_host()}"]})
        assert bad.is_error and f"nobody@{short_host()}" in bad.content[0].text
        bad = await client.call_tool("start_capture", {"messages_of": ["srv"], "max_events_total": 5})
        assert bad.is_error and "several nodes" in bad.content[0].text
