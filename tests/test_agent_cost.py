"""The agent's own work per record, in reductions: the BEAM's count of the function calls and
BIF work a process does, the same for the same trace messages whatever the machine's load (a
time would not be). Real trace messages of a gen_server (handle_call/3 call and return, the
agent's flags) are recorded once, then given to a running capture's agent while it is
suspended - so it takes them all in a row, as it does under a busy workload - and stored.

Agent v21 spent about 24 reductions per such record here (four function calls per record on
the fast path and five passes over a batch's records when it closed); v22 spends about 15 (the
default redaction keys, the slow path's share - one record in `check_every` - and the acks
included). The bound, about halfway, catches a return of that per-record work; every record must
still be stored (benchmarks/bench_agent_ab.py measures the CPU)."""

from __future__ import annotations

import asyncio

from elixir_scope.instrument.agent.loader import compile_on
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore

A = Atom
WL = b"""
-module(es_cost_wl).
-export([init/1, handle_call/3, never/0, idle/0, holder/1, hold/1, feed/2]).

init(_) -> {ok, 0}.
handle_call(Req, _From, N) -> {reply, Req, N + 1}.
never() -> ok.
idle() -> receive stop -> ok end.

keep(Acc) -> receive {get, F} -> F ! {kept, lists:reverse(Acc)}; M -> keep([M | Acc]) end.

%% A process holding the trace messages of N gen_server calls, as a tracer gets them.
holder(N) ->
    H = spawn(es_cost_wl, hold, [N]),
    H ! {count, self()},
    receive {count, H, C} -> {H, C} end.

hold(N) ->
    {ok, P} = gen_server:start(es_cost_wl, [], []),
    K = spawn(fun() -> keep([]) end),
    erlang:trace_pattern({es_cost_wl, handle_call, 3}, [{'_', [], [{exception_trace}]}], [local]),
    erlang:trace(P, true, [call, strict_monotonic_timestamp, {tracer, K}]),
    [I = gen_server:call(P, I) || I <- lists:seq(1, N)],
    erlang:trace(P, false, [call]),
    erlang:trace_pattern({es_cost_wl, handle_call, 3}, false, [local]),
    Ref = erlang:trace_delivered(P),
    receive {trace_delivered, P, Ref} -> ok end,
    K ! {get, self()},
    Msgs = receive {kept, L} -> L end,
    hold_loop(Msgs).

hold_loop(Msgs) ->
    receive
        {count, F} -> F ! {count, self(), length(Msgs)}, hold_loop(Msgs);
        {feed, Agent, F} ->
            %% the agent is suspended while its mailbox fills (timestamps moved to now: inside
            %% its rate window); its reductions are read before it resumes
            erlang:suspend_process(Agent),
            Now = erlang:monotonic_time(),
            {M0, _} = element(tuple_size(hd(Msgs)), hd(Msgs)),
            [Agent ! setelement(tuple_size(M), M, {Mono - M0 + Now, U})
             || M <- Msgs, {Mono, U} <- [element(tuple_size(M), M)]],
            {reductions, R0} = process_info(Agent, reductions),
            erlang:resume_process(Agent),
            F ! {fed, self(), R0},
            hold_loop(Msgs)
    end.

feed(H, Agent) ->
    H ! {feed, Agent, self()},
    receive {fed, H, R0} -> R0 end.
"""

N = 10_000


async def test_fast_path_reductions_per_gen_server_record(erl_node_module, tmp_path):
    store = TraceStore.open(tmp_path / "cost.db")
    try:
        async with Node() as node:
            conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
            beam = await compile_on(conn, WL)
            res = await conn.rpc("code", "load_binary", [A("es_cost_wl"), Charlist(map(ord, "es_cost_wl.erl")), beam])
            assert res[0] == A("module"), res
            holder, kept = await conn.rpc("es_cost_wl", "holder", [N], timeout=60)
            assert kept == 2 * N, kept
            # the capture's own flags and pattern trace nothing here: every record is fed
            idle = await conn.rpc("erlang", "spawn", [A("es_cost_wl"), A("idle"), []])
            plan = CapturePlan(specs=(compile_spec("es_cost_wl:never/0"),), call_procs=(idle,))
            limits = CaptureLimits(max_events=1_000_000, max_rate=1_000_000, max_queue=1_000_000,
                                   max_buffer=1_000_000, max_seconds=120)
            rec = store.create_recording("cost", spec=plan.describe(), limits=limits.as_dict())
            s = await CaptureSession.start(conn, rec, plan, limits)
            base = s.stored  # the capture_started mark
            r0 = await conn.rpc("es_cost_wl", "feed", [holder, s.agent], timeout=60)
            for _ in range(6000):
                if s.stored >= base + 2 * N or s.state.value != "running":
                    break
                await asyncio.sleep(0.01)
            r1 = (await conn.rpc("erlang", "process_info", [s.agent, A("reductions")]))[1]
            result = await s.stop(timeout=60)
            await conn.rpc("erlang", "exit", [idle, A("kill")])
            await conn.rpc("erlang", "exit", [holder, A("kill")])
        st = result.stats
        assert st.dropped == 0 and st.offered == st.sent == st.stored, st
        r = store.recording(result.recording_id)
        calls = r.events(kind=(EventKind.CALL,), limit=3 * N)
        rets = r.events(kind=(EventKind.RETURN,), limit=3 * N)
        assert len(calls) == len(rets) == N
        assert [e.payload[0] for e in calls] == list(range(1, N + 1))
        assert [e.payload[1] for e in rets] == list(range(1, N + 1))
        per_record = (r1 - r0) / (2 * N)
        assert per_record < 20, f"{per_record:.1f} reductions per record (v22: about 15, v21: about 24)"
    finally:
        store.close()
