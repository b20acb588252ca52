"""Memory under an event storm far above the rate limit: a process calls a traced function
as fast as it can for --seconds (default 60) while the capture keeps the default max_rate
(20k records/s) and must not stop. Samples the agent's memory and mailbox on the target and
this process's RSS every second; at the end the counts must add up:
offered = stored + dropped.

    .venv/bin/python benchmarks/bench_storm.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

import psutil
from _bench_common import load_workload
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    me = psutil.Process()
    target = start_node("erl")
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_workload(conn)
            with tempfile.TemporaryDirectory() as tmp:
                store = TraceStore.open(os.path.join(tmp, "storm.db"))
                rec = store.create_recording("storm", spec={}, limits={})
                limits = CaptureLimits(max_events=100_000_000, max_seconds=args.seconds + 30,
                                       rate_trip_seconds=1_000_000, queue_shed_limit=1_000_000)
                storm = await conn.rpc("es_bench_wl", "spawn_storm", [])
                plan = CapturePlan(specs=(compile_spec("es_bench_wl:f/2 -> return"),), call_procs=(storm,))
                rss0 = me.memory_info().rss
                s = await CaptureSession.start(conn, rec, plan, limits)
                peak_mem = peak_q = peak_rss = 0
                t0 = time.monotonic()
                while time.monotonic() - t0 < args.seconds:
                    await asyncio.sleep(1.0)
                    info = await conn.rpc("erlang", "process_info", [s.agent, [Atom("memory"), Atom("message_queue_len")]])
                    if isinstance(info, list):
                        d = {k.name: v for k, v in info}
                        peak_mem = max(peak_mem, d["memory"])
                        peak_q = max(peak_q, d["message_queue_len"])
                    peak_rss = max(peak_rss, me.memory_info().rss)
                    print(f"  t={time.monotonic() - t0:5.1f}s agent memory {d['memory'] / 1e6:6.2f} MB, "
                          f"mailbox {d['message_queue_len']:>7}, python RSS {me.memory_info().rss / 1e6:6.1f} MB, "
                          f"stored {s.stored}", flush=True)
                await conn.rpc("erlang", "exit", [storm, Atom("kill")])
                result = await s.stop(timeout=120)
                st = result.stats
                gaps = store.recording(result.recording_id).gaps()
            print(f"storm for {args.seconds:.0f}s, end reason {result.end_reason}")
            print(f"agent on the target: peak memory {max(peak_mem, st.peak_memory) / 1e6:.2f} MB, "
                  f"peak mailbox {max(peak_q, st.peak_queue)}, queue sheds {st.queue_sheds}")
            print(f"python RSS: start {rss0 / 1e6:.1f} MB, peak {peak_rss / 1e6:.1f} MB")
            print(f"offered {st.offered:,} = stored {st.stored:,} + dropped {st.dropped:,} "
                  f"-> {'OK' if st.offered == st.stored + st.dropped else 'MISMATCH'}; "
                  f"gap records {len(gaps)} counting {sum(g.count for g in gaps):,}; "
                  f"not offered after the stop {st.over_limit}")
    finally:
        target.stop()


if __name__ == "__main__":
    asyncio.run(main())
