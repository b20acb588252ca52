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
from elixir_scope.store.clocks import combine, common_ns, happens_before_order
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


def test_state_at_an_event_of_another_node_follows_happens_before(store):
    """a's client calls b's GenServer (state 1 -> 2) and receives the reply; b's clock, even
    corrected, stamps the whole call after a's receive. The state of b's server at a's receive
    is still 2: the reply (sent after the change) happens-before it."""
    from elixir_scope.instrument.etf import Ref
    from elixir_scope.store.snapshot import system_snapshot_at

    rec = store.create_recording("call", spec={}, limits={})
    na = rec.add_node(A, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    nb = rec.add_node(B, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    for n in (na, nb):
        rec.set_node_clock(n, at="start", skew=0, error=10_000)
    ba, bb = BatchBuilder(A), BatchBuilder(B)
    client_pid, srv_pid = Pid(Atom(A), 80, 0, 1), Pid(Atom(B), 90, 0, 1)
    client, srv = ba.pid(client_pid, "client"), bb.pid(srv_pid, "srv")
    ref = Ref(Atom(A), 1, (7, 0, 0))
    call = (Atom("$gen_call"), (client_pid, ref), Atom("bump"))
    ba.add(EventKind.SEND, client, 0, (call, srv_pid), ts=1_000)
    f = bb.mfa(("Elixir.Srv", "handle_call", 3))
    bb.add(EventKind.STATE, srv, 0, (Atom("checkpoint"), 1), ts=500)
    bb.add(EventKind.RECEIVE, srv, 0, call, ts=11_000)
    bb.add(EventKind.CALL, srv, f, [Atom("bump"), (client_pid, ref), 1], ts=12_000)
    bb.add(EventKind.STATE, srv, f, (Atom("before"), 1), ts=13_000)
    bb.add(EventKind.RETURN, srv, f, (Atom("reply"), Atom("ok"), 2), ts=14_000)
    bb.add(EventKind.STATE, srv, f, (Atom("after"), 2), ts=15_000)
    bb.add(EventKind.SEND, srv, 0, ((ref, Atom("ok")), client_pid), ts=16_000)
    ba.add(EventKind.RECEIVE, client, 0, (ref, Atom("ok")), ts=4_000)  # before the send, by the clocks
    for node, b in ((na, ba), (nb, bb)):
        batch = b.take()
        rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    assert len(_links(r)) == 2
    got = r.events(kind=EventKind.RECEIVE, node_id=na, limit=1)[0]
    assert r.state_at((nb, srv), got).state == 2
    assert r.state_at((nb, srv), 4_000).state == 1  # a time of b's own clock: before the call
    snap = system_snapshot_at(r, got, node_id=nb)
    assert snap.process("srv").state == 2


def test_a_causal_page_across_nodes_is_in_happens_before_order(store):
    """b's batch is stored before a's (ids say b first); a's send to b still comes before
    b's receive of it in a causal page."""
    rec = store.create_recording("order", spec={}, limits={})
    na = rec.add_node(A, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    nb = rec.add_node(B, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    ba, bb = BatchBuilder(A), BatchBuilder(B)
    client_pid, srv_pid = Pid(Atom(A), 80, 0, 1), Pid(Atom(B), 90, 0, 1)
    client, srv = ba.pid(client_pid, "client"), bb.pid(srv_pid, "srv")
    ba.add(EventKind.SEND, client, 0, ((Atom("ping"), client_pid), srv_pid), ts=1_000)
    ba.add(EventKind.RECEIVE, client, 0, Atom("pong"), ts=9_000)
    bb.add(EventKind.RECEIVE, srv, 0, (Atom("ping"), client_pid), ts=3_000)
    bb.add(EventKind.SEND, srv, 0, (Atom("pong"), client_pid), ts=5_000)
    for node, b in ((nb, bb), (na, ba)):  # b first: lower ids
        batch = b.take()
        rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    last = r.events(kind=EventKind.RECEIVE, node_id=na, limit=1)[0]
    past = r.causal_past(last)
    assert [(e.node_id, e.kind) for e in past.events] == [
        (nb, EventKind.SEND), (nb, EventKind.RECEIVE), (na, EventKind.SEND)]  # most recent first
    first = r.events(kind=EventKind.SEND, node_id=na, limit=1)[0]
    future = r.causal_future(first)
    assert [(e.node_id, e.kind) for e in future.events] == [
        (nb, EventKind.RECEIVE), (nb, EventKind.SEND), (na, EventKind.RECEIVE)]


def test_stepping_through_a_multi_node_recording_follows_the_common_clock(store):
    # b's own clock runs 5 s ahead; corrected, its receives interleave with a's sends
    rec = _two_nodes(store, recv_before_send_ns=-50_000, error_ns=500, skew_b=5 * NS)
    nodes = rec.context.nodes
    every = sorted(rec.events(limit=100), key=lambda e: (common_ns(nodes[e.node_id], e.ts), e.node_id, e.id))
    assert [e.node_id for e in every] == [1, 2, 1, 2, 1, 2]  # uncorrected, b would come 5 s later
    seen, e = [every[0]], every[0]
    while (e := rec.step(e, 1)) is not None:
        seen.append(e)
    assert [x.id for x in seen] == [x.id for x in every]
    back, e = [every[-1]], every[-1]
    while (e := rec.step(e, -1)) is not None:
        back.append(e)
    assert [x.id for x in back] == [x.id for x in reversed(every)]


def test_a_spawn_on_another_node_is_linked_to_the_child(store):
    """``spawn(b@host, ...)`` from a: the parent's ``spawn`` names a pid of b, the child's
    ``spawned`` names a pid of a; both ends meet across the nodes."""
    rec = store.create_recording("spawn", spec={}, limits={})
    na = rec.add_node(A, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    nb = rec.add_node(B, otp_release="25", time_unit=NS, time_offset=0, mono_at_start=0)
    ba, bb = BatchBuilder(A), BatchBuilder(B)
    parent_pid, child_pid = Pid(Atom(A), 80, 0, 1), Pid(Atom(B), 90, 0, 1)
    parent, child_on_a = ba.pid(parent_pid), ba.pid(child_pid)
    child, parent_on_b = bb.pid(child_pid), bb.pid(parent_pid)
    mfa = (Atom("timer"), Atom("sleep"), [50])
    ba.add(EventKind.SPAWN, parent, child_on_a, mfa, ts=1_000)
    bb.add(EventKind.SPAWNED, child, parent_on_b, mfa, ts=2_000)
    bb.add(EventKind.EXIT, child, 0, Atom("normal"), ts=3_000)
    for node, b in ((na, ba), (nb, bb)):
        batch = b.take()
        rec.ingest_batch(node, batch.dict_entries, batch.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    assert [(l[2], l[3], l[4]) for l in _links(r)] == [("spawn", na, nb)]
    exit_ = r.events(kind=EventKind.EXIT, limit=1)[0]
    assert (na, parent) in {(e.node_id, e.pid) for e in r.causal_past(exit_).events}
