"""The tracer agent's own cost per record, A/B: this checkout's agent against another revision's
(default ``main``), both loaded on one test node under their own module names, alternated.

First, the same 9,000 fabricated trace messages (19 term shapes: secrets, local funs, terms
over 256 bytes and over ``max_term``) go through both agents under five configurations; the
records, in order (times relative to each run), the interning entries and the counts must be
the same. Then two measures, each
repeated ``--rounds`` times (>= 3) with the variants interleaved:

- **drain**: ``--calls`` real ``gen_server:call`` round trips are traced once (``handle_call/3``
  with ``exception_trace``, strict monotonic timestamps: the agent's flags) into a process that
  keeps the trace messages. Each round, each agent is started with no flags, suspended, given
  those messages (timestamps moved to now, so they are inside the rate window) and resumed; the
  figure is the node's CPU (``erlang:statistics(runtime)``, every scheduler) and the agent's
  reductions per record until an Erlang sink (acking each batch, as the Python owner does) has
  them all. The default redaction keys, as a capture from Python has them; no overload check
  (its memory read walks the mailbox, which holds every message here: bench_agent_cost.py
  measures that walk on its own). Nothing else runs
  on the node meanwhile, so this is the agent's own work per record (receive, encode,
  precheck, batch), the steadiest figure on a shared machine. The node runs with `+sbwt none`
  (no scheduler busy-waiting, whose CPU would be counted too), for both measures.
- **slowdown**: the same call workload traced live by each agent (sink on the node, no Python)
  and by ``:dbg`` forwarding to a counting process, against untraced runs before and after in
  the same round: wall time, noisy on a shared machine.

    .venv/bin/python benchmarks/bench_agent_ab.py [--base main] [--calls 100000] [--rounds 7]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess

from _bench_common import REPO, SHARED_NOTE, SINK, load_average, show, spread
from elixir_scope.instrument.agent.loader import agent_source, compile_on
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import DEFAULT_REDACT_KEYS
from support.nodes import start_node

HARNESS = b"""
-module(es_agent_ab).
-export([start_server/0, init/1, handle_call/3, calls/2, holder/2, drain/2, live/3, dbg_count/2,
         sink/2, hold/2, same/2, f/2, g/1, idle/0]).

start_server() -> {ok, P} = gen_server:start(es_agent_ab, [], []), P.
init(_) -> {ok, 0}.
handle_call(Req, _From, N) -> {reply, Req, N + 1}.

calls(P, N) ->
    T0 = erlang:monotonic_time(microsecond),
    calls_loop(P, N),
    erlang:monotonic_time(microsecond) - T0.
calls_loop(_P, 0) -> ok;
calls_loop(P, N) -> gen_server:call(P, {ping, N}), calls_loop(P, N - 1).

""" + SINK + b"""

config(Procs) ->
    #{patterns => [{{es_agent_ab, handle_call, 3}, [{'_', [], [{exception_trace}]}], [local]}
                   || Procs =/= []],
      call_procs => Procs, max_events => 50000000, max_seconds => 600, max_rate => 50000000,
      max_queue => 5000000, queue_shed_limit => 1000, max_memory => 4000000000,
      max_buffer => 2000000, redact_keys => persistent_term:get(es_agent_ab_keys, [])}.

keep(Acc) -> receive {get, F} -> F ! {kept, lists:reverse(Acc)}; M -> keep([M | Acc]) end.

%% A process that keeps the trace messages of N calls (traced once) and runs every drain.
holder(P, N) ->
    Self = self(),
    H = spawn(es_agent_ab, hold, [P, N]),
    H ! {count, Self},
    receive {count, H, C} -> {H, C} end.

hold(P, N) ->
    record(P, N),
    hold_loop().

hold_loop() ->
    receive
        {count, F} -> F ! {count, self(), length(get(es_msgs))}, hold_loop();
        {drain, Mod, F} -> F ! {drained, self(), drain1(Mod)}, hold_loop();
        stop -> ok
    end.

drain(H, Mod) ->
    H ! {drain, Mod, self()},
    receive {drained, H, R} -> R end.

%% The trace messages of N calls, as a tracer gets them; kept in the calling process.
record(P, N) ->
    K = spawn(fun() -> keep([]) end),
    erlang:trace_pattern({es_agent_ab, handle_call, 3}, [{'_', [], [{exception_trace}]}], [local]),
    erlang:trace(P, true, [call, strict_monotonic_timestamp, {tracer, K}]),
    calls(P, N),
    erlang:trace(P, false, [call]),
    erlang:trace_pattern({es_agent_ab, handle_call, 3}, false, [local]),
    Ref = erlang:trace_delivered(P),
    receive {trace_delivered, P, Ref} -> ok end,
    K ! {get, self()},
    receive {kept, L} -> put(es_msgs, L), length(L) end.

