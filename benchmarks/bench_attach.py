"""Attach on a node that never saw the agent: connect + handshake, then the agent loaded —
the prebuilt beam (one ``code:load_binary``) against compiling the source on the target (the
fallback), each on its own fresh node, in the same round; and the CPU it costs the target
(``erlang:statistics(runtime)``: CPU of the whole VM, millisecond resolution, measured around
the load only).

Baseline in the same round: connect + handshake alone (what any distribution client pays).
Each round starts fresh nodes (node start-up itself is not timed); ``--rounds`` (>= 3) rounds;
min/median/max printed with the load average; the last line is one JSON object. An attach is
one event, not a rate: each round measures one, on a node no earlier round touched.

    .venv/bin/python benchmarks/bench_attach.py [--rounds 5]

Goal (issue 13): attach, agent included, <= 300 ms on a fresh node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from _bench_common import SHARED_NOTE, load_average, show, spread
from elixir_scope.instrument.agent import ensure_agent
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from support.nodes import otp28_erl, start_node


async def attach(kind: str, use_prebuilt: bool) -> dict:
    target = start_node(kind)
    try:
        async with Node() as node:
            t0 = time.perf_counter()
            conn = await node.connect(target.name, cookie=target.cookie)
            t1 = time.perf_counter()
            cpu0 = (await conn.rpc("erlang", "statistics", [Atom("runtime")]))[0]
            t2 = time.perf_counter()
            res = await ensure_agent(conn, use_prebuilt=use_prebuilt)
            t3 = time.perf_counter()
            cpu1 = (await conn.rpc("erlang", "statistics", [Atom("runtime")]))[0]
            return {"connect_ms": (t1 - t0) * 1e3, "load_ms": (t3 - t2) * 1e3,
                    "attach_ms": (t1 - t0 + t3 - t2) * 1e3, "target_cpu_ms": cpu1 - cpu0, "how": res.how}
    finally:
        target.stop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    variants = [("otp25 prebuilt", "erl", True), ("otp25 compiled on the target", "erl", False)]
    if otp28_erl() is not None:
        variants.append(("otp28 prebuilt", "otp28", True))
    got: dict[str, list[dict]] = {v[0]: [] for v in variants}
    loads = []
    for _ in range(rounds):
        for label, kind, pre in variants:  # interleaved: load hits every variant alike
            got[label].append(await attach(kind, pre))
        loads.append(load_average()[0])
    print(f"attach on a fresh node, min/median/max of {rounds} rounds ({SHARED_NOTE}):")
    out: dict = {"bench": "attach", "rounds": rounds}
    for label, rows in got.items():
        col = {k: [r[k] for r in rows] for k in ("connect_ms", "load_ms", "attach_ms", "target_cpu_ms")}
        hows = sorted({r["how"] for r in rows})
        print(f"  {label:<30} attach {show(col['attach_ms'], '{:.0f}')} ms  (connect + handshake "
              f"{show(col['connect_ms'], '{:.1f}')} ms, agent {show(col['load_ms'], '{:.0f}')} ms)  "
              f"target CPU {show(col['target_cpu_ms'], '{:.0f}')} ms  [{', '.join(hows)}]")
        out[label.replace(" ", "_")] = {k: spread(v) for k, v in col.items()} | {"how": hows}
    print(f"  load average: {show(loads, '{:.2f}')}   (goal: attach <= 300 ms, agent included)")
    out["load_avg"] = spread(loads)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
