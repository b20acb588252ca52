"""The agent's ack relay (agent v22), on real nodes: acknowledgements sent to the relay alone
open the agent's window (the agent reads them from the relay's atomics cell, not from its
mailbox, where an ack waits behind every trace message queued before it); the relay survives
junk, ends with the agent, and a capture through a session that acks both ways stores every
event with a window of one batch.

Without the relay (agent v21) the first test gets no second batch: its acks only ever reached
the agent as messages."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.instrument.agent import ensure_agent
from elixir_scope.instrument.agent.loader import MODULE
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Pid
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.records import count_records
from support.nodes import start_node

A = Atom
SEQ = "lists:seq(A, B) when B > 50 -> return"
CALLS = 100  # 2 records each (call + return)
# a window of one batch of 10 records, a tick every 20 ms; nothing else near a limit
LIMITS = CaptureLimits(max_events=100_000, max_seconds=60, batch_size=10, batch_ms=20, window=1)


async def _start_raw(conn):
    """The agent started with our own mailbox as its owner: this test sends the acks."""
    await ensure_agent(conn)
    mbox = conn.node.mailbox()
    config = {**CapturePlan(specs=(compile_spec(SEQ),)).agent_config(), **LIMITS.agent_config()}
    ok, agent, info = await conn.rpc(MODULE, "start_capture", [mbox.pid, config], timeout=30)
    assert ok == A("ok"), info
    return mbox, agent, {k.name: v for k, v in info.items()}


async def _batch(mbox, timeout):
    """The next es_batch (seq, records) in the mailbox; None if none comes within ``timeout``."""
    try:
        msg = await mbox.receive(timeout=timeout)
    except TimeoutError:
        return None
    assert msg[0] == A("es_batch"), msg
    return msg[2], count_records(msg[4])


async def _alive(conn, pid) -> bool:
    return await conn.rpc("erlang", "is_process_alive", [pid]) is True


async def _ends(conn, pid) -> bool:
    """Whether ``pid`` is gone within 5 s."""
    for _ in range(100):
        if not await _alive(conn, pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", ["erl", "otp28"])
async def test_acks_to_the_relay_alone_open_the_window(kind):
    target = start_node(kind)
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            mbox, agent, info = await _start_raw(conn)
            relay = info["ack_relay"]
            assert isinstance(relay, Pid) and await _alive(conn, relay)
            for _ in range(CALLS):
                await conn.rpc("lists", "seq", [1, 60])
            seq, records = await _batch(mbox, 5.0)
            assert seq == 1
            # the window (one batch) is full: nothing more until batch 1 is acknowledged
            assert await _batch(mbox, 0.3) is None
            # junk to the relay changes nothing and does not end it
            for junk in (42, (), (A("es_ack"),), (A("es_ack"), -1), (A("es_ack"), 0), (A("es_ack"), 1.5),
                         (A("es_ack"), 2 ** 70), (A("es_ack"), A("x")), (A("es_ack"), 1, 2)):
                await conn.send(relay, junk)
            assert await _batch(mbox, 0.3) is None
            assert await _alive(conn, relay) and await _alive(conn, agent)
            # each batch acknowledged to the relay only: the agent reads the ack at its next tick
            while records < 2 * CALLS:
                await conn.send(relay, (A("es_ack"), seq))
                got = await _batch(mbox, 5.0)
                assert got is not None, f"no batch after ack {seq} to the relay ({records} records so far)"
                assert got[0] == seq + 1
                seq, records = got[0], records + got[1]
            # the end: acks both ways, as the session sends them (the last batch's too: at its
            # end the agent waits for an ack message)
            for to in (relay, agent):
                await conn.send(to, (A("es_ack"), seq))
            stop = asyncio.ensure_future(conn.rpc(MODULE, "stop_capture", [agent, 10_000], timeout=15))
            while True:
                msg = await mbox.receive(timeout=10)
                if msg[0] == A("es_done"):
                    break
                assert msg[0] == A("es_batch"), msg
                seq, records = msg[2], records + count_records(msg[4])
                for to in (relay, agent):
                    await conn.send(to, (A("es_ack"), seq))
            ok, stats = await stop
            assert ok == A("ok") and msg[2] == A("stopped")
            stats = {k.name: v for k, v in stats.items() if isinstance(k, Atom)}
            assert stats["dropped"] == 0 and stats["sent"] == stats["offered"] == records >= 2 * CALLS
            assert await _ends(conn, relay)  # with the agent
            mbox.close()
    finally:
        target.stop()


async def test_a_session_acks_through_the_relay_and_stores_every_event(erl_node, tmp_path):
    store = TraceStore.open(tmp_path / "relay.db")
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        rec = store.create_recording("relay", spec={}, limits=LIMITS.as_dict())
        s = await CaptureSession.start(conn, rec, CapturePlan(specs=(compile_spec(SEQ),)), LIMITS)
        relay = s.info["ack_relay"]
        assert await _alive(conn, relay)
        for _ in range(CALLS):
            await conn.rpc("lists", "seq", [1, 60])
        result = await s.stop()
        assert await _ends(conn, relay)
    assert result.end_reason == "stopped" and result.stats.consistent, result
    assert result.stats.dropped == 0 and result.stats.batches > 2 * CALLS // 10 - 1
    calls = list(store.recording(result.recording_id).events(kind=EventKind.CALL, limit=10_000))
    returns = list(store.recording(result.recording_id).events(kind=EventKind.RETURN, limit=10_000))
    assert len(calls) == len(returns) == CALLS
    assert result.stats.stored == result.stats.sent
    store.close()
