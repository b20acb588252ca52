"""Time travel on a store of ~1M events and 10k processes with state history.

Builds the store through the real ingest path (agent-format batches of 2000 records): 10,000
GenServer processes called by 100 clients, each call = 8 records (the $gen_call send and
receive, handle_call call/return, state before/after, the reply send/receive), plus a
checkpoint per server. One server in ten has a large state (~6 KB, stored as deltas). Then
measures, in the same run:

  * ``state_at`` p50/p99 over random (process, moment) probes, against a naive scan that
    replays the process's state history from its beginning with no index and no keyframes
    (``NOT INDEXED`` scan of the states table, decode + apply everything up to t);
  * ``system_snapshot_at`` (all live processes with their state row) at random moments, and
    the extra cost of materialising every process's state value.

Figures are printed as p50/p99 (probes) or min/median/max (repeated measures) with the load
average (the machine is shared); the last line is one JSON object.

Run: .venv/bin/python benchmarks/bench_timetravel.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from elixir_scope.instrument.etf import Atom, Pid, Ref, decode, encode
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store import diff as _diff
from elixir_scope.store.batch import BatchBuilder

NS = 1_000_000_000
SERVERS = 10_000
CLIENTS = 100
BATCH = 2000


def body(term) -> bytes:
    return encode(term)[1:]


def build(path: Path, total: int) -> tuple[TraceStore, int, list, float]:
    store = TraceStore.open(path)
    rec = store.create_recording("bench", spec={}, limits={})
    node = rec.add_node("bench@host", otp_release="25", time_unit=NS, time_offset=0)
    b = BatchBuilder("bench@host")
    na = Atom("bench@host")
    servers = [(Pid(na, 1000 + i, 0, 1), None) for i in range(SERVERS)]
    servers = [(p, b.pid(p, None, ("Elixir.Bench.Server", "init", 1))) for p, _ in servers]
    clients = [(p, b.pid(p)) for p in (Pid(na, 100 + i, 0, 1) for i in range(CLIENTS))]
    f = b.mfa(("Elixir.Bench.Server", "handle_call", 3))
    srv_body = [body(p) for p, _ in servers]
    refs = [body((p, Ref(na, 1, (j, 7, 7)))) for j, (p, _) in enumerate(clients)]
    ok_reply = body(Atom("ok"))
    gen_call = body(Atom("$gen_call"))
    t = 0
    counts = [0] * SERVERS
    large = [i % 10 == 0 for i in range(SERVERS)]

    def state_of(i: int, n: int):
        if large[i]:
            return {Atom("n"): n, Atom("log"): [b"entry-%06d" % k for k in range(400 + n)]}
        return {Atom("n"): n, Atom("name"): b"server-%d" % i, Atom("items"): list(range(n % 7))}

    t_build = time.perf_counter()
    for i, (p, idx) in enumerate(servers):  # checkpoints
        t += 10
        b.raw(EventKind.STATE, idx, 0, encode((Atom("checkpoint"), state_of(i, 0))), ts=t)
    stored = 0
    probes = []
    last_body: dict[int, bytes] = {}
    while stored + b.pending < total:
        i = random.randrange(SERVERS)
        cpid, cidx = clients[i % CLIENTS]
        sidx = servers[i][1]
        n = counts[i]
        req = body((Atom("put"), n % 50))
        msg = b"\x83h\x03" + gen_call + refs[i % CLIENTS] + req
        b.raw(EventKind.SEND, cidx, sidx, b"\x83h\x02" + msg[1:] + srv_body[i], ts=(t := t + 10))
        b.raw(EventKind.RECEIVE, sidx, 0, msg, ts=(t := t + 10))
        after = state_of(i, n + 1)
        sb, sa = last_body.get(i) or body(state_of(i, n)), body(after)
        last_body[i] = sa
        b.raw(EventKind.CALL, sidx, f, b"\x83l\x00\x00\x00\x03" + req + refs[i % CLIENTS] + sb + b"j", ts=(t := t + 10))
        b.raw(EventKind.STATE, sidx, f, b"\x83h\x02" + body(Atom("before")) + sb, ts=(t := t + 10))
        b.raw(EventKind.RETURN, sidx, f, b"\x83h\x03" + body(Atom("reply")) + ok_reply + sa, ts=(t := t + 10))
        b.raw(EventKind.STATE, sidx, f, b"\x83h\x02" + body(Atom("after")) + sa, ts=(t := t + 10))
        reply = b"\x83h\x02" + refs[i % CLIENTS][-(len(refs[i % CLIENTS]) - len(body(cpid)) - 2):] + ok_reply
        b.raw(EventKind.SEND, sidx, cidx, b"\x83h\x02" + reply[1:] + body(cpid), ts=(t := t + 10))
        b.raw(EventKind.RECEIVE, cidx, 0, reply, ts=(t := t + 10))
        counts[i] = n + 1
        if len(probes) < 400 and random.random() < 0.01:
            probes.append((i, t - 20, after))  # moment just after the `after` state
        if b.pending >= BATCH:
            bt = b.take()
            rec.ingest_batch(node, bt.dict_entries, bt.events)
            stored += bt.count
    bt = b.take()
    rec.ingest_batch(node, bt.dict_entries, bt.events)
    stored += bt.count
    build_s = time.perf_counter() - t_build
    t0 = time.perf_counter()
    rec.finish("stopped", {})
    print(f"built {stored:,} events, {SERVERS + CLIENTS:,} processes in {build_s:.1f}s "
          f"({stored / build_s:,.0f} events/s incl. generating them); finish "
          f"{time.perf_counter() - t0:.2f}s (indexes are live: nothing to build)")
    return store, rec.id, probes, t


def naive_state_at(store: TraceStore, node_id: int, pid: int, ts: int):
    """Replay the process's state history from its start, no index, no keyframe seek."""
    state = None
    real = store.db.blobs.real  # full states may be stored by content (store/blobs.py)
    for enc, data in store.db.query(
            "SELECT encoding, data FROM states NOT INDEXED WHERE node_id = ? AND pid = ? AND ts <= ? "
            "ORDER BY id", (node_id, pid, ts)):
        term = decode(real(data))
        state = term if enc == "full" else _diff.apply(state, term)
    return state


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--naive-probes", type=int, default=20)
    args = ap.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory() as d:
        store, rid, probes, t_end = build(Path(d) / "tt.db", args.events)
        r = store.recording(rid)
        procs = {p.idx: p for p in r.processes()}
        server_idx = [p.idx for p in r.processes() if p.initial_call is not None]
        node_id = r.nodes()[0].id
        r.context  # warm the interned tables once, as any session does
        # correctness spot check + timing of state_at
        lat = []
        for i, ts, expected in probes:
            pidx = server_idx[i]
            t0 = time.perf_counter()
            got = r.state_at(procs[pidx], ts)
            lat.append(time.perf_counter() - t0)
            assert _diff.same(got.state, decode(encode(expected))), (i, ts)
        rnd, c0 = [], time.process_time()
        for _ in range(1000):
            pidx = random.choice(server_idx)
            ts = random.randrange(t_end)
            t0 = time.perf_counter()
            r.state_at(procs[pidx], ts)
            rnd.append(time.perf_counter() - t0)
        rnd_cpu = (time.process_time() - c0) / len(rnd)
        naive = []
        for i, ts, _ in probes[: args.naive_probes]:
            pidx = server_idx[i]
            t0 = time.perf_counter()
            naive_state_at(store, node_id, pidx, ts)
            naive.append(time.perf_counter() - t0)
        print(f"state_at (verified probes, n={len(lat)}): p50 {pct(lat, 50) * 1e3:.3f} ms, "
              f"p99 {pct(lat, 99) * 1e3:.3f} ms")
        print(f"state_at (random process/moment, n={len(rnd)}): p50 {pct(rnd, 50) * 1e3:.3f} ms, "
              f"p99 {pct(rnd, 99) * 1e3:.3f} ms, mean CPU {rnd_cpu * 1e3:.3f} ms")
        print(f"naive replay scan (n={len(naive)}): p50 {pct(naive, 50) * 1e3:.1f} ms, "
              f"p99 {pct(naive, 99) * 1e3:.1f} ms")
        p50 = pct(lat, 50)
        print(f"speed-up at p50: {pct(naive, 50) / p50:,.0f}x (goal >= 100x); "
              f"p50 goal <= 1 ms: {'MET' if p50 <= 1e-3 else 'NOT MET'}")
        snaps, full, snap_cpu = [], [], []
        for _ in range(5):
            ts = random.randrange(t_end // 2, t_end)
            t0, c0 = time.perf_counter(), time.process_time()
            snap = r.system_snapshot_at(ts)
            snaps.append(time.perf_counter() - t0)
            snap_cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            with_state = snap.load_states()
            full.append(time.perf_counter() - t0)
        print(f"system_snapshot_at ({len(snap.processes):,} live processes, state rows resolved): "
              f"median {statistics.median(snaps) * 1e3:.0f} ms (goal <= 100 ms: "
              f"{'MET' if statistics.median(snaps) <= 0.1 else 'NOT MET'}), CPU median "
              f"{statistics.median(snap_cpu) * 1e3:.0f} ms")
        print(f"  + materialising all {with_state:,} state values: median {statistics.median(full) * 1e3:.0f} ms")
        from elixir_scope.store.causal import ensure_causal

        t0 = time.perf_counter()
        ensure_causal(r)
        nlinks = store.db.query_one("SELECT count(*) FROM msg_links")[0]
        print(f"causal order computed once (send/receive matching + Lamport clocks of every event): "
              f"{time.perf_counter() - t0:.1f}s, {nlinks:,} links")
        top = r.info.event_count
        cp = []
        for _ in range(50):
            ev = r.event(random.randrange(top // 2, top) + r.events(limit=1)[0].id - 1)
            t0 = time.perf_counter()
            page = r.causal_past(ev, limit=100)
            cp.append(time.perf_counter() - t0)
        print(f"causal_past (first page of 100): p50 {pct(cp, 50) * 1e3:.1f} ms, p99 {pct(cp, 99) * 1e3:.1f} ms "
              f"(last reached {page.processes} processes)")
        import json
        import os

        load = [round(x, 2) for x in os.getloadavg()]
        print(f"load average: {load} (the machine is shared: compare figures within this run)")
        print(json.dumps({"bench": "timetravel", "events": top,
                          "state_at_ms": {"p50": pct(lat, 50) * 1e3, "p99": pct(lat, 99) * 1e3},
                          "state_at_random_ms": {"p50": pct(rnd, 50) * 1e3, "p99": pct(rnd, 99) * 1e3},
                          "naive_ms": {"p50": pct(naive, 50) * 1e3, "p99": pct(naive, 99) * 1e3},
                          "speedup_p50": pct(naive, 50) / p50,
                          "snapshot_ms": {"min": min(snaps) * 1e3, "median": statistics.median(snaps) * 1e3,
                                          "max": max(snaps) * 1e3},
                          "causal_past_ms": {"p50": pct(cp, 50) * 1e3, "p99": pct(cp, 99) * 1e3},
                          "load_avg": load}))
        store.close()


if __name__ == "__main__":
    main()
