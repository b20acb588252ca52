"""Query language benchmark: temporal patterns and aggregations over a 1M-event store.

Builds a store with 1,000,000 events from 10,000 processes through the store's real ingest
API (`TraceStore.create_recording` → `RecordingWriter.ingest_batch`, records encoded per
docs/event-format.md), then times queries against a naive baseline measured in the same run:
one Python pass over every event in order (`SELECT … ORDER BY id`), answering the same
question with dictionaries — what you would write without the query engine.

    .venv/bin/python benchmarks/bench_query.py [--events 1000000] [--repeat 3]

Goal (issue 4): a temporal pattern query over the 1M events in ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from elixir_scope.instrument.etf import Atom, encode  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402
from elixir_scope.store.query import run_query  # noqa: E402
from support.query_records import new_recording  # noqa: E402

MODULES = {
    "MyApp.Cart": [("add", 2), ("remove", 2), ("total", 1), ("checkout", 1)],
    "MyApp.Repo": [("all", 1), ("get", 2), ("insert", 1), ("update", 2)],
    "MyApp.Worker": [("handle_call", 3), ("handle_cast", 2), ("handle_info", 2)],
    "MyApp.Pricing": [("price", 1), ("discount", 2)],
}


def build(path: Path, total: int, procs: int, seed: int = 7) -> tuple[int, float]:
    rnd = random.Random(seed)
    store = TraceStore.open(path)
    writer, node_id, b = new_recording(store, "bench")
    mfas = [(m, f, a) for m, fs in MODULES.items() for f, a in fs]
    idx = {mfa: b.mfa(*mfa) for mfa in mfas}
    pids = [b.pid(1000 + i, None, ("MyApp.Worker", "init", 1)) for i in range(procs)]
    add = idx[("MyApp.Cart", "add", 2)]
    worker_info = idx[("MyApp.Worker", "handle_info", 2)]
    args = [encode([Atom("cart"), n]) for n in range(0, 300, 7)]
    rets = [encode((Atom("ok"), n)) for n in range(20)]
    err = encode((Atom("error"), Atom("badarith")))
    msgs = [encode(((Atom("tick"), n), b.pid_term(1000 + n % procs))) for n in range(50)]
    recv_msgs = [encode((Atom("tick"), n)) for n in range(50)]
    states = [encode((Atom("after"), {Atom("count"): n})) for n in range(40)]
    t0 = time.perf_counter()
    while b.count < total:
        p = pids[rnd.randrange(procs)]
        r = rnd.random()
        if r < 0.70:  # a call, maybe nested, returning or raising
            outer = add if rnd.random() < 0.15 else idx[mfas[rnd.randrange(len(mfas))]]
            b.rec("call", p, outer, None, rnd.randrange(2_000, 40_000), raw=args[rnd.randrange(len(args))])
            if rnd.random() < 0.3:
                inner = idx[mfas[rnd.randrange(len(mfas))]]
                b.rec("call", p, inner, None, 3_000, raw=args[0])
                b.rec("return", p, inner, None, rnd.randrange(5_000, 900_000), raw=rets[1])
            if rnd.random() < 0.01:
                b.rec("exception", p, outer, None, rnd.randrange(1_000, 50_000), raw=err)
            elif rnd.random() < 0.002:
                pass  # never returns (a hang, or the capture ended)
            else:
                b.rec("return", p, outer, None, rnd.randrange(5_000, 2_000_000),
                      raw=rets[rnd.randrange(len(rets))])
        elif r < 0.85:  # a message from p to q, received (almost always)
            q = pids[rnd.randrange(procs)]
            n = rnd.randrange(50)
            to = next(x for x in (q,))
            b.rec("send", p, to, None, 2_000, raw=encode(((Atom("tick"), n), b.pid_term(999 + to))))
            if rnd.random() < 0.995:
                b.rec("receive", q, 0, None, 5_000, raw=recv_msgs[n])
        else:  # a state change in a GenServer callback
            b.rec("state", p, worker_info, None, 4_000, raw=states[rnd.randrange(len(states))])
        if len(b.buf) > 4_000_000:
            entries, recs = b.take()
            writer.ingest_batch(node_id, entries, recs)
    entries, recs = b.take()
    writer.ingest_batch(node_id, entries, recs)
    writer.finish("stopped")
    store.close()
    del msgs
    return b.count, time.perf_counter() - t0


def timed(fn, repeat: int) -> tuple[float, object]:
    out = None
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def naive_sequence(store: TraceStore, add_idx: int, within_ns: int) -> int:
    """Baseline: one pass over every event; per process remember the last call of add and
    report it when an exception follows within the window."""
    rec = store.recording(1)
    last: dict[int, int] = {}
    matches = 0
    for _id, kind, pid, aux, ts in rec.db.conn.execute(
            "SELECT id, kind, pid, aux, ts FROM events WHERE recording_id = 1 ORDER BY id"):
        if kind == 1 and aux == add_idx:
            last[pid] = ts
        elif kind == 3 and pid in last:
            if ts - last.pop(pid) <= within_ns:
                matches += 1
    return matches


def naive_without_return(store: TraceStore) -> int:
    rec = store.recording(1)
    stacks: dict[int, list[int]] = {}
    for _id, kind, pid, aux in rec.db.conn.execute(
            "SELECT id, kind, pid, aux FROM events WHERE recording_id = 1 ORDER BY id"):
        if kind == 1:
            stacks.setdefault(pid, []).append(aux)
        elif kind in (2, 3):
            st = stacks.get(pid)
            if st:
                # pop to the matching frame: frames above it never returned
                while st and st[-1] != aux:
                    st.pop()
                    stacks.setdefault(-pid - 1, []).append(0)
                if st:
                    st.pop()
    return sum(len(v) for v in stacks.values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--procs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.db"
        n, secs = build(path, opts.events, opts.procs)
        print(f"built {n:,} events / {opts.procs:,} processes through ingest_batch in {secs:.1f} s")
        print(f"load average before querying: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(the machine is shared: compare figures within this run)")
        store = TraceStore.open(path, readonly=True)
        rec = store.recording(1)
        add_idx = next(i for (nid, i), m in rec.context.functions.items()
                       if m.module == "Elixir.MyApp.Cart" and m.function == "add")
        q_seq = "sequence call MyApp.Cart.add then exception within 500ms same process"
        t_q, res = timed(lambda: run_query(rec, q_seq, limit=100), opts.repeat)
        t_n, naive = timed(lambda: naive_sequence(store, add_idx, 500_000_000), 1)
        print(f"\n[temporal] {q_seq!r}\n  query: {t_q * 1000:.0f} ms (median of {opts.repeat}), "
              f"{res.total_estimate} matches | naive full scan: {t_n * 1000:.0f} ms, {naive} matches "
              f"| speed-up ×{t_n / t_q:.1f}")
        others = [
            "sequence state where phase = :after and changed = true then exception within 1s same process",
            "calls MyApp.Cart.add without return",
            "calls without return",
            "calls MyApp.Repo.* | stats count, p50(duration), p95(duration), p99(duration) by function",
            "exceptions | count by function",
            "calls MyApp.Cart.add/2 where arg[1] > 250 | count",
            "sends never received | count",
        ]
        for q in others:
            t, r = timed(lambda: run_query(rec, q, limit=100), opts.repeat)
            size = r.total_estimate if r.shape != "groups" else f"{len(r.groups)} groups"
            print(f"[query] {t * 1000:7.0f} ms  {q!r} → {size}")
        t_n2, naive2 = timed(lambda: naive_without_return(store), 1)
        print(f"[naive] {t_n2 * 1000:7.0f} ms  one pass pairing every call in Python → {naive2}")
        store.close()


if __name__ == "__main__":
    main()
