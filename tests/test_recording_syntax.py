"""A recording of a pure Erlang node prints in Erlang - terms, registered names, MFAs - in the
recording tools of MCP (query, process_timeline, state_at, state_evolution, system_snapshot,
causal_past/future, the timeline resource, diagnose) and of the command line (query,
timeline, state-at, snapshot, recordings ID, diagnose); ``--syntax`` / ``syntax=`` forces
Elixir on the same recording.

The recording is made through the MCP tools on a real ``erl`` node running a RabbitMQ-style
``gen_server2`` queue (tests/fixtures/erlang), stored in a real store."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.erlang_fixtures import compile_erlang_fixtures
from support.mcp_calls import ok
from support.nodes import start_node


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(store path, recording id): es_queue2's callbacks, state and messages while it takes
    two publishes of Erlang terms (a map, a binary, a tuple)."""
    import asyncio

    tmp = tmp_path_factory.mktemp("erl-rec")
    beams = compile_erlang_fixtures(tmp / "beams")
    node = start_node("erl", code_paths=[beams], eval_code="{ok, _} = es_queue2:start()")
    store = tmp / "traces.db"

    async def record() -> int:
        server = build_server(ServerConfig(store_path=store, default_node=node.name, cookie=node.cookie))
        async with Client(server) as client, Node() as dist:
            started = await client.call_tool("start_capture", {
                "spec": ["es_queue2:handle_call/3 -> return"], "state_of": ["es_queue2"],
                "messages_of": ["es_queue2"], "max_seconds": 60, "name": "erlang queue"})
            assert not started.is_error, started.content[0].text
            rid = started.structured_content["capture_id"]
            conn = await dist.connect(node.name, cookie=node.cookie)
            for msg in ({Atom("order"): 7, Atom("item"): b"tea"}, (Atom("note"), b"two")):
                reply = await conn.rpc("es_gen_server2", "call", [Atom("es_queue2"), (Atom("publish"), msg)])
                assert reply == Atom("ok")
            stopped = await client.call_tool("stop_capture", {"capture_id": rid})
            assert not stopped.is_error, stopped.content[0].text
            return rid

    try:
        rid = asyncio.run(record())
    finally:
        node.stop()
    return store, rid


def dumped(value) -> str:
    return json.dumps(value, ensure_ascii=False)


async def test_mcp_recording_tools_print_an_erlang_recording_in_erlang(recorded, kb_index_dir):
    store, rid = recorded
    server = build_server(ServerConfig(store_path=store, knowledge_dir=kb_index_dir))
    async with Client(server) as client:
        q = await ok(client, "query", {"text": "calls es_queue2:handle_call/3", "recording": rid})
        assert q["items"], q
        row = q["items"][0]
        assert row["function"] == "es_queue2:handle_call/3"
        assert row["process"] == "es_queue2"
        assert "{publish,#{" in row["payload"].replace(" ", "") or "{publish," in row["payload"].replace(" ", "")
        assert "{:publish" not in dumped(q)

        tl = await ok(client, "process_timeline", {"process": "es_queue2", "recording": rid})
        assert tl["process"].endswith("(es_queue2)")
        fns = {c["function"] for c in tl["calls"]}
        assert fns == {"es_queue2:handle_call/3"}
        args = " ".join(c["args"] or "" for c in tl["calls"])
        assert "#{" in args and "<<\"tea\">>" in args and "%{" not in args and ":order" not in args

        st = await ok(client, "state_at", {"process": "es_queue2", "recording": rid})
        assert st["state"].replace(" ", "").startswith("{queue_state,2,[{note,<<\"two\">>}")
        evo = await ok(client, "state_evolution", {"process": "es_queue2", "recording": rid})
        assert "{:queue_state" not in dumped(evo) and "queue_state" in dumped(evo)

        snap = await ok(client, "system_snapshot", {"recording": rid})
        queue = next(p for p in snap["processes"] if p["process"].endswith("(es_queue2)"))
        assert queue["state"].replace(" ", "").startswith("{queue_state,2,")

        first = q["items"][0]["id"]
        fut = await ok(client, "causal_future", {"event_id": first, "recording": rid})
        assert "{:" not in dumped(fut) and "%{" not in dumped(fut)

        res = await client.read_resource(f"elixir-scope://recordings/{rid}/timeline")
        text = res.contents[0].text
        assert "es_queue2:handle_call/3" in text and "{publish," in text.replace(" ", "")
        assert "{:publish" not in text

        diag = await ok(client, "diagnose", {"symptom": "publishing to the queue is slow", "recording": rid})
        assert "{:" not in diag["markdown"] and ":es_queue2" not in diag["markdown"]

    forced = build_server(ServerConfig(store_path=store, syntax="elixir"))
    async with Client(forced) as client:
        q = await ok(client, "query", {"text": "calls es_queue2:handle_call/3", "recording": rid})
        assert q["items"][0]["function"] == ":es_queue2.handle_call/3" or \
            q["items"][0]["function"] == "es_queue2:handle_call/3"  # Elixir prints Erlang modules with ':'
        assert "{:publish" in q["items"][0]["payload"]
        st = await ok(client, "state_at", {"process": "es_queue2", "recording": rid})
        assert st["state"].startswith("{:queue_state, 2,")


def test_cli_recording_commands_print_an_erlang_recording_in_erlang(recorded, capsys):
    store, rid = recorded
    base = ["--store", str(store)]

    def run(*args: str) -> str:
        assert main([*args, *base]) == 0
        return capsys.readouterr().out

    out = run("query", "calls es_queue2:handle_call/3", "--recording", str(rid), "--json")
    assert "es_queue2:handle_call/3" in out and "{publish," in out.replace(" ", "") and "{:publish" not in out
    out = run("timeline", "es_queue2", "--recording", str(rid), "--json")
    assert "(es_queue2)" in out and "#{" in out and "%{" not in out
    out = run("state-at", "es_queue2", "--recording", str(rid))
    assert "{queue_state,2," in out.replace(" ", "") and "{:queue_state" not in out
    out = run("state-at", "es_queue2", "--recording", str(rid), "--evolution", "--json")
    assert "{:queue_state" not in out and "queue_state" in out
    out = run("snapshot", "--recording", str(rid), "--json")
    assert "{queue_state,2," in out.replace(" ", "") and "{:queue_state" not in out
    out = run("recordings", str(rid), "--json")
    assert "(es_queue2)" in out and "(:es_queue2)" not in out

    forced = run("state-at", "es_queue2", "--recording", str(rid), "--syntax", "elixir")
    assert "{:queue_state, 2," in forced
    forced = run("recordings", str(rid), "--json", "--syntax", "elixir")
    assert "(:es_queue2)" in forced
