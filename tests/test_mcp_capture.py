"""Captures through MCP against the real sample app: start/status/stop, progress while
waiting, cancelling a waiting call (the capture stops cleanly), bad specs, and the history
tools over what was really recorded."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from elixir_scope.instrument.dist import Node
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server


@pytest.fixture
def server(tmp_path, sample_app_module):
    n = sample_app_module
    return build_server(ServerConfig(store_path=tmp_path / "traces.db", cookie=n.cookie, default_node=n.name))


async def ok(client, name, args=None, **kw):
    r = await client.call_tool(name, args or {}, **kw)
    assert not r.is_error, f"{name}: {r.content[0].text}"
    return r.structured_content


async def workload(node, n=30):
    async with Node() as me:
        conn = await me.connect(node.name, cookie=node.cookie)
        return await conn.rpc("Elixir.SampleApp.Workload", "run", [n], timeout=60)


async def test_start_status_stop_then_travel_through_it(server, sample_app_module):
    await workload(sample_app_module, 10)  # the per-user cart processes exist before the capture
    async with Client(server) as client:
        # SampleApp.Cart is not a registered name: every process running that module is meant
        started = await ok(client, "start_capture", {
            "spec": ["SampleApp.Cart.add/3 :: return"], "state_of": ["SampleApp.Inventory"],
            "messages_of": ["SampleApp.Inventory", "SampleApp.Cart"], "max_seconds": 60})
        rid = started["capture_id"]
        assert started["running"] is True and "stop_capture" in started["next_steps"]
        # a spec with returns: the reply says what a loop among them would do, and what then happens
        assert len(started["warnings"]) == 1
        assert "SampleApp.Cart.add/3" in started["warnings"][0] and "stack_guard" in started["warnings"][0]
        ops = await workload(sample_app_module)
        status = (await ok(client, "capture_status", {"capture_id": rid}))["captures"][0]
        assert status["running"] is True
        stopped = await ok(client, "stop_capture", {"capture_id": rid})
        assert stopped["running"] is False and stopped["end_reason"] == "stopped" and stopped["dropped"] == 0
        again = await ok(client, "stop_capture", {"capture_id": rid})  # idempotent
        assert again["events_stored"] == stopped["events_stored"]

        counts = await ok(client, "query", {"text": "calls | count by function", "recording": rid})
        by_fn = {i["function"]: i["count"] for i in counts["items"]}
        assert by_fn["SampleApp.Cart.add/3"] == sum(v for k, v in ops.items() if str(k) == "add")
        evo = await ok(client, "state_evolution", {"process": "SampleApp.Inventory", "recording": rid})
        assert evo["transitions"] and any("reserve" in (t["message"] or "") for t in evo["transitions"])
        reserve = next(t for t in evo["transitions"] if "reserve" in (t["message"] or ""))
        past = await ok(client, "causal_past", {"event_id": reserve["cause_event"], "recording": rid, "limit": 20})
        assert past["processes"] >= 2  # the cart's $gen_call send leads back into the cart process
        assert any(e["kind"] == "send" and "SampleApp.Inventory" in (e["other"] or "") for e in past["events"])
        summary = await ok(client, "recording_summary", {"recording": rid})
        assert summary["recording"]["end_reason"] == "stopped"


async def test_waiting_capture_reports_progress(server, sample_app_module):
    progress: list[tuple] = []
    first = anyio.Event()

    async def on_progress(done, total, message):
        progress.append((done, total, message))
        first.set()

    async with Client(server) as client:
        async with anyio.create_task_group() as tg:
            result: dict = {}

            async def call():
                result.update(await ok(client, "start_capture", {
                    "spec": ["SampleApp.Cart.add/3"], "max_seconds": 3, "wait": True},
                    progress_callback=on_progress))

            tg.start_soon(call)
            await first.wait()  # the capture is running: make traffic now
            await workload(sample_app_module, 20)
    assert result["running"] is False and result["end_reason"] == "max_seconds"
    assert result["events_stored"] > 0
    assert progress and all(total == 10_000 for _, total, _ in progress)
    assert "events stored" in progress[-1][2] and "of 3s" in progress[-1][2]


async def test_cancelling_a_waiting_capture_stops_it(server):
    first = anyio.Event()

    async def on_progress(done, total, message):
        first.set()

    async with Client(server) as client:
        async with anyio.create_task_group() as tg:
            async def call():
                await client.call_tool("start_capture", {"state_of": ["SampleApp.Inventory"],
                                                         "max_seconds": 120, "wait": True},
                                       progress_callback=on_progress)

            tg.start_soon(call)
            await first.wait()
            tg.cancel_scope.cancel()
        with anyio.fail_after(30):
            while True:
                caps = (await ok(client, "capture_status"))["captures"]
                if not caps[0]["running"]:
                    break
                await anyio.sleep(0.2)
        assert caps[0]["end_reason"] == "stopped" and caps[0]["elapsed_seconds"] < 60
        # the server keeps serving
        assert (await ok(client, "list_recordings"))["items"]


async def test_bad_capture_requests_are_explained(server):
    async with Client(server) as client:
        r = await client.call_tool("start_capture", {"spec": ["SampleApp.Cart.*"]})
        assert r.is_error and "expected a function name" in r.content[0].text and "^" in r.content[0].text
        r = await client.call_tool("start_capture", {"spec": ["Enum.map"]})
        assert r.is_error and "flood" in r.content[0].text
        r = await client.call_tool("start_capture", {})
        assert r.is_error and "nothing to capture" in r.content[0].text and "state_of" in r.content[0].text
        r = await client.call_tool("start_capture", {"spec": ["SampleApp.Cart.add/3"], "max_events": 0})
        assert r.is_error and "max_events" in r.content[0].text
        r = await client.call_tool("stop_capture", {"capture_id": 424242})
        assert r.is_error and "capture_status" in r.content[0].text
        assert (await ok(client, "capture_status"))["captures"] == []
