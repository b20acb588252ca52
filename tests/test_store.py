"""The trace store: ingest of agent batches (exact byte format), typed reads, paging, gaps."""

from __future__ import annotations

import struct

import pytest

import elixir_scope.store as store_pkg
from elixir_scope.instrument.etf import Atom, Pid, encode
from elixir_scope.store import (
    BatchFormatError,
    EventKind,
    RecordingClosedError,
    RecordingNotFound,
    TraceStore,
)
from elixir_scope.store.batch import BatchBuilder, RecordsBuffer, SyntheticTrace
from elixir_scope.store.blocks import KIND_FROM, PROC_FROM, PROC_ORDER, PROC_WHERE, kind_where
from elixir_scope.store.db import event_indexes_pending, refresh_statistics

NS = 1_000_000_000


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "t.db")
    yield s
    s.close()


def new_rec(store, name="r"):
    rec = store.create_recording(name, spec={"specs": ["Cart"]}, limits={"max_events": 1000})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=1_700_000_000 * NS)
    return rec, node


def test_public_names_are_pinned():
    assert set(store_pkg.__all__) >= {
        "TraceStore", "Recording", "RecordingWriter", "Event", "EventKind", "StoreError",
        "StoreFullError", "StoreReadOnlyError", "StoreSchemaError", "RecordingInfo", "EventList"}
    assert [k.value for k in EventKind] == list(range(1, 19))


def test_a_new_store_has_large_pages_and_an_existing_one_keeps_its_own(tmp_path):
    """New stores are made with 16 KB pages (ingest appends small rows: fewer page splits and
    WAL frames per event); a store made with SQLite's 4 KB default is read and written as it is."""
    import sqlite3

    from elixir_scope.store.db import PAGE_SIZE

    from elixir_scope.store.checkpoints import HELD_ROWS, HELD_ROWS_LARGE_PAGES

    store = TraceStore.open(tmp_path / "new.db")
    assert store.db.query_one("PRAGMA page_size")[0] == PAGE_SIZE == 16384
    # a capture's held checkpoints wait for half the larger WAL the 16 KB pages let grow
    assert store.db.checkpoints.held_rows == HELD_ROWS_LARGE_PAGES > HELD_ROWS
    store.close()
    old = tmp_path / "old.db"
    store = TraceStore.open(old)
    store.close()
    conn = sqlite3.connect(old)  # the same store rebuilt with 4 KB pages, as earlier versions made it
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("VACUUM")
    conn.close()
    store = TraceStore.open(old)
    assert store.db.query_one("PRAGMA page_size")[0] == 4096
    assert store.db.checkpoints.held_rows == HELD_ROWS
    rec, node = new_rec(store)
    b = BatchBuilder()
    p = b.pid(Pid(Atom("test@localhost"), 80, 0, 1), "Elixir.Cart", ("Elixir.Cart", "init", 1))
    f = b.mfa(("Elixir.Cart", "add", 2))
    for i in range(500):
        b.add(EventKind.CALL, p, f, [b"apple" * 20, i], ts=i * NS, uniq=i)
    batch = b.take()
    assert rec.ingest_batch(node, batch.dict_entries, batch.events) == 500
    rec.finish("stopped")
    assert len(store.recording(rec.id).events()) == 500
    assert store.db.query_one("PRAGMA page_size")[0] == 4096
    store.close()


def test_batch_roundtrip_typed_events(store):
    rec, node = new_rec(store)
    b = BatchBuilder()
    p = b.pid(Pid(Atom("test@localhost"), 80, 0, 1), "Elixir.Cart", ("Elixir.Cart", "init", 1))
    f = b.mfa(("Elixir.Cart", "add", 2))
    b.add(EventKind.CALL, p, f, [b"apple", 3], ts=5 * NS, uniq=1)
    b.add(EventKind.RETURN, p, f, (Atom("ok"), 3), ts=5 * NS + 10, uniq=2, flags=0b11)
    batch = b.take()
    assert rec.ingest_batch(node, batch.dict_entries, batch.events) == 2
    r = store.recording(rec.id)
    evs = r.events()
    assert [e.kind for e in evs] == [EventKind.CALL, EventKind.RETURN]
    call, ret = evs
    assert call.payload == [b"apple", 3]
    assert ret.payload == (Atom("ok"), 3)
    assert (ret.truncated, ret.redacted, call.truncated) == (True, True, False)
    assert str(call.mfa) == "Cart.add/2" and call.pid_text == "<0.80.0>"
    assert call.process.reg_name == "Elixir.Cart" and str(call.process.initial_call) == "Cart.init/1"
    assert call.wall_time.year == 2023 and call.wall_time.second == (1_700_000_000 + 5) % 60
    assert store.recording(rec.id).ts_from_wall(ret.wall_time) == ret.ts - ret.ts % 1000  # µs precision
    assert r.processes()[0].pid_text == "<0.80.0>"
    assert [m for _, _, m in r.functions()][0].function == "add"


