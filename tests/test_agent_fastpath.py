"""The agent's fast path (hot/5 in elixir_scope_agent.erl) against its slow path: records of
already interned processes and functions skip the per-event state update and are counted in
one go, and every limit must still land exactly where the slow path puts it. Limits chosen so
that runs of fast records are cut often (tiny batches, an overload check every few records, a
count limit in the middle of a run, a rate limit), on a real node, stored in a real store."""

from __future__ import annotations

import pytest
from elixir_scope.instrument.agent.loader import compile_on
from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore

A = Atom
WL = b"""
-module(es_fastpath_wl).
-export([run/1, f/2, set_password/2, echo/0, chat/1, mixed/1, srv/1, init/1, handle_call/3, burst/2,
         g/1, pending/1, spell/1, sink/0, srv_secret/1]).

f(I, X) -> {I, X}.
set_password(I, Pw) -> {ok, I, Pw}.

run(N) -> run(1, N).
run(I, N) when I > N -> ok;
run(I, N) -> f(I, <<"payload">>), set_password(I, <<"hunter2">>), run(I + 1, N).

init(_) -> {ok, 0}.
handle_call({add, I}, _From, N) -> {reply, {ok, I}, N + 1};
handle_call({secret, I}, _From, _) -> {reply, ok, #{count => I, password => <<"hunter", (integer_to_binary(I))/binary>>}}.

srv_secret(N) ->
    {ok, P} = gen_server:start(es_fastpath_wl, [], []),
    [ok = gen_server:call(P, {secret, I}) || I <- lists:seq(1, N)],
    exit(P, kill),
    ok.

srv(N) ->
    {ok, P} = gen_server:start(es_fastpath_wl, [], []),
    [{ok, I} = gen_server:call(P, {add, I}) || I <- lists:seq(1, N)],
    exit(P, kill),
    ok.

%% N iterations while the agent is suspended: its mailbox fills far beyond max_queue, then
%% nothing more is traced
burst(Agent, N) ->
    erlang:suspend_process(Agent),
    run(N),
    erlang:resume_process(Agent),
    ok.

mixed(N) ->
    [case I rem 2 of 0 -> f(I, binary:copy(<<"x">>, 5000)); 1 -> f(I, <<"small">>) end || I <- lists:seq(1, N)],
    ok.

g(X) -> X.

%% Clean small terms and, among them in the same batches, a secret every 7th call and a local
%% fun every 11th (erlang:external_size/1 overstates a local fun's size on OTP 25).
pending(N) ->
    [case {I rem 7, I rem 11} of
         {0, _} -> g([{password, <<"hunter", (integer_to_binary(I))/binary>>}]);
         {_, 0} -> g(fun() -> I end);
         _ -> g({clean, I})
     end || I <- lists:seq(1, N)],
    ok.

sink() -> receive _ -> sink() end.

%% The integers $p, $a, $s, $s received one after the other, N times: encoded back to back
%% they read as a charlist "pass" (97,$p,97,$a,...) although no single message holds it.
spell(N) ->
    P = case whereis(es_fastpath_sink) of
            undefined -> Q = spawn(fun sink/0), register(es_fastpath_sink, Q), Q;
            Q -> Q
        end,
    [[P ! C || C <- "pass"] || _ <- lists:seq(1, N)],
    ok.

echo() -> receive {From, I, Text} -> From ! {echoed, I, Text}, echo() end.

chat(N) ->
    E = case whereis(es_fastpath_echo) of
            undefined -> P = spawn(fun echo/0), register(es_fastpath_echo, P), P;
            P -> P
        end,
    [begin E ! {self(), I, <<"hello">>}, receive {echoed, I, _} -> ok end end || I <- lists:seq(1, N)],
    ok.
"""


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "fastpath.db")
    yield s
    s.close()


