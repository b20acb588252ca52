"""The capture's store pipeline (instrument/ingest_pipeline.py) against real nodes: eight busy
processes traced, their batches prepared and written in two threads. Checked on what is
stored: every process's calls and returns in its own order with no hole and no duplicate,
event ids consecutive in arrival order; the bound on what Python holds received and not yet
stored (acks held back past it); the same with the store threads yielding the CPU to the node
(``store_priority="idle"``), stopped as soon as the last batch is received: ``stop`` returns
with every record stored; the same with the store postponing its jobs (``store_yield``: every
job spilled until ``stop``; the spill file's cap reached, the bound holding the acks; the
default policy); the store refusing a batch mid-capture and the node dying mid-ingest (also
with every job postponed) both end the capture with a clear reason and keep everything stored
before, as a gap-free prefix of each process's events."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.instrument.store_yield import StoreYield
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.events import decode_term
from support.nodes import start_node

A = Atom
WORKLOAD = b"""
-module(es_pipe_wl).
-export([f/1, worker/0, spawn_workers/1, go_all/2]).
f(X) -> X.
loop(I, N) when I >= N -> ok;
loop(I, N) -> f(I), loop(I + 1, N).
worker() -> receive {go, N, From} -> loop(0, N), From ! {done, self()} end.
spawn_workers(K) -> [spawn(es_pipe_wl, worker, []) || _ <- lists:seq(1, K)].
go_all(Ws, N) -> [W ! {go, N, self()} || W <- Ws], [receive {done, W} -> ok end || W <- Ws], ok.
"""
PROCS = 8
LIMITS = CaptureLimits(max_events=50_000_000, max_seconds=120, max_rate=50_000_000, max_queue=5_000_000,
                       queue_shed_limit=1000, max_memory=2_000_000_000, max_buffer=2_000_000,
                       batch_size=1000, batch_ms=20, window=8, check_every=5000)
MAX_RECORD_BYTES = 64  # header 30 + f(I)'s arguments or result as ETF


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "pipe.db")
    yield s
    s.close()


async def _start(target, store, bound: int, **kw):
    from elixir_scope.instrument.agent.loader import compile_on

    node = Node()
    conn = await node.connect(target.name, cookie=target.cookie)
    beam = await compile_on(conn, WORKLOAD)
    await conn.rpc("code", "load_binary", [A("es_pipe_wl"), Charlist(map(ord, "es_pipe_wl.erl")), beam])
    workers = await conn.rpc("es_pipe_wl", "spawn_workers", [PROCS])
    rec = store.create_recording("pipe", spec={}, limits=LIMITS.as_dict())
    plan = CapturePlan(specs=(compile_spec("es_pipe_wl:f/1 -> return"),), call_procs=tuple(workers))
    session = await CaptureSession.start(conn, rec, plan, LIMITS, store_buffer_bytes=bound, **kw)
    return node, conn, session, workers


def _per_process(store, rid) -> dict[int, list[tuple[str, int]]]:
    """Each process's (kind, value) in id order; checks the ids are 1..n, consecutive."""
    rows = store.db.query("SELECT id, kind, pid, payload FROM events WHERE recording_id = ? ORDER BY id", (rid,))
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    out: dict[int, list] = {}
    for _id, kind, pid, payload in rows:
        if kind == EventKind.CALL:
            out.setdefault(pid, []).append(("call", decode_term(payload)[0]))
        elif kind == EventKind.RETURN:
            out.setdefault(pid, []).append(("return", decode_term(payload)))
    return out


def _sent(session) -> int:
    """Records the agent had sent by its last batch received (its counts travel with each)."""
    return {getattr(k, "name", k): v for k, v in (session.last_stats or {}).items()}.get("sent", 0)