def test_cut_or_unknown_records_are_refused_and_nothing_is_stored(store):
    rec, node = new_rec(store)
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    t.send(client[1], server[1], server[0], Atom("hello"))
    good = t.take()
    rec.ingest_batch(node, good.dict_entries, good.events)
    t.send(client[1], server[1], server[0], Atom("again"))
    bad = t.take()
    with pytest.raises(BatchFormatError, match="runs past the end"):
        rec.ingest_batch(node, bad.dict_entries, bad.events[:-3])
    with pytest.raises(BatchFormatError, match="header"):
        rec.ingest_batch(node, [], bad.events + b"\x01\x00")
    unknown = RecordsBuffer()
    unknown.add(99, 0, 1, 1, 1, 0, b"")
    with pytest.raises(BatchFormatError, match=f"bad record at byte {len(bad.events) + 6}: unknown kind 99"):
        rec.ingest_batch(node, [], bad.events + unknown.binary())
    v19 = struct.pack(">BBqqIII", 4, 0, 1, 1, 1, 0, 2) + b"\x83j"  # format 19: records back to back
    with pytest.raises(BatchFormatError, match="not in agent format 20 .*agents before version 20.*reload the agent"):
        rec.ingest_batch(node, [], v19)
    with pytest.raises(BatchFormatError, match="Dict entry"):
        rec.ingest_batch(node, [(Atom("fun"), 1)], b"")
    r = store.recording(rec.id)
    assert len(r.events()) == 2 and r.info.event_count == 2


def test_filters_and_paging(store):
    rec, node = new_rec(store)
    t = SyntheticTrace()
    server, client = t.new_pid(reg_name="srv"), t.new_pid()
    for i in range(30):
        t.gen_call(client, server, "Elixir.Srv", (Atom("put"), i), {Atom("n"): i}, {Atom("n"): i + 1}, Atom("ok"))
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {"offered": batch.count, "sent": batch.count, "dropped": 0})
    r = store.recording(rec.id)
    calls = r.events(kind="call")
    assert len(calls) == 30 and all(e.kind == EventKind.CALL for e in calls)
    assert len(r.events(kind=["send", EventKind.RECEIVE], pid="srv")) == 60
    seen, after = [], None
    while True:
        page = r.events(pid=server[0].__str__(), limit=7, after_id=after)
        seen += [e.id for e in page]
        after = page.next_after_id
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 30 * 6
    window = r.events(since=calls[3].ts, until=calls[5].ts)
    assert window[0].id == calls[3].id and window[-1].id == calls[5].id
    assert r.events(descending=True, limit=1)[0].id == r.info.event_count
    with pytest.raises(ValueError, match="limit"):
        r.events(limit=0)
    with pytest.raises(RecordingNotFound):
        r.events(pid="<0.999.0>")
    with pytest.raises(ValueError, match="unknown event kind"):
        r.events(kind="calls")


def test_gaps_are_stored_and_reported_by_queries_that_cross_them(store):
    rec, node = new_rec(store)
    t = SyntheticTrace()
    a, b = t.new_pid(), t.new_pid()
    t.send(a[1], b[1], b[0], 1)
    before = t.ts
    gap_ts = t.gap("rate_limit", 42)
    t.send(a[1], b[1], b[0], 2)
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.add_gap(node, ts=t.tick(), count=7, reason="node_lost")
    r = store.recording(rec.id)
    assert r.events(until=before).gaps == []
    crossing = r.events(since=before, until=gap_ts + 1500)
    assert [g.count for g in crossing.gaps] == [42] and crossing.crosses_gap
    assert crossing.gaps[0].reason == "rate_limit"
    assert [g.reason for g in r.gaps()] == ["rate_limit", "node_lost"]
    assert r.info.dropped_count == 49 and r.stats.gap_count == 2
    # paging one event at a time reports each gap in exactly one page
    reported, after = [], None
    while True:
        page = r.events(limit=1, after_id=after)
        reported += [g.id for g in page.gaps]
        after = page.next_after_id
        if after is None:
            break
    assert sorted(reported) == [g.id for g in r.gaps()]
    assert r.stats.by_kind["gap"] == 1


def _index_names(store) -> set[str]:
    return {r[0] for r in store.db.query("SELECT name FROM sqlite_master WHERE type='index'")}


