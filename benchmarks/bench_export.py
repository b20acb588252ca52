"""Export rate of a recording: OTLP/HTTP protobuf and Parquet, against reading the same
recording (the floor any export pays) measured in the same round.

Builds one recording once (not timed) through the store's real ingest: ``--events`` events of
GenServer traffic in the agent's exact record format — a client's traced call around a
``GenServer.call`` (request and reply messages, ``handle_call/3`` with its state before and
after) across 50 clients and 8 servers. Then, per round, interleaved:

  1. baseline: read every event in pages and decode its payload (``Recording.events`` +
     ``Event.payload``) — what every export must do at least;
  2. the store's own recording-file export (``export_recording``, SQLite to SQLite);
  3. OTLP: ``export_otlp`` to a receiver in a *separate process* on loopback that reads each
     request body and answers 200 (so its CPU does not share this process's interpreter);
  4. OTLP without term text (``value_bytes=0``: names, ids, times and links only — what a
     stream at high rates would carry);
  5. Parquet: ``export_parquet`` (all eight tables, zstd, row groups of 65,536).

Each runs ``--rounds`` (>= 3) times; min/median/max of events/s (wall clock) and of events per
CPU-second of this process are printed with the load average; the last line is one JSON object.

Run: .venv/bin/python benchmarks/bench_export.py [--events 100000] [--rounds 3]
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

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import SyntheticTrace
from elixir_scope.store.export import OtlpOptions, SpanOptions, export_otlp, export_parquet

RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def build(path: Path, events: int) -> int:
    store = TraceStore.open(path)
    w = store.create_recording("bench export", spec={}, limits={})
    node = w.add_node("bench@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    t = SyntheticTrace("bench@host")
    servers = [t.new_pid(reg_name=f"Elixir.Bench.Server{i}", initial_call=("Elixir.Bench.Server", "init", 1))
               for i in range(8)]
    clients = [t.new_pid(initial_call=("Elixir.Bench.Client", "run", 0)) for _ in range(50)]
    req_fn = t.builder.mfa(("Elixir.Bench.Client", "request", 2))
    n = i = 0
    while n < events:
        c, s = clients[i % 50], servers[i % 8]
        req = (Atom("put"), b"key-%d" % (i % 1000), i)
        before = {Atom("count"): i, Atom("last"): b"key-%d" % ((i - 1) % 1000)}
        after = {Atom("count"): i + 1, Atom("last"): req[1]}
        t.builder.add(EventKind.CALL, c[1], req_fn, [s[0], req], ts=t.tick())
        t.gen_call(c, s, "Elixir.Bench.Server", req, before, after, Atom("ok"))
        t.builder.add(EventKind.RETURN, c[1], req_fn, Atom("ok"), ts=t.tick())
        n += 10
        i += 1
        if i % 200 == 0:
            b = t.take()
            w.ingest_batch(node, b.dict_entries, b.events)
    b = t.take()
    if b.events:
        w.ingest_batch(node, b.dict_entries, b.events)
    w.finish("stopped")
    rid = w.id
    store.close()
    return rid


def timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def mmm(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.rounds < 3:
        ap.error("--rounds must be >= 3")
    tmp = Path(tempfile.mkdtemp(prefix="es-bench-export-"))
    recv = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(recv.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        rid = build(tmp / "store.db", args.events)
        store = TraceStore.open(tmp / "store.db")
        rec = store.recording(rid)
        total = rec.info.event_count
        rec.stats  # warm the file cache and the causal tables once (not timed)
        from elixir_scope.store.causal import ensure_causal

        ensure_causal(rec)
        out: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []}
                                                  for k in ("read", "file", "otlp", "otlp_bare", "parquet")}
        spans = 0

        def read_all() -> None:
            after = 0
            while True:
                page = rec.events(after_id=after, limit=5000)
                for e in page:
                    e.payload
                if page.next_after_id is None:
                    return
                after = page.next_after_id

        for r in range(args.rounds):
            steps = {
                "read": read_all,
                "file": lambda: store.export_recording(rid, tmp / f"rec-{r}.esrec"),
                "otlp": lambda: out.setdefault("_spans", export_otlp(rec, url).spans),
                "otlp_bare": lambda: export_otlp(rec, url, OtlpOptions(spans=SpanOptions(value_bytes=0))),
                "parquet": lambda: export_parquet(rec, tmp / f"pq-{r}"),
            }
            for name, fn in steps.items():
                wall, cpu = timed(fn)
                out[name]["wall"].append(total / wall)
                out[name]["cpu"].append(total / cpu if cpu else float("inf"))
            shutil.rmtree(tmp / f"pq-{r}", ignore_errors=True)
            (tmp / f"rec-{r}.esrec").unlink(missing_ok=True)
        spans = out.pop("_spans")
        store.close()
    finally:
        recv.terminate()
        recv.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print(f"recording: {total} events, {spans} spans; rounds: {args.rounds}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    base = statistics.median(out["read"]["wall"])
    result = {"bench": "export", "events": total, "spans": spans, "rounds": args.rounds,
              "loadavg": [round(x, 2) for x in load]}
    for name, label in (("read", "read + decode (baseline)"), ("file", "recording file (SQLite)"),
                        ("otlp", "OTLP/HTTP protobuf"), ("otlp_bare", "OTLP, no term text"),
                        ("parquet", "Parquet (8 tables)")):
        w, c = mmm(out[name]["wall"]), mmm(out[name]["cpu"])
        ratio = [x / base for x in w]
        print(f"{label:28s} events/s {w[0]:>9,.0f} / {w[1]:>9,.0f} / {w[2]:>9,.0f}   "
              f"per CPU-s {c[0]:>9,.0f} / {c[1]:>9,.0f} / {c[2]:>9,.0f}   "
              f"x baseline {ratio[0]:.2f} / {ratio[1]:.2f} / {ratio[2]:.2f}")
        result[name] = {"events_per_s": [round(x) for x in w], "events_per_cpu_s": [round(x) for x in c],
                        "vs_read": [round(x, 3) for x in ratio]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
