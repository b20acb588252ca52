"""Durability and clear failures: kill -9 of the writer, full database, read-only stores and
paths, older and newer schemas. Nothing already recorded may be lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import (
    StoreFullError,
    StoreOpenError,
    StoreReadOnlyError,
    StoreSchemaError,
    TraceStore,
)
from elixir_scope.store.batch import SyntheticTrace
from elixir_scope.store.schema import SCHEMA_VERSION

NS = 1_000_000_000

WRITER = textwrap.dedent("""
    import sys
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.store import TraceStore, StatePolicy
    from elixir_scope.store.batch import SyntheticTrace
    store = TraceStore.open(sys.argv[1])
    rec = store.create_recording("crash", spec={}, limits={}, state_policy=StatePolicy(full_max_bytes=200))
    node = rec.add_node("test@localhost", otp_release="25", time_unit=10**9, time_offset=0)
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    state = {Atom("log"): []}
    n = 0
    while True:
        for _ in range(50):   # 50 calls x 8 records = 400 records per batch
            new = {Atom("log"): state[Atom("log")] + [n]}
            t.gen_call(client, server, "Elixir.Srv", n, state, new, Atom("ok"))
            state, n = new, n + 1
        b = t.take()
        rec.ingest_batch(node, b.dict_entries, b.events)
        print("committed", n, flush=True)
