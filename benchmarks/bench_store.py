"""Ingest rate into the trace store (SQLite, WAL, synchronous=NORMAL).

Builds realistic agent batches (2000 call/return records each, across 200 processes and 50
functions, payloads encoded by instrument.etf as the agent's term_to_binary would) once, then
measures in the same run:

  1. baseline: raw ``executemany`` of the same pre-built rows into a bare table with no
     indexes (the floor of what SQLite + Python can do with this row shape);
  2. TraceStore.ingest_batch with the store's indexes (the real path: parse headers, build
     rows, one transaction per batch);
  3. TraceStore.ingest_batch with the event indexes dropped (what the indexes cost).

Run: .venv/bin/python benchmarks/bench_store.py [--events 400000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from elixir_scope.instrument.etf import Atom, Pid
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import BatchBuilder
from elixir_scope.store.ingest import parse_records

BATCH = 2000


def build_batches(total: int) -> list:
    b = BatchBuilder()
    procs = [b.pid(Pid(Atom("bench@host"), 100 + i, 0, 1), None, ("Elixir.Bench.Worker", "init", 1))
             for i in range(200)]
    funcs = [b.mfa(("Elixir.Bench.Worker", f"handle_{i}", 2)) for i in range(50)]
    from elixir_scope.instrument.etf import encode

    call_payloads = [encode([(Atom("add"), i, b"item-%d" % i), {Atom("count"): i, Atom("total"): i * 3}])
                     for i in range(64)]
    ret_payloads = [encode((Atom("reply"), Atom("ok"), {Atom("count"): i + 1})) for i in range(64)]
    batches = []
    ts = 1_000_000
    n = 0
    while n < total:
        for j in range(BATCH // 2):
            p = procs[(n + j) % len(procs)]
            f = funcs[(n + j) % len(funcs)]
            ts += 1000
            b.raw(EventKind.CALL, p, f, call_payloads[j % 64], ts=ts)
            ts += 2500
            b.raw(EventKind.RETURN, p, f, ret_payloads[j % 64], ts=ts)
        n += BATCH
        batches.append(b.take())
    return batches


def bench_baseline(path: Path, batches: list, rid: int = 1, node: int = 1) -> float:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, recording_id INTEGER, node_id INTEGER, "
                 "kind INTEGER, flags INTEGER, ts INTEGER, uniq INTEGER, pid INTEGER, aux INTEGER, "
                 "payload BLOB)")
    prebuilt = []
    eid = 1
    for bt in batches:
        rows = []
        for rec in parse_records(bt.events):
            rows.append((eid, rid, node) + rec)
            eid += 1
        prebuilt.append(rows)
    t0 = time.perf_counter()
    for rows in prebuilt:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return dt


def bench_store(path: Path, batches: list, drop_indexes: bool) -> float:
    store = TraceStore.open(path)
    rec = store.create_recording("bench", spec={}, limits={}, defer_indexes=drop_indexes)
    node = rec.add_node("bench@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    t0 = time.perf_counter()
    for bt in batches:
        rec.ingest_batch(node, bt.dict_entries, bt.events)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    rec.finish("stopped", {})
    if drop_indexes:
        print(f"    (deferred indexes built at finish in {time.perf_counter() - t1:.2f}s)")
    n = store.db.query_one("SELECT count(*) FROM events")[0]
    assert n == sum(b.count for b in batches), n
    store.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=400_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    batches = build_batches(args.events)
    total = sum(b.count for b in batches)
    avg = sum(len(b.events) for b in batches) / total
    print(f"built {len(batches)} batches, {total} records, avg record {avg:.0f} bytes "
          f"({time.perf_counter() - t0:.1f}s)")
    with tempfile.TemporaryDirectory() as d:
        results = {}
        for label, fn in [
            ("baseline: raw executemany, bare table", lambda: bench_baseline(Path(d) / "base.db", batches)),
            ("TraceStore.ingest_batch, with indexes", lambda: bench_store(Path(d) / "idx.db", batches, False)),
            ("TraceStore.ingest_batch, deferred indexes", lambda: bench_store(Path(d) / "noidx.db", batches, True)),
        ]:
            dt = fn()
            results[label] = total / dt
            print(f"{label:45s} {total / dt:>10,.0f} events/s  ({dt:.2f}s)")
        base = results["baseline: raw executemany, bare table"]
        ours = results["TraceStore.ingest_batch, deferred indexes"]
        print(f"ingest (default: deferred indexes) = {ours / base:.2f}x the raw executemany baseline; "
              f"goal >= 250,000 events/s: {'MET' if ours >= 250_000 else 'NOT MET'}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