async def _load(conn) -> None:
    beam = await compile_on(conn, WL)
    res = await conn.rpc("code", "load_binary", [A("es_fastpath_wl"), Charlist(map(ord, "es_fastpath_wl.erl")), beam])
    assert res[0] == A("module"), res


async def _capture(target, store, plan, limits, fun: str, n: int):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        await _load(conn)
        rec = store.create_recording("fastpath", spec=plan.describe(), limits=limits.as_dict())
        s = await CaptureSession.start(conn, rec, plan, limits)
        await conn.rpc("es_fastpath_wl", fun, [n], timeout=60)
        result = await s.stop(timeout=60) if s.state.value == "running" else await s.wait(60)
    st = result.stats
    assert st.offered == st.sent + st.dropped, st
    assert st.stored == st.sent, st
    r = store.recording(result.recording_id)
    assert r.stats.event_count == st.stored
    assert sum(g.count for g in r.gaps()) == st.dropped
    return result, r


def _calls(r, function: str):
    evs = [e for e in r.events(kind=(EventKind.CALL, EventKind.RETURN), limit=100000)
           if e.mfa.function == function]
    return [e for e in evs if e.kind == EventKind.CALL], [e for e in evs if e.kind == EventKind.RETURN]


PLAN = CapturePlan(specs=(compile_spec("es_fastpath_wl:f/2 -> return"),
                          compile_spec("es_fastpath_wl:set_password/2 -> return")))


