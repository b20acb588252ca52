"""Ingest rate into the trace store (SQLite, WAL, synchronous=NORMAL), Python API only (no
node, no network): what the store itself costs per event.

Builds realistic agent batches (2000 call/return records each, across 200 processes and 50
functions, payloads encoded by instrument.etf as the agent's term_to_binary would) once, then
measures in the same round:

  1. baseline: raw ``executemany`` of the same rows, parsed beforehand (not timed), into a bare
     table with no indexes, recording/node inlined and ids left to SQLite (the floor of what
     SQLite + Python can do with this row shape);
  2. ``TraceStore.ingest_batch`` into an empty store, until finished (the indexes are live:
     the recording is queryable when ``finish`` returns);
  3. the same into a store already holding ``--prefill`` events of other recordings: ingest
     must cost the same (nothing is rebuilt over the whole store);
  4. the layout's floor: the same rows copied by SQLite alone (``INSERT … SELECT`` from a
     staging table filled beforehand, not timed: no Python per row) into the events table
     with the per-event time index schema 6 kept live (``events_by_time``, replaced by the time
     blocks in schema 7, store/timeblocks.py), and into a bare one (schema 7's events table) —
     what one row per event costs before any Python runs;
  5. the block layout's floor: one row per batch (the records binary as it arrives) plus a
     block index (one row per process and per function the batch holds), the header walk
     that finds them included — what a store writing blocks instead of rows would cost.
  6. the Python alone: the header walk, the block rows and the time block rows over the same
     batches, no SQLite;
  7. the planner's statistics of the prefilled store (after 3.): ``refresh_statistics`` as a
     ``finish`` crossing a doubling runs it, and a plain ``ANALYZE`` beside it.

Each variant runs ``--rounds`` (>= 3) times, interleaved; min/median/max of wall-clock events/s
and of events per CPU-second of this process (SQLite runs in-process, so CPU time is the
load-insensitive view) are printed with the load average; the last line is one JSON object.

Run: .venv/bin/python benchmarks/bench_store.py [--events 200000] [--rounds 3] [--prefill 1000000]
     [--procs 200] [--functions 50]   (--procs 8 --functions 1: bench_ingest.py's capture shape)
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


def build_batches(total: int, n_procs: int = 200, n_funcs: int = 50) -> list:
    """Batches of ``BATCH`` call/return records cycling over ``n_procs`` processes and
    ``n_funcs`` functions (``--procs 8 --functions 1``: the shape of bench_ingest.py's capture)."""
    b = BatchBuilder()
    procs = [b.pid(Pid(Atom("bench@host"), 100 + i, 0, 1), None, ("Elixir.Bench.Worker", "init", 1))
             for i in range(n_procs)]
    funcs = [b.mfa(("Elixir.Bench.Worker", f"handle_{i}", 2)) for i in range(n_funcs)]
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
    # pre-built rows, inserted the leanest way SQLite allows (constants inlined, ids auto):
    # the floor of what SQLite + Python can do with this row shape
    prebuilt = [parse_records(bt.events) for bt in batches]
    t0, c0 = time.perf_counter(), time.process_time()
    for rows in prebuilt:
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO events (recording_id, node_id, kind, flags, ts, uniq, pid, aux, "
                         f"payload) VALUES ({rid}, {node}, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return dt, cpu


TIME_INDEX_DDL = "CREATE INDEX events_by_time ON events (recording_id, ts)"
"""The per-event time index of schema 6 (the time blocks replaced it: store/timeblocks.py)."""

_EVENTS_DDL = ("CREATE TABLE events (id INTEGER PRIMARY KEY, recording_id INTEGER NOT NULL, "
               "node_id INTEGER NOT NULL, kind INTEGER NOT NULL, flags INTEGER NOT NULL, ts INTEGER "
               "NOT NULL, uniq INTEGER NOT NULL, pid INTEGER NOT NULL, aux INTEGER NOT NULL, payload BLOB)")


def _bare(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def bench_sql_rows(path: Path, batches: list, indexed: bool, per_txn: int = 1) -> tuple[float, float]:
    """Rows copied by SQLite alone, ``per_txn`` batches per transaction, from a staging table
    filled beforehand (untimed): the C cost of one row per event, with or without schema 6's
    per-event time index (``TIME_INDEX_DDL``). Index upkeep is paid mostly at commit (every
    index page a transaction touched is written to the WAL), hence ``per_txn``."""
    conn = _bare(path)
    conn.execute(_EVENTS_DDL)
    if indexed:
        conn.execute(TIME_INDEX_DDL)
    conn.execute(_EVENTS_DDL.replace("TABLE events", "TABLE staging"))
    spans = []
    for bt in batches:
        rows = parse_records(bt.events)
        first = (conn.execute("SELECT max(id) FROM staging").fetchone()[0] or 0) + 1
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO staging (recording_id, node_id, kind, flags, ts, uniq, pid, aux, "
                         "payload) VALUES (1, 1, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        spans.append((first, first + len(rows) - 1))
    spans = [(spans[i][0], spans[min(i + per_txn, len(spans)) - 1][1]) for i in range(0, len(spans), per_txn)]
    t0, c0 = time.perf_counter(), time.process_time()
    for lo, hi in spans:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO events SELECT * FROM staging WHERE id BETWEEN ? AND ?", (lo, hi))
        conn.execute("COMMIT")
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return dt, cpu


def bench_blocks(path: Path, batches: list) -> tuple[float, float]:
    """One row per batch (its records binary, as the agent sent it) plus a block index: one
    row per process and one per (kind, function) the batch holds, found by the same header
    walk the ingest does."""
    from elixir_scope.store.records import VALUES_PER_RECORD as per, walk

    conn = _bare(path)
    conn.execute("CREATE TABLE blocks (id INTEGER PRIMARY KEY, recording_id INTEGER NOT NULL, "
                 "node_id INTEGER NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, "
                 "count INTEGER NOT NULL, data BLOB NOT NULL)")
    conn.execute("CREATE TABLE block_procs (node_id INTEGER, pid INTEGER, block INTEGER, "
                 "PRIMARY KEY (node_id, pid, block)) WITHOUT ROWID")
    conn.execute("CREATE TABLE block_kinds (recording_id INTEGER, kind INTEGER, aux INTEGER, "
                 "block INTEGER, PRIMARY KEY (recording_id, kind, aux, block)) WITHOUT ROWID")
    t0, c0 = time.perf_counter(), time.process_time()
    for bt in batches:
        walked = walk(bytearray(bt.events))
        pids = set(walked.pids.tolist())
        kinds = set(zip(walked.kinds.tolist(), walked.auxs.tolist()))
        ts = walked.values[2::per]
        conn.execute("BEGIN")
        block = conn.execute("INSERT INTO blocks (recording_id, node_id, first_ts, last_ts, count, data) "
                             "VALUES (1, 1, ?, ?, ?, ?)", (min(ts), max(ts), len(ts), bt.events)).lastrowid
        conn.executemany("INSERT INTO block_procs VALUES (1, ?, ?)", [(p, block) for p in pids])
        conn.executemany("INSERT INTO block_kinds VALUES (1, ?, ?, ?)", [(k, a, block) for k, a in kinds])
        conn.execute("COMMIT")
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return dt, cpu


def bench_python_parts(batches: list) -> tuple[float, float]:
    """CPU seconds of the ingest's Python passes over the batches, no SQLite: the header walk
    (store/records.py ``walk``), the block rows (store/blocks.py ``batch_blocks``) and the time
    block rows (store/timeblocks.py ``batch_times``)."""
    from elixir_scope.store.blocks import batch_blocks
    from elixir_scope.store.records import walk
    from elixir_scope.store.timeblocks import batch_times

    # one batch at a time, nothing kept, as the ingest does: keeping every walked batch measured
    # the memory growth (~0.2 µs per event) more than the walk
    walking = blocks = times = 0.0
    for bt in batches:
        c0 = time.process_time()
        w = walk(bytearray(bt.events))
        c1 = time.process_time()
        batch_blocks(w.kinds, w.pids, w.auxs, 1, 1, 1)
        c2 = time.process_time()
        batch_times(w.tss, 1)
        walking, blocks, times = walking + c1 - c0, blocks + c2 - c1, times + time.process_time() - c2
    return walking, blocks, times


def bench_statistics(path: Path) -> tuple[float, float]:
    """CPU seconds of gathering the planner's statistics on a store, the store's way
    (``refresh_statistics``, what a ``finish`` that crosses a doubling runs) and by a plain
    ``ANALYZE`` (the baseline: every index read in full)."""
    from elixir_scope.store.db import refresh_statistics

    store = TraceStore.open(path)
    try:
        c0 = time.process_time()
        refresh_statistics(store.db, force=True)
        c1 = time.process_time()
        with store.db.write("benchmark: a plain ANALYZE") as c:
            c.execute("ANALYZE")
        return c1 - c0, time.process_time() - c1
    finally:
        store.close()


def bench_store(path: Path, batches: list) -> tuple[float, float]:
    store = TraceStore.open(path)
    before = store.db.query_one("SELECT count(*) FROM events")[0]
    rec = store.create_recording("bench", spec={}, limits={})
    node = rec.add_node("bench@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    t0, c0 = time.perf_counter(), time.process_time()
    for bt in batches:
        rec.ingest_batch(node, bt.dict_entries, bt.events)
    rec.finish("stopped", {})
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = store.db.query_one("SELECT count(*) FROM events")[0] - before
    assert n == sum(b.count for b in batches), n
    store.close()
    return dt, cpu


def prefilled(path: Path, events: int) -> None:
    store = TraceStore.open(path)
    left = events
    while left > 0:
        n = min(left, 200_000)
        rec = store.create_recording("earlier", spec={}, limits={})
        node = rec.add_node("earlier@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
        for bt in build_batches(n):
            rec.ingest_batch(node, bt.dict_entries, bt.events)
        rec.finish("stopped", {})
        left -= n
    store.close()


def main() -> None:
    import json
    import shutil

    from _bench_common import SHARED_NOTE, load_average, show, spread

    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefill", type=int, default=1_000_000)
    ap.add_argument("--procs", type=int, default=200, help="processes the batches' records cycle over")
    ap.add_argument("--functions", type=int, default=50, help="functions the batches' records cycle over")
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    t0 = time.perf_counter()
    batches = build_batches(args.events, max(1, args.procs), max(1, args.functions))
    total = sum(b.count for b in batches)
    avg = sum(len(b.events) for b in batches) / total
    print(f"built {len(batches)} batches, {total} records over {args.procs} processes and "
          f"{args.functions} functions, avg record {avg:.0f} bytes "
          f"({time.perf_counter() - t0:.1f}s); {SHARED_NOTE}")
    labels = ("baseline: raw executemany, bare table", "ingest_batch until finished, empty store",
              f"ingest_batch until finished, store holding {args.prefill:,} events",
              "floor: rows by SQL alone, schema 6's time index", "floor: the same, 10 batches per transaction",
              "floor: rows by SQL alone, no index (schema 7)",
              "floor: one row per batch + block index")
    wall: dict[str, list[float]] = {k: [] for k in labels}
    cpu: dict[str, list[float]] = {k: [] for k in labels}
    loads = []
    parts: dict[str, list[float]] = {"header walk": [], "block rows": [], "time block rows": []}
    stats: dict[str, list[float]] = {"refresh_statistics": [], "plain ANALYZE": []}
    with tempfile.TemporaryDirectory() as d:
        full = Path(d) / "prefilled.db"
        t0 = time.perf_counter()
        prefilled(full, args.prefill)
        print(f"prefilled a store with {args.prefill:,} events in {time.perf_counter() - t0:.1f} s")
        for rnd in range(rounds):
            copy = Path(d) / f"copy{rnd}.db"
            shutil.copy(full, copy)
            for label, fn in zip(labels, (
                    lambda: bench_baseline(Path(d) / f"base{rnd}.db", batches),
                    lambda: bench_store(Path(d) / f"empty{rnd}.db", batches),
                    lambda: bench_store(copy, batches),
                    lambda: bench_sql_rows(Path(d) / f"rowsi{rnd}.db", batches, True),
                    lambda: bench_sql_rows(Path(d) / f"rowst{rnd}.db", batches, True, 10),
                    lambda: bench_sql_rows(Path(d) / f"rows{rnd}.db", batches, False),
                    lambda: bench_blocks(Path(d) / f"blocks{rnd}.db", batches))):
                dt, c = fn()
                wall[label].append(total / dt)
                cpu[label].append(total / c)
            for label, secs in zip(parts, bench_python_parts(batches)):
                parts[label].append(secs / total * 1e6)
            for label, secs in zip(stats, bench_statistics(copy)):  # the prefilled store + this round's batches
                stats[label].append(secs * 1e3)
            loads.append(load_average()[0])
            for f in Path(d).glob("*.db*"):
                if f.name.startswith(("base", "empty", "copy", "rows", "blocks")):
                    f.unlink()
    print(f"min/median/max of {rounds} rounds (load average {show(loads, '{:.2f}')}):")
    for label in labels:
        print(f"  {label:<58} {show(wall[label]):>26} events/s   {show(cpu[label]):>26} events/CPU-s")
    base, empty, full_l, rows_i, rows_t, rows_b, blocks = labels
    us = {k: [1e6 / v for v in cpu[k]] for k in labels}
    print("  CPU per event (µs), the layout's floors beside the store:")
    for k in (empty, rows_i, rows_t, rows_b, blocks):
        print(f"    {k:<56} {show(us[k], '{:.2f}'):>20}")
    for k, v in parts.items():
        print(f"    of the store's, Python alone: {k:<26} {show(v, '{:.2f}'):>20}")
    held = args.prefill + total
    for k, v in stats.items():
        print(f"  planner statistics of the store holding {held:,} events, {k:<20} {show(v, '{:.1f}'):>20} ms CPU")
    ratio = [a / b for a, b in zip(cpu[full_l], cpu[empty])]
    print(f"  ingest into the full store / into the empty one (CPU): {show(ratio, '{:.2f}')}x "
          "(1.0 = cost independent of the store's size)")
    print(json.dumps({"bench": "store", "events": total, "prefill": args.prefill, "rounds": rounds,
                      "procs": args.procs, "functions": args.functions,
                      "baseline_evps": spread(wall[base]), "empty_store_evps": spread(wall[empty]),
                      "full_store_evps": spread(wall[full_l]), "baseline_ev_per_cpu_s": spread(cpu[base]),
                      "empty_store_ev_per_cpu_s": spread(cpu[empty]),
                      "full_store_ev_per_cpu_s": spread(cpu[full_l]),
                      "full_over_empty_cpu": spread(ratio),
                      "cpu_us_per_event": {"ingest_empty_store": spread(us[empty]),
                                           "rows_by_sql_time_index": spread(us[rows_i]),
                                           "rows_by_sql_time_index_10_batches_per_txn": spread(us[rows_t]),
                                           "rows_by_sql_no_index": spread(us[rows_b]),
                                           "blocks_with_block_index": spread(us[blocks]),
                                           "python_header_walk": spread(parts["header walk"]),
                                           "python_block_rows": spread(parts["block rows"]),
                                           "python_time_block_rows": spread(parts["time block rows"])},
                      "statistics_cpu_ms": {"refresh_statistics": spread(stats["refresh_statistics"]),
                                            "plain_analyze": spread(stats["plain ANALYZE"])},
                      "load_avg": spread(loads),
                      "load_avg_end": load_average()}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
