"""Overhead on the target: gen_server call throughput untraced, traced by ElixirScope
(handle_call/3 with returns, and the full state-history mode), and traced by :dbg with the
same spec: to its file trace port, to a process that counts (a no-op handler fun: dbg's
cheapest process tracer) and to dbg's default handler, which formats every message (output to
/dev/null) - same node, same round, interleaved. Slowdown = traced time / untraced time of the
same round (untraced measured before and after, averaged).

Each round runs every variant once, in an order rotated from round to round (a variant that
always ran right after :dbg's file port would pay for the kernel writing that file back);
``--rounds`` (>= 3); min/median/max printed with the load average; the last line is one JSON
object.

Limits: ours run with the default limits but for their caps (``caps_raised``: 50,000 events and
20,000 events/s would end or shed this workload at once): the batch size, the window and the
overload checks are what a user gets. One row follows with those tuned (``tuned_limits``:
batches of 10,000, a window of 16, checks every 5,000), labelled. Another has the store's
threads yield the CPU to the node (``store_priority="idle"``: ``SCHED_IDLE``, not the default;
instrument/ingest_pipeline.py ``STORE_PRIORITY``), labelled. Another has the store postpone its
work while the node is busy, or not, whichever is not the default (``store_yield``,
instrument/store_yield.py; ``ingest_pipeline.STORE_YIELD``), labelled. For each of our rows, what
the agent dropped (none expected: the caps are raised), how often the store's bound held the
acks back (the agent buffering meanwhile) and how many jobs the store postponed (and spilled).

    .venv/bin/python benchmarks/bench_overhead.py [--calls 1000000] [--rounds 3]

Every run lasts about a second or more: the untraced workload of 1M calls takes ~1.2 s here, so a
capture streams ~2M events and reaches its steady state (the store's bound on what Python holds,
32 MB, is ~450k events). :dbg's default handler (50-80x) runs a fiftieth of the calls and the
state history (4 records per call, each with the server's state) a fifth; their time and CPU
are scaled to the same number of calls.

Besides wall time, the node's CPU time per variant (``erlang:statistics(runtime)``: workload,
tracer and distribution on all schedulers) and the tracing's extra CPU per event; and :dbg's
counting tracer once more with the flags the agent sets (strict monotonic timestamps).

Goal (issue 13): our slowdown <= :dbg's process tracer (counting); moonshot <= its file port's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from dataclasses import dataclass
import time

from _bench_common import caps_raised, load_workload, tuned_limits
from bench_ingest import CountingSink
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.ingest_pipeline import STORE_YIELD
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node


# the row beside ours with the other store_yield setting than the default (ingest_pipeline.STORE_YIELD)
YIELD_ROW_SETTING = STORE_YIELD is None
YIELD_ROW = "store yields to the busy node" if YIELD_ROW_SETTING else "store never yields"


async def node_cpu_ms(conn) -> int:
    """CPU milliseconds the target node has used (all schedulers): the workload, the tracer,
    the distribution - less sensitive to the shared machine's load than wall time."""
    return (await conn.rpc("erlang", "statistics", [Atom("runtime")]))[0]


async def agent_reductions(conn, agent) -> int:
    return (await conn.rpc("erlang", "process_info", [agent, Atom("reductions")]))[1]


@dataclass
class Traced:
    """One traced run of the workload."""

    us: int  # workload microseconds
    offered: int  # records the agent offered
    node_cpu_ms: int
    reductions: float  # the agent's reductions per record (insensitive to the machine's load)
    py_workload: dict  # this process's CPU seconds while the workload ran: "all" and per thread
    py_all: float  # ... for the whole capture (stored, stopped, its due WAL checkpoint run)
    dropped: int = 0  # records the agent dropped (counted in gaps)
    held_acks: int = 0  # acks the store's bound held back (StorePipeline.held_acks)
    postponed: int = 0  # jobs the store postponed while the node was busy (store_yield)
    spilled: int = 0  # ... of them spilled to the file


