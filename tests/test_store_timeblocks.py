"""The time blocks (store/timeblocks.py, schema 7): every seek by time answers exactly what a
plain scan of ``events`` answers — windows, the first event at or after a ts, the last at or
before, the ts and id bounds, time-ordered walks cut into intervals, the readers built on them
(``Recording.events``, stepping, density, query pages) — on a real capture of a BEAM node and on
recordings built in the agent's record format with the awkward cases: several nodes with
unrelated clocks, ts out of order within a batch, ts ties, two recordings written at the same
time, an empty recording and one with a single event. And the migration from schema 6."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from elixir_scope.store.density import time_bounds
from elixir_scope.store.errors import StoreSchemaError
from elixir_scope.store.query import run_query
from elixir_scope.store.schema import SCHEMA_VERSION
from elixir_scope.store import timeblocks
from elixir_scope.store.stepping import step
from elixir_scope.store.timeblocks import (
    first_at_or_after, first_ids_at, id_bounds, last_at_or_before, neighbour, time_slices, ts_bounds,
    window_source,
)
from support.nodes import start_node
from support.query_records import Batch, flush, new_recording


@pytest.fixture(params=["merged", "per-batch"])
def store(tmp_path, request, monkeypatch):
    """Consecutive batches share a row (the default), or each batch has its own rows: many
    blocks, so the walks and seeks cross block bounds."""
    if request.param == "per-batch":
        monkeypatch.setattr(timeblocks, "MERGE", 1)
    s = TraceStore.open(tmp_path / "t.db")
    yield s
    s.close()


def scan(store, rid: int, node_id: int | None = None) -> list[tuple[int, int, int, int]]:
    """(ts, id, node_id, uniq) of the recording's events (of one node), in (ts, id) order."""
    rows = store.db.query("SELECT ts, id, node_id, uniq FROM events WHERE recording_id = ?", (rid,))
    return sorted(r for r in rows if node_id is None or r[2] == node_id)


