"""The web UI's first paint on a 1M-event recording (10,100 processes), against a baseline.

Builds (or reuses, with --store) the store of bench_timetravel.py through the real ingest path,
then measures in the same run, each repeated --repeat times (min / median / max):

  * baseline: the straightforward timeline aggregate — one GROUP BY (process, bucket) over the
    time index for the whole window, busiest lanes picked afterwards;
  * ``store.density.event_density`` (what the UI's /density endpoint calls);
  * first paint in a real headless Chromium: from navigation start to the timeline drawn
    (``performance.now()`` recorded by ui/static/timeline.js), against a freshly started UI
    server each time (nothing cached), then the same page again (the server keeps the last
    answers about ended recordings).

Run: .venv/bin/python benchmarks/bench_ui.py [--events 1000000] [--store FILE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from elixir_scope.store import TraceStore  # noqa: E402
from elixir_scope.store.density import event_density, time_bounds  # noqa: E402

BUCKETS, LANES = 592, 40  # what a 1400-px-wide page asks for


def baseline(rec, lo: int, hi: int) -> int:
    span = hi - lo + 1
    rows = rec.db.query(
        "SELECT node_id, pid, ((ts - ?) * ?) / ? AS b, count(*), sum(kind IN (3, 8)) FROM events "
        "WHERE recording_id = ? AND ts >= ? AND ts <= ? GROUP BY node_id, pid, b",
        (lo, BUCKETS, span, rec.id, lo, hi))
    totals: dict = {}
    for n, p, _b, c, _e in rows:
        totals[(n, p)] = totals.get((n, p), 0) + c
    top = sorted(totals, key=totals.get, reverse=True)[:LANES]
    return len(top)


def stats(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def show(label: str, xs: list[float]) -> None:
    s = stats(xs)
    print(f"{label:<44} min {s['min'] * 1e3:8.1f} ms  median {s['median'] * 1e3:8.1f} ms  "
          f"max {s['max'] * 1e3:8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--store", type=Path, help="reuse this store (built here when missing)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = args.store or Path(tempfile.mkdtemp(prefix="es-bench-ui-")) / "big.db"
    if not path.exists():
        import bench_timetravel

        store, _, _, _ = bench_timetravel.build(path, args.events)
        store.close()
    store = TraceStore.open(path, readonly=True)
    rec = store.recording(store.recordings()[0].id)
    lo, hi = time_bounds(rec)
    n = rec.info.event_count
    print(f"recording: {n:,} events, {len(rec.processes()):,} processes")
    base, dens = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        baseline(rec, lo, hi)
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        event_density(rec, lo, hi, buckets=BUCKETS, max_lanes=LANES)
        dens.append(time.perf_counter() - t)
    show("baseline GROUP BY (process, bucket)", base)
    show("event_density", dens)

    from elixir_scope.ui import UiConfig
    from support.browser import chrome, chromium_paths, free_port, ui_server

    def first_paint(d, base_url: str) -> float:
        d.get(base_url + "?r=%d#/rec/%d" % (time.monotonic_ns(), rec.id))
        for _ in range(1200):
            v = d.execute_script("return window.esFirstPaint")
            if v is not None:
                return v / 1000
            time.sleep(0.05)
        raise RuntimeError("the timeline was not drawn within 60 s")

    paint, revisit = [], []
    if not chromium_paths():
        raise SystemExit("chromium and chromedriver are needed (scripts/setup.sh installs them)")
    with chrome() as d:
        for _ in range(args.repeat):  # a new server each time: nothing cached
            config = UiConfig(store_path=path, port=free_port())
            with ui_server(config) as url:
                d.get(url)  # sets the cookie
                base_url = url.split("?")[0]
                paint.append(first_paint(d, base_url))
                revisit.append(first_paint(d, base_url))
    show("first paint in Chromium, fresh server", paint)
    show("first paint again (the server's cache)", revisit)
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(json.dumps({"bench": "ui", "events": n, "baseline_s": stats(base), "density_s": stats(dens),
                      "first_paint_s": stats(paint), "revisit_paint_s": stats(revisit),
                      "speedup_median": statistics.median(base) / statistics.median(dens),
                      "loadavg": load[0]}))


if __name__ == "__main__":
    main()
