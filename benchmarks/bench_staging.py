"""The store pipeline's CPU per event (instrument/ingest_pipeline.py) when the agent's default
batches (2,000 records) arrive a few milliseconds apart - what a capture keeping up with its node
costs the cores it shares with that node:

- each batch stored as its own job, against staged into jobs of ~1 MB (``MIN_JOB_BYTES``, within
  ``JOB_WAIT_S``) and of 4 MB (within 4x as long), and against batches of 10,000 records each its
  own job (the tuned limits' size);
- staged jobs prepared by the write thread itself (the default while the store keeps up,
  ``SPLIT_BYTES``) against prepared on the prepare thread beside the writer (what it does while
  catching up): two threads handing the GIL back and forth;
- staged jobs all postponed while the batches arrive and stored once they stop (the catch-up
  of a capture whose store yielded to a busy node, instrument/store_yield.py: jobs past 4 MB
  spilled to the file and read back, prepared beside the writer) against stored as they come;
- a store made with 16 KB pages (the default since 7 Dec 2026, store/db.py ``PAGE_SIZE``) against
  one made with SQLite's 4 KB default (stores made before).

The batches are bench_store.py's (call/return records of the capture's shape, built in the
agent's exact format), submitted to a ``StorePipeline`` from an event loop ``--gap-ms`` apart
(default 4: 2,000 records every 4 ms = 500k events/s, bench_ingest's rate), into a fresh store
per run. CPU time per stage (``prepare_cpu``, ``write_cpu``, each counted on the thread that did
it) and of the whole process while the batches were stored (the event loop's included) is the
load-insensitive figure; the WAL bytes per event are what a capture's held checkpoints let
accumulate (store/checkpoints.py ``held_rows_for``). Each variant runs ``--rounds`` (>= 3) times, interleaved; min/median/max
printed with the load average; the last line is one JSON object.

    .venv/bin/python benchmarks/bench_staging.py [--events 200000] [--rounds 3] [--gap-ms 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time

import bench_store
from _bench_common import SHARED_NOTE, load_average, show, spread
from elixir_scope.instrument.ingest_pipeline import JOB_WAIT_S, MIN_JOB_BYTES, SPLIT_BYTES, StorePipeline
from elixir_scope.instrument.store_yield import StoreYield
from elixir_scope.store import TraceStore
from elixir_scope.store.db import PAGE_SIZE

EACH_OWN = "2,000-record batches, each its own job"
STAGED = "2,000-record batches, staged"
APART = "  staged, prepared apart (two threads)"
SMALL_PAGES = "  staged, a store of 4 KB pages"
CAUGHT_UP = "  staged, postponed, caught up after"
# every job postponed from the first (the machine counted busy, the batches back to back), until
# the pipeline is closed: the catch-up alone
POSTPONE_ALL = StoreYield(idle_cores=10_000.0, quiet_s=10_000.0, max_lag_s=10_000.0, sustain_s=0.0)
VARIANTS = {  # batch records, stage bytes, stage wait, split bytes, page size, store_yield
    EACH_OWN: (2000, 0, 0, SPLIT_BYTES, PAGE_SIZE, False),
    STAGED: (2000, MIN_JOB_BYTES, JOB_WAIT_S, SPLIT_BYTES, PAGE_SIZE, False),
    "2,000-record batches, staged 4x longer": (2000, 4 * MIN_JOB_BYTES, 4 * JOB_WAIT_S, SPLIT_BYTES, PAGE_SIZE, False),
    "10,000-record batches, each its own job": (10000, 0, 0, SPLIT_BYTES, PAGE_SIZE, False),
    APART: (2000, MIN_JOB_BYTES, JOB_WAIT_S, 0, PAGE_SIZE, False),
    SMALL_PAGES: (2000, MIN_JOB_BYTES, JOB_WAIT_S, SPLIT_BYTES, 4096, False),
    CAUGHT_UP: (2000, MIN_JOB_BYTES, JOB_WAIT_S, SPLIT_BYTES, PAGE_SIZE, POSTPONE_ALL),
}


def open_store(path: str, page_size: int) -> TraceStore:
    """A new store; with another page size than the default, rebuilt with it (as a store made
    by an earlier version, whose pages it keeps)."""
    store = TraceStore.open(path)
    if page_size != PAGE_SIZE:
        store.close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("VACUUM")
        conn.close()
        store = TraceStore.open(path)
    assert store.db.query_one("PRAGMA page_size")[0] == page_size
    return store


async def run(batch: int, stage_bytes: int, stage_wait: float, split_bytes: int, page_size: int,
              yield_to_node: StoreYield | bool, events: int, gap_ms: float) -> dict:
    bench_store.BATCH = batch
    batches = bench_store.build_batches(events)
    gap = gap_ms * batch / 2000 / 1000  # the same event rate for every batch size
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(os.path.join(tmp, "staging.db"), page_size)
        rec = store.create_recording("staging", spec={}, limits={})
        node = rec.add_node("bench@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
        pipe = StorePipeline(rec, node, stage_bytes=stage_bytes, stage_wait=stage_wait, split_bytes=split_bytes,
                             yield_to_node=yield_to_node)
        cpu = time.process_time()
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
            if not pipe.may_ack():
                await pipe.settle()
            await asyncio.sleep(gap)
        await pipe.close()
        cpu = time.process_time() - cpu
        # the WAL's high-water mark: no checkpoint runs within a run (fewer events than
        # store/checkpoints.py ``held_rows_for`` lets a held capture write between two)
        wal = os.path.getsize(os.path.join(tmp, "staging.db-wal"))
        rec.finish("stopped", {})
        n = pipe.stored
        store.close()
    assert n == sum(b.count for b in batches), n
    return {"prepare": pipe.prepare_cpu * 1e6 / n, "write": pipe.write_cpu * 1e6 / n,
            "both": (pipe.prepare_cpu + pipe.write_cpu) * 1e6 / n, "process": cpu * 1e6 / n, "wal_bytes": wal / n}


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
        for label, params in VARIANTS.items():
            got[label].append(await run(*params, args.events, args.gap_ms))
        loads.append(load_average()[0])
    print(f"{args.events:,} events per run, a 2,000-record batch every {args.gap_ms} ms; CPU us per event, "
          f"min/median/max of {rounds} rounds ({SHARED_NOTE}):")
    out = {}
    for label, rows in got.items():
        col = {k: [r[k] for r in rows] for k in rows[0]}
        print(f"  {label:<42} prepare {show(col['prepare'], '{:.2f}')}  write {show(col['write'], '{:.2f}')}  "
              f"both {show(col['both'], '{:.2f}')}  process {show(col['process'], '{:.2f}')}  "
              f"WAL B/event {show(col['wal_bytes'], '{:.0f}')}")
        out[label] = {k: spread(v) for k, v in col.items()}
    def ratio(a: str, b: str, key: str) -> list[float]:
        return [x[key] / y[key] for x, y in zip(got[a], got[b])]

    staged = ratio(STAGED, EACH_OWN, "both")
    one = ratio(STAGED, APART, "process")
    pages = ratio(STAGED, SMALL_PAGES, "process")
    caught = ratio(CAUGHT_UP, STAGED, "process")
    print(f"staged / each its own job: {show(staged, '{:.2f}')}x the prepare + write CPU; prepared by the writer "
          f"/ apart: {show(one, '{:.2f}')}x the process's CPU; 16 KB / 4 KB pages: {show(pages, '{:.2f}')}x the "
          f"process's CPU; postponed and caught up / stored as they come: {show(caught, '{:.2f}')}x the "
          f"process's CPU; load {show(loads, '{:.2f}')}")
    print(json.dumps({"bench": "staging", "events": args.events, "gap_ms": args.gap_ms, "rounds": rounds,
                      "cpu_us_per_event": out, "staged_vs_unstaged": spread(staged),
                      "writer_vs_apart": spread(one), "pages_16k_vs_4k": spread(pages),
                      "caught_up_vs_staged": spread(caught),
                      "load_avg": spread(loads), "load_avg_end": load_average()}))


if __name__ == "__main__":
    asyncio.run(main())