""")


def test_kill_9_mid_ingest_keeps_every_committed_batch(tmp_path):
    path = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    committed = 0
    try:
        deadline = time.monotonic() + 120
        while committed < 600 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line.split()[1])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert committed >= 600, "the writer did not get going"
    store = TraceStore.open(path)
    assert store.db.query_one("PRAGMA integrity_check")[0] == "ok"
    info = store.recordings()[0]
    assert info.status == "interrupted" and info.end_reason == "interrupted"
    r = store.recording(info.id)
    count = r.info.event_count
    assert count % 400 == 0 and count >= committed * 8  # whole batches only, none lost
    ids = [row[0] for row in store.db.query("SELECT id FROM events ORDER BY id")]
    assert ids == list(range(1, count + 1))
    calls = count // 8
    server = [p for p in r.processes() if p.idx == 1][0]
    last_state = r.state_at(server, r.events(descending=True, limit=1)[0].ts)
    assert last_state.state == {Atom("log"): list(range(calls))}
    names = {row[0] for row in store.db.query("SELECT name FROM sqlite_master WHERE type='index'")}
    assert not {"events_by_time", "events_by_process", "events_by_kind"} & names  # block rows instead
    # every committed batch came with its block rows (store/blocks.py): whole or not at all
    assert store.db.query_one("SELECT sum(n) FROM block_procs")[0] == count
    assert store.db.query_one("SELECT sum(n) FROM block_kinds")[0] == count
    assert store.db.query_one("SELECT sum(n) FROM block_time")[0] == count
    store.close()


def test_full_database_is_a_clear_error_and_loses_nothing(tmp_path):
    store = TraceStore.open(tmp_path / "full.db")
    rec = store.create_recording("full", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    a, b = t.new_pid(), t.new_pid()
    for i in range(100):
        t.send(a[1], b[1], b[0], (i, b"x" * 50))
    first = t.take()
    rec.ingest_batch(node, first.dict_entries, first.events)
    pages = store.db.query_one("PRAGMA page_count")[0]
    store.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a real SQLITE_FULL, like a full disk
    for i in range(5000):
        t.send(a[1], b[1], b[0], (i, b"y" * 200))
    big = t.take()
    with pytest.raises(StoreFullError, match="Nothing already stored was lost"):
        rec.ingest_batch(node, big.dict_entries, big.events)
    r = store.recording(rec.id)
    assert r.info.event_count == 200 and len(r.events(limit=1000)) == 200
    store.db.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed: carry on
    rec.ingest_batch(node, big.dict_entries, big.events)
    assert r.info.event_count == 200 + 10000
    assert store.db.query_one("PRAGMA integrity_check")[0] == "ok"
    store.close()


def test_read_only_store_refuses_writes_but_reads(tmp_path):
    path = tmp_path / "ro.db"
    store = TraceStore.open(path)
    rec = store.create_recording("r", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    a, b = t.new_pid(), t.new_pid()
    t.send(a[1], b[1], b[0], Atom("hi"))
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    store.close()
    ro = TraceStore.open(path, readonly=True)
    assert len(ro.recording(1).events()) == 2
    with pytest.raises(StoreReadOnlyError, match="readonly=False"):
        ro.create_recording("x", spec={}, limits={})
    ro.close()
    with pytest.raises(StoreOpenError, match="missing"):
        TraceStore.open(tmp_path / "nope.db", readonly=True)
    with pytest.raises(StoreOpenError, match="does not exist"):
        TraceStore.open(tmp_path / "no" / "dir" / "x.db")


def test_read_only_path_is_a_clear_error(tmp_path):
    # we run as root, so chmod cannot make a path read-only: /proc refuses file creation for anyone
    with pytest.raises(StoreOpenError, match="cannot open|cannot create|read-only"):
        TraceStore.open("/proc/elixir-scope-test.db")


def _downgrade_to_v1(path):
    """Rewrite a current store file into the schema-1 layout (msg_links without processes)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP TABLE msg_links;
        CREATE TABLE msg_links (recording_id INTEGER NOT NULL, send_id INTEGER NOT NULL,
            recv_id INTEGER NOT NULL, method TEXT NOT NULL, PRIMARY KEY (send_id)) WITHOUT ROWID;
        CREATE UNIQUE INDEX msg_links_by_recv ON msg_links (recv_id);
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
    """)
    conn.close()


def _small_recording(path):
    store = TraceStore.open(path)
    rec = store.create_recording("old", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    a, b = t.new_pid(), t.new_pid()
    t.gen_call(a, b, "Elixir.Srv", Atom("x"), {Atom("n"): 1}, {Atom("n"): 2}, Atom("ok"))
    batch = t.take()
    rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    r.causal_past(r.events(descending=True, limit=1)[0])  # causal tables filled
    store.close()


def test_older_schema_is_migrated_without_loss(tmp_path):
    path = tmp_path / "old.db"
    _small_recording(path)
    _downgrade_to_v1(path)
    with pytest.raises(StoreSchemaError, match="older schema 1"):
        TraceStore.open(path, readonly=True)  # cannot migrate read-only: says how to proceed
    store = TraceStore.open(path)
    assert store.db.query_one("SELECT value FROM meta WHERE key='schema_version'")[0] == str(SCHEMA_VERSION)
    r = store.recording(1)
    assert len(r.events()) == 8
    assert r.state_at(2, r.events(descending=True, limit=1)[0].ts).state == {Atom("n"): 2}
    last = r.events(descending=True, limit=1)[0]
    assert len(r.causal_past(last).events) == 7  # causal tables rebuilt in the new layout
    store.close()


def test_newer_or_foreign_files_are_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    _small_recording(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreSchemaError, match="newer ElixirScope"):
        TraceStore.open(path)
    assert path.read_bytes() == before
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StoreSchemaError, match="not an ElixirScope trace store"):
        TraceStore.open(foreign)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(Exception) as info:
        TraceStore.open(junk)
    assert "damaged or not a database" in str(info.value)


def test_schema_4_file_gets_its_block_index_on_open(tmp_path):
    """A file of schema 4 (per-event indexes on process and kind, no block index) is migrated
    on its first writable open: block rows built from its events, the two indexes dropped, and
    every read by process, function or kind returns what it returned before."""
    path = tmp_path / "v4.db"
    store = TraceStore.open(path)
    rec = store.create_recording("old", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    servers = [t.new_pid() for _ in range(5)]
    client = t.new_pid()
    for i in range(600):
        t.gen_call(client, servers[i % 5 if i % 7 else 0], "Elixir.Srv", Atom("x"), {Atom("n"): i},
                   {Atom("n"): i + 1}, Atom("ok"))
        if i % 150 == 149:
            b = t.take()
            rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    fn = next(e.mfa for e in r.events(kind="call", limit=1))
    before = ([[e.id for e in r.events(pid=s[0], limit=10_000)] for s in servers],
              [e.id for e in r.events(function=fn, limit=10_000)], r.stats.by_kind)
    assert len(before[0][0]) > len(before[0][1]) > 0
    store.close()
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP TABLE block_procs;
        DROP TABLE block_kinds;
        CREATE INDEX events_by_process ON events (node_id, pid);
        CREATE INDEX events_by_kind ON events (recording_id, kind, aux);
        UPDATE meta SET value = '4' WHERE key = 'schema_version';
    """)
    conn.close()
    with pytest.raises(StoreSchemaError, match="older schema 4"):
        TraceStore.open(path, readonly=True)
    store = TraceStore.open(path)
    assert store.db.query_one("SELECT value FROM meta WHERE key='schema_version'")[0] == str(SCHEMA_VERSION)
    names = {row[0] for row in store.db.query("SELECT name FROM sqlite_master WHERE type='index'")}
    assert not {"events_by_process", "events_by_kind"} & names
    total = store.db.query_one("SELECT count(*) FROM events")[0]
    assert store.db.query_one("SELECT sum(n) FROM block_procs")[0] == total
    assert 0 < store.db.query_one("SELECT count(*) FROM block_procs")[0] < total / 20
    r = store.recording(rec.id)
    after = ([[e.id for e in r.events(pid=s[0], limit=10_000)] for s in servers],
             [e.id for e in r.events(function=fn, limit=10_000)], r.stats.by_kind)
    assert after == before
    store.close()
