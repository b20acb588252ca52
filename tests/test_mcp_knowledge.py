"""Knowledge and diagnosis tools through the MCP client: the real knowledge base with its
real (offline) embedding model and Chroma index, source analysis of a bundled example app,
and a whole diagnosis of that app running as a real Elixir node (its bug reproduced by the
scenario's trigger)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.nodes import REPO, start_node

CALL_CYCLE = REPO / "examples" / "call_cycle"


@pytest.fixture(scope="module")
def kb_dir(kb_index_dir):
    return kb_index_dir  # the session's shared index


@pytest.fixture(scope="module")
def call_cycle_node():
    sc = json.loads((CALL_CYCLE / "scenario.json").read_text())
    node = start_node("elixir", elixir_files=[CALL_CYCLE / f for f in sc["files"]], eval_code="{:ok, _} = " + sc["start"])
    yield node, sc
    node.stop()


async def test_knowledge_search_and_source_analysis(tmp_path, kb_dir):
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", knowledge_dir=kb_dir))
    async with Client(server) as client:
        r = await client.call_tool("knowledge_search", {"text": "two servers call each other and callers time out", "k": 3})
        assert not r.is_error, r.content[0].text
        hits = r.structured_content["hits"]
        assert hits[0]["id"] == "genserver-call-cycle" and hits[0]["fix"] and hits[0]["why"]
        r = await client.call_tool("knowledge_search", {"signatures": ["call:cycle"], "k": 2})
        assert r.structured_content["hits"][0]["id"] == "genserver-call-cycle"
        r = await client.call_tool("knowledge_search", {})
        assert r.is_error and "symptom text, observed signatures, or both" in r.content[0].text

        r = await client.call_tool("analyze_source", {"path": str(CALL_CYCLE), "symptom": "checkout times out"})
        assert not r.is_error, r.content[0].text
        got = r.structured_content
        assert [f["kind"] for f in got["flags"]] == ["call_cycle"]
        assert got["candidates"][0]["spec"] == "CallCycle.Orders.handle_call/3"
        r = await client.call_tool("analyze_source", {"path": str(tmp_path / "missing")})
        assert r.is_error and "not a folder" in r.content[0].text
        umbrella = REPO / "tests" / "fixtures" / "elixir_umbrella"
        r = await client.call_tool("analyze_source", {"path": str(umbrella)})
        r_all = await client.call_tool("analyze_source", {"path": str(umbrella), "include_tests": True})
        assert r_all.structured_content["files"] == r.structured_content["files"] + 6  # 5 .exs scripts, 1 test


async def test_plan_and_diagnose_a_real_deadlock(tmp_path, kb_dir, call_cycle_node):
    node, sc = call_cycle_node
    observe_only = build_server(ServerConfig(store_path=tmp_path / "t.db", knowledge_dir=kb_dir,
                                             cookie=node.cookie, default_node=node.name))
    async with Client(observe_only) as client:
        plan = await client.call_tool("plan_instrumentation", {"symptom": sc["symptom"], "source_path": str(CALL_CYCLE)})
        assert not plan.is_error, plan.content[0].text
        specs = " ".join(s["spec"] for s in plan.structured_content["specs"])
        assert "CallCycle.Warehouse" in specs and "CallCycle.Orders" in specs
        r = await client.call_tool("diagnose", {"symptom": sc["symptom"], "trigger": sc["trigger"]})
        assert r.is_error and "--allow-mutations" in r.content[0].text

    server = build_server(ServerConfig(store_path=tmp_path / "t.db", knowledge_dir=kb_dir, cookie=node.cookie,
                                       default_node=node.name, allow_mutations=True))
    progress: list[str] = []

    async def on_progress(done, total, message):
        progress.append(message)

    async with Client(server) as client:
        r = await client.call_tool("diagnose", {"symptom": sc["symptom"], "trigger": sc["trigger"], "seconds": 3.5,
                                                "source_path": str(CALL_CYCLE)}, progress_callback=on_progress)
        assert not r.is_error, r.content[0].text
        got = r.structured_content
        assert got["verdict"] == "root_cause_found"
        culprit = got["report"]["root_cause"]["culprit"]
        assert (culprit["module"], culprit["function"]) == (sc["culprit"]["module"], sc["culprit"]["function"])
        assert progress and "CallCycle.Warehouse" in got["markdown"]
        # the evidence is in the recording, reachable with the other tools
        event_id = got["report"]["root_cause"]["evidence"][0]["event_id"]
        step = await client.call_tool("step_event", {"event_id": event_id, "recording": got["recording"]})
        assert not step.is_error
        md = await client.read_resource(f"elixir-scope://reports/{got['report_id']}")
        assert md.contents[0].text.startswith("#")
        # the same recording again, without the node
        again = await client.call_tool("diagnose", {"symptom": sc["symptom"], "recording": got["recording"]})
        assert not again.is_error and again.structured_content["verdict"] == "root_cause_found"