async def test_every_record_in_order_with_runs_cut_often(erl_node_module, store):
    n = 3000
    limits = CaptureLimits(batch_size=7, check_every=5, max_events=100_000, max_rate=1_000_000, max_queue=1_000_000,
                           max_buffer=100_000)
    result, r = await _capture(erl_node_module, store, PLAN, limits, "run", n)
    assert result.stats.dropped == 0
    calls, rets = _calls(r, "f")
    # every call and return, once, in the process's order, with (ts, uniq) strictly increasing
    assert [e.payload[0] for e in calls] == list(range(1, n + 1))
    assert [e.payload for e in rets] == [(i, b"payload") for i in range(1, n + 1)]
    evs = list(r.events(limit=100000))
    keys = [(e.ts, e.uniq) for e in evs if e.kind in (EventKind.CALL, EventKind.RETURN)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 4 * n
    # a function whose name is sensitive: its string arguments and results are redacted on
    # the node for every call, not only the first one (which interns the function)
    pw_calls, pw_rets = _calls(r, "set_password")
    assert len(pw_calls) == len(pw_rets) == n
    assert all(e.payload == [i, A("[REDACTED]")] for i, e in zip(range(1, n + 1), pw_calls))
    assert all(e.payload == (A("ok"), i, A("[REDACTED]")) for i, e in zip(range(1, n + 1), pw_rets))
    assert not any(b"hunter2" in (e.payload_bytes or b"") for e in evs)


async def test_count_limit_lands_exactly_inside_a_run(erl_node_module, store):
    limits = CaptureLimits(batch_size=1000, check_every=1000, max_events=1237, max_rate=1_000_000, max_queue=1_000_000)
    result, r = await _capture(erl_node_module, store, PLAN, limits, "run", 2000)
    assert result.end_reason == "max_events"
    assert result.stats.offered == 1237 and result.stats.dropped == 0
    calls, _ = _calls(r, "f")
    assert [e.payload[0] for e in calls] == list(range(1, len(calls) + 1))


async def test_rate_limit_drops_are_counted_as_gaps(erl_node_module, store):
    limits = CaptureLimits(max_rate=300, rate_trip_seconds=100, max_events=1_000_000, check_every=50,
                           max_queue=1_000_000)
    result, r = await _capture(erl_node_module, store, PLAN, limits, "run", 20_000)
    assert result.stats.dropped > 0
    assert {g.reason for g in r.gaps()} == {"rate"}
    calls, rets = _calls(r, "f")
    seq = [e.payload[0] for e in calls]
    assert seq == sorted(set(seq))  # kept records: in order, none twice
    # at most max_rate records per rate window (one second of the node's clock)
    pw_calls, pw_rets = _calls(r, "set_password")
    kept = calls + rets + pw_calls + pw_rets
    span = (max(e.ts for e in kept) - min(e.ts for e in kept)) / 1e9  # native unit: ns on Linux
    assert len(kept) <= 300 * (int(span) + 2), (len(kept), span)


async def test_messages_both_ways(erl_node_module, store):
    n = 500
    plan = CapturePlan(message_procs=(Registered("es_fastpath_echo"),))
    limits = CaptureLimits(batch_size=11, check_every=7)
    async with Node() as node:  # the echo process must exist before the capture names it
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        await _load(conn)
        await conn.rpc("es_fastpath_wl", "chat", [1])
    result, r = await _capture(erl_node_module, store, plan, limits, "chat", n)
    assert result.stats.dropped == 0
    got = [e.payload for e in r.events(kind=EventKind.RECEIVE, limit=100000)]
    sent = [e.payload for e in r.events(kind=EventKind.SEND, limit=100000)]
    assert [m[1:] for m in got] == [(i, b"hello") for i in range(1, n + 1)]
    assert [m[0] for m in sent] == [(A("echoed"), i, b"hello") for i in range(1, n + 1)]


async def test_truncation_of_every_big_term(erl_node_module, store):
    plan = CapturePlan(specs=(compile_spec("es_fastpath_wl:f/2"),))
    limits = CaptureLimits(max_term_bytes=300)
    result, r = await _capture(erl_node_module, store, plan, limits, "mixed", 400)
    calls, _ = _calls(r, "f")
    assert len(calls) == 400
    for i, e in enumerate(calls, 1):
        if i % 2 == 0:
            assert e.truncated and len(e.payload_bytes) <= 300 and b"$truncated" in e.payload_bytes
        else:
            assert not e.truncated and e.payload == [i, b"small"]


async def test_gen_server_state_history(erl_node_module, store):
    n = 700
    plan = CapturePlan(state_modules=("es_fastpath_wl",))
    limits = CaptureLimits(batch_size=9, check_every=7)
    result, r = await _capture(erl_node_module, store, plan, limits, "srv", n)
    assert result.stats.dropped == 0
    evs = [e for e in r.events(limit=100000) if e.kind in (EventKind.CALL, EventKind.RETURN, EventKind.STATE)]
    evs = [e for e in evs if e.kind == EventKind.STATE or e.mfa.function in ("init", "handle_call")]
    # init: call, return, state after; then per call: call, state before, return, state after
    want = [(EventKind.CALL, None), (EventKind.RETURN, None), (EventKind.STATE, (A("after"), 0))]
    for i in range(1, n + 1):
        want += [(EventKind.CALL, None), (EventKind.STATE, (A("before"), i - 1)),
                 (EventKind.RETURN, None), (EventKind.STATE, (A("after"), i))]
    assert [(e.kind, e.payload if e.kind == EventKind.STATE else None) for e in evs] == want
    calls = [e for e in evs if e.kind == EventKind.CALL][1:]
    assert [e.payload[0] for e in calls] == [(A("add"), i) for i in range(1, n + 1)]
    # a state record has the time, process and function of the record it follows
    for a, b in zip(evs, evs[1:]):
        if b.kind == EventKind.STATE:
            assert (a.ts, a.uniq, a.pid, a.aux) == (b.ts, b.uniq, b.pid, b.aux)


async def test_gen_server_states_with_a_secret_redacted(erl_node_module, store):
    """State records wait in the batch like small call records (state_rec/6 in the agent): a
    password in the state is redacted in every state record, the rest kept."""
    n = 300
    plan = CapturePlan(state_modules=("es_fastpath_wl",))
    limits = CaptureLimits(batch_size=50)
    result, r = await _capture(erl_node_module, store, plan, limits, "srv_secret", n)
    assert result.stats.dropped == 0
    states = [e for e in r.events(kind=EventKind.STATE, limit=100000)]
    after = [e.payload[1] for e in states if e.payload[0] == A("after") and isinstance(e.payload[1], dict)]
    assert after == [{A("count"): i, A("password"): A("[REDACTED]")} for i in range(1, n + 1)]
    assert all(e.redacted for e in states if isinstance(e.payload[1], dict))
    assert not any(b"hunter" in (e.payload_bytes or b"") for e in r.events(limit=100000))


async def test_count_reached_by_shedding_ends_the_capture(erl_node_module, store):
    # a burst far over the mailbox limit, then silence: what the overload check drains counts
    # as offered, and once that reaches max_events the capture ends with max_events (before
    # agent v17 it waited for another trace message - here none comes - until max_seconds)
    limits = CaptureLimits(max_events=2000, max_queue=100, queue_shed_limit=1000, check_every=50,
                           max_seconds=60, max_rate=10_000_000)
    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        await _load(conn)
        rec = store.create_recording("shed", spec=PLAN.describe(), limits=limits.as_dict())
        s = await CaptureSession.start(conn, rec, PLAN, limits)
        await conn.rpc("es_fastpath_wl", "burst", [s.agent, 5000], timeout=60)
        result = await s.wait(30)
    assert result.end_reason == "max_events", result
    assert result.stats.offered >= 2000 and result.stats.dropped > 0
    assert result.stats.offered == result.stats.sent + result.stats.dropped


async def test_small_terms_encoded_per_batch_keep_order_and_redaction(erl_node_module, store):
    """Small terms wait in the batch and are encoded together when it closes (encode_pending/2
    in the agent): a secret among clean records is redacted and only it; a local fun (whose
    size erlang:external_size/1 overstates on OTP 25) makes the batch encode term by term;
    every record in order."""
    n = 700
    limits = CaptureLimits(batch_size=100, max_events=100_000, max_rate=1_000_000, max_queue=1_000_000)
    plan = CapturePlan(specs=(compile_spec("es_fastpath_wl:g/1 -> return"),))
    result, r = await _capture(erl_node_module, store, plan, limits, "pending", n)
    assert result.stats.dropped == 0
    calls, rets = _calls(r, "g")
    assert len(calls) == len(rets) == n
    for i, (c, ret) in enumerate(zip(calls, rets), start=1):
        if i % 7 == 0:
            assert c.redacted and ret.redacted
            assert c.payload == [[(A("password"), A("[REDACTED]"))]]
            assert ret.payload == [(A("password"), A("[REDACTED]"))]
        elif i % 11 == 0:
            assert not c.redacted and type(c.payload[0]).__name__ == "Fun"
        else:
            assert not c.redacted and not ret.redacted
            assert c.payload == [(A("clean"), i)] and ret.payload == (A("clean"), i)
    assert not any(b"hunter" in (e.payload_bytes or b"") for e in r.events(limit=100000))


async def test_a_key_spelled_across_records_redacts_nothing(erl_node_module, store):
    """The batch's one precheck scan finds "pass" spread over four records' encodings; each
    record is then checked alone, and none is changed."""
    limits = CaptureLimits(batch_size=1000, max_events=100_000, max_rate=1_000_000, max_queue=1_000_000)
    plan = CapturePlan(message_procs=(Registered("es_fastpath_sink"),))
    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        await _load(conn)
        await conn.rpc("es_fastpath_wl", "spell", [0])  # registers the receiver
    result, r = await _capture(erl_node_module, store, plan, limits, "spell", 50)
    got = [e for e in r.events(kind=EventKind.RECEIVE, limit=100000)]
    assert [e.payload for e in got] == [ord(c) for c in "pass"] * 50
    assert not any(e.redacted for e in got)
