"""The history tools (recordings, query, time travel, causal order) through the SDK's client,
over a real trace store holding a recording in the agent's exact record format
(``store.batch.SyntheticTrace``: what the tracer would emit for a cart GenServer taking calls).
The same tools over a live capture are exercised in tests/test_mcp_capture.py.
"""

from __future__ import annotations

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.cart_recording import build_cart_recording

@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "traces.db"
    build_cart_recording(path)
    return path


@pytest.fixture
def server(store_path):
    return build_server(ServerConfig(store_path=store_path))


async def ok(client, name, args=None):
    r = await client.call_tool(name, args or {})
    assert not r.is_error, f"{name}: {r.content[0].text}"
    return r.structured_content


async def err(client, name, args=None) -> str:
    r = await client.call_tool(name, args or {})
    assert r.is_error, r.structured_content
    return r.content[0].text


async def test_recordings_listing_summary_and_resources(server):
    async with Client(server) as client:
        page = await ok(client, "list_recordings")
        assert [r["name"] for r in page["items"]] == ["cart session"] and page["next_cursor"] is None
        rid = page["items"][0]["id"]
        summary = await ok(client, "recording_summary", {"recording": rid})
        assert summary["events_by_kind"]["state"] == 7 and summary["gap_count"] == 1
        assert "SampleApp.Cart" in summary["recording"]["spec"]["spec"][0]
        text = await err(client, "recording_summary", {"recording": 999})
        assert "no recording 999" in text and "list_recordings" in text

        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "elixir-scope://recordings/{recording_id}" in templates
        res = await client.read_resource(f"elixir-scope://recordings/{rid}/timeline")
        body = res.contents[0].text
        assert "handle_call" in body and "GAP" in body and '"apple"' in body


async def test_query_pages_and_explains_syntax_errors(server):
    async with Client(server) as client:
        got = await ok(client, "query", {"text": "calls", "limit": 2})
        assert got["shape"] == "events" and len(got["items"]) == 2 and got["next_cursor"]
        assert "cursor=" in got["hint"]
        nxt = await ok(client, "query", {"text": "calls", "limit": 2, "cursor": got["next_cursor"]})
        assert {i["id"] for i in nxt["items"]}.isdisjoint({i["id"] for i in got["items"]})
        counted = await ok(client, "query", {"text": "calls | count by function"})
        assert counted["shape"] == "groups" and counted["items"][0]["count"] == 3
        never = await ok(client, "query", {"text": "sends never received"})
        assert any(":flush" in (i.get("payload") or "") for i in never["items"])

        text = await err(client, "query", {"text": "calls where fucntion = add"})
        assert "did you mean" in text and "^" in text and "query_help" in text
        text = await err(client, "query", {"text": "calls", "cursor": "not-a-cursor"})
        assert "cursor" in text
        helped = await ok(client, "query_help")
        assert "calls without return" in helped["examples"] and "function" in helped["fields"]


async def test_time_travel_tools(server):
    async with Client(server) as client:
        calls = await ok(client, "query", {"text": "calls", "limit": 10})
        second_call = calls["items"][1]["id"]

        state = await ok(client, "state_at", {"process": "SampleApp.Cart", "at_event": second_call})
        assert '"apple"' in state["state"] and '"pear"' not in state["state"]
        assert state["state"].startswith("%SampleApp.Cart.State{")
        final = await ok(client, "state_at", {"process": "SampleApp.Cart"})
        assert 'items: ["apple", "pear", "plum"]' in final["state"]

        evo = await ok(client, "state_evolution", {"process": "SampleApp.Cart", "limit": 2})
        assert len(evo["transitions"]) == 2 and evo["next_cursor"]
        assert evo["transitions"][0]["message"] == '{:add, "apple"}'
        assert any("list grew by 1" in c for c in evo["transitions"][0]["changes"])
        rest = await ok(client, "state_evolution", {"process": "SampleApp.Cart", "cursor": evo["next_cursor"]})
        assert rest["transitions"][-1]["message"] == '{:add, "plum"}'

        snap = await ok(client, "system_snapshot", {"at_event": second_call})
        assert snap["process_count"] == 2
        cart = next(p for p in snap["processes"] if "SampleApp.Cart" in p["process"])
        assert cart["status"] == "in_call" and cart["current_call"].endswith("handle_call/3")

        tl = await ok(client, "process_timeline", {"process": "SampleApp.Cart"})
        assert [c["outcome"] for c in tl["calls"]] == ["returned"] * 3
        assert tl["calls"][0]["function"] == "SampleApp.Cart.handle_call/3"

        flow = await ok(client, "message_flow", {"limit": 3})
        assert len(flow["messages"]) == 3 and flow["next_cursor"]
        unreceived = await ok(client, "message_flow", {"limit": 100, "processes": ["SampleApp.Cart"]})
        assert any(m["message"] == ":flush" and m["receive_event"] is None for m in unreceived["messages"])

        stepped = await ok(client, "step_event", {"event_id": second_call, "scope": "process"})
        assert stepped["event"]["id"] > second_call

        text = await err(client, "state_at", {"process": "Nobody.Here"})
        assert "no process" in text
        text = await err(client, "state_at", {"process": "SampleApp.Cart", "at_event": 1, "at_ts": 5})
        assert "not both" in text


async def test_causal_past_and_future(server):
    async with Client(server) as client:
        calls = await ok(client, "query", {"text": "calls", "limit": 10})
        last_call = calls["items"][-1]["id"]
        past = await ok(client, "causal_past", {"event_id": last_call, "limit": 5})
        assert past["direction"] == "past" and past["processes"] == 2 and len(past["events"]) == 5
        assert past["next_cursor"] and "causal_past" in past["hint"]
        assert all(e["id"] < last_call for e in past["events"])
        future = await ok(client, "causal_future", {"event_id": calls["items"][0]["id"]})
        assert future["events"] and all(e["id"] > calls["items"][0]["id"] for e in future["events"])


async def test_export_is_confined_to_the_exports_folder(server, store_path):
    async with Client(server) as client:
        rid = (await ok(client, "list_recordings"))["items"][0]["id"]
        got = await ok(client, "export_recording", {"recording": rid, "file_name": "cart.esrec"})
        assert got["path"] == str(store_path.parent / "exports" / "cart.esrec") and got["bytes"] > 0
        for bad in ("../evil.esrec", "/tmp/x.esrec", "sub/dir.esrec"):
            text = await err(client, "export_recording", {"recording": rid, "file_name": bad})
            assert "invalid file name" in text