def _event_indexes(store) -> set[str]:
    """Indexes of ``events``: none since schema 7 (the block index and the time blocks)."""
    return {r[0] for r in store.db.query("SELECT name FROM sqlite_master WHERE type='index' "
                                         "AND tbl_name = 'events'")}


def test_finish_closes_the_writer(store):
    rec, node = new_rec(store)
    rec.mark(node, ts=1, term_bytes=encode((Atom("capture_start"), 1)))
    rec.finish("max_events", {"offered": 1})
    with pytest.raises(RecordingClosedError):
        rec.ingest_batch(node, [], b"")
    info = store.recordings()[0]
    assert (info.status, info.end_reason, info.stats) == ("ended", "max_events", {"offered": 1})
    assert store.recording(rec.id).events(kind="mark")[0].payload == (Atom("capture_start"), 1)
    with pytest.raises(RecordingNotFound):
        store.recording(99)
    with pytest.raises(RecordingNotFound, match="add_node"):
        store.create_recording("x", spec={}, limits={}).ingest_batch(node, [], b"")


def test_large_states_live_only_in_the_states_table(store):
    rec, node = new_rec(store)
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    big = {Atom("items"): list(range(2000)), Atom("name"): b"x" * 100}
    big2 = {**big, Atom("name"): b"y" * 100}
    t.gen_call(client, server, "Elixir.Srv", Atom("rename"), big, big2, Atom("ok"))
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    r = store.recording(rec.id)
    states = r.events(kind="state")
    assert [e.payload_bytes for e in states] == [None, None]
    assert states[0].payload == (Atom("before"), big) and states[1].payload == (Atom("after"), big2)
    enc = [row[0] for row in store.db.query("SELECT encoding FROM states ORDER BY id")]
    assert enc == ["full", "delta"]


def test_indexes_stay_live_while_a_capture_writes(store):
    """Older recordings stay indexed while another capture writes: no index is dropped, and
    the planner answers a per-process lookup of a finished recording from its index."""
    old, old_node = new_rec(store, "finished")
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    t.gen_call(client, server, "Elixir.Srv", Atom("ping"), {}, {}, Atom("pong"))
    b = t.take()
    old.ingest_batch(old_node, b.dict_entries, b.events)
    old.finish("stopped", {})
    live, live_node = new_rec(store, "capturing")
    live.ingest_batch(live_node, b.dict_entries, b.events)
    assert not event_indexes_pending(store.db)
    # per process, per kind/function and per time: no per-event index entries, block rows instead
    assert not _event_indexes(store)
    assert store.db.query_one("SELECT sum(n) FROM block_time")[0] == 2 * store.db.query_one(
        "SELECT count(*) FROM events WHERE recording_id = ?", (old.id,))[0]
    assert [e.id for e in store.recording(old.id).events(since=0)] == [
        r[0] for r in store.db.query("SELECT id FROM events WHERE recording_id = ? ORDER BY id", (old.id,))]
    assert [e.kind for e in store.recording(old.id).events(pid=server[0])] == \
        [e.kind for e in store.recording(live.id).events(pid=server[0])]


def _plan(store, sql: str, params: tuple) -> str:
    return " | ".join(r[3] for r in store.db.query("EXPLAIN QUERY PLAN " + sql, params))


