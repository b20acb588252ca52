"""Where the tracer agent's CPU per record goes, against the process :dbg's counting tracer
runs, on the same trace messages.

``--calls`` real ``gen_server:call`` round trips are traced once (``handle_call/3`` with
``return_trace``, strict monotonic timestamps: what bench_overhead.py's capture sets) into a
process that keeps the trace messages (2 per call). Each round, every variant below is given
those messages in a pre-filled mailbox (timestamps moved to now, so they are inside the rate
window) and its node CPU (``erlang:statistics(runtime)``, every scheduler; the node runs with
``+sbwt none``) and reductions are read until it has taken them all:

- ``counting process``: a process that counts its messages with a fun, as :dbg's process
  tracer with ``{fun(_, C) -> C + 1 end, 0}`` does - the goal's baseline (issue 13);
- ``agent, bench limits``: the agent as bench_overhead.py starts it (check_every 5000, the
  default redaction keys and value markers), its batches taken by an Erlang sink that acks
  each one as the Python owner does;
- ``agent, memory read once``: the same with check_every past the run. The pre-filled mailbox
  makes every overload check read ``process_info(self(), memory)``, which walks the whole
  mailbox (off-heap messages): the difference is that walk, large here (the mailbox holds
  every message) and small live, where the agent's mailbox stays within a few thousand;
- ``agent, no redaction``: also no redaction keys and no value markers (a capture can be
  started so; Python's default has them): the difference is the redaction precheck (one
  ``binary:match/2`` over the encoding of each chunk's pending terms) and nothing else.

Repeated ``--rounds`` times (>= 3), variants interleaved; min/median/max with the load
average; the last line is one JSON object.

    .venv/bin/python benchmarks/bench_agent_cost.py [--calls 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json

from _bench_common import SHARED_NOTE, SINK, load_average, show, spread
from bench_agent_ab import load
from elixir_scope.instrument.agent.loader import agent_source
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import DEFAULT_REDACT_KEYS
from support.nodes import start_node

HARNESS = b"""
-module(es_agent_cost).
-export([start_server/0, init/1, handle_call/3, calls/2, holder/2, hold/2, drain/3, sink/2,
         counter/3]).

start_server() -> {ok, P} = gen_server:start(es_agent_cost, [], []), P.
init(_) -> {ok, 0}.
handle_call(Req, _From, N) -> {reply, Req, N + 1}.

calls(_P, 0) -> ok;
calls(P, N) -> gen_server:call(P, {ping, N}), calls(P, N - 1).

""" + SINK + b"""

%% dbg's process tracer with a counting handler (dbg:tracer(process, {Fun, 0})), in short.
counter(Want, Parent, C) ->
    receive
        {go, F} -> counter1(Want, Parent, F, C)
    end.
counter1(Want, Parent, F, C) ->
    receive
        Msg ->
            C1 = F(Msg, C),
            case C1 >= Want of
                true -> Parent ! {counted, self()}, receive stop -> ok end;
                false -> counter1(Want, Parent, F, C1)
            end
    end.

keep(Acc) -> receive {get, F} -> F ! {kept, lists:reverse(Acc)}; M -> keep([M | Acc]) end.

holder(P, N) ->
    Self = self(),
    H = spawn(fun() -> hold(P, N), Self ! {held, self(), length(get(es_msgs))}, hold_loop() end),
    receive {held, H, C} -> {H, C} end.

hold(P, N) ->
    K = spawn(fun() -> keep([]) end),
    erlang:trace_pattern({es_agent_cost, handle_call, 3}, [{'_', [], [{return_trace}]}], [local]),
    erlang:trace(P, true, [call, strict_monotonic_timestamp, {tracer, K}]),
    calls(P, N),
    erlang:trace(P, false, [call]),
    erlang:trace_pattern({es_agent_cost, handle_call, 3}, false, [local]),
    Ref = erlang:trace_delivered(P),
    receive {trace_delivered, P, Ref} -> ok end,
    K ! {get, self()},
    receive {kept, L} -> put(es_msgs, L) end.

hold_loop() ->
    receive
        {drain, Variant, Extra, F} -> F ! {drained, self(), drain1(Variant, Extra)}, hold_loop();
        stop -> ok
    end.

drain(H, Variant, Extra) ->
    H ! {drain, Variant, Extra, self()},
    receive {drained, H, R} -> R end.

config(Extra) ->
    maps:merge(#{max_events => 50000000, max_seconds => 600, max_rate => 50000000,
                 max_queue => 5000000, queue_shed_limit => 1000, max_memory => 4000000000,
                 max_buffer => 2000000, batch_size => 10000, batch_ms => 50, window => 16,
                 check_every => 5000, redact_keys => persistent_term:get(es_agent_cost_keys)},
               Extra).

fill(Pid, Msgs) ->
    Now = erlang:monotonic_time(),
    {M0, _} = element(tuple_size(hd(Msgs)), hd(Msgs)),
    [Pid ! setelement(tuple_size(M), M, {Mono - M0 + Now, U})
     || M <- Msgs, {Mono, U} <- [element(tuple_size(M), M)]],
    ok.

