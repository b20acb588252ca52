"""rpc round trip from Python vs an Erlang-to-Erlang rpc between two nodes on this machine.

Baseline, same run, same machine: node A calls ``rpc:call(B, erlang, node, [])`` in a loop
(a tiny module compiled here with ``erlc`` and loaded onto A with ``code:load_binary`` over
our own rpc), timing each call with ``erlang:monotonic_time``. Python times the same call to
B through ``Connection.rpc``. Also printed: pipelined rpc throughput (many calls in flight)
and the agent-less ``process_overview`` over ~1000 processes.

    .venv/bin/python benchmarks/bench_rpc.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.nodes import start_node  # noqa: E402

from elixir_scope.instrument.dist import Connection, Node  # noqa: E402
from elixir_scope.instrument.etf import Atom, Charlist  # noqa: E402
from elixir_scope.instrument.introspect import process_overview  # noqa: E402

BENCH_ERL = r"""
-module(es_bench).
-export([rpc_loop/2, erpc_loop/2, decode_loop/2, send_loop/3]).

%% Send Msg to To N times (tagged with a sequence number); returns microseconds spent sending.
send_loop(To, Msg, N) ->
    {Us, ok} = timer:tc(fun() -> sends(To, Msg, 1, N) end),
    Us.

sends(_, _, I, N) when I > N -> ok;
sends(To, {Tag, Agent, _, Dict, Bin, Stats}, I, N) ->
    To ! {Tag, Agent, I, Dict, Bin, Stats},
    sends(To, {Tag, Agent, I, Dict, Bin, Stats}, I + 1, N).

%% Per-call latency in nanoseconds of N sequential rpc:call/4 to Node.
rpc_loop(Node, N) ->
    [begin
         T0 = erlang:monotonic_time(nanosecond),
         Node = rpc:call(Node, erlang, node, []),
         erlang:monotonic_time(nanosecond) - T0
     end || _ <- lists:seq(1, N)].

erpc_loop(Node, N) ->
    [begin
         T0 = erlang:monotonic_time(nanosecond),
         Node = erpc:call(Node, erlang, node, []),
         erlang:monotonic_time(nanosecond) - T0
     end || _ <- lists:seq(1, N)].

%% Microseconds to binary_to_term every binary in Bins, Rounds times.
decode_loop(Bins, Rounds) ->
    {Us, ok} = timer:tc(fun() -> rounds(Bins, Rounds) end),
    Us.

rounds(_, 0) -> ok;
rounds(Bins, R) -> each(Bins), rounds(Bins, R - 1).

each([]) -> ok;
each([B | Rest]) -> _ = binary_to_term(B), each(Rest).
"""


async def load_bench_module(conn: Connection) -> None:
    """Compile es_bench here and load it on the node without touching its disk."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "es_bench.erl"
        src.write_text(BENCH_ERL)
        subprocess.run(["erlc", "-o", tmp, str(src)], check=True)
        beam = (Path(tmp) / "es_bench.beam").read_bytes()
    result = await conn.rpc("code", "load_binary", [Atom("es_bench"), Charlist.from_text("es_bench.erl"), beam])
    assert result == (Atom("module"), Atom("es_bench")), result


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def line(label: str, samples_us: list[float]) -> str:
    return (f"  {label:<38} p50 {pct(samples_us, 50):8.1f} us   p99 {pct(samples_us, 99):8.1f} us"
            f"   mean {statistics.fmean(samples_us):8.1f} us")


async def main(calls: int) -> None:
    a = start_node("erl")
    b = start_node("erl", cookie=a.cookie)
    try:
        async with Node() as node:
            ca = await node.connect(a.name, cookie=a.cookie)
            cb = await node.connect(b.name, cookie=b.cookie)
            await load_bench_module(ca)
            # warm up both paths
            await ca.rpc("es_bench", "rpc_loop", [Atom(b.name), 200], timeout=60)
            for _ in range(200):
                await cb.rpc("erlang", "node", [])

            erl_ns = await ca.rpc("es_bench", "rpc_loop", [Atom(b.name), calls], timeout=120)
            erpc_ns = await ca.rpc("es_bench", "erpc_loop", [Atom(b.name), calls], timeout=120)
            py_us = []
            for _ in range(calls):
                t0 = time.perf_counter_ns()
                await cb.rpc("erlang", "node", [])
                py_us.append((time.perf_counter_ns() - t0) / 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(cb.rpc("erlang", "node", []) for _ in range(calls)))
            pipelined = calls / (time.perf_counter() - t0)

            print(f"rpc round trip, {calls} sequential calls of erlang:node() to {b.name}")
            print(line("Erlang A -> B rpc:call/4 (baseline)", [n / 1000 for n in erl_ns]))
            print(line("Erlang A -> B erpc:call/4 (baseline)", [n / 1000 for n in erpc_ns]))
            print(line("Python -> B Connection.rpc", py_us))
            ratio = pct(py_us, 50) / pct([n / 1000 for n in erl_ns], 50)
            print(f"  Python p50 / Erlang rpc:call p50 = {ratio:.2f}x")
            print(f"  pipelined: {calls} calls in flight at once -> {pipelined:,.0f} rpc/s")

            spawned = await asyncio.gather(*(cb.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [60_000]])
                                             for _ in range(1000)))
            count = await cb.rpc("erlang", "system_info", [Atom("process_count")])
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                await process_overview(cb, sort_by="memory", limit=20)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"process_overview over {count} processes (top 20 by memory): "
                  f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
            await asyncio.gather(*(cb.rpc("erlang", "exit", [p, Atom("kill")]) for p in spawned))
    finally:
        a.stop()
        b.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))