def test_block_index_rows_and_plans(store):
    """Per batch, one block row per process and per (kind, function): exact id ranges whose
    counts add up to the events; readers seek through them by rowid range (no table scan, no
    automatic index, no sort for one process)."""
    assert max(EventKind) < 32  # block_kinds keys pack (aux, kind) with kind in 5 bits
    rec, node = new_rec(store)
    t = SyntheticTrace()
    servers = [t.new_pid() for _ in range(8)]
    client = t.new_pid()
    for i in range(400):
        t.gen_call(client, servers[i % 8], "Elixir.Srv", Atom("ping"), {}, {}, Atom("pong"))
    b = t.take()
    assert rec.ingest_batch(node, b.dict_entries, b.events) > 3000
    marks = [rec.mark(node, ts=10**12 + i, term_bytes=encode(Atom("m"))) for i in range(3)]
    rec.finish("stopped", {})
    refresh_statistics(store.db, force=True)
    n_events = store.db.query_one("SELECT count(*) FROM events")[0]
    n_blocks = store.db.query_one("SELECT count(*) FROM block_procs")[0]
    assert n_blocks < n_events / 50  # a few dozen rows, not one per event
    for (node_id, pid, n, lo, hi) in store.db.query(
            "SELECT node_id, pid, sum(n), min(first_id), max(last_id) FROM block_procs GROUP BY node_id, pid"):
        ids = [r[0] for r in store.db.query("SELECT id FROM events WHERE node_id = ? AND pid = ? ORDER BY id",
                                            (node_id, pid))]
        assert (n, lo, hi) == (len(ids), ids[0], ids[-1])
    by_kind = dict(store.db.query("SELECT kind, count(*) FROM events GROUP BY kind"))
    assert {EventKind[k.upper()]: n for k, n in store.recording(rec.id).stats.by_kind.items()} == by_kind
    plan = _plan(store, f"SELECT e.id FROM {PROC_FROM} WHERE {PROC_WHERE} ORDER BY {PROC_ORDER}",
                 (node, servers[0][1]))
    assert plan == "SEARCH b USING PRIMARY KEY (node_id=? AND pid=?) | " \
                   "SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", plan
    plan = _plan(store, f"SELECT e.id FROM {KIND_FROM} WHERE {kind_where((1, 2))} ORDER BY e.id", (rec.id,))
    assert "SEARCH k USING PRIMARY KEY" in plan and "SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan
    assert "SCAN" not in plan and "AUTOMATIC" not in plan, plan
    # what the readers return through the blocks is what a plain scan returns
    r = store.recording(rec.id)
    want = [row[0] for row in store.db.query("SELECT id FROM events WHERE pid = ? ORDER BY id", (servers[3][1],))]
    assert [e.id for e in r.events(pid=servers[3][0], limit=5000)] == want
    assert [e.id for e in r.events(pid=servers[3][0], limit=5000, descending=True)] == want[::-1]
    page = r.events(pid=servers[3][0], limit=7, after_id=want[10])
    assert [e.id for e in page] == want[11:18]
    # by kind: a rare kind through its blocks, a common one in id order; same as a plain scan
    assert [e.id for e in r.events(kind="mark")] == marks
    for kind in by_kind:
        want = [row[0] for row in store.db.query("SELECT id FROM events WHERE kind = ? ORDER BY id", (kind,))]
        assert [e.id for e in r.events(kind=kind, limit=5000)] == want


def test_a_store_left_without_indexes_by_an_older_version_is_repaired_on_open(tmp_path):
    path = tmp_path / "old.db"
    s = TraceStore.open(path)
    rec, node = new_rec(s)
    rec.finish("stopped", {})
    with s.db.write("simulating an older version's deferred indexes") as c:
        c.execute("INSERT INTO meta(key, value) VALUES ('event_indexes', 'pending')")
    s.close()
    ro = TraceStore.open(path, readonly=True)
    assert event_indexes_pending(ro.db)  # a read-only open changes nothing
    ro.close()
    s = TraceStore.open(path)
    assert not event_indexes_pending(s.db) and not _event_indexes(s)
    s.close()


def test_named_view_and_function_filter(store):
    rec, node = new_rec(store)
    t = SyntheticTrace()
    server, client = t.new_pid(reg_name="Elixir.Cart"), t.new_pid()
    t.gen_call(client, server, "Elixir.Cart", Atom("peek"), {}, {}, Atom("ok"))
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rows = store.db.query("SELECT kind, node_name, pid_text, reg_name, module, function, arity "
                          "FROM events_named WHERE kind = 1")
    assert rows == [(1, "test@localhost", str(server[0]), "Elixir.Cart", "Elixir.Cart", "handle_call", 3)]
    r = store.recording(rec.id)
    from elixir_scope.store import MFA

    got = r.events(function=MFA("Elixir.Cart", "handle_call", 3))
    assert [e.kind for e in got] == [EventKind.CALL, EventKind.STATE, EventKind.RETURN, EventKind.STATE]
    assert r.events(function=MFA("Elixir.Cart", "nope", 1)) == []


def test_density_by_position_from_blocks_is_exact_then_proportional_past_its_read_budget(store, monkeypatch):
    """Counting by position places whole blocks by their counts and reads the events of blocks
    straddling a bucket boundary; past STRADDLE_READ_MAX rows read, a straddling block's count is
    split in proportion to its ids (lane totals stay exact)."""
    from elixir_scope.store import density

    rec, node = new_rec(store)
    t = SyntheticTrace()
    servers = [t.new_pid() for _ in range(6)]
    client = t.new_pid()
    for i in range(900):
        t.gen_call(client, servers[i % 6 if i % 5 else 0], "Elixir.Srv", Atom("ping"), {}, {}, Atom("pong"))
        if i % 300 == 299:
            b = t.take()
            rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    by_time = density.event_density(r, buckets=9)
    exact = density.event_density(r, buckets=9, exact_max=0)
    assert [(lane.process, lane.total, lane.counts) for lane in exact.lanes] == \
        [(lane.process, lane.total, lane.counts) for lane in by_time.lanes]
    monkeypatch.setattr(density, "STRADDLE_READ_MAX", 0)
    split = density.event_density(r, buckets=9, exact_max=0)
    assert [(lane.process, lane.total) for lane in split.lanes] == [(lane.process, lane.total) for lane in exact.lanes]
    for lane, want in zip(split.lanes, exact.lanes):
        assert sum(lane.counts) == lane.total
        assert sum(abs(a - b) for a, b in zip(lane.counts, want.counts)) <= lane.total // 5
    assert any(lane.counts != want.counts for lane, want in zip(split.lanes, exact.lanes))


