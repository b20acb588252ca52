"""Tracer shards (agent 23): a capture of processes given by pid, on a node with several
schedulers, has more than one tracer process - each a share of the traced processes, doing the
fast path on its own scheduler and handing encoded segments to the agent (docs/capture.md,
"Tracer shards"). What the store receives must stay exactly as good as with one tracer: the
same records per process in the same order, every limit counted exactly, and no tracer left on
the node however the capture ends. Real nodes; the workload (tests/fixtures/erlang/es_shards.erl)
is deterministic per process, so a one-tracer capture of it is the reference."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, ImproperList, Pid, Ref
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.erlang_fixtures import compile_erlang_fixtures
from support.capture_checks import check_counts
from support.nodes import start_node

A = Atom
WORKERS = 8
CALLS = 1500  # per worker: a call, a return and a send each, ~36k records a capture
WIDE = dict(max_events=10_000_000, max_rate=10_000_000, max_seconds=60, max_queue=1_000_000,
            max_buffer=1_000_000)


@pytest.fixture(scope="module")
def beams(tmp_path_factory):
    return compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))


@pytest.fixture(scope="module")
def shard_node(beams):
    node = start_node("erl", code_paths=[beams], extra_args=["+S", "2"])
    yield node
    node.stop()


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "shards.db")
    yield s
    s.close()


def _plan(workers) -> CapturePlan:
    return CapturePlan(specs=(compile_spec("es_shards:f/2 -> return"),),
                       call_procs=tuple(workers), message_procs=tuple(workers))


async def _start(conn, store, workers, limits, name):
    rec = store.create_recording(name, spec={}, limits=limits.as_dict())
    s = await CaptureSession.start(conn, rec, _plan(workers), limits)
    return s, list(s.info.get("tracer_shards") or [])


async def _tracers(conn, pids):
    return [(await conn.rpc("erlang", "trace_info", [p, A("tracer")]))[1] for p in pids]


async def _alive(conn, pids):
    return [await conn.rpc("erlang", "is_process_alive", [p]) for p in pids]


async def _until(pred, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if await pred():
            return True
        await asyncio.sleep(0.05)
    return await pred()


async def _no_tracer_left(conn, workers, shards, agent) -> None:
    async def clean():
        return (await _tracers(conn, workers) == [[]] * len(workers)
                and not any(await _alive(conn, [*shards, agent])))
    assert await _until(clean), (await _tracers(conn, workers), await _alive(conn, [*shards, agent]))


def _norm(t):
    """A payload with its pids and references blanked (they differ from run to run, the rest
    must not)."""
    if isinstance(t, Pid):
        return "pid"
    if isinstance(t, Ref):
        return "ref"
    if isinstance(t, ImproperList):
        return ("improper", _norm(list(t.items)), _norm(t.tail))
    if isinstance(t, tuple):
        return tuple(_norm(x) for x in t)
    if isinstance(t, list):
        return [_norm(x) for x in t]
    if isinstance(t, dict):
        return {_norm(k): _norm(v) for k, v in t.items()}
    return t


def _per_worker(store, result, key=lambda args: args[0]) -> dict[int, list]:
    """Each traced worker's records in stored order as (kind, payload), keyed by the worker's
    number (``key`` of its first call's arguments); checks each process's times increase."""
    rec = store.recording(result.recording_id)
    events = list(rec.events(limit=100_000))
    assert len(events) < 100_000
    assert not any(b"hunter2" in (e.payload_bytes or b"") for e in events)
    by_pid: dict[int, list] = {}
    for e in events:
        if e.kind.name.lower() in ("mark", "gap"):
            continue
        by_pid.setdefault(e.pid, []).append(e)
    out = {}
    for evs in by_pid.values():
        stamps = [(e.ts, e.uniq) for e in evs]
        assert stamps == sorted(stamps)
        # unique but for a state record, which has its callback's call or return time
        assert len(set(stamps)) == len([e for e in evs if e.kind.name != "STATE" or e.aux == 0])
        first_call = next(e for e in evs if e.kind.name == "CALL")
        out[key(first_call.payload)] = [(e.kind.name.lower(), _norm(e.payload)) for e in evs]
    return out


async def test_sharded_records_are_those_of_one_tracer(shard_node, store):
    """The same workload captured with one tracer and with shards: per process the very same
    records in the same order, nothing lost, and the shards really shared the processes."""
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        got = {}
        for max_shards in (1, 4):
            workers = await conn.rpc("es_shards", "start", [WORKERS])
            limits = CaptureLimits(**WIDE, tracer_shards=max_shards)
            s, shards = await _start(conn, store, workers, limits, f"shards{max_shards}")
            tracers = await _tracers(conn, workers)
            await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
            await asyncio.sleep(1.5)  # the tracer guard (every second) finds the shards ours
            result = await s.stop(timeout=60)
            assert result.end_reason == "stopped", result
            check_counts(store, result)
            assert result.stats.dropped == 0
            if max_shards == 1:
                assert shards == [] and set(tracers) == {s.agent}
            else:
                # one per scheduler (+S 2), each the tracer of some of the workers
                assert len(shards) == 2 and set(tracers) == set(shards), (shards, tracers)
            await _no_tracer_left(conn, workers, shards, s.agent)
            got[max_shards] = _per_worker(store, result)
    one, sharded = got[1], got[4]
    assert sorted(one) == sorted(sharded) == list(range(1, WORKERS + 1))
    for w in one:
        # go received, CALLS x (call, return, send), done sent
        assert len(one[w]) == 3 * CALLS + 2
        assert sharded[w] == one[w], w
        # the secret in every 100th result was redacted on the node, by whichever tracer
        assert sum(1 for k, p in sharded[w] if k == "return" and p[2] == {A("password"): A("[REDACTED]")}) \
            == CALLS // 100


async def test_sharded_count_limit_is_exact(shard_node, store):
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        limits = CaptureLimits(**{**WIDE, "max_events": 5000})
        s, shards = await _start(conn, store, workers, limits, "count")
        assert len(shards) == 2
        # 8 x 302 records: every process and function interned, so the shards make the records
        # that reach the limit (a process's first records go through the agent)
        await conn.rpc("es_shards", "go", [workers, 100], timeout=120)
        await asyncio.sleep(0.3)
        await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
        result = await s.wait(30)
        assert result.end_reason == "max_events", result
        assert result.stats.offered == 5000 and result.stats.dropped == 0, result.stats
        check_counts(store, result)
        await _no_tracer_left(conn, workers, shards, s.agent)


async def test_sharded_rate_limit_counts_every_drop(shard_node, store):
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        limits = CaptureLimits(**{**WIDE, "max_rate": 3000, "rate_trip_seconds": 100})
        s, shards = await _start(conn, store, workers, limits, "rate")
        assert len(shards) == 2
        await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
        result = await s.stop(timeout=60)
        assert result.stats.dropped > 0, result.stats
        gaps = store.recording(result.recording_id).gaps()
        assert gaps and {g.reason for g in gaps} == {"rate"}
        check_counts(store, result)


async def test_sharded_backpressure_counts_every_drop(shard_node, store):
    # a buffer of 50 records: nearly every segment finds it full and is dropped whole (one
    # backpressure drop per segment, not one per record); every drop counted, the gaps exact
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        limits = CaptureLimits(**{**WIDE, "max_buffer": 50})
        s, shards = await _start(conn, store, workers, limits, "backpressure")
        assert len(shards) == 2
        await conn.rpc("es_shards", "go", [workers, 100], timeout=120)   # every process interned
        await asyncio.sleep(0.3)
        await conn.rpc("es_shards", "go", [workers, CALLS], timeout=120)
        result = await s.stop(timeout=60)
        assert result.end_reason == "stopped", result
        assert result.stats.dropped > 0 and result.stats.stored > 0, result.stats
        gaps = store.recording(result.recording_id).gaps()
        assert gaps and {g.reason for g in gaps} == {"backpressure"}, [g.reason for g in gaps]
        check_counts(store, result)
        await _no_tracer_left(conn, workers, shards, s.agent)


async def test_a_shard_killed_ends_the_capture_with_a_reason(shard_node, store):
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        s, shards = await _start(conn, store, workers, CaptureLimits(**WIDE), "killed")
        assert len(shards) == 2
        await conn.rpc("es_shards", "go", [workers, 200], timeout=120)
        await asyncio.sleep(0.3)  # the records so far reach the store
        await conn.rpc("erlang", "exit", [shards[0], A("kill")])
        result = await s.wait(30)
        assert result.end_reason == "error", result
        rec = store.recording(result.recording_id)
        assert [g.reason for g in rec.gaps()] == ["tracer_shard_down"]
        # everything made before the kill is stored: each worker's 200 calls, returns, sends
        per = _per_worker(store, result)
        assert sorted(per) == list(range(1, WORKERS + 1))
        assert all(len(v) == 3 * 200 + 2 for v in per.values()), {w: len(v) for w, v in per.items()}
        check_counts(store, result)
        await _no_tracer_left(conn, workers, shards, s.agent)


async def test_no_tracer_left_when_the_agent_is_killed(shard_node, store):
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        s, shards = await _start(conn, store, workers, CaptureLimits(**WIDE), "agent_killed")
        assert len(shards) == 2
        await conn.rpc("es_shards", "go", [workers, 100], timeout=120)
        await conn.rpc("erlang", "exit", [s.agent, A("kill")])
        result = await s.wait(30)
        assert result.end_reason == "agent_down", result
        await _no_tracer_left(conn, workers, shards, s.agent)


async def test_no_tracer_left_when_python_disconnects(shard_node, store):
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        workers = await conn.rpc("es_shards", "start", [WORKERS])
        s, shards = await _start(conn, store, workers, CaptureLimits(**WIDE), "disconnect")
        agent = s.agent
        assert len(shards) == 2
        await conn.rpc("es_shards", "go", [workers, 100], timeout=120)
    # the Python node is gone: the agent's monitor of its owner fires (noconnection)
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        await _no_tracer_left(conn, workers, shards, agent)


async def test_one_scheduler_keeps_one_tracer(beams, store):
    node1 = start_node("erl", code_paths=[beams], extra_args=["+S", "1"])
    try:
        async with Node() as node:
            conn = await node.connect(node1.name, cookie=node1.cookie)
            workers = await conn.rpc("es_shards", "start", [WORKERS])
            s, shards = await _start(conn, store, workers, CaptureLimits(**WIDE), "one_scheduler")
            assert shards == [] and set(await _tracers(conn, workers)) == {s.agent}
            await conn.rpc("es_shards", "go", [workers, 300], timeout=120)
            result = await s.stop(timeout=60)
            assert result.end_reason == "stopped"
            per = _per_worker(store, result)
            assert all(len(v) == 3 * 300 + 2 for v in per.values()) and len(per) == WORKERS
            check_counts(store, result)
            await _no_tracer_left(conn, workers, [], s.agent)
    finally:
        node1.stop()


async def test_stack_guard_acts_on_a_process_a_shard_traces(shard_node, store):
    """The agent's stack guard needs to know who calls a return-traced function; a shard hands
    it such a call (watch/2) when its caller is new to that function. Two receive loops, so two
    shards: the pinged loop's stack stops growing and the guard says which function."""
    wave = 2000
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        await conn.rpc("code", "ensure_loaded", [A("es_loop")])
        loops = [await conn.rpc("es_loop", "start", []) for _ in range(2)]
        limits = CaptureLimits(**WIDE)
        rec = store.create_recording("guard", spec={}, limits=limits.as_dict())
        plan = CapturePlan(specs=(compile_spec("es_loop:loop/1 -> return"),), call_procs=tuple(loops))
        s = await CaptureSession.start(conn, rec, plan, limits)
        shards = list(s.info.get("tracer_shards") or [])
        assert len(shards) == 2
        sizes = []
        for _ in range(30):
            sizes.append(await conn.rpc("es_loop", "wave", [loops[0], wave]))
            if len(sizes) >= 2 and sizes[-1] == sizes[-2]:
                break
        result = await s.stop(timeout=60)
        for p in loops:
            await conn.rpc("erlang", "exit", [p, A("kill")])
    assert len(sizes) < 30 and sizes[-1] >= limits.stack_guard_words, sizes
    guard = [g for g in store.recording(result.recording_id).gaps() if g.reason == "stack_guard"]
    assert len(guard) == 1 and "es_loop:loop/1" in guard[0].detail and str(loops[0]) in guard[0].detail
    check_counts(store, result)


async def test_sharded_state_history_is_that_of_one_tracer(shard_node, store):
    """gen_server callbacks with their state before and after (the shard's fast path makes
    both records) and the start checkpoints (the agent's helper): the same per process."""
    async with Node() as node:
        conn = await node.connect(shard_node.name, cookie=shard_node.cookie)
        got = {}
        for max_shards in (1, 4):
            servers = await conn.rpc("es_shard_srv", "start", [4])
            limits = CaptureLimits(**WIDE, tracer_shards=max_shards)
            rec = store.create_recording(f"states{max_shards}", spec={}, limits=limits.as_dict())
            plan = CapturePlan(state_modules=("es_shard_srv",), call_procs=tuple(servers))
            s = await CaptureSession.start(conn, rec, plan, limits)
            assert len(s.info.get("tracer_shards") or []) == (0 if max_shards == 1 else 2)
            await conn.rpc("es_shard_srv", "calls", [servers, 500], timeout=120)
            result = await s.stop(timeout=60)
            assert result.end_reason == "stopped" and result.stats.dropped == 0, result
            check_counts(store, result)
            got[max_shards] = _per_worker(store, result, key=lambda args: args[2][0])
            for p in servers:
                await conn.rpc("erlang", "exit", [p, A("kill")])
    assert sorted(got[1]) == sorted(got[4]) == [1, 2, 3, 4]
    for w, recs in got[1].items():
        # the start checkpoint, then 500 x (call, state before, return, state after)
        assert len(recs) == 1 + 4 * 500 and recs[0] == ("state", (A("checkpoint"), (w, 0, [])))
        assert got[4][w] == recs, w


async def test_otp27_trace_sessions_keep_one_tracer(tmp_path_factory, store):
    """A trace session (OTP 27+) has one tracer: no shards there, the agent traces as before."""
    node28 = start_node("otp28", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams28"))])
    try:
        async with Node() as node:
            conn = await node.connect(node28.name, cookie=node28.cookie)
            workers = await conn.rpc("es_shards", "start", [WORKERS])
            s, shards = await _start(conn, store, workers, CaptureLimits(**WIDE), "session")
            assert s.mode == "session" and shards == []
            await conn.rpc("es_shards", "go", [workers, 300], timeout=120)
            result = await s.stop(timeout=60)
            assert result.end_reason == "stopped"
            per = _per_worker(store, result)
            assert len(per) == WORKERS and all(len(v) == 3 * 300 + 2 for v in per.values())
            check_counts(store, result)
    finally:
        node28.stop()
