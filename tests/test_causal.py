"""Causal order on real store files: identity matching of identical messages, names, clocks,
causal past/future with paging, message flows, read-only stores."""

from __future__ import annotations

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import SyntheticTrace
from elixir_scope.store.causal import happens_before, lamport, unmatched_sends

NS = 1_000_000_000


def build(tmp_path, script):
    store = TraceStore.open(tmp_path / "c.db")
    rec = store.create_recording("c", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    out = script(t)
    b = t.take()
    rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    return store, store.recording(rec.id), out


def links(r):
    return dict(r.db.query("SELECT send_id, recv_id FROM msg_links WHERE method = 'fifo_bytes'"))


def test_identical_messages_are_matched_to_distinct_receives_in_order(tmp_path):
    def script(t):
        a, b, c = t.new_pid(), t.new_pid(), t.new_pid()
        bb = t.builder
        # a sends `ping` twice, c sends `ping` once, all before b receives anything
        bb.add(EventKind.SEND, a[1], b[1], (Atom("ping"), b[0]), ts=t.tick())
        bb.add(EventKind.SEND, a[1], b[1], (Atom("ping"), b[0]), ts=t.tick())
        bb.add(EventKind.SEND, c[1], b[1], (Atom("pong"), b[0]), ts=t.tick())
        bb.add(EventKind.SEND, c[1], b[1], (Atom("ping"), b[0]), ts=t.tick())
        for m in ("ping", "pong", "ping", "ping"):
            bb.add(EventKind.RECEIVE, b[1], 0, Atom(m), ts=t.tick())
        return a, b, c

    store, r, _ = build(tmp_path, script)
    from elixir_scope.store.causal import ensure_causal

    ensure_causal(r)
    ev = r.events()
    s1, s2, s3, s4, r1, r2, r3, r4 = [e.id for e in ev]
    assert links(r) == {s1: r1, s2: r3, s3: r2, s4: r4}
    assert len(set(links(r).values())) == 4  # a bijection: nothing received twice


def test_sends_to_registered_names_and_unmatched_sends(tmp_path):
    def script(t):
        a, b = t.new_pid(), t.new_pid()
        bb = t.builder
        bb.add(EventKind.REGISTER, b[1], 0, Atom("Elixir.Cache"), ts=t.tick())
        t.send(a[1], 0, None, (Atom("get"), 1), to=Atom("Elixir.Cache"), received=False)
        bb.add(EventKind.RECEIVE, b[1], 0, (Atom("get"), 1), ts=t.tick())
        t.send(a[1], b[1], b[0], Atom("lost"), received=False)
        return a, b

    store, r, (a, b) = build(tmp_path, script)
    ev = r.events()
    assert r.step(ev[1], scope="causal").id == ev[2].id  # the named send is matched
    assert r.step(ev[2], -1, scope="causal").id == ev[1].id
    lost = unmatched_sends(r)
    assert [e.payload[0] for e in lost] == [Atom("lost")]
    flows = r.message_flow()
    assert [(f.receive is not None, f.receiver.pid_text if f.receiver else None) for f in flows.messages] == \
        [(True, str(b[0])), (False, str(b[0]))]
    assert flows.messages[0].latency == t_step(r) and flows.messages[0].message == (Atom("get"), 1)


def t_step(r):
    ev = r.events()
    return ev[2].ts - ev[1].ts


def chain_script(t):
    a, b, c, d = (t.new_pid() for _ in range(4))
    t.send(a[1], b[1], b[0], Atom("one"))      # a -> b
    t.send(d[1], d[1], d[0], Atom("self"))     # unrelated
    t.send(b[1], c[1], c[0], Atom("two"))      # b -> c
    t.exit(c, Atom("normal"))
    t.send(d[1], a[1], a[0], Atom("late"))     # d -> a, after everything: not in c's past
    return a, b, c, d


def test_causal_past_and_future_follow_messages_only(tmp_path):
    store, r, (a, b, c, d) = build(tmp_path, chain_script)
    ev = r.events()
    send_one, recv_one, self_send, self_recv, send_two, recv_two, c_exit, late_send, late_recv = ev
    past = r.causal_past(c_exit, limit=100)
    assert [e.id for e in past.events] == [recv_two.id, send_two.id, recv_one.id, send_one.id]
    assert past.next_cursor is None and past.processes == 3
    future = r.causal_future(send_one, limit=100)
    assert [e.id for e in future.events] == [recv_one.id, send_two.id, recv_two.id, c_exit.id, late_recv.id]
    assert happens_before(r, send_one, c_exit) and not happens_before(r, self_send, c_exit)
    assert not happens_before(r, c_exit, send_one)
    # Lamport clocks respect every happens-before edge
    assert lamport(r, send_one) < lamport(r, recv_one) < lamport(r, send_two) < lamport(r, recv_two)
    assert past.clocks[recv_two.id] == lamport(r, recv_two)


def test_causal_paging_returns_everything_once(tmp_path):
    def script(t):
        a, b = t.new_pid(), t.new_pid()
        for i in range(25):
            t.send(a[1], b[1], b[0], i)
            t.send(b[1], a[1], a[0], i)
        t.exit(a, Atom("done"))
        return a, b

    store, r, _ = build(tmp_path, script)
    last = r.events(descending=True, limit=1)[0]
    seen, cursor = [], None
    while True:
        page = r.causal_past(last, limit=7, cursor=cursor)
        seen += [e.id for e in page.events]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == last.id - 1


def test_read_only_store_computes_causality_without_writing(tmp_path):
    store, r, _ = build(tmp_path, chain_script)
    path = store.path
    store.close()
    ro = TraceStore.open(path, readonly=True)
    rr = ro.recording(1)
    ev = rr.events()
    assert [e.id for e in rr.causal_past(ev[6]).events] == [ev[5].id, ev[4].id, ev[1].id, ev[0].id]
    assert ro.db.query_one("SELECT causal_upto FROM main.recordings")[0] == 0  # nothing written
    ro.close()


def test_spawn_is_a_causal_edge(tmp_path):
    def script(t):
        parent, child = t.new_pid(), t.new_pid()
        t.builder.add(EventKind.CALL, parent[1], t.builder.mfa(("m", "f", 0)), [], ts=t.tick())
        t.spawn(parent, child, (Atom("m"), Atom("g"), []))
        t.exit(child, Atom("normal"))
        return parent, child

    store, r, _ = build(tmp_path, script)
    ev = r.events()
    assert [e.kind for e in r.causal_past(ev[-1]).events] == [EventKind.SPAWNED, EventKind.SPAWN, EventKind.CALL]


def test_send_payload_split_is_exact_for_any_message():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from elixir_scope.instrument.etf import Pid, encode
    from elixir_scope.store.receivers import SendSplitter

    split = SendSplitter({"test@localhost", "b@h"})
    pid = Pid(Atom("test@localhost"), 7, 0, 3)
    leaves = st.one_of(st.integers(), st.binary(max_size=20), st.sampled_from([Atom("a"), Atom("test@localhost")]),
                       st.just(pid), st.just(Pid(Atom("b@h"), 1, 2, 3)))
    msgs = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.tuples(inner, inner)), max_leaves=12)

    @given(msgs, st.sampled_from([pid, Atom("Elixir.Cache"), (Atom("reg"), Atom("b@h"))]), st.booleans())
    @settings(max_examples=300, deadline=None)
    def check(msg, to, told):
        # told: the caller knows To is a pid (the fast path); otherwise it must not assume one
        assert split(encode((msg, to)), to_is_pid=told and isinstance(to, Pid)) == (encode(msg), encode(to))

    check()
    # found by Hypothesis: the integer 88 ('X', NEW_PID_EXT's tag) then a {Name, Node} parses
    # as a pid to the end of the payload
    for msg in [(88, 0), (88, Atom("test@localhost"))]:
        to = (Atom("reg"), Atom("b@h"))
        assert split(encode((msg, to))) == (encode(msg), encode(to))
        assert split(encode((msg, pid)), to_is_pid=True) == (encode(msg), encode(pid))