def _py_cpu(pipe) -> tuple[float, float, float, float]:
    """This process's CPU, its event loop thread's, the store pipeline's prepare and write
    threads' (seconds so far, read from each thread's CPU clock; the rest is the WAL
    checkpoints, store/checkpoints.py)."""
    def clock(name: str) -> float:
        ids = getattr(pipe, "thread_ids", None)
        if ids is None:  # an older pipeline (A/B runs against main): its executors' one thread
            ids = {k: t.ident for k, ex in (("prepare", pipe._prepare), ("write", pipe._write)) for t in ex._threads}
        ident = ids.get(name)
        return 0.0 if ident is None else time.clock_gettime(time.pthread_getcpuclockid(ident))

    return time.process_time(), time.thread_time(), clock("prepare"), clock("write")


def _all_stored(s: CaptureSession, expected: int) -> bool:
    """Every record of the workload stored - or, when the agent dropped some (counted: its
    buffer full while the store was behind), every record it offered for them that it sent."""
    if s.stored >= expected:
        return True
    counts = {getattr(k, "name", k): v for k, v in (s.last_stats or {}).items()}
    return counts.get("offered", 0) >= expected and s.stored >= counts.get("sent", expected)


async def traced_by_us(conn, store, server, calls: int, plan: CapturePlan, sink=None,
                       per_call: int = 2, limits=None, priority=None, yield_to_node=None) -> Traced:
    """A capture of ``calls`` workload calls: the workload's time, the node's CPU, the agent's
    reductions per record (read once every record is stored), and this Python process's CPU
    while the workload ran (receiving, decoding, storing on the cores the target shares; split
    by thread) and for the whole capture (until stored, stopped and the store's WAL checkpoint
    that came due has run)."""
    rec = sink if sink is not None else store.create_recording("overhead", spec={}, limits={})
    c0 = await node_cpu_ms(conn)
    kw = {} if priority is None else {"store_priority": priority}
    if yield_to_node is not None:
        kw["store_yield"] = yield_to_node
    s = await CaptureSession.start(conn, rec, plan, limits if limits is not None else caps_raised(), **kw)
    r0 = await agent_reductions(conn, s.agent)
    p0 = _py_cpu(s.pipeline)
    us = await conn.rpc("es_bench_wl", "calls", [server, calls], timeout=600)
    p1 = _py_cpu(s.pipeline)
    total, loop, prepare, write = (b - a for a, b in zip(p0, p1))
    split = {"all": total, "loop": loop, "prepare": prepare, "write": write,
             "other": total - loop - prepare - write}
    waited = time.monotonic()
    while not _all_stored(s, per_call * calls) and s.state.value == "running":
        if time.monotonic() - waited > 120:
            raise RuntimeError(f"{s.stored:,} of {per_call * calls:,} records stored after 120 s "
                               f"(agent's last counts {s.last_stats}); the capture is stuck")
        await asyncio.sleep(0.005)
    red = (await agent_reductions(conn, s.agent) - r0) / max(1, s.stored)
    result = await s.stop(timeout=120)
    # the checkpoint that came due runs once the capture is stored (store/checkpoints.py): its
    # CPU is this capture's, and it must not run into the next variant's measurement
    ck = store.db.checkpoints
    while ck is not None and getattr(ck, "busy", False):  # (an older store: not known; A/B runs)
        await asyncio.sleep(0.005)
    return Traced(us, result.stats.offered, await node_cpu_ms(conn) - c0, red, split,
                  time.process_time() - p0[0], result.stats.dropped, s.pipeline.held_acks,
                  *_postponed(s.pipeline))


def _secs(y) -> str:
    at = getattr(y, "sustained_at", None)  # an older pipeline postponed from the first busy job
    return "-" if at is None else f"{at:.2f} s"


def _postponed(pipe) -> tuple[int, int]:
    """Jobs the store postponed while the node was busy, and of them those spilled to its file
    (instrument/store_yield.py; 0, 0 when it did not yield, or on an older pipeline)."""
    y = getattr(pipe, "postponer", None)
    if y is not None:
        print(f"    store postponed {y.postponed_jobs} jobs, spilled {y.spilled_jobs}, released {y.released}, "
              f"waited at most {y.peak_lag:.2f} s, first postponed {_secs(y)} into the busy stretch", flush=True)
    return (0, 0) if y is None else (y.postponed_jobs, y.spilled_jobs)


