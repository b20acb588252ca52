"""The agent's overload check must not walk a long mailbox. ``process_info(self(), memory)``
walks an off-heap message queue (~90 ns a message): read every ``check_every`` records while the
agent was a million messages behind (max_queue raised, a state-history capture of a call loop)
each check cost ~0.1 s and the agent fell further behind at every one. Since agent v26 the
memory is read only while the mailbox holds at most 10,000 messages; a longer one is estimated
from the bytes per message last measured (docs/capture.md, "Limits").

Checked by watching the agent's own calls: the queue length each check read, and whether a
memory read followed it."""

from __future__ import annotations

import asyncio

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

WALK = 10_000  # the longest mailbox whose memory the agent reads (elixir_scope_agent own_memory/3)


@pytest.fixture(scope="module")
def watched_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


async def test_a_long_mailbox_is_not_walked_at_each_check(watched_node, tmp_path):
    store = TraceStore.open(tmp_path / "walk.db")
    # max_queue raised far above the backlog: nothing is shed, the long mailbox is drained
    limits = CaptureLimits(max_events=10_000_000, max_rate=50_000_000, max_queue=5_000_000,
                           max_memory=4_000_000_000, max_buffer=2_000_000, max_seconds=120)
    async with Node() as node:
        conn = await node.connect(watched_node.name, cookie=watched_node.cookie)
        for mod in ("es_busy", "es_agent_watch"):
            await conn.rpc("code", "ensure_loaded", [Atom(mod)])
        rec = store.create_recording("walk", spec={}, limits=limits.as_dict())
        plan = CapturePlan(specs=(compile_spec("es_busy:f/2 -> return"),), call_procs="all")
        session = await CaptureSession.start(conn, rec, plan, limits)
        agent = session.agent
        watcher = await conn.rpc("es_agent_watch", "watch", [agent])
        # a backlog while the agent cannot run: 2 processes per scheduler x 20,000 calls x 2
        backlog = await conn.rpc("es_agent_watch", "backlog", [agent, 20_000, 2], timeout=120)
        for _ in range(6000):  # the agent drains it (bounded: the capture's own max_seconds)
            q = (await conn.rpc("erlang", "process_info", [agent, Atom("message_queue_len")]))[1]
            if q < 100:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a tick's check with the mailbox short again
        seen = await conn.rpc("es_agent_watch", "seen", [watcher])
        await conn.rpc("es_agent_watch", "unwatch", [agent])
        result = await session.stop(timeout=60)
    assert backlog > 4 * WALK, backlog
    assert isinstance(seen, list) and seen, seen
    checks = [(x[1], seen[i + 1:i + 2] == [Atom("memory")]) for i, x in enumerate(seen)
              if isinstance(x, tuple) and x[0] == Atom("queue")]
    long_checks = [walked for q, walked in checks if q > WALK]
    short_checks = [walked for q, walked in checks if q <= WALK]
    assert long_checks, checks[:20]  # the agent checked while far behind ...
    assert not any(long_checks), checks[:20]  # ... and did not walk that mailbox
    assert any(short_checks), checks[-20:]  # a short mailbox's memory is still read
    stats = result.stats
    assert stats.offered == stats.sent + stats.dropped and stats.dropped == 0
    assert stats.peak_queue > 4 * WALK and stats.peak_memory > 0
    store.close()
