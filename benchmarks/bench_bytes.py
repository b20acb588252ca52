"""Bytes per event in the store, against the bytes the agent sends for the same events (the
records binary: 30-byte header + the payload's External Term Format, what a file trace port
would also write, give or take its own framing).

Two workloads, written through the store's real ingest in the agent's exact format
(``store.batch.SyntheticTrace``), each into a store that already holds the other:

* ``calls``: small call/return events (a counter-like GenServer);
* ``state in every call``: a GenServer whose ~2 KB state travels in every call's arguments
  and every return (``handle_call(Req, From, State)`` → ``{reply, R, State}``), plus its state
  history — the shape that grew RabbitMQ's store to ~2 KB per event.

Store bytes are the file's pages after a WAL checkpoint (tables and indexes included), counted
as the growth caused by the workload. Each workload runs ``--rounds`` (>= 3) times into fresh
stores; min/median/max printed with the load average; the last line is one JSON object.

    .venv/bin/python benchmarks/bench_bytes.py [--calls 20000] [--rounds 3]

Goal (issue 13): >= 3x fewer bytes per event on the state workload than the store needed
before large elements were stored once (1,078 B/event; see docs/store.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _bench_common import SHARED_NOTE, load_average, show, spread  # noqa: E402
from elixir_scope.instrument.etf import Atom  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402
from elixir_scope.store.batch import SyntheticTrace  # noqa: E402


def store_bytes(store: TraceStore) -> int:
    store.db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = store.db.query_one("PRAGMA page_count")[0] - store.db.query_one("PRAGMA freelist_count")[0]
    return pages * store.db.query_one("PRAGMA page_size")[0]


def workload(kind: str, calls: int) -> list:
    t = SyntheticTrace("app@host")
    client, server = t.new_pid(200), t.new_pid(300, reg_name="Elixir.Chan")
    batches = []
    for i in range(calls):
        if kind == "calls":
            before, after = i, i + 1
        else:  # a ~2 KB channel state, one field changing per call
            base = {Atom("vhost"): b"/", Atom("user"): b"guest", Atom("limits"): list(range(150)),
                    Atom("config"): {Atom(f"opt{k}"): b"value-%d" % k for k in range(40)}}
            before, after = {**base, Atom("seq"): i}, {**base, Atom("seq"): i + 1}
        t.gen_call(client, server, "Elixir.Chan", (Atom("publish"), i), before, after, Atom("ok"))
        if i % 200 == 199:
            batches.append(t.take())
    batches.append(t.take())
    return [b for b in batches if b.count]


def measure(path: Path, batches: list) -> tuple[float, float, float]:
    """(store bytes per event, agent bytes per event, seconds) for one workload into a store
    that already holds another recording."""
    store = TraceStore.open(path)
    before = store_bytes(store)
    rec = store.create_recording("bytes", spec={}, limits={})
    node = rec.add_node("app@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    t0 = time.perf_counter()
    for b in batches:
        rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    secs = time.perf_counter() - t0
    grown = store_bytes(store) - before
    store.close()
    n = sum(b.count for b in batches)
    sent = sum(len(b.events) for b in batches)
    return grown / n, sent / n, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    work = {k: workload(k, args.calls) for k in ("calls", "state in every call")}
    out: dict = {"bench": "bytes", "calls": args.calls, "rounds": rounds}
    print(f"bytes per event, store vs what the agent sends; min/median/max of {rounds} rounds ({SHARED_NOTE})")
    for kind, batches in work.items():
        other = work["calls" if kind != "calls" else "state in every call"]
        stored, sent, loads = [], [], []
        for r in range(rounds):
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "b.db"
                measure(path, other)  # the store already holds another recording
                s, a, _ = measure(path, batches)
                stored.append(s)
                sent.append(a)
                loads.append(load_average()[0])
        ratio = [a / s for a, s in zip(sent, stored)]
        events = sum(b.count for b in batches)
        print(f"  {kind:<22} {events:>8,} events: store {show(stored)} B/event, agent sends "
              f"{show(sent)} B/event, sent/stored {show(ratio, '{:.2f}')}x  (load {show(loads, '{:.2f}')})")
        out[kind.replace(" ", "_")] = {"events": events, "store_bytes_per_event": spread(stored),
                                       "agent_bytes_per_event": spread(sent),
                                       "sent_over_stored": spread(ratio), "load_avg": spread(loads)}
    print("  (goal: >= 3x fewer bytes per event than the 1,078 B/event stored before large elements "
          "were stored once, on the state workload)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