stop(Mod, A, Sink) ->
    {ok, _} = Mod:stop_capture(A),
    receive {sink_end, Sink} -> ok after 10000 -> ok end.

%% {node CPU us, agent reductions, records} for Mod's agent to take the kept messages.
drain1(Mod) ->
    Msgs = get(es_msgs),
    N = length(Msgs),
    Self = self(),
    Sink = spawn(fun() -> sink(N, Self) end),
    %% one overload check at most: each reads process_info(self(), memory), which walks the
    %% whole mailbox - here every message of the run (at the default check_every of 500 that
    %% walk was ~97 % of the figure, bench_agent_cost.py)
    {ok, A, _} = Mod:start_capture(Sink, (config([]))#{check_every => 1 bsl 40}),
    erlang:suspend_process(A),
    Now = erlang:monotonic_time(),
    {M0, _} = element(tuple_size(hd(Msgs)), hd(Msgs)),
    [A ! setelement(tuple_size(M), M, {Mono - M0 + Now, U})
     || M <- Msgs, {Mono, U} <- [element(tuple_size(M), M)]],
    {reductions, R0} = process_info(A, reductions),
    {C0, _} = erlang:statistics(runtime),
    erlang:resume_process(A),
    receive {sink_done, Sink} -> ok after 120000 -> exit(drain_timeout) end,
    {C1, _} = erlang:statistics(runtime),
    {reductions, R1} = process_info(A, reductions),
    stop(Mod, A, Sink),
    {(C1 - C0) * 1000, R1 - R0, N}.

%% Workload microseconds with Mod's agent tracing P live.
live(Mod, P, N) ->
    Self = self(),
    Sink = spawn(fun() -> sink(2 * N, Self) end),
    {ok, A, _} = Mod:start_capture(Sink, config([P])),
    Us = calls(P, N),
    receive {sink_done, Sink} -> ok after 120000 -> exit(live_timeout) end,
    stop(Mod, A, Sink),
    Us.

%% -------- the same records from both agents --------

f(_, _) -> ok.
g(_) -> ok.
idle() -> receive stop -> ok end.

keep_batches(Acc) ->
    receive
        {es_batch, A, Seq, D, Bin, _} -> A ! {es_ack, Seq}, keep_batches([{D, Bin} | Acc]);
        {get, F} -> F ! {batches, self(), lists:reverse(Acc)};
        _ -> keep_batches(Acc)
    end.

%% Fabricated trace messages of processes Ps: calls, returns, exceptions, sends and receives of
%% 19 term shapes (secrets, local funs, terms over 256 bytes and over max_term, ...)
messages(Ps) ->
    Terms = [ok, 1, <<"x">>, lists:seq(1, 100), lists:seq(1, 2000), {password, <<"hunter2">>},
             #{secret => 1, a => [1, 2]}, fun() -> ok end, fun lists:map/2, "string",
             binary:copy(<<"a">>, 300), binary:copy(<<"b">>, 5000), 3.14, make_ref(), self(),
             [{token, <<"abc">>}], {{nested, [deep]}}, -12345678901234567890, <<1:3>>],
    L = length(Ps),
    [begin
         P = lists:nth(I rem L + 1, Ps),
         T = case lists:nth(I rem length(Terms) + 1, Terms) of
                 %% a local fun makes its whole batch encode term by term (external_size/1
                 %% overstates it): only among the first messages, so most batches slice
                 F when is_function(F), I > 700 -> {no_fun, I};
                 T0 -> T0
             end,
         Ts = {I * 10, I},
         case I rem 7 of
             0 -> {trace_ts, P, call, {es_agent_ab, f, [T, I]}, Ts};
             1 -> {trace_ts, P, return_from, {es_agent_ab, f, 2}, T, Ts};
             2 -> {trace_ts, P, send, T, lists:nth((I + 1) rem L + 1, Ps), Ts};
             3 -> {trace_ts, P, 'receive', T, Ts};
             4 -> {trace_ts, P, exception_from, {es_agent_ab, f, 2}, {error, T}, Ts};
             5 -> {trace_ts, P, send, T, self(), Ts};
             _ -> {trace_ts, P, call, {es_agent_ab, g, [T]}, Ts}
         end
     end || I <- lists:seq(1, 9000)].

%% {Records, Stats} of Mod's agent given Msgs in a row (suspended meanwhile: the same path
%% through the agent for both), every record received before the stop
batches(Mod, Msgs, Extra) ->
    K = spawn(fun() -> keep_batches([]) end),
    Cfg = maps:merge((config([]))#{max_seconds => 60}, Extra),
    {ok, A, _} = Mod:start_capture(K, Cfg),
    erlang:suspend_process(A),
    Base = erlang:monotonic_time(),
    [A ! setelement(tuple_size(M), M, {Base + Mono, U}) || M <- Msgs, {Mono, U} <- [element(tuple_size(M), M)]],
    erlang:resume_process(A),
    wait_empty(A, 1000),
    {ok, St} = Mod:stop_capture(A),
    K ! {get, self()},
    receive {batches, K, Bs} -> {records(Base, Bs), St} end.

wait_empty(_, 0) -> ok;
wait_empty(A, Tries) ->
    case process_info(A, message_queue_len) of
        {message_queue_len, 0} -> ok;
        _ -> receive after 10 -> wait_empty(A, Tries - 1) end
    end.

%% Every record of the run in order, {Header, Payload}, times relative to the run's base (the
%% capture_started mark's time and counter are the run's own); the interning entries sorted.
%% Where a batch ends depends on the es_tick timer, so batches are not compared one by one.
records(Base, Batches) ->
    Recs = lists:append([split_records(Base, Bin) || {_, Bin} <- Batches]),
    {Recs, lists:sort(lists:append([D || {D, _} <- Batches]))}.