%% {node CPU us, reductions, messages}
drain1(counting, _) ->
    Msgs = get(es_msgs),
    N = length(Msgs),
    Self = self(),
    C = spawn(fun() -> counter(N, Self, 0) end),
    fill(C, Msgs),
    {reductions, R0} = process_info(C, reductions),
    {C0, _} = erlang:statistics(runtime),
    C ! {go, fun(_, X) -> X + 1 end},
    receive {counted, C} -> ok after 120000 -> exit(count_timeout) end,
    {C1, _} = erlang:statistics(runtime),
    {reductions, R1} = process_info(C, reductions),
    C ! stop,
    {(C1 - C0) * 1000, R1 - R0, N};
drain1(Mod, Extra) ->
    Msgs = get(es_msgs),
    N = length(Msgs),
    Self = self(),
    Sink = spawn(fun() -> sink(N, Self) end),
    {ok, A, _} = Mod:start_capture(Sink, config(Extra)),
    erlang:suspend_process(A),
    fill(A, Msgs),
    {reductions, R0} = process_info(A, reductions),
    {C0, _} = erlang:statistics(runtime),
    erlang:resume_process(A),
    receive {sink_done, Sink} -> ok after 120000 -> exit(drain_timeout) end,
    {C1, _} = erlang:statistics(runtime),
    {reductions, R1} = process_info(A, reductions),
    {ok, _} = Mod:stop_capture(A),
    receive {sink_end, Sink} -> ok after 10000 -> ok end,
    {(C1 - C0) * 1000, R1 - R0, N}.
"""

VARIANTS = {
    "counting process (:dbg's handler)": ("counting", {}),
    "agent, bench limits": ("agent", {}),
    "agent, memory read once": ("agent", {"check_every": 1 << 40}),
    "agent, memory read once, no redaction": ("agent", {"check_every": 1 << 40, "redact_keys": [],
                                                        "redact_values": False}),
}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rounds, n = max(3, args.rounds), args.calls
    ns: dict[str, list[float]] = {k: [] for k in VARIANTS}
    red: dict[str, list[float]] = {k: [] for k in VARIANTS}
    loads: list[float] = []
    # no scheduler busy-wait: a spinning scheduler's CPU would be counted as the variant's
    target = start_node("erl", extra_args=["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"])
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load(conn, HARNESS, "es_agent_cost")
            await load(conn, agent_source(), "elixir_scope_agent")
            await conn.rpc("persistent_term", "put", [Atom("es_agent_cost_keys"),
                                                      [k.encode() for k in DEFAULT_REDACT_KEYS]])
            server = await conn.rpc("es_agent_cost", "start_server", [])
            holder, kept = await conn.rpc("es_agent_cost", "holder", [server, n], timeout=600)
            assert kept == 2 * n, kept

            def rpc_args(kind: str, extra: dict) -> list:
                mod = Atom("counting") if kind == "counting" else Atom("elixir_scope_agent")
                return [holder, mod, {Atom(k): v for k, v in extra.items()}]

            for kind, extra in VARIANTS.values():  # warm up
                await conn.rpc("es_agent_cost", "drain", rpc_args(kind, extra), timeout=600)
            for _ in range(rounds):
                for label, (kind, extra) in VARIANTS.items():
                    us, reds, count = await conn.rpc("es_agent_cost", "drain", rpc_args(kind, extra), timeout=600)
                    ns[label].append(us * 1000 / count)
                    red[label].append(reds / count)
                loads.append(load_average()[0])
            await conn.rpc("erlang", "send", [holder, Atom("stop")])
    finally:
        target.stop()
    print(f"{2 * n} trace messages of handle_call/3 + return from a pre-filled mailbox; node CPU and "
          f"reductions per message, min/median/max of {rounds} rounds, variants alternated ({SHARED_NOTE}):")
    for label in VARIANTS:
        print(f"  {label:<40} {show(ns[label], '{:.0f}'):>14} ns   {show(red[label], '{:.1f}'):>16} reductions")
    base = "agent, memory read once"
    walk = [a - b for a, b in zip(ns["agent, bench limits"], ns[base])]
    pre = [a - b for a, b in zip(ns[base], ns["agent, memory read once, no redaction"])]
    vs = [a / max(b, 1.0) for a, b in zip(ns[base], ns["counting process (:dbg's handler)"])]
    print(f"the mailbox walk of the memory check: {show(walk, '{:.0f}')} ns; the redaction precheck: "
          f"{show(pre, '{:.0f}')} ns; agent (memory read once) / counting process: {show(vs, '{:.2f}')}; "
          f"load {show(loads, '{:.2f}')}")
    print(json.dumps({"bench": "agent_cost", "calls": n, "rounds": rounds,
                      "ns_per_message": {k: spread(v) for k, v in ns.items()},
                      "reductions_per_message": {k: spread(v) for k, v in red.items()},
                      "memory_walk_ns": spread(walk), "precheck_ns": spread(pre),
                      "agent_over_counting": spread(vs), "load_avg": spread(loads),
                      "load_avg_end": load_average()}))


if __name__ == "__main__":
    asyncio.run(main())
