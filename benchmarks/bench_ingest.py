"""End-to-end ingest: events/s from a busy workload on the target until the recording is
stored, finished and queryable (its indexes included), into a store that already holds other
recordings — against two baselines run on the same node in the same round:

* ``:dbg`` with the file trace port (the BEAM's fastest capture: nothing decoded, nothing
  indexed), done when every trace message is in the file;
* ``:dbg`` forwarding every trace message to a process that counts them (dbg's cheapest
  process tracer, no formatting), done when the counter has seen them all.

Workload: 1 and 8 processes calling a traced function (call + return tracing, timestamps) in
a tight loop: a capture-rate workload, where tracing is nearly all the work (the slowdown of a
realistic workload is benchmarks/bench_overhead.py's).

Each round runs every variant once, interleaved (so machine load hits all alike); ``--rounds``
(>= 3) rounds; min/median/max printed with the load average; the last line is one JSON object.

Limits: the throughput rows use the default limits with only their caps raised (``caps_raised``:
the defaults cap a capture at 50,000 events, 20,000 events/s and a mailbox of 5,000, which a
workload of this rate exceeds at once); the batch size, the window of unacknowledged batches and
the overload checks are the defaults. One row per workload follows with them tuned (larger
batches, a wider window, rarer checks: ``tuned_limits``, labelled), and one with the *default*
limits, caps included, reporting what a user gets there: how many events were stored and
dropped, and when the capture ended.

    .venv/bin/python benchmarks/bench_ingest.py [--calls 1000000] [--rounds 3] [--prefill 1000000]
        [--store-yield default|on|off]

``--store-yield``: whether our captures' stores postpone their work while the node is busy and
catch up after (instrument/store_yield.py; ``default``: ``ingest_pipeline.STORE_YIELD``) - the
cost it has here is a catch-up that starts later.

With the default 1M calls (2M events) every run lasts about a second or more, the file port's
and the counting process's included; the captures reach their steady state (the store's bound
on what Python holds, 32 MB, is ~450k events).

Also printed: the CPU this Python process spends per event (receiving, decoding and storing),
the load-insensitive view of what the store costs, and how it splits between the event loop's
thread (receiving, decoding, acknowledging - and this script's own polling for the end), the
store pipeline's prepare and write threads (``StorePipeline.prepare_cpu``/``write_cpu``) and
the rest (the WAL checkpoints beside the writer); the same capture with its batches counted,
not stored (``CountingSink``: the agent, the distribution and Python's receive path alone — if
that row keeps up with the file port, the agent is not what limits ingest); and when the
traced processes were done against when the last event was stored, and when the agent's first
batch reached Python (with 8 processes the agent sends little before its traced processes are
done, and the store catches up alone afterwards); and, same round, the same capture with each
batch acknowledged only once stored (a store buffer of 1 byte: the flow before the store
pipeline of instrument/ingest_pipeline.py, which acknowledges while under its bound and
prepares the next batch while the previous one is written): what the pipeline gains. And, same
round, the stored and the counted captures with one tracer process (``tracer_shards=1``): what
the tracer shards gain (agent 23; docs/capture.md, "Tracer shards").

Goal (issue 13): ours >= 0.5x the file-port rate, 1 and 8 processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time

from _bench_common import SHARED_NOTE, caps_raised, tuned_limits, load_average, load_workload, show, spread
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from elixir_scope.store.records import count_records
from support.nodes import start_node


class CountingSink:
    """Where the capture's batches go when measuring the agent + distribution alone: counts the
    records (the segment headers, checked as the store checks them) and keeps nothing. A
    measuring tool for the decomposition line, not a stand-in for the store in any test."""

    id = 0

    def __init__(self) -> None:
        self.records = 0
        self.first_at: float | None = None  # perf_counter() when the first batch arrived

    def add_node(self, *a, **kw) -> int:
        return 1

    def set_node_clock(self, *a, **kw) -> None:
        pass

    def prepare_batch(self, node_id, dict_entries, events, pause=None) -> bytes:
        return events

    def store_prepared(self, *batches) -> int:
        return sum(self.ingest_batch(1, [], events) for events in batches)

    def ingest_batch(self, node_id, dict_entries, events) -> int:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        n = count_records(events)  # the segment headers, checked (store/records.py)
        self.records += n
        return n

    def finish(self, *a, **kw) -> None:
        pass


def prefill(store: TraceStore, events: int) -> None:
    """Other recordings already in the store (finished, indexed), written through the real
    ingest: what a store looks like after a few captures."""
    from bench_store import build_batches

    left = events
    while left > 0:
        n = min(left, 500_000)
        rec = store.create_recording("earlier capture", spec={}, limits={})
        node = rec.add_node("earlier@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
        for b in build_batches(n):
            rec.ingest_batch(node, b.dict_entries, b.events)
        rec.finish("stopped", {})
        left -= n


async def ours(conn, store, procs: int, calls: int, limits: CaptureLimits, *, counted: bool = False,
               ack_after_store: bool = False) -> dict:
    """Seconds from the workload's start until the recording is finished and queryable.
    ``counted``: the batches go to a ``CountingSink`` instead of the store (the agent, the
    distribution and Python's receive path alone: what the store is compared with).
    ``ack_after_store``: a store buffer of 1 byte, so each batch is acknowledged only once
    stored - the flow before the store pipeline (instrument/ingest_pipeline.py), its baseline."""
    workers = await conn.rpc("es_bench_wl", "spawn_workers", [procs])
    rec = CountingSink() if counted else store.create_recording("bench", spec={}, limits=limits.as_dict())
    plan = CapturePlan(specs=(compile_spec("es_bench_wl:f/2 -> return"),), call_procs=tuple(workers))
    s = await CaptureSession.start(conn, rec, plan, limits, **({"store_buffer_bytes": 1} if ack_after_store else {}))
    shards = len(s.info.get("tracer_shards") or [])
    want = 2 * calls * procs
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    us = await conn.rpc("es_bench_wl", "go_all", [workers, calls], timeout=600)
    workload_secs = time.perf_counter() - t0  # the traced processes are done (the rpc's reply)
    while s.stored < want and s.state.value == "running":
        await asyncio.sleep(0.002)
    result = await s.stop(timeout=300)
    # queryable: indexes are live, nothing left to build
    count = rec.records if counted else store.recording(rec.id).info.event_count
    secs = time.perf_counter() - t0
    # the WAL checkpoint that came due while the capture held them runs now (store/checkpoints.py):
    # its CPU is this capture's, and it must not run into the next variant
    ck = store.db.checkpoints
    while ck is not None and getattr(ck, "busy", False):
        await asyncio.sleep(0.002)
    cpu = time.process_time() - c0  # this process: receiving, decoding, storing, publishing
    loop_cpu = time.thread_time() - m0  # the event loop's thread: receiving, decoding (and this polling)
    for w in workers:
        await conn.rpc("erlang", "exit", [w, Atom("kill")])
    first = (rec.first_at - t0) if counted and rec.first_at is not None else None
    per = 1e6 / max(1, count)
    pipe = s.pipeline
    # where this process's CPU went: the event loop's thread, the pipeline's prepare and write
    # threads, and the rest (the WAL checkpoints beside the writer and the one run at the
    # capture's end, store/checkpoints.py)
    split = {"loop_cpu_us": loop_cpu * per, "prepare_cpu_us": pipe.prepare_cpu * per,
             "write_cpu_us": pipe.write_cpu * per,
             "other_cpu_us": (cpu - loop_cpu - pipe.prepare_cpu - pipe.write_cpu) * per}
    return {**split, "secs": secs, "cpu_us_per_event": cpu * per, "stored": count, "dropped": result.stats.dropped,
            "offered": result.stats.offered, "end": result.end_reason, "workload_us": us,
            "workload_secs": workload_secs, "first_batch_secs": first, "shards": shards}


async def one_round(conn, store, tmp: str, procs: int, calls: int) -> dict:
    events = 2 * calls * procs
    trace_file = os.path.join(tmp, f"dbg{procs}.trace")
    file_us, _wl_us, size = await conn.rpc(
        "es_bench_wl", "dbg_file", [procs, calls, Charlist(map(ord, trace_file))], timeout=600)
    os.unlink(trace_file)
    count_us, _wl_us = await conn.rpc("es_bench_wl", "dbg_count", [procs, calls], timeout=600)
    k = await ours(conn, store, procs, calls, caps_raised(), counted=True)
    o = await ours(conn, store, procs, calls, caps_raised())
    t = await ours(conn, store, procs, calls, tuned_limits())
    a = await ours(conn, store, procs, calls, caps_raised(), ack_after_store=True)
    k1 = await ours(conn, store, procs, calls, caps_raised(tracer_shards=1), counted=True)
    o1 = await ours(conn, store, procs, calls, caps_raised(tracer_shards=1))
    # every event stored (plus the agent's own closing records), none dropped
    assert o["stored"] >= events and o["dropped"] == 0, o
    assert t["stored"] >= events and t["dropped"] == 0, t
    assert k["stored"] >= events and k["dropped"] == 0, k
    assert a["stored"] >= events and a["dropped"] == 0, a
    assert o1["stored"] >= events and o1["dropped"] == 0 and o1["shards"] == 0, o1
    assert k1["stored"] >= events and k1["dropped"] == 0 and k1["shards"] == 0, k1
    return {
        "file_port": events / (file_us / 1e6), "dbg_count": events / (count_us / 1e6),
        "ours": events / o["secs"], "ours_secs": o["secs"], "file_bytes": size,
        "tuned": events / t["secs"], "tuned_cpu_us": t["cpu_us_per_event"],
        "python_cpu_us": o["cpu_us_per_event"],
        **{k: o[k] for k in ("loop_cpu_us", "prepare_cpu_us", "write_cpu_us", "other_cpu_us")},
        "ack_after_store": events / a["secs"], "ack_after_store_cpu_us": a["cpu_us_per_event"],
        "ack_after_store_drain_secs": a["secs"] - a["workload_secs"],
        "counted": events / k["secs"], "counted_cpu_us": k["cpu_us_per_event"],
        "shards": o["shards"], "one_tracer": events / o1["secs"], "counted_one_tracer": events / k1["secs"],
        "one_tracer_workload_secs": o1["workload_secs"],
        "workload_secs": o["workload_secs"],
        # when the agent's first batch reached Python, against when its traced processes were done
        "counted_first_batch_secs": k["first_batch_secs"], "counted_workload_secs": k["workload_secs"],
        # after the traced processes were done: the Python side catching up alone
        "drain_secs": o["secs"] - o["workload_secs"],
        "load": load_average()[0],
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1_000_000, help="calls in all (split over the processes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefill", type=int, default=1_000_000, help="events of other recordings already in the store")
    ap.add_argument("--store-yield", choices=("default", "on", "off"), default="default",
                    help="whether our captures' stores postpone their work while the node is busy "
                         "(instrument/store_yield.py; default: ingest_pipeline.STORE_YIELD)")
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    from elixir_scope.instrument import ingest_pipeline
    from elixir_scope.instrument.store_yield import StoreYield
    if args.store_yield != "default":  # read by every pipeline as it starts
        ingest_pipeline.STORE_YIELD = StoreYield() if args.store_yield == "on" else None
    print(f"store yields to a busy node: {ingest_pipeline.STORE_YIELD}")
    target = start_node("erl")
    out: dict = {"bench": "ingest", "calls": args.calls, "prefill_events": args.prefill, "rounds": rounds,
                 "store_yield": repr(ingest_pipeline.STORE_YIELD)}
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_workload(conn)
            with tempfile.TemporaryDirectory() as tmp:
                store = TraceStore.open(os.path.join(tmp, "bench.db"))
                t = time.perf_counter()
                prefill(store, args.prefill)
                print(f"store prefilled with {args.prefill:,} events of earlier recordings "
                      f"({time.perf_counter() - t:.1f} s); {SHARED_NOTE}")
                for procs in (1, 8):
                    calls = args.calls // procs
                    events = 2 * calls * procs
                    rows: list[dict] = []
                    for r in range(rounds):
                        rows.append(await one_round(conn, store, tmp, procs, calls))
                        print(f"  {procs} proc round {r + 1}: file port {rows[-1]['file_port']:,.0f}, "
                              f"dbg->counter {rows[-1]['dbg_count']:,.0f}, counted {rows[-1]['counted']:,.0f}, "
                              f"ours {rows[-1]['ours']:,.0f} ev/s "
                              f"(load {rows[-1]['load']})")
                    col = {k: [x[k] for x in rows] for k in rows[0]}
                    ratio = [x["ours"] / x["file_port"] for x in rows]
                    ratio_c = [x["ours"] / x["dbg_count"] for x in rows]
                    ratio_t = [x["tuned"] / x["file_port"] for x in rows]
                    ratio_k = [x["counted"] / x["file_port"] for x in rows]
                    ratio_a = [x["ours"] / x["ack_after_store"] for x in rows]
                    ratio_1 = [x["ours"] / x["one_tracer"] for x in rows]
                    ratio_k1 = [x["counted"] / x["counted_one_tracer"] for x in rows]
                    print(f"\n{procs} process(es), {events:,} call+return events, min/median/max of {rounds} rounds:")
                    print(f"  :dbg file port          {show(col['file_port']):>30} ev/s")
                    print(f"  :dbg -> counting proc   {show(col['dbg_count']):>30} ev/s")
                    print(f"  ElixirScope -> counted  {show(col['counted']):>30} ev/s   (agent + distribution + "
                          "receive, not stored)")
                    print(f"  ElixirScope -> store    {show(col['ours']):>30} ev/s   (until finished and queryable; "
                          "default limits, caps raised)")
                    print(f"  ours / file port: {show(ratio, '{:.2f}')}x (goal >= 0.5x); ours / dbg->counter: "
                          f"{show(ratio_c, '{:.2f}')}x")
                    print(f"  tuned (batches of 10,000, window 16, checks every 5,000): {show(col['tuned'])} ev/s = "
                          f"{show(ratio_t, '{:.2f}')}x the file port, {show(col['tuned_cpu_us'], '{:.2f}')} us "
                          "Python CPU per event")
                    print(f"  counted, not stored / file port: {show(ratio_k, '{:.2f}')}x (above 1: the agent "
                          "is not the limit)")
                    print(f"  store pipeline / each batch acked once stored: {show(ratio_a, '{:.2f}')}x "
                          f"(the latter {show(col['ack_after_store'])} ev/s, {show(col['ack_after_store_cpu_us'], '{:.2f}')}"
                          f" us CPU per event, stored {show(col['ack_after_store_drain_secs'], '{:.3f}')} s after the "
                          "traced processes were done)")
                    print(f"  tracer shards: {show(col['shards'], '{:.0f}')}; ours / the same with one tracer: "
                          f"{show(ratio_1, '{:.2f}')}x stored (one tracer {show(col['one_tracer'])} ev/s), "
                          f"{show(ratio_k1, '{:.2f}')}x counted (one tracer {show(col['counted_one_tracer'])} ev/s)")
                    print(f"  Python CPU per event (receive, decode, store): "
                          f"{show(col['python_cpu_us'], '{:.2f}')} us; counted, not stored: "
                          f"{show(col['counted_cpu_us'], '{:.2f}')} us")
                    print(f"    of it: event loop (receive, decode, acks, this script's polling) "
                          f"{show(col['loop_cpu_us'], '{:.2f}')}, prepare thread {show(col['prepare_cpu_us'], '{:.2f}')}, "
                          f"write thread (SQLite, WAL) {show(col['write_cpu_us'], '{:.2f}')}, other threads (WAL "
                          f"checkpoints) {show(col['other_cpu_us'], '{:.2f}')} us")
                    print(f"  traced processes done after {show(col['workload_secs'], '{:.3f}')} s (with one "
                          f"tracer: {show(col['one_tracer_workload_secs'], '{:.3f}')} s); stored "
                          f"{show(col['drain_secs'], '{:.3f}')} s later")
                    print(f"  counted run: the agent's first batch reached Python after "
                          f"{show(col['counted_first_batch_secs'], '{:.3f}')} s, its traced processes were done "
                          f"after {show(col['counted_workload_secs'], '{:.3f}')} s")
                    print(f"  load average: {show(col['load'], '{:.2f}')}")
                    dflt = await ours(conn, store, procs, calls, CaptureLimits())
                    print(f"  default limits (same workload): stored {dflt['stored']:,} of {dflt['offered']:,} "
                          f"offered, {dflt['dropped']:,} dropped, ended '{dflt['end']}' after {dflt['secs']:.2f} s")
                    out[f"procs{procs}"] = {
                        "events": events,
                        "file_port_evps": spread(col["file_port"]), "dbg_count_evps": spread(col["dbg_count"]),
                        "ours_evps": spread(col["ours"]), "ours_vs_file_port": spread(ratio),
                        "ours_vs_dbg_count": spread(ratio_c), "load_avg": spread(col["load"]),
                        "tuned_evps": spread(col["tuned"]), "tuned_vs_file_port": spread(ratio_t),
                        "tuned_cpu_us_per_event": spread(col["tuned_cpu_us"]),
                        "counted_evps": spread(col["counted"]), "counted_vs_file_port": spread(ratio_k),
                        "counted_cpu_us_per_event": spread(col["counted_cpu_us"]),
                        "workload_secs": spread(col["workload_secs"]), "drain_secs": spread(col["drain_secs"]),
                        "counted_first_batch_secs": spread(col["counted_first_batch_secs"]),
                        "counted_workload_secs": spread(col["counted_workload_secs"]),
                        "python_cpu_us_per_event": spread(col["python_cpu_us"]),
                        "python_cpu_split_us_per_event": {k: spread(col[k]) for k in (
                            "loop_cpu_us", "prepare_cpu_us", "write_cpu_us", "other_cpu_us")},
                        "ack_after_store_evps": spread(col["ack_after_store"]),
                        "ours_vs_ack_after_store": spread(ratio_a),
                        "tracer_shards": spread(col["shards"]), "one_tracer_evps": spread(col["one_tracer"]),
                        "ours_vs_one_tracer": spread(ratio_1),
                        "one_tracer_workload_secs": spread(col["one_tracer_workload_secs"]),
                        "counted_one_tracer_evps": spread(col["counted_one_tracer"]),
                        "counted_vs_counted_one_tracer": spread(ratio_k1),
                        "ack_after_store_cpu_us_per_event": spread(col["ack_after_store_cpu_us"]),
                        "ack_after_store_drain_secs": spread(col["ack_after_store_drain_secs"]),
                        "default_limits": {k: dflt[k] for k in ("stored", "offered", "dropped", "end", "secs")},
                    }
                store.close()
    finally:
        target.stop()
    out["load_avg_end"] = load_average()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
