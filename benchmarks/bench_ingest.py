"""End-to-end ingest: events/s from a busy workload on the target into the store, with call +
return tracing, against dbg's file trace port (the BEAM's fastest capture) on the same
workload in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--calls 150000]

Goal: >= 250k events/s and >= 0.5x the file-port rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from _bench_common import bench_limits, load_workload
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node


class CountingSink:
    """Where the capture's batches go when measuring the agent + distribution alone: counts the
    records (header walk, as the store does) and keeps nothing. A measuring tool for the
    decomposition line, not a stand-in for the store in any test."""

    id = 0

    def __init__(self) -> None:
        self.records = 0

    def add_node(self, *a, **kw) -> int:
        return 1

    def ingest_batch(self, node_id, dict_entries, events) -> int:
        n, off, size = 0, 0, len(events)
        while off < size:
            off += 30 + int.from_bytes(events[off + 26:off + 30], "big")
            n += 1
        self.records += n
        return n

    def finish(self, *a, **kw) -> None:
        pass


async def ours(conn, store, calls: int, sink=None) -> tuple[float, int, float]:
    worker = await conn.rpc("es_bench_wl", "spawn_worker", [])
    rec = sink if sink is not None else store.create_recording("bench", spec={}, limits={})
    plan = CapturePlan(specs=(compile_spec("es_bench_wl:f/2 -> return"),), call_procs=(worker,))
    s = await CaptureSession.start(conn, rec, plan, bench_limits())
    want = 2 * calls
    t0 = time.perf_counter()
    us = await conn.rpc("es_bench_wl", "go", [worker, calls], timeout=600)
    while s.stored < want:
        await asyncio.sleep(0.005)
    t1 = time.perf_counter()
    result = await s.stop()
    await conn.rpc("erlang", "exit", [worker, Atom("kill")])
    assert result.stats.dropped == 0, result.stats
    return t1 - t0, s.stored, us / 1e6


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=150_000)
    args = ap.parse_args()
    target = start_node("erl")
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_workload(conn)
            untraced_us = await conn.rpc("es_bench_wl", "go", [await conn.rpc("es_bench_wl", "spawn_worker", []), args.calls])
            with tempfile.TemporaryDirectory() as tmp:
                trace_file = os.path.join(tmp, "dbg.trace")
                dbg_us, size = await conn.rpc("es_bench_wl", "dbg_run", [args.calls, Charlist(map(ord, trace_file))], timeout=600)
                store = TraceStore.open(os.path.join(tmp, "bench.db"))
                secs, stored, wl_secs = await ours(conn, store, args.calls)
                nsecs, nstored, _ = await ours(conn, store, args.calls, CountingSink())
            events = 2 * args.calls
            dbg_rate = events / (dbg_us / 1e6)
            our_rate = stored / secs
            print(f"workload: {args.calls} calls -> {events} call+return events (untraced run {untraced_us / 1e3:.0f} ms)")
            print(f"dbg file trace port : {dbg_rate:>10,.0f} events/s  ({dbg_us / 1e3:.0f} ms, {size / 1e6:.1f} MB file, nothing decoded)")
            print(f"ElixirScope -> store: {our_rate:>10,.0f} events/s  ({secs * 1e3:.0f} ms to the last stored event; "
                  f"workload itself {wl_secs * 1e3:.0f} ms; {stored} stored)")
            print(f"  of which agent + distribution alone (batches counted, not stored): "
                  f"{nstored / nsecs:,.0f} events/s")
            print(f"ratio ours/file-port: {our_rate / dbg_rate:.2f}x   (goal >= 250,000 events/s and >= 0.5x)")
    finally:
        target.stop()


if __name__ == "__main__":
    asyncio.run(main())