def test_messages_between_two_recorded_nodes_are_matched(tmp_path):
    store = TraceStore.open(tmp_path / "two.db")
    rec = store.create_recording("two nodes", spec={}, limits={})
    na = rec.add_node("a@h", otp_release="25", time_unit=NS, time_offset=0)
    nb = rec.add_node("b@h", otp_release="26", time_unit=NS, time_offset=500)  # another clock base
    ta, tb = SyntheticTrace("a@h"), SyntheticTrace("b@h")
    pa, pb = ta.new_pid(), tb.new_pid()
    tb.ts = 10_000  # b's monotonic clock reads differently
    ta.builder.add(EventKind.SEND, pa[1], 0, ((Atom("hello"), 1), pb[0]), ts=ta.tick())   # To: a remote pid
    tb.builder.add(EventKind.RECEIVE, pb[1], 0, (Atom("hello"), 1), ts=ta.ts - 500 + 10)  # later, in wall time
    tb.exit(pb, Atom("normal"))
    for node, t in ((na, ta), (nb, tb)):
        b = t.take()
        rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    r = store.recording(rec.id)
    exit_ev = r.events(kind="exit")[0]
    past = r.causal_past(exit_ev)
    assert [(e.node_id, e.kind) for e in past.events] == [(nb, EventKind.RECEIVE), (na, EventKind.SEND)]
    flows = r.message_flow()
    assert flows.messages[0].receiver.pid_text == str(pb[0]) and flows.messages[0].latency is None
    store.close()


