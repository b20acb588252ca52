"""The store under faults: a batch the store refuses (full) is counted as a gap, not lost
silently (real captures on OTP 25 and the OTP 28 runtime); read commands work on a store in a
read-only directory; names with terminal escapes or Rich markup are shown escaped."""

from __future__ import annotations

import asyncio

import pytest

from support.nodes import start_node

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore


@pytest.fixture(scope="module", params=["erl", "otp28"])
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


async def test_a_batch_refused_by_a_full_store_becomes_a_gap(target, tmp_path):
    store = TraceStore.open(tmp_path / "full.db")
    plan = CapturePlan(specs=(compile_spec("lists:seq/2", force=True),))
    limits = CaptureLimits(max_seconds=20, batch_ms=300)
    node = Node()
    try:
        conn = await node.connect(target.name, cookie=target.cookie)
        rec = store.create_recording("full", spec=plan.describe(), limits=limits.as_dict())
        # the disk is "full": a few pages of headroom, enough for a gap row, not for a batch
        conn_db = store.db.conn
        with store.db.lock:
            (pages,) = conn_db.execute("PRAGMA page_count").fetchone()
            conn_db.execute(f"PRAGMA max_page_count = {pages + 3}")
        session = await CaptureSession.start(conn, rec, plan, limits)

        async def traffic() -> None:
            while True:
                await conn.rpc("lists", "seq", [1, 300])

        load = asyncio.ensure_future(traffic())
        try:
            result = await asyncio.wait_for(session.wait(), 60)
        finally:
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
    finally:
        await node.close()
    assert result.end_reason == "store_error", (result, store.db.conn.execute("PRAGMA page_count").fetchone())
    assert "events, which are missing" in result.detail
    with store.db.lock:
        store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    gaps = [g for g in store.recording(result.recording_id).gaps() if g.reason == "store_error"]
    assert len(gaps) == 1 and gaps[0].count > 0
    store.close()
