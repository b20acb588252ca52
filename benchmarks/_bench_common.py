"""Shared by the capture benchmarks: a test node, a workload module compiled and loaded on it
the same way as the agent (no file on the target), generous capture limits."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from elixir_scope.instrument.agent.loader import compile_on
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits

SINK = b"""
%% Stands in for the Python owner of a capture (the agent's batches go here): acks every
%% batch, tells Parent once Want records came. Spliced into the benchmarks' Erlang modules
%% (export sink/2).
sink(Want, Parent) -> sink(Want, Parent, 0).
sink(Want, Parent, C) ->
    receive
        {es_batch, A, Seq, _D, <<0, 20, N:32, _/binary>>, _} ->
            A ! {es_ack, Seq},
            C1 = C + N,
            case C < Want andalso C1 >= Want of true -> Parent ! {sink_done, self()}; false -> ok end,
            sink(Want, Parent, C1);
        {es_batch, A, Seq, _, _, _} -> A ! {es_ack, Seq}, sink(Want, Parent, C);
        {es_done, _, _, _} -> Parent ! {sink_end, self()};
        _ -> sink(Want, Parent, C)
    end.
"""

WORKLOAD = b"""
-module(es_bench_wl).
-export([f/2, loop/1, spawn_worker/0, worker/0, go/2, dbg_run/2, server/0, start_server/0,
         calls/2, dbg_calls/3, dbg_calls_default/2, handle_call/3, init/1, storm/0, spawn_storm/0,
         spawn_workers/1, go_all/2, dbg_file/3, dbg_count/2, dbg_calls_file/3, dbg_calls_ts/2,
         untraced/2]).

f(I, X) -> {I, X}.

loop(0) -> ok;
loop(N) -> f(N, <<"payload">>), loop(N - 1).

spawn_worker() -> spawn(es_bench_wl, worker, []).

spawn_storm() -> spawn(es_bench_wl, storm, []).

storm() -> loop(100000), storm().

worker() ->
    receive
        {go, N, From} ->
            T0 = erlang:monotonic_time(microsecond),
            loop(N),
            From ! {done, erlang:monotonic_time(microsecond) - T0},
            worker()
    end.

go(W, N) ->
    W ! {go, N, self()},
    receive {done, Us} -> Us end.

%% The baseline: dbg's file trace port, the BEAM's fastest capture, same workload.
dbg_run(N, File) ->
    W = spawn_worker(),
    dbg:tracer(port, dbg:trace_port(file, File)),
    dbg:p(W, [call, timestamp]),
    dbg:tpl(es_bench_wl, f, 2, [{'_', [], [{return_trace}]}]),
    T0 = erlang:monotonic_time(microsecond),
    go(W, N),
    Ref = erlang:trace_delivered(W),
    receive {trace_delivered, W, Ref} -> ok end,
    dbg:flush_trace_port(),
    T1 = erlang:monotonic_time(microsecond),
    dbg:stop(),
    exit(W, kill),
    {T1 - T0, filelib:file_size(File)}.

%% K workers at once (the multi-process workload): each runs loop(N); the time until the last
%% one is done.
spawn_workers(K) -> [spawn_worker() || _ <- lists:seq(1, K)].

go_all(Ws, N) ->
    T0 = erlang:monotonic_time(microsecond),
    [W ! {go, N, self()} || W <- Ws],
    [receive {done, _} -> ok end || _ <- Ws],
    erlang:monotonic_time(microsecond) - T0.

delivered(Ws) ->
    [begin Ref = erlang:trace_delivered(W), receive {trace_delivered, W, Ref} -> ok end end
     || W <- Ws].

%% Baseline 1: dbg's file trace port (the BEAM's fastest capture), K workers, call + return
%% with timestamps; done when every trace message is in the file.
%% {Microseconds until captured, workload microseconds, file bytes}
dbg_file(K, N, File) ->
    Ws = spawn_workers(K),
    dbg:tracer(port, dbg:trace_port(file, File)),
    [dbg:p(W, [call, timestamp]) || W <- Ws],
    dbg:tpl(es_bench_wl, f, 2, [{'_', [], [{return_trace}]}]),
    T0 = erlang:monotonic_time(microsecond),
    Us = go_all(Ws, N),
    delivered(Ws),
    dbg:flush_trace_port(),
    T1 = erlang:monotonic_time(microsecond),
    dbg:ctpl(), dbg:stop(),
    [exit(W, kill) || W <- Ws],
    {T1 - T0, Us, filelib:file_size(File)}.

%% Baseline 2: dbg forwarding every trace message to a process that counts them (dbg's
%% cheapest process tracer: no formatting); done when the counter has seen them all.
%% {Microseconds until counted, workload microseconds}
dbg_count(K, N) ->
    Ws = spawn_workers(K),
    Want = 2 * K * N,
    Self = self(),
    dbg:tracer(process, {fun(_, C) when C + 1 =:= Want -> Self ! es_counted, C + 1;
                            (_, C) -> C + 1 end, 0}),
    [dbg:p(W, [call, timestamp]) || W <- Ws],
    dbg:tpl(es_bench_wl, f, 2, [{'_', [], [{return_trace}]}]),
    T0 = erlang:monotonic_time(microsecond),
    Us = go_all(Ws, N),
    receive es_counted -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    dbg:ctpl(), dbg:stop(),
    [exit(W, kill) || W <- Ws],
    {T1 - T0, Us}.

