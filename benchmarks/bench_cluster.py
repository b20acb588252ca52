"""Multi-node ingest: the same workload on 1, 2 and 3 nodes captured into ONE recording,
against the single-node rate measured in the same run.

Each node runs a worker that calls a traced function N times (call + return records: 2N
events per node). The baseline is one ``CaptureSession`` on one node; the cluster runs use
``capture_cluster`` over 2 and 3 nodes (one agent and one connection per node, one store
writer). The figure is the aggregate rate: events stored per second, from the moment the
workload starts on every node until every event is in the store. Repeated (default 3 times),
printing min/median/max and the load average; the last line is one JSON object.

    .venv/bin/python benchmarks/bench_cluster.py [--calls 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time

from _bench_common import SHARED_NOTE, tuned_limits, load_average, load_workload, show, spread
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.cluster import capture_cluster
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node, unique

PLAN = CapturePlan(specs=(compile_spec("es_bench_wl:f/2 -> return"),))


async def _until_stored(cap, expected: int, timeout: float = 600.0) -> None:
    t_end = time.monotonic() + timeout
    while cap.stored < expected:
        if time.monotonic() > t_end:
            raise RuntimeError(f"only {cap.stored} of {expected} events stored after {timeout}s")
        await asyncio.sleep(0.005)


async def one_run(local: Node, conns: list, store: TraceStore, k: int, calls: int) -> float:
    """Events per second with the workload on the first ``k`` nodes."""
    limits = tuned_limits()
    if k == 1:
        rec = store.create_recording("single", spec={}, limits={})
        cap = await CaptureSession.start(conns[0], rec, PLAN, limits)
    else:
        cap = await capture_cluster(local, [c.node_name for c in conns[:k]], store, f"{k} nodes", PLAN,
                                    limits=limits)
    workers = [await c.rpc("es_bench_wl", "spawn_worker", []) for c in conns[:k]]
    expected = 2 * calls * k
    t0 = time.perf_counter()
    await asyncio.gather(*(c.rpc("es_bench_wl", "go", [w, calls], timeout=600)
                           for c, w in zip(conns, workers)))
    await _until_stored(cap, expected)
    elapsed = time.perf_counter() - t0
    result = await cap.stop(timeout=120)
    if result.stats.stored < expected or result.stats.dropped:
        raise RuntimeError(f"{k} nodes: stored {result.stats.stored}, dropped {result.stats.dropped}, "
                           f"expected {expected}")
    return expected / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50_000, help="traced calls per node per run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cookie = unique("bench")
    nodes = [start_node("erl", cookie=cookie) for _ in range(3)]
    rates: dict[int, list[float]] = {1: [], 2: [], 3: []}
    load_before = load_average()
    try:
        async with Node() as local:
            conns = [await local.connect(n.name, cookie=cookie) for n in nodes]
            for c in conns:
                await load_workload(c)
            with tempfile.TemporaryDirectory() as tmp:
                store = TraceStore.open(os.path.join(tmp, "cluster.db"))
                await one_run(local, conns, store, 1, min(args.calls, 5_000))  # warm-up
                for r in range(args.repeats):
                    for k in (1, 2, 3):  # interleaved: a load change hits every configuration
                        rates[k].append(await one_run(local, conns, store, k, args.calls))
                    print(f"  repeat {r + 1}: " + ", ".join(f"{k} node(s) {rates[k][-1]:,.0f} ev/s"
                                                           for k in (1, 2, 3)), flush=True)
                store.close()
    finally:
        for n in nodes:
            n.stop()
    load_after = load_average()
    print(f"multi-node ingest, {2 * args.calls:,} events per node per run, {args.repeats} repeats "
          "(events/s stored, min/median/max):")
    for k in (1, 2, 3):
        ratio = spread(rates[k])["median"] / spread(rates[1])["median"]
        print(f"  {k} node(s): {show(rates[k])}  (median {ratio:.2f}x the single-node rate)")
    print(f"load average before {load_before}, after {load_after}; {SHARED_NOTE}")
    print(json.dumps({
        "benchmark": "cluster_ingest", "events_per_node": 2 * args.calls, "repeats": args.repeats,
        "single_node_eps": spread(rates[1]), "two_nodes_eps": spread(rates[2]),
        "three_nodes_eps": spread(rates[3]),
        "two_vs_single": round(spread(rates[2])["median"] / spread(rates[1])["median"], 3),
        "three_vs_single": round(spread(rates[3])["median"] / spread(rates[1])["median"], 3),
        "load_average": {"before": load_before, "after": load_after},
    }))


if __name__ == "__main__":
    asyncio.run(main())
