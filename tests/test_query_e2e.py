"""End to end: record the real sample app with a capture session, then ask the recording
questions in the query language."""

from __future__ import annotations

import asyncio

from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.query import run_query

WL = "Elixir.SampleApp.Workload"
INV = "Elixir.SampleApp.Inventory"


async def test_queries_on_a_recording_of_the_sample_app(sample_app, tmp_path):
    store = TraceStore.open(tmp_path / "e2e.db")
    plan = CapturePlan(
        specs=(compile_spec("SampleApp.Inventory.handle_call/3 :: return"),),
        message_procs=(Registered(INV),),
        state_modules=(INV,),
    )
    node = Node()
    try:
        conn = await node.connect(sample_app.name, cookie=sample_app.cookie)
        rec_w = store.create_recording("e2e", spec=plan.describe(), limits=CaptureLimits().as_dict())
        session = await CaptureSession.start(conn, rec_w, plan, None)
        await conn.rpc(WL, "run", [10])
        await asyncio.sleep(0.3)
        result = await session.stop()
    finally:
        await node.close()
    rec = store.recording(result.recording_id)
    calls = list(rec.events(kind=EventKind.CALL, limit=100000))
    assert calls, "the capture recorded no calls"

    res = run_query(rec, "calls SampleApp.Inventory.handle_call/3 | count")
    assert res.groups[0].values["count"] == len(calls)
    # every handle_call returned: nothing is left unanswered, and durations exist
    assert run_query(rec, "calls SampleApp.Inventory.handle_call without return").rows == []
    stats = run_query(rec, "calls SampleApp.Inventory.handle_call | stats count, p50(duration), p99(duration)")
    g = stats.groups[0]
    assert g.values["count"] == len(calls) and 0 < g.values["p50(duration)"] <= g.values["p99(duration)"]
    # patterns over the real arguments: handle_call({:reserve, sku, qty}, from, state)
    reserves = run_query(rec, "calls SampleApp.Inventory.handle_call where arg[0] = {:reserve, _, _}", limit=1000)
    expected = [e.id for e in calls if isinstance(e.payload[0], tuple) and e.payload[0][0].name == "reserve"]
    assert [r.event.id for r in reserves.rows] == expected and expected
    assert all(isinstance(r.event.payload[0][1], bytes) for r in reserves.rows)  # skus are strings
    # the reply, paired with its call
    replies = run_query(rec, "calls SampleApp.Inventory.handle_call where return = {:reply, _, _}", limit=1000)
    assert len(replies.rows) == len(calls)
    # messages received by the registered process, and the state history
    got = run_query(rec, "receives of SampleApp.Inventory where message ~ :reserve | count")
    assert got.groups[0].values["count"] >= len(expected)
    states = run_query(rec, "states of SampleApp.Inventory where phase = :after and state[\"apple\"] >= 0")
    assert states.rows
    seq = run_query(rec, "sequence receive of SampleApp.Inventory then state where phase = :after "
                         "within 1s same process")
    assert seq.rows and all(m.steps[0].pid == m.steps[1].pid for m in seq.rows)
    assert not run_query(rec, "events").crosses_gaps
    store.close()