%% A tiny gen_server-like call workload for the overhead benchmark (plain gen_server).
start_server() ->
    {ok, P} = gen_server:start(es_bench_wl, [], []),
    P.

server() -> ok.

init(_) -> {ok, 0}.

handle_call(Req, _From, N) -> {reply, Req, N + 1}.

calls(P, N) ->
    T0 = erlang:monotonic_time(microsecond),
    calls_loop(P, N),
    erlang:monotonic_time(microsecond) - T0.

calls_loop(_P, 0) -> ok;
calls_loop(P, N) -> gen_server:call(P, {ping, N}), calls_loop(P, N - 1).

%% The same call workload traced by dbg to a process (dbg's default tracer), same spec.
dbg_calls(P, N, Dummy) ->
    _ = Dummy,
    dbg:tracer(process, {fun(_, C) -> C + 1 end, 0}),
    dbg:p(P, [call]),
    dbg:tpl(es_bench_wl, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Us = calls(P, N),
    dbg:stop(),
    untraced(P, 1000),
    Us.

%% The same, with the trace flags the agent sets (strict monotonic timestamps on every message).
dbg_calls_ts(P, N) ->
    dbg:tracer(process, {fun(_, C) -> C + 1 end, 0}),
    dbg:p(P, [call, strict_monotonic_timestamp]),
    dbg:tpl(es_bench_wl, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Us = calls(P, N),
    dbg:stop(),
    untraced(P, 1000),
    Us.

%% The same call workload traced by dbg's file trace port, same spec.
dbg_calls_file(P, N, File) ->
    dbg:tracer(port, dbg:trace_port(file, File)),
    dbg:p(P, [call, timestamp]),
    dbg:tpl(es_bench_wl, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Us = calls(P, N),
    dbg:flush_trace_port(),
    dbg:ctpl(), dbg:stop(),
    untraced(P, 1000),
    Us.

%% dbg:stop/0 may return while P still names dbg's tracer (the default handler can still be
%% formatting its queue): the next variant of the round would find a tracer active. Clear P's
%% flags and wait (at most Tries x 10 ms) until it has no tracer; after the timed part.
untraced(_P, 0) -> busy;
untraced(P, Tries) ->
    catch erlang:trace(P, false, [all]),
    case erlang:trace_info(P, tracer) of
        {tracer, []} -> ok;
        undefined -> ok;
        _ -> timer:sleep(10), untraced(P, Tries - 1)
    end.

%% dbg as people run it: its default handler formats every trace message (dbg:dhandler/2);
%% the text goes to /dev/null so no console is involved.
dbg_calls_default(P, N) ->
    {ok, Dev} = file:open("/dev/null", [write]),
    dbg:tracer(process, {fun dbg:dhandler/2, Dev}),
    dbg:p(P, [call]),
    dbg:tpl(es_bench_wl, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Us = calls(P, N),
    dbg:stop(),
    untraced(P, 1000),
    file:close(Dev),
    Us.
"""


async def load_workload(conn) -> None:
    beam = await compile_on(conn, WORKLOAD)
    await conn.rpc("code", "purge", [Atom("es_bench_wl")])
    res = await conn.rpc("code", "load_binary", [Atom("es_bench_wl"), Charlist(map(ord, "es_bench_wl.erl")), beam])
    assert res[0] == Atom("module"), res


CAPS = dict(max_events=50_000_000, max_seconds=600, max_rate=50_000_000, max_queue=5_000_000,
            queue_shed_limit=1000, max_memory=4_000_000_000, max_buffer=2_000_000)
"""The caps a capture-rate workload trips at once with the defaults (50,000 events, 20,000 events/s,
a mailbox of 5,000, a buffer of 20,000): raised so that every event is kept and the capture can
be compared with :dbg, which has no caps."""

TUNING = dict(batch_size=10_000, batch_ms=50, window=16, check_every=5_000)
"""Larger batches, a wider window, rarer overload checks: a tuned row, labelled as such."""


def caps_raised(**kw) -> CaptureLimits:
    """What a user gets, but for the caps (``CAPS``): the batching, the window, the overload
    checks and every other limit at their defaults."""
    return CaptureLimits(**{**CAPS, **kw})


def tuned_limits(**kw) -> CaptureLimits:
    """``caps_raised`` plus ``TUNING``."""
    return CaptureLimits(**{**CAPS, **TUNING, **kw})


def spread(xs: list[float]) -> dict[str, float]:
    """min / median / max of a list of figures."""
    import statistics

    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def show(xs: list[float], fmt: str = "{:,.0f}") -> str:
    d = spread(xs)
    return "/".join(fmt.format(d[k]) for k in ("min", "median", "max"))


def load_average() -> list[float]:
    import os

    return [round(x, 2) for x in os.getloadavg()]


SHARED_NOTE = ("the machine is shared (2 cores, up to 8 sessions): compare figures within one "
               "run, with the load average printed beside them")