def _is_prefix(seq: list[tuple[str, int]]) -> bool:
    """call 0, return 0, call 1, return 1, ... possibly cut anywhere: no hole, no duplicate."""
    return all(item == (("call", "return")[i % 2], i // 2) for i, item in enumerate(seq))


# the store postpones every job until the capture ends (the machine always counts as busy, the
# batches as back to back) and spills them all (store_yield, instrument/store_yield.py)
POSTPONE_ALL = StoreYield(idle_cores=10_000.0, quiet_s=10_000.0, max_lag_s=10_000.0, memory_bytes=0,
                          sustain_s=0.0)


@pytest.mark.parametrize("priority, yield_", [(None, None), ("idle", None), (None, POSTPONE_ALL),
                                              (None, replace(POSTPONE_ALL, disk_cap_bytes=200_000)),
                                              (None, True)],
                         ids=["default", "idle", "postponed", "spill-cap", "yield-default"])
async def test_eight_processes_stored_in_order_under_back_pressure(store, priority, yield_):
    """Also with the store threads yielding to the node (``store_priority="idle"``): they fall
    behind while it is busy, and ``stop`` returns once every received batch is stored. And with
    the store postponing its jobs (``store_yield``): every batch spilled and acknowledged at
    once, stored when ``stop`` waits for the writer; with the spill file's cap reached, the
    bound holds the acks as without it; with the default policy, whatever it postponed."""
    target = start_node("erl")
    calls = 4000
    bound = 40_000  # about one agent batch: the acks are held back again and again
    try:
        node, conn, s, workers = await _start(target, store, bound, store_priority=priority, store_yield=yield_)
        try:
            await conn.rpc("es_pipe_wl", "go_all", [workers, calls], timeout=120)
            for _ in range(1200):  # the calls and returns, and the agent's own records
                if priority is None and yield_ is None and s.stored >= 2 * calls * PROCS:
                    break
                # idle, postponed: stopped once they are *received*, the store perhaps still
                # behind: stop waits for it - the recording is complete and queryable when stop
                # returns
                if (priority is not None or yield_ is not None) and _sent(s) >= 2 * calls * PROCS:
                    break
                await asyncio.sleep(0.05)
            result = await s.stop()
        finally:
            await node.close()
    finally:
        target.stop()
    assert result.end_reason == "stopped", result
    st = result.stats
    assert st.dropped == 0 and st.offered == st.sent == st.stored >= 2 * calls * PROCS
    assert store.recording(result.recording_id).info.event_count == st.stored
    pipe = s.pipeline
    window = LIMITS.window * LIMITS.batch_size * MAX_RECORD_BYTES
    if yield_ is POSTPONE_ALL:
        # every job postponed and spilled until stop (the acks this tiny bound held back were
        # for the batches being staged into a job, in memory as without postponing)
        y = pipe.postponer
        assert y.postponed_jobs == y.spilled_jobs > 0 and y.spill.refused == 0 and y.spill.peak > 0
        assert y.released["wait"] > 0 and not y.spill.open
    elif yield_ is True:
        assert pipe.postponer is not None
    else:
        assert pipe.held_acks > 0  # back-pressure worked ...
        # ... and bounded what Python held: the bound, plus one round of received batches (at
        # most the agent's window of unacknowledged batches)
        assert pipe.peak_pending_bytes <= bound + window
    if yield_ not in (None, True) and yield_ is not POSTPONE_ALL:  # the spill file's cap reached
        y = pipe.postponer
        assert y.spill.refused > 0 and y.spilled_jobs > 0 and y.spill.peak <= 200_000
        assert pipe.held_acks > 0  # the bound held the acks: the agent waited, nothing was lost
    assert pipe.pending_bytes == 0
    assert pipe.priority == (priority or 0)
    seqs = _per_process(store, result.recording_id)
    assert len(seqs) == PROCS
    for seq in seqs.values():
        assert len(seq) == 2 * calls and _is_prefix(seq)


async def test_a_priority_the_store_threads_cannot_take_is_refused_before_the_node_is_touched(store):
    rec = store.create_recording("bad", spec={}, limits={})
    with pytest.raises(ValueError, match="priority is 'idle' or a niceness 0-19"):
        await CaptureSession.start(None, rec, CapturePlan(specs=(compile_spec("es_pipe_wl:f/1"),)),
                                   LIMITS, store_priority="lowest")


async def test_a_store_yield_setting_that_is_not_one_is_refused_before_the_node_is_touched(store):
    rec = store.create_recording("bad", spec={}, limits={})
    with pytest.raises(ValueError, match="store_yield is True, False or a StoreYield"):
        await CaptureSession.start(None, rec, CapturePlan(specs=(compile_spec("es_pipe_wl:f/1"),)),
                                   LIMITS, store_yield="always")


# the same, postponing only once the batches have run back to back for 0.3 s (sustain_s): the
# first jobs are stored beside the node, the later ones postponed
POSTPONE_SUSTAINED = replace(POSTPONE_ALL, sustain_s=0.3)


@pytest.mark.parametrize("priority, yield_", [(None, None), ("idle", None), (None, POSTPONE_ALL),
                                              (None, POSTPONE_SUSTAINED)],
                         ids=["default", "idle", "postponed", "sustained"])
async def test_node_dying_mid_ingest_keeps_every_received_batch_in_order(store, priority, yield_):
    """Also with the store threads yielding (``"idle"``): behind when the node dies, they store
    every batch received before the capture ends; and with the store postponing every job
    (``store_yield``): nothing stored when the node dies, every batch received (spilled) stored
    after; and postponing a sustained burst only: the first jobs handed to the store at once,
    the later ones spilled, every one stored after."""
    target = start_node("erl")
    try:
        # postponed: a bound above the staging's 1 MB, so no back-pressure wait releases the jobs
        bound = 1_000_000 if yield_ is None else 8_000_000
        node, conn, s, workers = await _start(target, store, bound, store_priority=priority, store_yield=yield_)
        try:
            go = asyncio.ensure_future(conn.rpc("es_pipe_wl", "go_all", [workers, 200_000], timeout=120))
            for _ in range(600):
                if yield_ is not None and s.pipeline.postponer.spilled_jobs > 2:
                    break
                if yield_ is None and s.stored > 0 and _sent(s) > 0:
                    break
                await asyncio.sleep(0.02)
            if yield_ is POSTPONE_ALL:
                assert s.stored == 0 and s.pipeline.postponer.spill.open
            elif yield_ is not None:  # the stretch's first jobs went at once
                y = s.pipeline.postponer
                assert y.direct_jobs > 0 and y.spill.open and y.sustained_at >= 0.3
            else:
                assert s.stored > 0
            target.kill()  # while batches are queued in the pipeline and the node still traces
            result = await s.wait(60)
            go.cancel()
            await asyncio.gather(go, return_exceptions=True)
        finally:
            await node.close()
    finally:
        target.stop()
    assert result.end_reason == "node_down", result
    rec = store.recording(result.recording_id)
    assert rec.info.event_count == result.stats.stored == s.stored > 0
    assert [g.reason for g in rec.gaps()] == ["node_down"]
    pipe = s.pipeline
    assert pipe.pending_bytes == 0 and pipe.lost_batches == [] and pipe.failure is None
    if yield_ is not None:
        assert pipe.postponer.spilled_jobs > 2 and not pipe.postponer.spill.open  # the file is gone
    assert s.stored >= _sent(s) > 0  # every record the agent sent by its last batch received
    for seq in _per_process(store, result.recording_id).values():
        assert _is_prefix(seq)


async def test_a_store_refusing_a_batch_mid_ingest_ends_the_capture_and_keeps_the_rest(store):
    target = start_node("erl")
    try:
        node, conn, s, workers = await _start(target, store, 1_000_000)
        try:
            go = asyncio.ensure_future(conn.rpc("es_pipe_wl", "go_all", [workers, 100_000], timeout=120))
            for _ in range(600):
                if s.stored > 0:
                    break
                await asyncio.sleep(0.02)
            pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
            store.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a real SQLITE_FULL
            result = await s.wait(60)
            store.db.conn.execute("PRAGMA max_page_count = 1073741823")
            await asyncio.gather(go, return_exceptions=True)
        finally:
            await node.close()
    finally:
        target.stop()
    assert result.end_reason == "store_error", result
    assert "the store refused a batch" in result.detail and "events received are missing" in result.detail
    assert "database or disk is full" in result.detail or "full" in result.detail.lower()
    missing = int(result.detail.split("; ")[1].split(" events")[0])
    assert missing > 0
    rec = store.recording(result.recording_id)
    assert rec.info.event_count == result.stats.stored == s.stored > 0
    for seq in _per_process(store, result.recording_id).values():
        assert _is_prefix(seq)
    assert store.db.query_one("PRAGMA integrity_check")[0] == "ok"