async def scaled(run, factor: float) -> tuple[float, float]:
    """A run of fewer calls, its time and CPU scaled to the others' number of calls."""
    us, ms = await run
    return us * factor, ms * factor


async def scaled_traced(run, factor: float) -> Traced:
    """A capture of fewer calls, its workload time and CPU scaled to the others' number."""
    t = await run
    return Traced(int(t.us * factor), t.offered, int(t.node_cpu_ms * factor), t.reductions,
                  {k: v * factor for k, v in t.py_workload.items()}, t.py_all * factor, t.dropped, t.held_acks,
                  t.postponed, t.spilled)


async def rpc_cpu(conn, fun: str, args: list) -> tuple[int, int]:
    c0 = await node_cpu_ms(conn)
    us = await conn.rpc("es_bench_wl", fun, args, timeout=600)
    return us, await node_cpu_ms(conn) - c0


async def main() -> None:
    import json

    from _bench_common import SHARED_NOTE, load_average, show, spread

    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.calls
    n_fmt = max(1000, n // 50)  # :dbg's default handler formats every message: 50-80x slower
    n_hist = max(1000, n // 5)  # the state history: 4 records per call, each with a state
    rounds = max(3, args.rounds)
    target = start_node("erl")
    labels = ["ElixirScope handle_call/3 + return", "  same, batches counted in Python, not stored",
              ":dbg same spec, file trace port", ":dbg same spec, to a counting process",
              "  same + strict monotonic timestamps (our flags)",
              ":dbg same spec, default handler (to /dev/null)",
              "ElixirScope state history (calls+returns+states)",
              "  ElixirScope handle_call/3 + return, tuned limits",
              "  ElixirScope handle_call/3 + return, store threads SCHED_IDLE",
              f"  ElixirScope handle_call/3 + return, {YIELD_ROW}"]
    ours_rows = (labels[0], labels[1], labels[6], labels[7], labels[8], labels[9])
    per_event = {labels[6]: 4}  # records per call: calls, returns and the states around them
    slow: dict[str, list[float]] = {k: [] for k in labels}
    reds: dict[str, list[float]] = {k: [] for k in ours_rows}
    cpu: dict[str, list[float]] = {k: [] for k in ["untraced", *labels]}
    # this process's CPU us per event: while the workload ran, and for the whole capture
    py_wl: dict[str, list[float]] = {k: [] for k in ours_rows}
    py_all: dict[str, list[float]] = {k: [] for k in ours_rows}
    drops: dict[str, list[int]] = {k: [] for k in ours_rows}
    held: dict[str, list[int]] = {k: [] for k in ours_rows}
    postponed: dict[str, list[tuple[int, int]]] = {k: [] for k in ours_rows}
    loads: list[float] = []
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_workload(conn)
            server = await conn.rpc("es_bench_wl", "start_server", [])
            await conn.rpc("es_bench_wl", "calls", [server, n // 10])  # warm up
            with tempfile.TemporaryDirectory() as tmp:
                store = TraceStore.open(os.path.join(tmp, "overhead.db"))
                spec = compile_spec("es_bench_wl:handle_call/3 -> return")
                plan = CapturePlan(specs=(spec,), call_procs=(server,))
                history_plan = CapturePlan(state_modules=("es_bench_wl",), call_procs=(server,))
                trace_file = Charlist(map(ord, os.path.join(tmp, "dbg.trace")))
                # warm up every path once (code loading, first batches) before measuring
                await traced_by_us(conn, store, server, n // 10, plan)
                await conn.rpc("es_bench_wl", "dbg_calls", [server, n // 10, Atom("x")], timeout=600)
                variants = {
                    labels[0]: lambda: traced_by_us(conn, store, server, n, plan),
                    labels[1]: lambda: traced_by_us(conn, store, server, n, plan, CountingSink()),
                    labels[2]: lambda: rpc_cpu(conn, "dbg_calls_file", [server, n, trace_file]),
                    labels[3]: lambda: rpc_cpu(conn, "dbg_calls", [server, n, Atom("x")]),
                    labels[4]: lambda: rpc_cpu(conn, "dbg_calls_ts", [server, n]),
                    labels[5]: lambda: scaled(rpc_cpu(conn, "dbg_calls_default", [server, n_fmt]), n / n_fmt),
                    labels[6]: lambda: scaled_traced(traced_by_us(conn, store, server, n_hist, history_plan,
                                                                  per_call=4), n / n_hist),
                    labels[7]: lambda: traced_by_us(conn, store, server, n, plan, limits=tuned_limits()),
                    labels[8]: lambda: traced_by_us(conn, store, server, n, plan, priority="idle"),
                    labels[9]: lambda: traced_by_us(conn, store, server, n, plan, yield_to_node=YIELD_ROW_SETTING),
                }
                for r in range(rounds):
                    base, base_cpu = await rpc_cpu(conn, "calls", [server, n])
                    order = labels[r % len(labels):] + labels[:r % len(labels)]
                    got: dict[str, tuple[int, int]] = {}
                    for label in order:
                        run = await variants[label]()
                        if isinstance(run, Traced):
                            per = per_event.get(label, 2)
                            reds[label].append(run.reductions)
                            py_wl[label].append({k: v * 1e6 / (per * n) for k, v in run.py_workload.items()})
                            py_all[label].append(run.py_all * 1e6 / (per * n))
                            drops[label].append(run.dropped)
                            held[label].append(run.held_acks)
                            postponed[label].append((run.postponed, run.spilled))
                            run = (run.us, run.node_cpu_ms)
                        got[label] = run
                    base2, base2_cpu = await rpc_cpu(conn, "calls", [server, n])
                    untraced = (base + base2) / 2
                    cpu["untraced"].append((base_cpu + base2_cpu) / 2)
                    for label in labels:
                        us, ms = got[label]
                        slow[label].append(us / untraced)
                        cpu[label].append(ms)
                    loads.append(load_average()[0])
                store.close()
    finally:
        target.stop()
    print(f"{n:,} gen_server:call round trips per run ({n_fmt:,} for the default handler, scaled); slowdown "
          f"min/median/max of {rounds} rounds "
          f"({SHARED_NOTE}):")
    print(f"  {'':<50} {'slowdown':>22}   {'node CPU ms (tracing extra per event, us)':>40}")
    print(f"  {'untraced':<50} {'':>22}   {show(cpu['untraced'], '{:.0f}'):>26}")
    extra: dict[str, list[float]] = {}
    for label in labels:
        extra[label] = [(c - u) * 1000 / (per_event.get(label, 2) * n) for c, u in zip(cpu[label], cpu["untraced"])]
        print(f"  {label:<50} {show(slow[label], '{:.2f}'):>21}x   {show(cpu[label], '{:.0f}'):>26} "
              f"({show(extra[label], '{:.2f}')})")
    for label, v in reds.items():
        print(f"  agent reductions per record, {label.strip()}: {show(v, '{:.1f}')}; records dropped "
              f"{show(drops[label])}, acks held by the store's bound {show(held[label])}; jobs postponed "
              f"(spilled) {', '.join(f'{a} ({b})' for a, b in postponed[label])}")
    # the cross-core cost on a shared host: what the node spends on tracing plus what this
    # Python process spends while the workload runs, per event, against what :dbg's counting
    # process costs the node per event (it has no other process)
    cross: dict[str, list[float]] = {}
    for label in py_wl:
        per = per_event.get(label, 2)
        node_extra = [(c - u) * 1000 / (per * n) for c, u in zip(cpu[label], cpu["untraced"])]
        cross[label] = [a + b["all"] for a, b in zip(node_extra, py_wl[label])]
        col = {k: [x[k] for x in py_wl[label]] for k in ("all", "loop", "prepare", "write", "other")}
        print(f"  Python CPU per event, {label.strip()}: {show(col['all'], '{:.2f}')} us while the "
              f"workload ran (event loop {show(col['loop'], '{:.2f}')}, prepare {show(col['prepare'], '{:.2f}')}, "
              f"write {show(col['write'], '{:.2f}')}, other threads - WAL checkpoints - {show(col['other'], '{:.2f}')}), "
              f"{show(py_all[label], '{:.2f}')} us for the whole capture; node extra + Python "
              f"while it ran: {show(cross[label], '{:.2f}')} us")
    cross_vs = [a / b for a, b in zip(cross[labels[0]], extra[labels[3]])]
    print(f"  node + Python CPU per event while the workload ran, ours / :dbg->counting process's node "
          f"CPU per event: {show(cross_vs, '{:.2f}')} (:dbg's {show(extra[labels[3]], '{:.2f}')} us)")
    ours, count, port, count_ts = slow[labels[0]], slow[labels[3]], slow[labels[2]], slow[labels[4]]
    vs_count = [a / b for a, b in zip(ours, count)]
    tuned_vs_count = [a / b for a, b in zip(slow[labels[7]], count)]
    counted_vs_count = [a / b for a, b in zip(slow[labels[1]], count)]
    idle_vs_count = [a / b for a, b in zip(slow[labels[8]], count)]
    yield_vs_count = [a / b for a, b in zip(slow[labels[9]], count)]
    vs_count_ts = [a / b for a, b in zip(ours, count_ts)]
    vs_port = [a / b for a, b in zip(ours, port)]
    print(f"our slowdown / :dbg->counting process's: {show(vs_count, '{:.2f}')} (goal <= 1.0); "
          f"with the same timestamps: {show(vs_count_ts, '{:.2f}')}; "
          f"/ :dbg file port's: {show(vs_port, '{:.2f}')} (moonshot <= 1.0); load {show(loads, '{:.2f}')}")
    print(f"  tuned limits / :dbg->counting process's: {show(tuned_vs_count, '{:.2f}')}; counted in Python, "
          f"not stored / :dbg->counting process's: {show(counted_vs_count, '{:.2f}')} (the agent and the "
          "distribution without the store)")
    print(f"  store threads SCHED_IDLE / :dbg->counting process's: {show(idle_vs_count, '{:.2f}')}")
    print(f"  {YIELD_ROW} / :dbg->counting process's: {show(yield_vs_count, '{:.2f}')}")
    print(json.dumps({"bench": "overhead", "calls": n, "default_handler_calls": n_fmt, "rounds": rounds,
                      "slowdown": {label.strip(): spread(v) for label, v in slow.items()},
                      "node_cpu_ms": {label.strip(): spread(v) for label, v in cpu.items()},
                      "extra_cpu_us_per_event": {label.strip(): spread(v) for label, v in extra.items()},
                      "agent_reductions_per_record": {label.strip(): spread(v) for label, v in reds.items()},
                      "python_cpu_us_per_event_workload": {
                          label.strip(): {k: spread([x[k] for x in v]) for k in v[0]} for label, v in py_wl.items()},
                      "python_cpu_us_per_event_capture": {label.strip(): spread(v) for label, v in py_all.items()},
                      "node_plus_python_cpu_us_per_event": {label.strip(): spread(v) for label, v in cross.items()},
                      "ours_node_plus_python_vs_dbg_count_node_cpu": spread(cross_vs),
                      "ours_vs_dbg_count": spread(vs_count), "ours_vs_dbg_count_same_timestamps": spread(vs_count_ts),
                      "ours_vs_dbg_file_port": spread(vs_port), "tuned_vs_dbg_count": spread(tuned_vs_count),
                      "counted_vs_dbg_count": spread(counted_vs_count),
                      "store_idle_vs_dbg_count": spread(idle_vs_count),
                      "store_yield_row": YIELD_ROW, "store_yield_row_vs_dbg_count": spread(yield_vs_count),
                      "jobs_postponed_spilled": {label.strip(): v for label, v in postponed.items()},
                      "records_dropped": {label.strip(): spread(v) for label, v in drops.items()},
                      "acks_held": {label.strip(): spread(v) for label, v in held.items()},
                      "load_avg": spread(loads), "load_avg_end": load_average()}))


if __name__ == "__main__":
    asyncio.run(main())
