"""The agent process starts with a 1 MB heap (fewer collections of the chunk it builds), never
more than an eighth of the capture's memory limit - so a small max_memory still works."""

from __future__ import annotations

import pytest
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore


@pytest.mark.parametrize("max_memory,words", [(100_000_000, 1 << 17), (2_000_000, 2_000_000 // 64)])
async def test_agent_heap_follows_the_memory_limit(erl_node_module, tmp_path, max_memory, words):
    store = TraceStore.open(tmp_path / "heap.db")
    plan = CapturePlan(specs=(compile_spec("calendar:valid_date/3 -> return"),))
    limits = CaptureLimits(max_memory=max_memory)
    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        rec = store.create_recording("heap", spec=plan.describe(), limits=limits.as_dict())
        session = await CaptureSession.start(conn, rec, plan, limits)
        try:
            info = await conn.rpc("erlang", "process_info", [session.agent, Atom("min_heap_size")])
            # in words (a 64-bit node); the runtime rounds up to its next heap size step
            assert info[0] == Atom("min_heap_size")
            assert words <= info[1] <= words * 2
            assert await conn.rpc("calendar", "valid_date", [2026, 12, 5]) is True
        finally:
            result = await session.stop(timeout=30)
    assert result.end_reason == "stopped"
    assert result.stats.offered == result.stats.sent + result.stats.dropped
    store.close()
