"""WAL checkpoints wait while a capture stores (store/checkpoints.py ``hold``,
instrument/ingest_pipeline.py): from its first batch until its last is stored, the store's
background checkpoints are asked for only past the held bound (the WAL stays bounded); the one
that came due meanwhile runs when the capture ends, however it ends; queries see every stored
batch all along. Real nodes, a real store; the workload is tests/fixtures/erlang/es_shards.erl."""

from __future__ import annotations

import asyncio
import time

import pytest
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from elixir_scope.store.checkpoints import BackgroundCheckpointer
from support.capture_checks import check_counts
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node

WORKERS = 4
CALLS = 1500  # per worker: a call, a return and a send each, ~18k records a capture
WIDE = dict(max_events=10_000_000, max_rate=10_000_000, max_seconds=60, max_queue=1_000_000,
            max_buffer=1_000_000)


@pytest.fixture(scope="module")
def beams(tmp_path_factory):
    return compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))


@pytest.fixture(scope="module")
def work_node(beams):
    node = start_node("erl", code_paths=[beams])
    yield node
    node.stop()


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "ckpt.db")
    yield s
    s.close()


async def _capture(conn, store, workers):
    rec = store.create_recording("ckpt", spec={}, limits=CaptureLimits(**WIDE).as_dict())
    plan = CapturePlan(specs=(compile_spec("es_shards:f/2 -> return"),), call_procs=tuple(workers),
                       message_procs=tuple(workers))
    return rec, await CaptureSession.start(conn, rec, plan, CaptureLimits(**WIDE))


async def _until(pred, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return pred()


async def test_checkpoints_wait_for_the_capture_and_run_when_it_ends(work_node, store):
    ck = store.db.checkpoints
    ck.rows = 2_000  # a checkpoint would be due many times over during the capture
    async with Node() as node:
        conn = await node.connect(work_node.name, cookie=work_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        rec, s = await _capture(conn, store, workers)
        await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
        assert await _until(lambda: s.stored >= 3 * WORKERS * CALLS), s.stored
        # every batch stored so far is queryable, none was checkpointed
        stored = s.stored
        assert store.recording(rec.id).stats.event_count >= stored >= 3 * WORKERS * CALLS
        assert ck.held
        assert ck.completed == 0 and not ck.busy, (ck.completed, ck.busy, s.stored)
        result = await s.stop(timeout=60)
    assert result.end_reason == "stopped", result
    check_counts(store, result)
    assert not ck.held
    # the checkpoint that came due runs now: the WAL's pages reach the database file
    assert await _until(lambda: ck.completed >= 1 and not ck.busy), (ck.completed, ck.failed)
    assert ck.failed == 0
    other = TraceStore.open(store.db.path, readonly=True)
    assert other.recording(rec.id).stats.event_count == result.stats.stored
    other.close()


async def test_a_held_checkpoint_still_bounds_the_wal(work_node, store):
    ck = store.db.checkpoints
    ck.rows, ck.held_rows = 2_000, 5_000
    async with Node() as node:
        conn = await node.connect(work_node.name, cookie=work_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        rec, s = await _capture(conn, store, workers)
        await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
        # past the held bound: checkpoints run while the capture still holds them
        assert await _until(lambda: ck.completed >= 1), (ck.completed, s.stored)
        assert ck.held and s.state.value == "running"
        result = await s.stop(timeout=60)
    check_counts(store, result)
    assert not ck.held and ck.failed == 0


async def test_the_node_gone_mid_capture_releases_the_checkpoints(beams, store):
    target = start_node("erl", code_paths=[beams])
    ck = store.db.checkpoints
    ck.rows = 2_000
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            workers = await conn.rpc("es_shards", "start", [WORKERS])
            rec, s = await _capture(conn, store, workers)
            await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
            assert await _until(lambda: s.stored >= 3 * WORKERS * CALLS), s.stored
            assert ck.held
            target.kill()
            result = await s.wait(60)
    finally:
        target.stop()
    assert result.end_reason == "node_down", result
    assert not ck.held
    assert await _until(lambda: ck.completed >= 1 and not ck.busy), (ck.completed, ck.failed)
    assert store.recording(rec.id).stats.event_count == result.stats.stored >= 3 * WORKERS * CALLS


def test_holds_nest_and_release_asks_for_the_checkpoint_due(tmp_path):
    """Two captures into one store (a cluster): the checkpoint waits for both."""
    path = tmp_path / "t.db"
    TraceStore.open(path).close()
    ck = BackgroundCheckpointer(path, rows=100, held_rows=1_000)
    ck.hold()
    ck.hold()
    ck.note_rows(500)
    assert not ck.busy
    ck.release()
    assert ck.held and not ck.busy  # the other capture still stores
    ck.release()
    assert not ck.held
    assert ck.busy or ck.completed == 1  # asked for at the last release
    ck.close()
    with pytest.raises(RuntimeError, match="without a hold"):
        ck.release()


def test_a_release_with_too_few_rows_asks_for_nothing(tmp_path):
    path = tmp_path / "t.db"
    TraceStore.open(path).close()
    ck = BackgroundCheckpointer(path, rows=100)
    ck.hold()
    ck.note_rows(99)
    ck.release()
    assert not ck.busy and not ck.running and ck.completed == 0
    ck.close()
