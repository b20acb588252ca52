"""The store side of multi-node recordings, on a real store with agent-format batches of two
nodes: the common clock (skew estimates combined, error bounds), cross-node matching within the
clocks' error bounds (and not beyond), happens-before before clocks, messages encoded by
different releases, schema 4 migration and export/import of the per-node columns."""

from __future__ import annotations

import sqlite3

import pytest

from elixir_scope.instrument.etf import Atom, Pid
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import BatchBuilder
from elixir_scope.store.causal import ensure_causal
from elixir_scope.store.clocks import combine, happens_before_order
from elixir_scope.store.etfscan import canonical
from elixir_scope.store.query.run import run_query
from elixir_scope.store.schema import SCHEMA_VERSION

NS = 1_000_000_000
A, B = "a@host", "b@host"


def _two_nodes(store, *, recv_before_send_ns: int, error_ns: int | None, skew_b: int = 0):
    """a's client sends {ping, N} to b's server by pid; b's receive is stamped
    ``recv_before_send_ns`` *before* the send on the common clock (a clock error)."""
    rec = store.create_recording("two", spec={}, limits={})
    na = rec.add_node(A, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    nb = rec.add_node(B, otp_release="25", time_unit=NS, time_offset=skew_b, mono_at_start=0)
    if error_ns is not None:
        rec.set_node_clock(na, at="start", skew=0, error=error_ns)
        rec.set_node_clock(nb, at="start", skew=skew_b, error=error_ns)
    ba, bb = BatchBuilder(A), BatchBuilder(B)
    client = ba.pid(Pid(Atom(A), 80, 0, 1), "client")
    srv_pid = Pid(Atom(B), 90, 0, 1)
    srv = bb.pid(srv_pid, "srv")
    t_send = 1_000_000
    for n in range(3):
        ts = t_send + n * 100_000
        ba.add(EventKind.SEND, client, 0, ((Atom("ping"), n), srv_pid), ts=ts)
        # b's clock runs skew_b ahead (its offset says so), the receive shows early by the error
        bb.add(EventKind.RECEIVE, srv, 0, (Atom("ping"), n), ts=ts - recv_before_send_ns)
    for node, b in ((na, ba), (nb, bb)):
        batch = b.take()
        rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    return store.recording(rec.id)


def _links(rec):
    ensure_causal(rec)
    return rec.db.query("SELECT send_id, recv_id, method, send_node, recv_node FROM msg_links "
                        "WHERE recording_id = ? ORDER BY send_id", (rec.id,))


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "s.db")
    yield s
    s.close()


def test_receives_within_the_clock_error_bound_are_matched_across_nodes(store):
    rec = _two_nodes(store, recv_before_send_ns=3_000, error_ns=2_000)  # 3 µs early, bounds 2+2 µs
    links = _links(rec)
    assert len(links) == 3 and all(l[2] == "fifo_bytes" and l[3] != l[4] for l in links)
    # happens-before first: every send before its receive although the clocks say otherwise
    merged = happens_before_order(rec, rec.events(limit=100))
    where = {e.id: i for i, e in enumerate(merged)}
    assert all(where[s] < where[r] for s, r, *_ in links)
    by_clock = sorted(rec.events(limit=100), key=lambda e: e.ts)
    assert by_clock[0].kind == EventKind.RECEIVE  # what clocks alone would have said


def test_receives_beyond_the_error_bound_are_not_matched(store):
    rec = _two_nodes(store, recv_before_send_ns=10_000, error_ns=2_000)
    assert _links(rec) == []
    rec2 = _two_nodes(store, recv_before_send_ns=3_000, error_ns=None)  # no probes: no slack
    assert _links(rec2) == []


def test_the_node_clock_skew_is_corrected(store):
    # b's system time is 5 s ahead of the host's (its time offset says so); its probe measured
    # it: on the common clock the receives follow the sends
    rec = _two_nodes(store, recv_before_send_ns=-1_000, error_ns=500, skew_b=5 * NS)
    nodes = {n.name: n for n in rec.nodes()}
    assert nodes[B].node_time_offset == 5 * NS and nodes[B].time_offset == 0
    assert len(_links(rec)) == 3
    res = run_query(rec, "messages | count by node")
    assert {g.key["node"]: g.values["count"] for g in res.groups} == {A: 3, B: 3}


def test_combined_estimate_covers_both_probes():
    assert combine((100, 10), None) == (100, 10)
    assert combine(None, None) is None
    skew, err = combine((100, 10), (130, 4))
    assert skew == 115 and err >= 15 + 10
    for probe, perr in ((100, 10), (130, 4)):
        assert abs(skew - probe) <= err + perr


def test_equal_terms_of_different_releases_have_equal_canonical_bytes():
    # OTP 25 writes latin-1 ATOM_EXT atoms, OTP 26+ SMALL_ATOM_UTF8_EXT: one message, two encodings
    node = b"b@host"
    pid25 = b"X" + b"d" + len(node).to_bytes(2, "big") + node + bytes(12)
    pid28 = b"X" + b"w" + bytes([len(node)]) + node + bytes(12)
    old = b"\x83h\x03d\x00\x04pingh\x02d\x00\x02okj" + pid25
    new = b"\x83h\x03w\x04pingh\x02w\x02okj" + pid28
    assert old != new and canonical(old) == canonical(new)
    assert canonical(b"\x83d\x00\x02\xe9t") == b"\x83w\x03" + "ét".encode()  # latin-1 é -> UTF-8


def test_schema_4_migration_and_export_import_keep_the_node_columns(store, tmp_path):
    rec = _two_nodes(store, recv_before_send_ns=0, error_ns=700)
    w = store.create_recording("parts", spec={}, limits={})
    n = w.add_node(A, otp_release="25", time_unit=NS, time_offset=0)
    w.set_node_clock(n, at="end", skew=42, error=7)
    w.finish_node(n, "node_down", {"stored": 0}, "the node left")
    w.finish("stopped", {})
    out = store.export_recording(w.id, tmp_path / "parts.esrec")
    other = TraceStore.open(tmp_path / "other.db")
    rid = other.import_recording(out)
    node = other.recording(rid).nodes()[0]
    assert (node.end_reason, node.end_detail, node.clock_skew, node.clock_error) == ("node_down", "the node left", 42, 7)
    other.close()
    path = store.db.path
    store.close()
    # an older (schema 3) file gains the columns, NULL, on open
    conn = sqlite3.connect(path)
    for col in ("clock_skew", "clock_error", "clock_skew_end", "clock_error_end", "end_reason", "end_detail",
                "stats_json"):
        conn.execute(f"ALTER TABLE nodes DROP COLUMN {col}")
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    again = TraceStore.open(path)
    try:
        assert again.db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == str(SCHEMA_VERSION)
        old = again.recording(rec.id).nodes()
        assert [x.clock_error for x in old] == [None, None] and len(_links(again.recording(rec.id))) == 3
    finally:
        again.close()
