"""A node whose schedulers are all busy with traced processes: the agent must still keep up
enough to enforce its limits. At normal priority it got almost no CPU while the busy processes
ran: with the default max_queue of 5,000 its mailbox grew to 1.26M-1.51M trace messages (8 busy
processes on 2 schedulers, 3 runs of 3) and the capture could not end until the workload did.
At high priority (agent v21) the mailbox peaked at 15k-38k and the capture ended at max_events
while the workload still ran (docs/capture.md).
Checked with the agent's own count of its longest mailbox (``peak_queue``, read every
``check_every`` records) and with the workload's trace flags: once the capture has ended, the
rest of the calls are not traced."""

from __future__ import annotations

import pytest
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node

CALLS = 200_000  # per busy process
PER_SCHEDULER = 4  # busy processes per scheduler: 8 on 2 schedulers, ~1.6M traced calls a run


@pytest.fixture(scope="module")
def busy_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


async def test_default_limits_hold_when_every_scheduler_is_busy(busy_node, tmp_path):
    store = TraceStore.open(tmp_path / "busy.db")
    limits = CaptureLimits()  # what a user gets: max_events 50k, max_queue 5k, check_every 500
    async with Node() as node:
        conn = await node.connect(busy_node.name, cookie=busy_node.cookie)
        await conn.rpc("code", "ensure_loaded", [Atom("es_busy")])
        rec = store.create_recording("busy", spec={}, limits=limits.as_dict())
        plan = CapturePlan(specs=(compile_spec("es_busy:f/2 -> return"),), call_procs="all")
        session = await CaptureSession.start(conn, rec, plan, limits)
        workers = await conn.rpc("es_busy", "run", [CALLS, PER_SCHEDULER], timeout=300)
        result = await session.stop(timeout=60)
    assert workers >= 2
    stats = result.stats
    # the capture ended on its own limit, with what it lost counted
    assert result.end_reason in ("max_events", "overload_queue"), result.end_reason
    assert stats.offered == stats.sent + stats.dropped
    # the agent kept its mailbox near max_queue instead of letting the flood pile up in it: a
    # few checks' worth of slack (the busy processes add ~2 messages per call meanwhile)
    assert 0 < stats.peak_queue <= 20 * limits.max_queue, stats.peak_queue
    # and it stopped the tracing while the workload ran: far fewer calls offered than made
    assert stats.offered < workers * CALLS // 4, (stats.offered, workers * CALLS)
    assert store.recording(result.recording_id).info.event_count > 0
    store.close()
