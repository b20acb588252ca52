"""Time travel over real store files: state_at (exact, property-based), evolution, snapshots,
mailboxes, stepping, timelines."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elixir_scope.instrument.etf import Atom, decode, encode
from elixir_scope.store import EventKind, StatePolicy, TraceStore
from elixir_scope.store.batch import SyntheticTrace
from elixir_scope.store.diff import apply, diff, same
from elixir_scope.store.state_changes import changes

NS = 1_000_000_000
NIL = Atom("nil")


def open_rec(path, policy=None):
    store = TraceStore.open(path)
    rec = store.create_recording("tt", spec={}, limits={}, state_policy=policy)
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    return store, rec, node


def ingest(rec, node, t):
    b = t.take()
    rec.ingest_batch(node, b.dict_entries, b.events)


# -- the delta format -----------------------------------------------------------------------------

keys = st.sampled_from([Atom("a"), Atom("b"), Atom("items"), b"k", 1, (Atom("t"), 2)])
leaves = st.one_of(st.integers(-5, 300), st.binary(max_size=6), st.sampled_from([NIL, Atom("ok"), True]),
                   st.floats(allow_nan=False, allow_infinity=False, width=32))
terms = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=5),
    st.tuples(inner, inner)), max_leaves=25)


@given(terms, terms)
@settings(max_examples=300, deadline=None)
def test_diff_then_apply_is_exact_and_survives_etf(old, new):
    old, new = decode(encode(old)), decode(encode(new))
    ops = diff(old, new)
    assert same(apply(old, ops), new)
    assert same(apply(old, decode(encode(ops))), new)  # as stored
    assert ops == [] or not same(old, new)


def test_map_keys_holding_lists_survive_a_stored_delta():
    # a cache keyed by {ip, [lang: "en"]}: the decoder keeps such keys frozen, and a delta read
    # back from storage names them unfrozen; applying it must find the same key
    from elixir_scope.instrument.etf.terms import freeze

    key = (b"10.0.0.1", [(Atom("lang"), b"en")])
    old = decode(encode({Atom("cache"): {freeze(key): 1}}))
    new = decode(encode({Atom("cache"): {freeze(key): 2, freeze((b"10.0.0.2", [])): 3}}))
    ops = diff(old, new)
    assert same(apply(old, decode(encode(ops))), new)
    gone = diff(new, old)
    assert same(apply(new, decode(encode(gone))), old)


def test_changes_are_described_structurally():
    old = {Atom("items"): [1, 2], Atom("user"): b"ann", Atom("gone"): 1, Atom("n"): 1}
    new = {Atom("items"): [1, 2, 3], Atom("user"): NIL, Atom("added"): 2, Atom("n"): 2}
    kinds = {(c.kind, c.path) for c in changes(old, new)}
    assert kinds == {("list_grown", (Atom("items"),)), ("to_nil", (Atom("user"),)),
                     ("removed", (Atom("gone"),)), ("added", (Atom("added"),)), ("changed", (Atom("n"),))}
    assert "became nil" in [c for c in changes(old, new) if c.kind == "to_nil"][0].describe()


# -- state_at -------------------------------------------------------------------------------------

transitions = st.lists(st.tuples(st.sampled_from(["put", "del", "grow", "shrink", "nest", "nil", "same"]),
                                 st.integers(0, 7), st.integers(0, 10_000)), min_size=1, max_size=40)


def evolve(state: dict, op: str, k: int, v: int) -> dict:
    s = dict(state)
    key = Atom(f"k{k}")
    if op == "put":
        s[key] = v
    elif op == "del":
        s.pop(key, None)
    elif op == "grow":
        s[Atom("log")] = list(s.get(Atom("log"), [])) + [b"entry-%d" % v] * (1 + k * 20)
    elif op == "shrink":
        s[Atom("log")] = list(s.get(Atom("log"), []))[k:]
    elif op == "nest":
        inner = dict(s.get(Atom("nested"), {}))
        inner[Atom(f"n{k}")] = {Atom("v"): v, Atom("blob"): b"z" * (v % 300)}
        s[Atom("nested")] = inner
    elif op == "nil":
        s[key] = NIL
    return s


@given(transitions, st.integers(64, 2000), st.integers(1, 5))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_state_at_every_moment_equals_the_truth(tmp_path_factory, steps, threshold, chain):
    store, rec, node = open_rec(tmp_path_factory.mktemp("p") / "s.db",
                                StatePolicy(full_max_bytes=threshold, max_chain=chain))
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    truth = []  # (ts of the state record, state)
    state = {Atom("log"): [b"start"] * 50}
    t.checkpoint(server, state)
    truth.append((t.ts, state))
    for i, (op, k, v) in enumerate(steps):
        new = evolve(state, op, k, v)
        t.gen_call(client, server, "Elixir.Srv", (Atom(op), k), state, new, Atom("ok"))
        truth.append((t.ts - 2 * t.step, new))  # the `after` record precedes the reply send/receive
        state = new
        if i % 7 == 6:
            ingest(rec, node, t)
    ingest(rec, node, t)
    r = store.recording(rec.id)
    assert r.state_at(server[0].__str__(), truth[0][0] - 1) is None
    for i, (ts, expected) in enumerate(truth):
        expected = decode(encode(expected))
        for probe in (ts, ts + t.step // 2):
            got = r.state_at(server[1], probe)
            assert got is not None and same(got.state, expected), (i, probe)
    # every state event's payload is rebuilt exactly too (large ones are not in events)
    for e in r.events(kind="state", limit=1000):
        assert e.payload[0] in (Atom("before"), Atom("after"), Atom("checkpoint"))
    store.close()


def test_state_at_reports_source_event_and_gaps(tmp_path):
    store, rec, node = open_rec(tmp_path / "s.db")
    t = SyntheticTrace()
    server, client = t.new_pid(reg_name="Elixir.Cart"), t.new_pid()
    t.checkpoint(server, {Atom("n"): 0})
    cp = t.ts
    t.gen_call(client, server, "Elixir.Cart", Atom("inc"), {Atom("n"): 0}, {Atom("n"): 1}, 1)
    after_call = t.ts
    t.gap("rate_limit", 3)
    ingest(rec, node, t)
    r = store.recording(rec.id)
    s0 = r.state_at("Cart", cp)
    assert (s0.source, s0.state, s0.callback, s0.gaps) == ("checkpoint", {Atom("n"): 0}, None, [])
    s1 = r.state_at("Elixir.Cart", after_call)
    assert s1.source == "after" and s1.state == {Atom("n"): 1} and str(s1.callback) == "Cart.handle_call/3"
    s2 = r.state_at(server[1], t.ts)
    assert [g.count for g in s2.gaps] == [3]
    ev = r.events(kind="state")[1]  # the `before` record: state while the callback runs
    assert r.state_at(server[1], ev).source == "before"


def test_state_evolution_with_causes(tmp_path):
    store, rec, node = open_rec(tmp_path / "s.db")
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    s0 = {Atom("items"): [], Atom("user"): b"ann"}
    s1 = {Atom("items"): [b"apple"], Atom("user"): b"ann"}
    s2 = {Atom("items"): [b"apple"], Atom("user"): NIL}
    t.checkpoint(server, s0)
    t.gen_call(client, server, "Elixir.Cart", (Atom("add"), b"apple"), s0, s1, Atom("ok"))
    t.gen_call(client, server, "Elixir.Cart", Atom("peek"), s1, s1, s1)
    t.gen_call(client, server, "Elixir.Cart", Atom("logout"), s1, s2, Atom("ok"))
    ingest(rec, node, t)
    r = store.recording(rec.id)
    evo = r.state_evolution(server[1])
    assert [tr.message for tr in evo.transitions] == [(Atom("add"), b"apple"), Atom("logout")]
    assert [[c.kind for c in tr.changes] for tr in evo.transitions] == [["list_grown"], ["to_nil"]]
    assert evo.transitions[0].cause.kind == EventKind.CALL and evo.next_after_state is None
    first = r.state_evolution(server[1], limit=1)
    assert len(first.transitions) == 1 and first.next_after_state is not None
    rest = r.state_evolution(server[1], after_state=first.next_after_state)
    assert [tr.message for tr in rest.transitions] == [Atom("logout")]


def test_changes_outside_traced_callbacks_blame_no_callback(tmp_path):
    store, rec, node = open_rec(tmp_path / "s.db")
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    t.checkpoint(server, {Atom("n"): 0})
    t.gen_call(client, server, "Elixir.Cart", Atom("inc"), {Atom("n"): 0}, {Atom("n"): 1}, 1)
    # e.g. :sys.replace_state — the next callback starts from a state nobody traced producing
    t.gen_call(client, server, "Elixir.Cart", Atom("peek"), {Atom("n"): 9}, {Atom("n"): 9}, 9)
    ingest(rec, node, t)
    evo = store.recording(rec.id).state_evolution(server[1])
    assert [(tr.after.source, tr.cause is not None) for tr in evo.transitions] == [("after", True), ("before", False)]


def test_system_snapshot_tree_status_and_mailbox(tmp_path):
    store, rec, node = open_rec(tmp_path / "s.db")
    t = SyntheticTrace()
    sup = t.new_pid(reg_name="Elixir.App.Sup")
    worker, client, temp = t.new_pid(), t.new_pid(), t.new_pid()
    t.spawn(sup, worker, (Atom("Elixir.Cart"), Atom("init"), [1]))
    t.link(sup, worker)
    t.spawn(sup, temp, (Atom("erlang"), Atom("apply"), []))
    t.checkpoint(worker, {Atom("n"): 0})
    t.gen_call(client, worker, "Elixir.Cart", Atom("a"), {Atom("n"): 0}, {Atom("n"): 1}, 1)
    # a call received but not yet handled, then a cast: both in the mailbox
    t.gen_call(client, worker, "Elixir.Cart", Atom("slow"), None, None, None, handled=False)
    t.send(client[1], worker[1], worker[0], (Atom("$gen_cast"), Atom("ping")))
    moment = t.ts
    t.exit(temp, Atom("normal"))
    dead = t.ts
    ingest(rec, node, t)
    r = store.recording(rec.id)
    snap = r.system_snapshot_at(moment)
    pids = {p.process.pid_text for p in snap.processes}
    assert {str(sup[0]), str(worker[0]), str(client[0]), str(temp[0])} <= pids
    w = snap.process(str(worker[0]))
    assert w.state == {Atom("n"): 1} and w.parent.reg_name == "Elixir.App.Sup"
    assert w.status == "idle"
    mailbox = [e.payload for e in w.mailbox]
    assert [m[0] for m in mailbox] == [Atom("$gen_call"), Atom("$gen_cast")]
    assert mailbox[0][2] == Atom("slow")
    root = [n for n in snap.tree if n.process.pid_text == str(sup[0])][0]
    kids = {c.process.pid_text: c.linked_to_parent for c in root.children}
    assert kids == {str(worker[0]): True, str(temp[0]): False}
    later = r.system_snapshot_at(dead)
    assert str(temp[0]) not in {p.process.pid_text for p in later.processes}
    assert snap.process(str(client[0])).mailbox is None  # no callbacks traced there: unknown
    again = r.system_snapshot_at(moment)
    assert again.load_states() == 1 and again.process(str(worker[0]))._state == {Atom("n"): 1}


def test_stepping_and_timeline(tmp_path):
    store, rec, node = open_rec(tmp_path / "s.db")
    t = SyntheticTrace()
    a, b = t.new_pid(), t.new_pid()
    b_ = t.builder
    outer = b_.mfa(("Elixir.Cart", "checkout", 1))
    inner = b_.mfa(("Elixir.Cart", "price", 1))
    other = b_.mfa(("Elixir.Tax", "rate", 0))
    b_.add(EventKind.CALL, a[1], outer, [1], ts=t.tick())
    b_.add(EventKind.CALL, a[1], inner, [1], ts=t.tick())
    b_.add(EventKind.CALL, b[1], other, [], ts=t.tick())
    b_.add(EventKind.RETURN, a[1], inner, 10, ts=t.tick())
    b_.add(EventKind.CALL, a[1], inner, [2], ts=t.tick())
    b_.add(EventKind.EXCEPTION, a[1], inner, (Atom("error"), Atom("badarith")), ts=t.tick())
    b_.add(EventKind.EXCEPTION, a[1], outer, (Atom("error"), Atom("badarith")), ts=t.tick())
    b_.add(EventKind.CALL, a[1], outer, [3], ts=t.tick())
    ingest(rec, node, t)
    r = store.recording(rec.id)
    evs = r.events()
    first = evs[0]
    assert r.step(first).id == evs[1].id
    assert r.step(evs[1], scope="process").id == evs[3].id
    assert r.step(evs[3], -1, scope="process").id == evs[1].id
    assert r.step(evs[1], scope="module").id == evs[3].id  # skips Tax
    assert r.step(evs[2], scope="module", module="Elixir.Cart").id == evs[3].id
    assert r.step(evs[-1]) is None and r.step(first, -1) is None
    tl = r.timeline(a[1])
    assert [str(n.mfa) for n in tl.roots] == ["Cart.checkout/1", "Cart.checkout/1"]
    done, still_open = tl.roots
    assert done.raised and done.exception == (Atom("error"), Atom("badarith"))
    assert [c.duration for c in done.children] == [2 * t.step, t.step]
    assert done.children[1].raised and not done.children[0].raised
    assert still_open.end is None and still_open.duration is None
    assert done.duration_us == 6 * t.step / 1000
