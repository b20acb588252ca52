"""What grows with the recording (the figures behind docs/scaling.md): an aggregation in our
query language against the same question in a columnar engine (DuckDB over the recording's
Parquet export), and the causal analysis (send → receive matching + Lamport clocks), whose
time and memory grow with the whole recording.

Builds one recording of ``--events`` events (GenServer traffic in the agent's record format,
through the store's real ingest; see bench_export.py) and exports it to Parquet once (both
timed once and printed, not repeated). Then ``--rounds`` (>= 3) rounds of:

  1. baseline: ``run_query(rec, "calls | count by function")`` (SQLite, the store's indexes);
  2. DuckDB: ``SELECT mfa, count(*) FROM calls.parquet GROUP BY mfa`` (same answer, checked),
     and ``SELECT kind, count(*) FROM events.parquet GROUP BY kind``;
  3. the causal analysis in a fresh process on a read-only open (computed into TEMP tables, as
     on every first use): wall time and the growth of that process's peak RSS.

min/median/max are printed with the load average; the last line is one JSON object.

Run: .venv/bin/python benchmarks/bench_scale.py [--events 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import build  # noqa: E402

from elixir_scope.store import TraceStore  # noqa: E402
from elixir_scope.store.export import export_parquet  # noqa: E402
from elixir_scope.store.query import run_query  # noqa: E402

CAUSAL = r"""
import json, sys, threading, time
import psutil
from elixir_scope.store import TraceStore
from elixir_scope.store.causal import ensure_causal
store = TraceStore.open(sys.argv[1], readonly=True)
rec = store.recording(int(sys.argv[2]))
rec.context
me = psutil.Process()
before = me.memory_info().rss
peak = [before]
done = threading.Event()
def sample():  # the process's RSS every 5 ms while the analysis runs
    while not done.wait(0.005):
        peak[0] = max(peak[0], me.memory_info().rss)
t = threading.Thread(target=sample)
t.start()
t0 = time.perf_counter()
ensure_causal(rec)
wall = time.perf_counter() - t0
done.set(); t.join()
links = store.db.query_one("SELECT count(*) FROM msg_links WHERE recording_id = ?", (rec.id,))[0]
print(json.dumps({"seconds": wall, "rss_growth_mb": (peak[0] - before) / 2**20, "rss_before_mb": before / 2**20,
                  "links": links}))
"""


def mmm(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.rounds < 3:
        ap.error("--rounds must be >= 3")
    import duckdb

    tmp = Path(tempfile.mkdtemp(prefix="es-bench-scale-"))
    try:
        t0 = time.perf_counter()
        rid = build(tmp / "store.db", args.events)
        build_s = time.perf_counter() - t0
        store = TraceStore.open(tmp / "store.db")
        rec = store.recording(rid)
        total = rec.info.event_count
        t0 = time.perf_counter()
        export_parquet(rec, tmp / "pq")
        export_s = time.perf_counter() - t0
        parquet_mb = sum(p.stat().st_size for p in (tmp / "pq").iterdir()) / 1e6
        store_mb = (tmp / "store.db").stat().st_size / 1e6
        calls_pq, events_pq = tmp / "pq" / "calls.parquet", tmp / "pq" / "events.parquet"
        res: dict[str, list[float]] = {"query_ms": [], "duckdb_calls_ms": [], "duckdb_events_ms": [],
                                       "causal_s": [], "causal_rss_mb": []}
        for _ in range(args.rounds):
            rec = store.recording(rid)  # no cached pairing or counts from the previous round
            t0 = time.perf_counter()
            ours = {g.key["function"]: g.values["count"] for g in run_query(rec, "calls | count by function").groups}
            res["query_ms"].append((time.perf_counter() - t0) * 1e3)
            con = duckdb.connect()
            t0 = time.perf_counter()
            theirs = dict(con.execute(f"SELECT mfa, count(*) FROM '{calls_pq}' GROUP BY mfa").fetchall())
            res["duckdb_calls_ms"].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            con.execute(f"SELECT kind, count(*) FROM '{events_pq}' GROUP BY kind").fetchall()
            res["duckdb_events_ms"].append((time.perf_counter() - t0) * 1e3)
            con.close()
            if ours != theirs:
                raise SystemExit(f"answers differ: {ours} vs {theirs}")
            out = subprocess.run([sys.executable, "-c", CAUSAL, str(tmp / "store.db"), str(rid)],
                                 capture_output=True, text=True, check=True)
            c = json.loads(out.stdout)
            res["causal_s"].append(c["seconds"])
            res["causal_rss_mb"].append(c["rss_growth_mb"])
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print(f"recording: {total} events (store file {store_mb:.0f} MB, built in {build_s:.1f} s); "
          f"Parquet export {export_s:.1f} s = {total / export_s:,.0f} events/s, {parquet_mb:.1f} MB; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    labels = {"query_ms": "query language, calls | count by function (ms)",
              "duckdb_calls_ms": "DuckDB on calls.parquet, same answer (ms)",
              "duckdb_events_ms": "DuckDB on events.parquet, count by kind (ms)",
              "causal_s": "causal analysis, full pass (s)", "causal_rss_mb": "causal analysis, peak RSS growth (MB)"}
    result = {"bench": "scale", "events": total, "store_mb": round(store_mb, 1), "build_s": round(build_s, 1),
              "parquet_export_s": round(export_s, 1), "parquet_mb": round(parquet_mb, 1), "rounds": args.rounds,
              "loadavg": [round(x, 2) for x in load]}
    for key, label in labels.items():
        lo, med, hi = mmm(res[key])
        print(f"{label:50s} {lo:10.1f} / {med:10.1f} / {hi:10.1f}")
        result[key] = [round(lo, 2), round(med, 2), round(hi, 2)]
    base = statistics.median(res["query_ms"])
    result["duckdb_speedup"] = round(base / statistics.median(res["duckdb_calls_ms"]), 1)
    print(f"DuckDB / query language (median): {result['duckdb_speedup']}x faster")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