def test_live_recording_causality_is_extended_incrementally_and_equals_a_full_pass(tmp_path):
    from elixir_scope.store.causal import derive

    store = TraceStore.open(tmp_path / "inc.db")
    rec = store.create_recording("live", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    t = SyntheticTrace()
    a, b, c = t.new_pid(), t.new_pid(), t.new_pid()
    r = store.recording(rec.id)
    calls = {"full": 0, "incremental": 0}
    full, inc = derive.match_messages, derive._incremental

    def counting_full(*args, **kw):
        if len(args) == 1 and not kw:
            calls["full"] += 1
        return full(*args, **kw)

    def counting_inc(*args):
        out = inc(*args)
        calls["incremental"] += out is not None
        return out

    derive.match_messages, derive._incremental = counting_full, counting_inc
    try:
        for round_ in range(6):
            t.send(a[1], b[1], b[0], Atom("same"), received=False)   # received in the next batch
            if round_:
                t.builder.add(EventKind.RECEIVE, b[1], 0, Atom("same"), ts=t.tick())
            t.send(b[1], c[1], c[0], (Atom("n"), round_))
            if round_ == 4:  # a batch whose events are earlier than what was analysed: full pass
                t.builder.add(EventKind.SEND, c[1], a[1], (Atom("late"), a[0]), ts=5)
            batch = t.take()
            rec.ingest_batch(node, batch.dict_entries, batch.events)
            derive.ensure_causal(r)
    finally:
        derive.match_messages, derive._incremental = full, inc
    assert calls["incremental"] >= 3 and calls["full"] >= 2
    got_links = store.db.query("SELECT * FROM msg_links ORDER BY send_id")
    got_clocks = store.db.query("SELECT * FROM clocks ORDER BY event_id")
    with store.db.write("reset") as conn:
        conn.execute("UPDATE recordings SET causal_upto = 0")
    derive.ensure_causal(r)
    assert store.db.query("SELECT * FROM msg_links ORDER BY send_id") == got_links
    assert store.db.query("SELECT * FROM clocks ORDER BY event_id") == got_clocks
    assert len(got_clocks) == r.info.event_count and len(got_links) == 5 + 6
    store.close()
