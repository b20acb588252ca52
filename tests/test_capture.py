"""Capture sessions against the real sample app: every capture kind, the limits, the
invariant offered = stored + dropped, redaction and truncation on the BEAM side, and the
target dying mid-capture."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.instrument.capture import CapturePlan, Registered, RunningModule
from elixir_scope.instrument.dist import Node, RpcError
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits, LimitsError
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore
from support.capture_checks import check_counts
from support.nodes import start_node

A = Atom
WL = "Elixir.SampleApp.Workload"
REDACTED = A("[REDACTED]")


@pytest.fixture
def store(tmp_path):
    return TraceStore.open(tmp_path / "capture.db")


async def _start(node_fixture, store, plan, limits=None, name="t"):
    node = Node()
    conn = await node.connect(node_fixture.name, cookie=node_fixture.cookie)
    rec = store.create_recording(name, spec=plan.describe(), limits=(limits or CaptureLimits()).as_dict())
    session = await CaptureSession.start(conn, rec, plan, limits)
    return node, conn, session


def _events(store, result, kind=None):
    return list(store.recording(result.recording_id).events(kind=kind, limit=100000))


async def test_calls_with_guard_and_returns(sample_app_module, store):
    plan = CapturePlan(specs=(compile_spec("SampleApp.Inventory.reserve(sku, qty) when qty > 0 :: return"),))
    node, conn, s = await _start(sample_app_module, store, plan)
    try:
        await conn.rpc(WL, "run", [12])
        result = await s.stop()
    finally:
        await node.close()
    assert result.end_reason == "stopped"
    calls = _events(store, result, EventKind.CALL)
    rets = _events(store, result, EventKind.RETURN)
    assert calls and len(rets) == len(calls)
    assert {(e.mfa.module, e.mfa.function, e.mfa.arity) for e in calls} == {("Elixir.SampleApp.Inventory", "reserve", 2)}
    sku, qty = calls[0].payload
    assert isinstance(sku, bytes) and qty == 1
    assert rets[0].payload in (A("ok"), (A("error"), A("out_of_stock"))) or isinstance(rets[0].payload, (tuple, Atom))
    check_counts(store, result)


async def test_messages_of_a_registered_process_and_of_a_module(sample_app_module, store):
    plan = CapturePlan(message_procs=(Registered("Elixir.SampleApp.Inventory"), RunningModule("Elixir.SampleApp.Cart")))
    node, conn, s = await _start(sample_app_module, store, plan)
    try:
        await conn.rpc(WL, "run", [10])
        result = await s.stop()
    finally:
        await node.close()
    recv = _events(store, result, EventKind.RECEIVE)
    sent = _events(store, result, EventKind.SEND)
    assert recv and sent
    owners = {e.process.reg_name for e in recv if e.process is not None}
    assert "Elixir.SampleApp.Inventory" in owners
    gen_calls = [e for e in recv if isinstance(e.payload, tuple) and e.payload[0] == A("$gen_call")]
    assert gen_calls
    check_counts(store, result)


async def test_process_lifecycle(sample_app_module, store):
    plan = CapturePlan(lifecycle_procs="all")
    node, conn, s = await _start(sample_app_module, store, plan)
    try:
        await conn.rpc("Elixir.SampleApp.Cart", "open", [b"lifecycle_user"])
        await conn.rpc("Elixir.SampleApp.Cart", "close", [b"lifecycle_user"])
        result = await s.stop()
    finally:
        await node.close()
    kinds = {e.kind for e in _events(store, result)}
    assert {EventKind.SPAWN, EventKind.SPAWNED, EventKind.EXIT, EventKind.LINK} <= kinds
    exits = [e.payload for e in _events(store, result, EventKind.EXIT)]
    assert A("shutdown") in exits
    check_counts(store, result)


async def test_genserver_state_history_and_checkpoints(sample_app_module, store):
    plan = CapturePlan(state_modules=("Elixir.SampleApp.Inventory",), checkpoint_ms=200)
    node, conn, s = await _start(sample_app_module, store, plan)
    try:
        await conn.rpc(WL, "run", [8])
        await asyncio.sleep(0.6)
        result = await s.stop()
    finally:
        await node.close()
    states = _events(store, result, EventKind.STATE)
    phases = [e.payload[0] for e in states]
    assert A("before") in phases and A("after") in phases
    assert phases.count(A("checkpoint")) >= 2
    after = next(e.payload[1] for e in states if e.payload[0] == A("after"))
    assert isinstance(after, dict) and b"apple" in after
    check_counts(store, result)


async def test_count_limit(sample_app_module, store):
    plan = CapturePlan(specs=(compile_spec("SampleApp.Cart.handle_call/3 :: return"),))
    node, conn, s = await _start(sample_app_module, store, plan, CaptureLimits(max_events=40))
    try:
        await conn.rpc(WL, "run", [60])
        result = await s.wait(30)
    finally:
        await node.close()
    assert result.end_reason == "max_events"
    assert result.stats.offered == 40 and result.stats.dropped == 0
    check_counts(store, result)


async def test_time_limit(sample_app_module, store):
    plan = CapturePlan(specs=(compile_spec("SampleApp.Cart.handle_call/3"),))
    node, _conn, s = await _start(sample_app_module, store, plan, CaptureLimits(max_seconds=0.5))
    try:
        result = await s.wait(30)
    finally:
        await node.close()
    assert result.end_reason == "max_seconds"
    assert store.recording(result.recording_id).info.end_reason == "max_seconds"


async def test_rate_limit_sheds_with_counted_gaps(sample_app_module, store):
    plan = CapturePlan(specs=(compile_spec("SampleApp.Cart.handle_call/3 :: return"),
                              compile_spec("SampleApp.Inventory.handle_call/3 :: return")))
    limits = CaptureLimits(max_rate=50, rate_trip_seconds=100, max_seconds=20)
    node, conn, s = await _start(sample_app_module, store, plan, limits)
    try:
        await conn.rpc(WL, "run", [400], timeout=60)
        result = await s.stop()
    finally:
        await node.close()
    assert result.stats.dropped > 0
    gaps = store.recording(result.recording_id).gaps()
    assert gaps and {g.reason for g in gaps} == {"rate"}
    check_counts(store, result)


async def test_sustained_rate_stops_the_capture(sample_app_module, store):
    plan = CapturePlan(specs=(compile_spec("SampleApp.Cart.handle_call/3 :: return"),))
    limits = CaptureLimits(max_rate=5, rate_trip_seconds=1, max_seconds=20)
    node, conn, s = await _start(sample_app_module, store, plan, limits)
    try:
        _, bg = await conn.rpc(WL, "start_background", [200])
        try:
            result = await s.wait(40)
        finally:
            await conn.rpc(WL, "stop_background", [bg])
    finally:
        await node.close()
    assert result.end_reason == "max_rate", result
    check_counts(store, result)


KEYFIND = "lists:keyfind(K, N, L) when N == 77 -> return"


async def test_redaction_on_the_beam_side(erl_node_module, store):
    plan = CapturePlan(specs=(compile_spec(KEYFIND),))
    limits = CaptureLimits(redact_patterns=(r"^ssn$",))
    node, conn, s = await _start(erl_node_module, store, plan, limits)
    secret_list = [
        (A("password"), b"hunter2"),
        (b"Authorization", b"Bearer abc"),
        {b"API_KEY": b"k3y", A("nested"): {A("user_token"): b"t0k", A("name"): b"ok", A("token_count"): 1}},
        [(A("ssn"), b"123-45"), (A("city"), b"Paris")],
    ]
    try:
        await conn.rpc("lists", "keyfind", [A("x"), 77, secret_list])
        result = await s.stop()
    finally:
        await node.close()
    call = _events(store, result, EventKind.CALL)[0]
    assert call.redacted and not call.truncated
    _, _, lst = call.payload
    assert lst[0] == (A("password"), REDACTED)
    assert lst[1] == (b"Authorization", REDACTED)
    assert lst[2][b"API_KEY"] == REDACTED
    # a count under a sensitive key is no secret (agent v27): kept
    assert lst[2][A("nested")] == {A("user_token"): REDACTED, A("name"): b"ok", A("token_count"): 1}
    assert lst[3] == [(A("ssn"), REDACTED), (A("city"), b"Paris")]
    assert b"hunter2" not in call.payload_bytes and b"t0k" not in call.payload_bytes


async def test_truncation_on_the_beam_side(erl_node_module, store):
    plan = CapturePlan(specs=(compile_spec(KEYFIND),))
    node, conn, s = await _start(erl_node_module, store, plan, CaptureLimits(max_term_bytes=300))
    try:
        await conn.rpc("lists", "keyfind", [A("x"), 77, [b"x" * 10000, list(range(1000))]])
        await conn.rpc("lists", "keyfind", [A("small"), 77, []])
        result = await s.stop()
    finally:
        await node.close()
    big, small = _events(store, result, EventKind.CALL)[:2]
    assert big.truncated and len(big.payload_bytes) <= 300
    assert b"$truncated" in big.payload_bytes
    assert not small.truncated and small.payload[0] == A("small")


async def test_target_dying_mid_capture_keeps_everything(store):
    target = start_node("erl")
    try:
        plan = CapturePlan(specs=(compile_spec(KEYFIND),), lifecycle_procs="all")
        node, conn, s = await _start(target, store, plan, CaptureLimits(batch_ms=20))
        for i in range(5):
            await conn.rpc("lists", "keyfind", [i, 77, []])
        # wait for the five calls themselves (not a count: with lifecycle_procs="all" the rpc
        # processes' own spawn/exit events can make up any number before the fifth call is in)
        calls = []
        for _ in range(200):
            calls = list(store.recording(s.recording.id).events(kind=EventKind.CALL, limit=100))
            if len(calls) >= 5:
                break
            await asyncio.sleep(0.05)
        assert len(calls) == 5, calls
        kept = s.stored
        target.kill()
        result = await s.wait(60)
        await node.close()
    finally:
        target.stop()
    assert result.end_reason == "node_down"
    rec = store.recording(result.recording_id)
    assert rec.info.end_reason == "node_down"
    # everything stored before the node died is kept (a batch in flight then may add more)
    assert rec.stats.event_count == result.stats.stored >= kept
    assert [g.reason for g in rec.gaps()] == ["node_down"]
    assert len(_events(store, result, EventKind.CALL)) == 5


def test_limits_validate():
    with pytest.raises(LimitsError, match="max_events must be a positive number"):
        CaptureLimits(max_events=0)
    with pytest.raises(LimitsError, match="not a regular expression"):
        CaptureLimits(redact_patterns=("(",))
    with pytest.raises(Exception, match="plan is empty"):
        CapturePlan().agent_config()


async def test_exceptions_are_captured(erl_node_module, store):
    plan = CapturePlan(specs=(compile_spec("lists:nth(N, L) when N == 99 -> return"),))
    node, conn, s = await _start(erl_node_module, store, plan)
    try:
        with pytest.raises(RpcError, match="function_clause"):
            await conn.rpc("lists", "nth", [99, [1, 2]])
        result = await s.stop()
    finally:
        await node.close()
    exc = _events(store, result, EventKind.EXCEPTION)
    assert exc, [e.kind for e in _events(store, result)]
    cls, reason = exc[0].payload
    assert cls == A("error") and reason == A("function_clause")
    assert str(exc[0].mfa).endswith("nth/2")


LIGHT = b"""
-module(es_light).
-behaviour(gen_statem).
-export([start/0, init/1, callback_mode/0, red/3, green/3]).
start() -> {ok, P} = gen_statem:start(es_light, 0, []), P.
init(N) -> {ok, red, N}.
callback_mode() -> state_functions.
red(cast, go, N) -> {next_state, green, N + 1};
red({call, From}, peek, N) -> {keep_state, N, [{reply, From, {red, N}}]}.
green(cast, stop, N) -> {next_state, red, N + 1};
green({call, From}, peek, N) -> {keep_state_and_data, [{reply, From, {green, N}}]}.
"""


async def test_gen_statem_state_history(erl_node_module, store):
    from elixir_scope.instrument.agent.loader import compile_on
    from elixir_scope.instrument.etf import Charlist

    async with Node() as n:
        c = await n.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        beam = await compile_on(c, LIGHT)
        await c.rpc("code", "load_binary", [A("es_light"), Charlist(map(ord, "es_light.erl")), beam])
        light = await c.rpc("es_light", "start", [])
    plan = CapturePlan(state_modules=("es_light",))
    node, conn, s = await _start(erl_node_module, store, plan)
    try:
        await conn.rpc("gen_statem", "cast", [light, A("go")])
        assert await conn.rpc("gen_statem", "call", [light, A("peek")]) == (A("green"), 1)
        await conn.rpc("gen_statem", "cast", [light, A("stop")])
        result = await s.stop()
    finally:
        await node.close()
    states = [(e.payload[0].name, e.payload[1]) for e in _events(store, result, EventKind.STATE)]
    # the start checkpoint comes first: it is taken before any trace flag is set
    assert states[0] == ("checkpoint", (A("red"), 0))
    assert ("before", (A("red"), 0)) in states and ("after", (A("green"), 1)) in states
    assert ("before", (A("green"), 1)) in states and ("after", (A("red"), 2)) in states


STORM = b"""
-module(es_storm).
-export([f/1, start/0, loop/1]).
f(X) -> X.
start() -> spawn(es_storm, loop, [0]).
loop(N) -> f(N), loop(N + 1).
"""


@pytest.fixture
async def storm(erl_node_module):
    from elixir_scope.instrument.agent.loader import compile_on
    from elixir_scope.instrument.etf import Charlist

    async with Node() as n:
        c = await n.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        beam = await compile_on(c, STORM)
        await c.rpc("code", "load_binary", [A("es_storm"), Charlist(map(ord, "es_storm.erl")), beam])
        pid = await c.rpc("es_storm", "start", [])
        yield pid
        await c.rpc("erlang", "exit", [pid, A("kill")])


@pytest.mark.parametrize("limits,reason", [
    (dict(max_queue=200, check_every=100, queue_shed_limit=3), "overload_queue"),
    (dict(max_memory=20_000, check_every=100), "overload_memory"),
], ids=["queue", "memory"])
async def test_overload_stops_the_capture(erl_node_module, store, storm, limits, reason):
    plan = CapturePlan(specs=(compile_spec("es_storm:f/1 -> return"),), call_procs=(storm,))
    lim = CaptureLimits(max_events=10_000_000, max_rate=10_000_000, max_seconds=30, **limits)
    node, _conn, s = await _start(erl_node_module, store, plan, lim)
    try:
        result = await s.wait(60)
    finally:
        await node.close()
    assert result.end_reason == reason, result
    check_counts(store, result)
    if reason == "overload_queue":
        assert result.stats.queue_sheds == 3 and result.stats.dropped > 0
        assert "overload_queue" in {g.reason for g in store.recording(result.recording_id).gaps()}


async def test_a_full_store_ends_the_capture_and_the_agent_cleans_up(erl_node_module, store, storm):
    plan = CapturePlan(specs=(compile_spec("es_storm:f/1 -> return"),), call_procs=(storm,))
    lim = CaptureLimits(max_events=10_000_000, max_rate=10_000_000, max_seconds=30, batch_ms=20)
    node, conn, s = await _start(erl_node_module, store, plan, lim)
    try:
        for _ in range(200):
            if s.stored > 0:
                break
            await asyncio.sleep(0.05)
        with store.db.lock:   # the write thread shares the connection: not between its statements
            pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
            store.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a real SQLITE_FULL
        result = await s.wait(60)
        assert result.end_reason == "store_error" and "refused" in result.detail
        kept = result.stats.stored
        assert kept > 0
        for _ in range(100):  # the agent saw its owner mailbox close, and cleaned up
            flags = await conn.rpc("erlang", "trace_info", [storm, A("flags")])
            if flags == (A("flags"), []):
                break
            await asyncio.sleep(0.1)
        assert flags == (A("flags"), [])
        assert await conn.rpc("erlang", "trace_info", [(A("es_storm"), A("f"), 1), A("traced")]) == (A("traced"), False)
    finally:
        with store.db.lock:
            store.db.conn.execute("PRAGMA max_page_count = 1073741823")
        await node.close()
    assert store.recording(result.recording_id).stats.event_count == kept
