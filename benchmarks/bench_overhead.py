"""Overhead on the target: gen_server call throughput untraced, traced by ElixirScope
(handle_call/3 with returns, and the full state-history mode), and traced by :dbg with the
same spec to a process: with a no-op handler fun (dbg's cheapest process tracer) and with
dbg's default handler, which formats every message (output to /dev/null) - same node, same run.

    .venv/bin/python benchmarks/bench_overhead.py [--calls 100000]

Goal: our slowdown <= dbg's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile

from _bench_common import bench_limits, load_workload
from bench_ingest import CountingSink
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node


async def traced_by_us(conn, store, server, calls: int, plan: CapturePlan, sink=None) -> tuple[int, int]:
    rec = sink if sink is not None else store.create_recording("overhead", spec={}, limits={})
    s = await CaptureSession.start(conn, rec, plan, bench_limits())
    us = await conn.rpc("es_bench_wl", "calls", [server, calls], timeout=600)
    result = await s.stop(timeout=120)
    return us, result.stats.offered


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args()
    n = args.calls
    target = start_node("erl")
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_workload(conn)
            server = await conn.rpc("es_bench_wl", "start_server", [])
            await conn.rpc("es_bench_wl", "calls", [server, n // 10])  # warm up
            with tempfile.TemporaryDirectory() as tmp:
                store = TraceStore.open(os.path.join(tmp, "overhead.db"))
                rows = []
                spec = compile_spec("es_bench_wl:handle_call/3 -> return")
                # warm up every path once (code loading, first batches) before measuring
                await traced_by_us(conn, store, server, n // 10, CapturePlan(specs=(spec,), call_procs=(server,)))
                await conn.rpc("es_bench_wl", "dbg_calls", [server, n // 10, Atom("x")], timeout=600)
                base = await conn.rpc("es_bench_wl", "calls", [server, n], timeout=600)
                rows.append(("untraced", base, 0))
                us, offered = await traced_by_us(conn, store, server, n,
                                                 CapturePlan(specs=(spec,), call_procs=(server,)))
                rows.append(("ElixirScope handle_call/3 + return", us, offered))
                us, offered = await traced_by_us(conn, store, server, n,
                                                 CapturePlan(specs=(spec,), call_procs=(server,)), CountingSink())
                rows.append(("  same, batches counted in Python, not stored", us, offered))
                dbg = await conn.rpc("es_bench_wl", "dbg_calls", [server, n, Atom("x")], timeout=600)
                rows.append((":dbg same spec, no-op handler fun", dbg, 2 * n))
                dbg_default = await conn.rpc("es_bench_wl", "dbg_calls_default", [server, n], timeout=600)
                rows.append((":dbg same spec, default handler (to /dev/null)", dbg_default, 2 * n))
                us, offered = await traced_by_us(conn, store, server, n,
                                                 CapturePlan(state_modules=("es_bench_wl",), call_procs=(server,)))
                rows.append(("ElixirScope state history (calls+returns+states)", us, offered))
                base2 = await conn.rpc("es_bench_wl", "calls", [server, n], timeout=600)
                rows.append(("untraced (again)", base2, 0))
            untraced = (base + base2) / 2
            print(f"{n} gen_server:call round trips per run")
            for label, us, events in rows:
                rate = n / (us / 1e6)
                print(f"  {label:<50} {rate:>10,.0f} calls/s  slowdown {us / untraced:5.2f}x"
                      + (f"  ({events} records)" if events else ""))
            ours = rows[1][1]
            print(f"our slowdown / dbg's (no-op handler): {ours / rows[3][1]:.2f} "
                  f"(without the store's CPU: {rows[2][1] / rows[3][1]:.2f}); "
                  f"/ dbg's (default handler): {ours / rows[4][1]:.2f}  (goal <= 1.0)")
    finally:
        target.stop()


if __name__ == "__main__":
    asyncio.run(main())
