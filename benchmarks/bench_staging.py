"""The store pipeline's staging (instrument/ingest_pipeline.py): CPU per event of its prepare and
write threads when the agent's default batches (2,000 records) arrive a few milliseconds apart,
each stored as its own job against staged into jobs of ~1 MB (``MIN_JOB_BYTES``, within
``JOB_WAIT_S``) and of 4 MB (within 4x as long), and against batches of 10,000 records each its
own job (the tuned limits' size).

The batches are bench_store.py's (call/return records of the capture's shape, built in the
agent's exact format), submitted to a ``StorePipeline`` from an event loop ``--gap-ms`` apart
(default 4: 2,000 records every 4 ms = 500k events/s, bench_ingest's rate), into a fresh store
per run. CPU time per thread (``prepare_cpu``, ``write_cpu``) is the load-insensitive figure.
Each variant runs ``--rounds`` (>= 3) times, interleaved; min/median/max printed with the load
average; the last line is one JSON object.

    .venv/bin/python benchmarks/bench_staging.py [--events 200000] [--rounds 3] [--gap-ms 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile

import bench_store
from _bench_common import SHARED_NOTE, load_average, show, spread
from elixir_scope.instrument.ingest_pipeline import JOB_WAIT_S, MIN_JOB_BYTES, StorePipeline
from elixir_scope.store import TraceStore

VARIANTS = {
    "2,000-record batches, each its own job": (2000, 0, 0),
    "2,000-record batches, staged": (2000, MIN_JOB_BYTES, JOB_WAIT_S),
    "2,000-record batches, staged 4x longer": (2000, 4 * MIN_JOB_BYTES, 4 * JOB_WAIT_S),
    "10,000-record batches, each its own job": (10000, 0, 0),
}


async def run(batch: int, stage_bytes: int, stage_wait: float, events: int, gap_ms: float) -> dict:
    bench_store.BATCH = batch
    batches = bench_store.build_batches(events)
    gap = gap_ms * batch / 2000 / 1000  # the same event rate for every batch size
    with tempfile.TemporaryDirectory() as tmp:
        store = TraceStore.open(os.path.join(tmp, "staging.db"))
        rec = store.create_recording("staging", spec={}, limits={})
        node = rec.add_node("bench@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
        pipe = StorePipeline(rec, node, stage_bytes=stage_bytes, stage_wait=stage_wait)
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
            if not pipe.may_ack():
                await pipe.settle()
            await asyncio.sleep(gap)
        await pipe.close()
        rec.finish("stopped", {})
        n = pipe.stored
        store.close()
    assert n == sum(b.count for b in batches), n
    return {"prepare": pipe.prepare_cpu * 1e6 / n, "write": pipe.write_cpu * 1e6 / n,
            "both": (pipe.prepare_cpu + pipe.write_cpu) * 1e6 / n}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gap-ms", type=float, default=4.0, help="between two 2,000-record batches")
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    got: dict[str, list[dict]] = {k: [] for k in VARIANTS}
    loads = []
    for _ in range(rounds):
        for label, (batch, stage, wait) in VARIANTS.items():
            got[label].append(await run(batch, stage, wait, args.events, args.gap_ms))
        loads.append(load_average()[0])
    print(f"{args.events:,} events per run, a 2,000-record batch every {args.gap_ms} ms; CPU us per event, "
          f"min/median/max of {rounds} rounds ({SHARED_NOTE}):")
    out = {}
    for label, rows in got.items():
        col = {k: [r[k] for r in rows] for k in rows[0]}
        print(f"  {label:<42} prepare {show(col['prepare'], '{:.2f}')}  write {show(col['write'], '{:.2f}')}  "
              f"both {show(col['both'], '{:.2f}')}")
        out[label] = {k: spread(v) for k, v in col.items()}
    base = [r["both"] for r in got["2,000-record batches, each its own job"]]
    staged = [r["both"] for r in got["2,000-record batches, staged"]]
    ratio = [s / b for s, b in zip(staged, base)]
    print(f"staged / each its own job: {show(ratio, '{:.2f}')}x the prepare + write CPU; load {show(loads, '{:.2f}')}")
    print(json.dumps({"bench": "staging", "events": args.events, "gap_ms": args.gap_ms, "rounds": rounds,
                      "cpu_us_per_event": out, "staged_vs_unstaged": spread(ratio), "load_avg": spread(loads),
                      "load_avg_end": load_average()}))


if __name__ == "__main__":
    asyncio.run(main())