def test_ingest_walk_binds_payloads_without_an_adapter_and_hands_bytes_to_python(store):
    """The hot path (store/records.py) hands payloads to SQLite as bytearray slices (bound
    directly, no adapter lookup per row); the rare records Python looks into (side tables,
    large payloads) get bytes. Whatever the type on the way in, the events read back byte for
    byte, in batch order."""
    from elixir_scope.store.records import record, walk

    b = BatchBuilder()
    p = b.pid(Pid(Atom("test@localhost"), 100, 0, 1))
    f = b.mfa(("m", "f", 1))
    small, big = encode([1, b"x"]), encode([b"y" * 2000])
    b.add(EventKind.CALL, p, f, [1, b"x"])
    b.raw(EventKind.CALL, p, f, big)
    b.add(EventKind.EXIT, p, 0, Atom("normal"))
    batch = b.take()
    walked = walk(bytearray(batch.events))
    values = walked.values
    assert [type(record(values, i)[-1]) for i in range(3)] == [bytearray, bytes, bytes]
    assert walked.special == [2] and walked.big == [1]
    assert record(values, 0) == [int(EventKind.CALL), 0, 1, 1, p, f, small]
    rec, node = new_rec(store)
    assert rec.ingest_batch(node, batch.dict_entries, batch.events) == 3
    got = store.recording(rec.id).events()
    assert {type(e.payload_bytes) for e in got} == {bytes}
    assert got[0].payload_bytes == small and got[1].payload_bytes == big


@pytest.mark.parametrize("count", [1, 3, 4, 85, 256, 257, 2000, 2345])
def test_every_batch_size_is_stored_whole_in_arrival_order(store, count):
    """Rows go in multi-row INSERTs of 256, 64, 16, 4 and 1 (store/records.py): every size
    stores every record once, ids consecutive and in the batch's order."""
    b = BatchBuilder()
    p = b.pid(Pid(Atom("test@localhost"), 100, 0, 1))
    f = b.mfa(("m", "f", 1))
    for i in range(count):
        b.add(EventKind.CALL if i % 2 == 0 else EventKind.RETURN, p, f, [i], ts=1000 + i)
    rec, node = new_rec(store)
    other, onode = new_rec(store, "other")
    other.ingest_batch(onode, *_one_event_batch())
    assert rec.ingest_batch(node, *_as_args(b.take())) == count
    other.ingest_batch(onode, *_one_event_batch())
    got = store.recording(rec.id).events(limit=count + 1)
    assert [e.payload for e in got] == [[i] for i in range(count)]
    assert [e.ts for e in got] == [1000 + i for i in range(count)]
    ids = [e.id for e in got]
    assert ids == list(range(ids[0], ids[0] + count))
    assert store.recording(rec.id).info.event_count == count
    assert store.recording(other.id).info.event_count == 2


def test_a_sqlite_with_a_low_parameter_limit_gets_smaller_statements(store):
    """SQLite builds before 3.32 allow 999 parameters per statement: the 256-row shape (2,050)
    is skipped and the batch still goes in whole, in order."""
    import sqlite3

    conn = store._db.conn
    old = conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        b = BatchBuilder()
        p = b.pid(Pid(Atom("test@localhost"), 100, 0, 1))
        for i in range(600):
            b.add(EventKind.SEND, p, 0, (i, Atom("x")), ts=10 + i)
        rec, node = new_rec(store)
        assert rec.ingest_batch(node, *_as_args(b.take())) == 600
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, old)
    got = store.recording(rec.id).events(limit=601)
    assert [e.ts for e in got] == [10 + i for i in range(600)]


def _as_args(batch):
    return batch.dict_entries, batch.events


def _one_event_batch():
    b = BatchBuilder("other@localhost")
    p = b.pid(Pid(Atom("other@localhost"), 7, 0, 1))
    b.add(EventKind.SEND, p, 0, (Atom("hi"), Atom("x")))
    return _as_args(b.take())