split_records(Base, <<0, 20, N:32, Rest/binary>>) ->
    HL = 30 * N,
    <<Hs:HL/binary, Ps/binary>> = Rest,
    payloads([H || <<H:30/binary>> <= Hs], Ps, Base);
split_records(_, Other) -> [Other].

payloads([<<K, F, M:64/signed, U:64/signed, PI:32, Aux:32, Size:32>> | Hs], Ps, Base) ->
    <<P:Size/binary, Rest/binary>> = Ps,
    H = case K of
            15 -> <<K, F, 0:128, PI:32, Aux:32, Size:32>>;
            _ -> <<K, F, (M - Base):64/signed, U:64/signed, PI:32, Aux:32, Size:32>>
        end,
    [{H, P} | payloads(Hs, Rest, Base)];
payloads([], <<>>, _) -> [].

%% [{Config, Same, Records}] for ModA and ModB under five configurations
same(ModA, ModB) ->
    Ps = [spawn(es_agent_ab, idle, []) || _ <- lists:seq(1, 5)],
    Msgs = messages(Ps),
    Keys = persistent_term:get(es_agent_ab_keys, []),
    R = [begin
             {Ba, Sa} = batches(ModA, Msgs, Extra),
             {Bb, Sb} = batches(ModB, Msgs, Extra),
             Drop = [peak_memory, peak_queue, batches],
             {Name, Ba =:= Bb andalso maps:without(Drop, Sa) =:= maps:without(Drop, Sb), maps:get(sent, Sa)}
         end || {Name, Extra} <- [{<<"default redaction">>, #{}},
                                  {<<"no redaction keys">>, #{redact_keys => []}},
                                  {<<"max_term_bytes 200">>, #{max_term_bytes => 200}},
                                  {<<"batch_size 7">>, #{batch_size => 7}},
                                  {<<"a redaction pattern">>, #{redact_keys => Keys, redact_patterns => [<<"hunter">>]}}]],
    [exit(P, kill) || P <- Ps],
    R.

dbg_count(P, N) ->
    dbg:tracer(process, {fun(_, C) -> C + 1 end, 0}),
    dbg:p(P, [call, strict_monotonic_timestamp]),
    dbg:tpl(es_agent_ab, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Us = calls(P, N),
    dbg:stop(),
    catch erlang:trace(P, false, [all]),
    Us.
"""


def renamed(source: bytes, module: str) -> bytes:
    """The agent source as module ``module`` (its spawns name the module: every mention)."""
    return re.sub(rb"\belixir_scope_agent\b", module.encode(), source)


def version_of(source: bytes) -> int:
    m = re.search(rb"^version\(\) -> (\d+)\.", source, re.M)
    return int(m.group(1)) if m else -1


async def load(conn, source: bytes, module: str) -> None:
    beam = await compile_on(conn, source)
    await conn.rpc("code", "purge", [Atom(module)])
    res = await conn.rpc("code", "load_binary", [Atom(module), Charlist(map(ord, module + ".erl")), beam])
    assert res[0] == Atom("module"), res


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="main", help="the git revision of the A agent (default main)")
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rounds, n = max(3, args.rounds), args.calls
    base_src = subprocess.run(["git", "show", f"{args.base}:instrument/agent/elixir_scope_agent.erl"],
                              cwd=REPO, check=True, capture_output=True).stdout
    here_src = agent_source()
    variants = {f"A {args.base} (v{version_of(base_src)})": "es_agent_a",
                f"B this checkout (v{version_of(here_src)})": "es_agent_b"}
    ns: dict[str, list[float]] = {k: [] for k in variants}
    red: dict[str, list[float]] = {k: [] for k in variants}
    slow: dict[str, list[float]] = {k: [] for k in [*variants, ":dbg -> counting process"]}
    loads: list[float] = []
    # no scheduler busy-wait: a spinning scheduler's CPU would be counted as the agent's
    target = start_node("erl", extra_args=["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"])
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load(conn, HARNESS, "es_agent_ab")
            # the default redaction, as a capture from Python has it (the precheck is per batch)
            await conn.rpc("persistent_term", "put", [Atom("es_agent_ab_keys"),
                                                      [k.encode() for k in DEFAULT_REDACT_KEYS]])
            await load(conn, renamed(base_src, "es_agent_a"), "es_agent_a")
            await load(conn, renamed(here_src, "es_agent_b"), "es_agent_b")
            same = await conn.rpc("es_agent_ab", "same", [Atom("es_agent_a"), Atom("es_agent_b")], timeout=600)
            server = await conn.rpc("es_agent_ab", "start_server", [])
            await conn.rpc("es_agent_ab", "calls", [server, n // 10])
            # one process keeps the recorded trace messages and runs every drain (each rpc runs
            # in a process of its own)
            holder, kept = await conn.rpc("es_agent_ab", "holder", [server, n], timeout=600)
            assert kept == 2 * n, kept
            for mod in variants.values():  # warm up
                await conn.rpc("es_agent_ab", "live", [Atom(mod), server, n // 10], timeout=600)
            for _ in range(rounds):
                got = {}
                for label, mod in variants.items():
                    us, reds, count = await conn.rpc("es_agent_ab", "drain", [holder, Atom(mod)], timeout=600)
                    got[label] = (us, reds, count)
                for label, (us, reds, count) in got.items():
                    ns[label].append(us * 1000 / count)
                    red[label].append(reds / count)
                b1 = await conn.rpc("es_agent_ab", "calls", [server, n], timeout=600)
                live = {label: await conn.rpc("es_agent_ab", "live", [Atom(mod), server, n], timeout=600)
                        for label, mod in variants.items()}
                live[":dbg -> counting process"] = await conn.rpc("es_agent_ab", "dbg_count", [server, n],
                                                                  timeout=600)
                b2 = await conn.rpc("es_agent_ab", "calls", [server, n], timeout=600)
                for label, us in live.items():
                    slow[label].append(us / ((b1 + b2) / 2))
                loads.append(load_average()[0])
            await conn.rpc("erlang", "send", [holder, Atom("stop")])
    finally:
        target.stop()
    print("the same 9,000 fabricated trace messages through both agents (times relative to the run):")
    for name, ok, sent in same:
        print(f"  {name.decode():<22} {sent} records: {'the same records and counts' if ok else 'DIFFERENT'}")
    print(f"the agent's own cost per record, {2 * n} records of handle_call/3 + return; min/median/max "
          f"of {rounds} rounds, variants alternated ({SHARED_NOTE}):")
    for label in variants:
        print(f"  {label:<34} node CPU {show(ns[label], '{:.0f}')} ns per record, "
              f"{show(red[label], '{:.1f}')} reductions per record")
    print("target slowdown, traced live (sink on the node, no Python):")
    for label, v in slow.items():
        print(f"  {label:<34} {show(v, '{:.2f}')}x")
    a, b = variants
    ratio = [y / x for x, y in zip(ns[a], ns[b])]
    print(f"B / A node CPU per record, same round: {show(ratio, '{:.2f}')}; load {show(loads, '{:.2f}')}")
    print(json.dumps({"bench": "agent_ab", "calls": n, "rounds": rounds, "base": args.base,
                      "same_records": {name.decode(): bool(ok) for name, ok, _ in same},
                      "ns_per_record": {k: spread(v) for k, v in ns.items()},
                      "reductions_per_record": {k: spread(v) for k, v in red.items()},
                      "slowdown": {k: spread(v) for k, v in slow.items()},
                      "b_over_a_cpu": spread(ratio), "load_avg": spread(loads),
                      "load_avg_end": load_average()}))


if __name__ == "__main__":
    asyncio.run(main())
