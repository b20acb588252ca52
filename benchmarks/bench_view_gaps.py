"""The view's build time on a ~1M-event recording, with and without dropped events.

Writes two recordings through the real ingest path (agent-format batches of 2,000 records): 50
processes, each running a loop whose steps call a helper (``run/1`` → ``step/1`` → ``leaf/1``,
3 calls and 3 returns per step). The second recording has a gap every ~5,000 records on which a
step's and its leaf's returns were lost, so the view closes stale frames
(agents/view_gaps.py). Measures :func:`RecordingView.from_recording` on each (min/median of
``--repeat`` builds, with the load average: the machine is shared) and prints how many frames the
view found broken; the last line is one JSON object.

Run: .venv/bin/python benchmarks/bench_view_gaps.py [--events 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from elixir_scope.agents.view import RecordingView
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import SyntheticTrace

NS = 1_000_000_000
MOD = "Elixir.Bench.Loop"
PROCS = 50


def _write(store: TraceStore, events: int, gap_every: int | None) -> int:
    rec = store.create_recording("view gaps", spec={}, limits={})
    node = rec.add_node("app@host", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace("app@host", step=1000)
    b = t.builder
    procs = [t.new_pid(1000 + i)[1] for i in range(PROCS)]
    run, step, leaf = (b.mfa((MOD, f, 1)) for f in ("run", "step", "leaf"))
    for p in procs:
        b.add(EventKind.CALL, p, run, [0], ts=t.tick())
    written, i, since_gap = PROCS, 0, 0
    while written < events:
        p = procs[i % PROCS]
        b.add(EventKind.CALL, p, step, [i], ts=t.tick())
        b.add(EventKind.CALL, p, leaf, [i], ts=t.tick())
        since_gap += 6
        if gap_every and since_gap >= gap_every:
            t.gap("rate", 2)            # this step's two returns are lost
            since_gap, written = 0, written + 3
        else:
            b.add(EventKind.RETURN, p, leaf, i, ts=t.tick())
            b.add(EventKind.RETURN, p, step, i, ts=t.tick())
            written += 4
        i += 1
        if b.pending >= 2000:
            batch = t.take()
            rec.ingest_batch(node, batch.dict_entries, batch.events)
    for p in procs:
        b.add(EventKind.RETURN, p, run, 0, ts=t.tick())
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped")
    return rec.id


def _measure(store: TraceStore, rid: int, repeat: int) -> tuple[list[float], RecordingView]:
    times, view = [], None
    for _ in range(repeat):
        view = None
        t0 = time.perf_counter()
        view = RecordingView.from_recording(store.recording(rid))
        times.append(time.perf_counter() - t0)
    return times, view


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as d:
        store = TraceStore.open(Path(d) / "v.db")
        try:
            for name, every in (("no_gaps", None), ("gaps", 5000)):
                rid = _write(store, args.events, every)
                times, view = _measure(store, rid, args.repeat)
                # getattr: the same script measures a view built before frames could be broken
                broken = sum(1 for c in view.calls if getattr(c, "broken", False))
                still_open = sum(1 for c in view.calls if c.end_ts is None and not getattr(c, "broken", False))
                out[name] = {"calls": len(view.calls), "gaps": len(view.gaps), "broken": broken, "open": still_open,
                             "min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}
                print(f"{name}: {len(view.calls):,} calls, {len(view.gaps)} gaps, {broken} broken, {still_open} open; "
                      f"build min {min(times):.2f} s, median {statistics.median(times):.2f} s "
                      f"(load {os.getloadavg()[0]:.1f})")
        finally:
            store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