def probes(evs: list[tuple]) -> list[int]:
    ts = sorted({e[0] for e in evs})
    out = set()
    for t in ts[:40] + ts[-40:] + ts[::max(1, len(ts) // 40)]:
        out.update((t - 1, t, t + 1))
    return sorted(out) + ([ts[0] - 10**12, ts[-1] + 10**12] if ts else [0])


def check_seeks(store, rid: int) -> None:
    """Every primitive of store/timeblocks.py against the scan, per node and for the recording."""
    db = store.db
    nodes = [r[0] for r in db.query("SELECT id FROM nodes WHERE recording_id = ?", (rid,))]
    everything = scan(store, rid)
    ids = sorted(e[1] for e in everything)
    assert id_bounds(db, rid) == ((ids[0], ids[-1]) if ids else None)
    assert (db.query_one("SELECT coalesce(sum(n), 0) FROM block_time WHERE recording_id = ?", (rid,))[0]
            == len(everything))
    # a row is flagged ordered exactly when its ts never decrease with id
    for first, last, ordered in db.query("SELECT first_id, last_id, ordered FROM block_time "
                                         "WHERE recording_id = ?", (rid,)):
        tss = [r[0] for r in db.query("SELECT ts FROM events WHERE id BETWEEN ? AND ? ORDER BY id", (first, last))]
        assert ordered == int(tss == sorted(tss)), (first, last, tss)
    # the batched seek of density's bucket edges: the same answers as one seek per edge
    pts = probes(everything)
    assert first_ids_at(db, rid, pts) == [
        next((e[1] for e in everything if e[0] >= t), None) for t in pts]
    for node in [None, *nodes]:
        evs = scan(store, rid, node)
        assert ts_bounds(db, rid, node) == ((evs[0][0], evs[-1][0]) if evs else None)
        pts = probes(evs)
        for t in pts:
            after = [e for e in evs if e[0] >= t]
            before = [e for e in evs if e[0] <= t]
            assert first_at_or_after(db, rid, t, "e.id", node_id=node) == ((after[0][1],) if after else None)
            assert last_at_or_before(db, rid, t, "e.id", node_id=node) == ((before[-1][1],) if before else None)
        for lo, hi in zip(pts[::7], pts[3::7]):
            src, params = window_source(rid, lo, hi, node)
            got = sorted(db.query(f"SELECT e.ts, e.id, e.node_id, e.uniq FROM {src}", params))
            assert got == [e for e in evs if lo <= e[0] <= hi]
        if node is None and len(nodes) > 1:
            continue  # a time-ordered walk is one node's ts (several nodes: the common clock)
        for size, backward in ((1, False), (7, False), (5000, False), (3, True)):
            walked, last_hi, last_lo = [], None, None
            for part in time_slices(db, rid, size=size, backward=backward, node_id=node):
                assert part.lo <= part.hi
                if backward:
                    assert last_lo is None or part.hi == last_lo - 1  # adjacent, disjoint
                    last_lo = part.lo
                else:
                    assert last_hi is None or part.lo == last_hi + 1
                    last_hi = part.hi
                src, params = window_source(rid, part.lo, part.hi, node)
                walked += sorted(db.query(f"SELECT e.ts, e.id, e.node_id, e.uniq FROM {src}", params),
                                 reverse=backward)
            assert walked == (evs[::-1] if backward else evs)


def check_readers(store, rid: int) -> None:
    """The readers built on the time blocks, against the scan."""
    r = store.recording(rid)
    everything = scan(store, rid)
    by_id = sorted(e[1] for e in everything)
    assert [e.id for e in r.events(limit=100_000)] == by_id
    assert [e.id for e in r.events(limit=100_000, descending=True)] == by_id[::-1]
    if everything:
        mid = everything[len(everything) // 2][0]
        want = sorted(e[1] for e in everything if mid - 5_000 <= e[0] <= mid + 5_000)
        assert [e.id for e in r.events(since=mid - 5_000, until=mid + 5_000, limit=100_000)] == want
        page = r.events(after_id=by_id[len(by_id) // 3], limit=5)
        assert [e.id for e in page] == by_id[len(by_id) // 3 + 1:][:5]
    assert time_bounds(r) == ((everything[0][0], everything[-1][0]) if everything else None)
    nodes = {e[2] for e in everything}
    if len(nodes) != 1:
        return
    # one node: stepping in (ts, uniq, id) order, query pages in (ts, id) order, both ways
    order = sorted(everything, key=lambda e: (e[0], e[3], e[1]))
    for i in sorted({0, 1, len(order) // 2, len(order) - 1} & set(range(len(order)))):
        ev = r.event(order[i][1])
        nxt, prev = step(r, ev, 1), step(r, ev, -1)
        assert (nxt.id if nxt else None) == (order[i + 1][1] if i + 1 < len(order) else None)
        assert (prev.id if prev else None) == (order[i - 1][1] if i else None)
    # the seek from an event's own row (stepping's), at every event (a sample of big ones)
    for i in range(0, len(order), max(1, len(order) // 700)):
        ts, eid, node, uniq = order[i]
        assert neighbour(r.db, rid, (eid, node, ts, uniq), "e.id", True) == (
            (order[i + 1][1],) if i + 1 < len(order) else None)
        assert neighbour(r.db, rid, (eid, node, ts, uniq), "e.id", False) == ((order[i - 1][1],) if i else None)
    want = [e[1] for e in everything]
    seen, cursor = [], None
    while True:
        page = run_query(r, "events", limit=97, cursor=cursor)
        seen += [row.event.id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == want
    desc = run_query(r, "events | sort time desc", limit=50)
    assert [row.event.id for row in desc.rows] == want[::-1][:50]


# -- recordings in the agent's format ------------------------------------------------------------


def test_out_of_order_ts_and_ties_within_batches(store):
    w, node, b = new_recording(store, "jumbled")
    f = b.mfa("MyApp.W", "run", 1)
    pids = [b.pid(100 + i) for i in range(5)]
    for i in range(3000):
        if i % 97 == 5:
            b.t -= 250_000  # a record stored later than its time (a checkpoint, another process)
        b.call(pids[i % 5], f, [i], dt_ns=0 if i % 3 else 1000)  # runs of equal ts
        if i % 410 == 409:
            flush(w, node, b)
    flush(w, node, b)
    w.finish("stopped")
    check_seeks(store, w.id)
    check_readers(store, w.id)


def test_ordered_rows_with_runs_of_equal_ts(store):
    """Every row ordered (ts never decrease with id) but runs of equal ts, some across batch
    and row bounds, and uniq not in id order within a run: the seeks that read an ordered row
    in id order must still pick the least (ts, uniq, id)."""
    w, node, b = new_recording(store, "runs")
    f = b.mfa("MyApp.W", "run", 1)
    pids = [b.pid(100 + i) for i in range(3)]
    for i in range(2600):
        b.call(pids[i % 3], f, [i], dt_ns=0 if i % 7 else 1000)  # runs of 7 events of one ts
        if i % 129 == 128:
            flush(w, node, b)
    flush(w, node, b)
    # uniq against id order inside the runs: the node's own order is (ts, uniq, id)
    w.finish("stopped")
    with store.db.write("test") as c:
        c.execute("UPDATE events SET uniq = 1000000 - id WHERE recording_id = ? AND id % 3 = 0", (w.id,))
    assert store.db.query_one("SELECT min(ordered) FROM block_time WHERE recording_id = ?", (w.id,))[0] == 1
    check_seeks(store, w.id)
    check_readers(store, w.id)


def test_ordered_rows_overlapping_in_time(store):
    """Each batch in time order, but every batch starts before the previous one ended: rows
    that are each ordered overlap, so reading several of them in id order is not time order."""
    w, node, b = new_recording(store, "overlap")
    f = b.mfa("MyApp.W", "run", 1)
    pids = [b.pid(100 + i) for i in range(3)]
    for i in range(2400):
        b.call(pids[i % 3], f, [i], dt_ns=1000)
        if i % 150 == 149:
            flush(w, node, b)
            b.t -= 90_000  # the next batch starts before this one's last events
    flush(w, node, b)
    w.finish("stopped")
    check_seeks(store, w.id)
    check_readers(store, w.id)


def test_several_nodes_with_unrelated_clocks(store):
    w, n1, b1 = new_recording(store, "cluster", node="a@h", t0=10**15)
    n2 = w.add_node("b@h", otp_release="25", time_unit=10**9, time_offset=-(10**15))
    b2 = Batch("b@h", t0=-(10**12))
    f1, f2 = b1.mfa("A", "run", 1), b2.mfa("B", "run", 1)
    p1, p2 = b1.pid(1), b2.pid(1)
    for i in range(1200):
        b1.call(p1, f1, [i])
        b2.call(p2, f2, [i], dt_ns=500)
        if i % 150 == 149:  # the two nodes' batches interleave in id order
            flush(w, n1, b1)
            flush(w, n2, b2)
    flush(w, n1, b1)
    flush(w, n2, b2)
    w.finish("stopped")
    check_seeks(store, w.id)
    check_readers(store, w.id)
    # each node's events are one run of its own clock: the windows of one never pick the other's
    lo1, hi2 = ts_bounds(store.db, w.id, n1)[0], ts_bounds(store.db, w.id, n2)[1]
    assert hi2 < lo1


def test_two_recordings_written_at_once_and_small_batches(store):
    wa, na, ba = new_recording(store, "a")
    wb, nb, bb = new_recording(store, "b", t0=5 * 10**12)
    fa, fb = ba.mfa("A", "run", 1), bb.mfa("B", "run", 1)
    pa, pb = ba.pid(1), bb.pid(1)
    for i in range(600):
        ba.call(pa, fa, [i])
        bb.call(pb, fb, [i])
        if i % 3 == 2:  # tiny batches, alternating: rows of one recording never merge across the other's
            flush(wa, na, ba)
            flush(wb, nb, bb)
    flush(wa, na, ba)
    flush(wb, nb, bb)
    wa.finish("stopped")
    wb.finish("stopped")
    for rid in (wa.id, wb.id):
        check_seeks(store, rid)
        check_readers(store, rid)


def test_consecutive_small_batches_share_a_row(store):
    w, node, b = new_recording(store, "trickle")
    f = b.mfa("A", "run", 1)
    p = b.pid(1)
    for i in range(900):
        b.call(p, f, [i])
        flush(w, node, b)  # one event per batch, as a slow capture sends them
    w.finish("stopped")
    rows = store.db.query_one("SELECT count(*) FROM block_time WHERE recording_id = ?", (w.id,))[0]
    # 900 consecutive ids of one node: a row per ROWS ids, unless rows are kept per batch
    assert rows == (-(-900 // timeblocks.ROWS) if timeblocks.MERGE > 1 else 900)
    check_seeks(store, w.id)
    check_readers(store, w.id)


def test_an_empty_recording_and_one_with_a_single_event(store):
    w, node, b = new_recording(store, "empty")
    w.finish("stopped")
    check_seeks(store, w.id)
    check_readers(store, w.id)
    assert list(time_slices(store.db, w.id)) == []
    w2, node2, b2 = new_recording(store, "one")
    b2.call(b2.pid(1), b2.mfa("A", "run", 1), [1])
    flush(w2, node2, b2)
    w2.finish("stopped")
    check_seeks(store, w2.id)
    check_readers(store, w2.id)


def test_marks_and_imports_carry_their_time_blocks(store, tmp_path):
    from elixir_scope.instrument.etf import encode

    w, node, b = new_recording(store, "marked")
    f = b.mfa("A", "run", 1)
    p = b.pid(1)
    for i in range(300):
        b.call(p, f, [i])
    flush(w, node, b)
    w.mark(node, ts=b.t - 10_000, term_bytes=encode(Atom("m")))  # a mark back in time
    w.finish("stopped")
    check_seeks(store, w.id)
    path = tmp_path / "rec.esrec"
    store.export_recording(w.id, path)
    exported = TraceStore.open(path, readonly=True)  # the export is a store file of its own
    try:
        check_seeks(exported, w.id)
    finally:
        exported.close()
    other = TraceStore.open(tmp_path / "other.db")
    try:
        new_id = other.import_recording(path)
        check_seeks(other, new_id)
        check_readers(other, new_id)
    finally:
        other.close()


# -- migration -------------------------------------------------------------------------------


def _as_schema_6(path, *, half: bool = False) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE INDEX events_by_time ON events (recording_id, ts)")
    if half:  # a file whose migration was cut off: some block rows there, the version still 6
        conn.execute("DELETE FROM block_time WHERE first_id > (SELECT max(first_id) / 2 FROM block_time)")
    else:
        conn.execute("DROP TABLE block_time")
    conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("half", [False, True])
def test_a_schema_6_file_is_migrated_with_the_same_answers(tmp_path, half):
    path = tmp_path / "old.db"
    store = TraceStore.open(path)
    w, node, b = new_recording(store, "old")
    f = b.mfa("A", "run", 1)
    pids = [b.pid(i) for i in range(4)]
    for i in range(2500):
        if i % 301 == 7:
            b.t -= 40_000
        b.call(pids[i % 4], f, [i])
        if i % 700 == 699:
            flush(w, node, b)
    flush(w, node, b)
    w.finish("stopped")
    r = store.recording(w.id)
    before = ([e.id for e in r.events(limit=10_000)],
              [row.event.id for row in run_query(r, "calls A.run/1", limit=500).rows])
    store.close()
    _as_schema_6(path, half=half)
    with pytest.raises(StoreSchemaError, match="older schema 6"):
        TraceStore.open(path, readonly=True)
    store = TraceStore.open(path)
    try:
        assert store.db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == str(SCHEMA_VERSION)
        assert not store.db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
        check_seeks(store, w.id)
        r = store.recording(w.id)
        after = ([e.id for e in r.events(limit=10_000)],
                 [row.event.id for row in run_query(r, "calls A.run/1", limit=500).rows])
        assert after == before
    finally:
        store.close()


# -- a real capture ------------------------------------------------------------------------------

WORKLOAD = b"""
-module(es_tb_wl).
-export([f/1, worker/0, spawn_workers/1, go_all/2]).
f(X) -> X.
loop(I, N) when I >= N -> ok;
loop(I, N) -> f(I), loop(I + 1, N).
worker() -> receive {go, N, From} -> loop(0, N), From ! {done, self()} end.
spawn_workers(K) -> [spawn(es_tb_wl, worker, []) || _ <- lists:seq(1, K)].
go_all(Ws, N) -> [W ! {go, N, self()} || W <- Ws], [receive {done, W} -> ok end || W <- Ws], ok.
"""
LIMITS = CaptureLimits(max_events=5_000_000, max_seconds=120, max_rate=50_000_000, max_queue=5_000_000,
                       queue_shed_limit=1000, max_memory=2_000_000_000, max_buffer=2_000_000,
                       batch_size=500, batch_ms=20, window=8, check_every=5000)


async def test_a_real_capture_of_four_busy_processes(store):
    from elixir_scope.instrument.agent.loader import compile_on

    target = start_node("erl")
    try:
        async with Node() as me:
            conn = await me.connect(target.name, cookie=target.cookie)
            beam = await compile_on(conn, WORKLOAD)
            await conn.rpc("code", "load_binary", [Atom("es_tb_wl"), Charlist(map(ord, "es_tb_wl.erl")), beam])
            workers = await conn.rpc("es_tb_wl", "spawn_workers", [4])
            rec = store.create_recording("real", spec={}, limits=LIMITS.as_dict())
            plan = CapturePlan(specs=(compile_spec("es_tb_wl:f/1 -> return"),), call_procs=tuple(workers))
            session = await CaptureSession.start(conn, rec, plan, LIMITS)
            await conn.rpc("es_tb_wl", "go_all", [workers, 1500], timeout=120)
            while session.stored < 4 * 1500 * 2 and session.state.value == "running":
                await asyncio.sleep(0.01)
            await session.stop(timeout=60)
    finally:
        target.stop()
    n = store.recording(rec.id).info.event_count
    assert n >= 12_000
    assert store.db.query_one("SELECT count(*) FROM block_time WHERE recording_id = ?", (rec.id,))[0] > 1
    check_seeks(store, rec.id)
    check_readers(store, rec.id)
