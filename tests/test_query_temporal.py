"""Temporal patterns and gaps: sequences, absences, nesting, repeats, several nodes."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.query import run_query
from support.query_records import MS, Batch, flush, new_recording

A = Atom


def ids(res):
    return [r.event.id for r in res.rows]


def match_ids(res):
    return [[s.event.id for s in m.steps] for m in res.rows]


class Rec:
    """A recording under construction that remembers event ids by name."""

    def __init__(self, store, name="r", node="app@host"):
        self.w, self.node, self.b = new_recording(store, name, node)
        self.ids: dict[str, int] = {}
        self.base = store.db.query_one("SELECT coalesce(max(id), 0) FROM events")[0]

    def at(self, name):
        self.ids[name] = self.base + self.b.count + 1
        return self.b

    def done(self, store):
        flush(self.w, self.node, self.b)
        self.w.finish("stopped")
        return store.recording(self.w.id)


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "t.db")
    yield s
    s.close()


def test_sequence_pairs_the_tightest_call_and_respects_scope_and_window(store):
    r = Rec(store)
    b = r.b
    p1, p2 = b.pid(1), b.pid(2)
    add = b.mfa("MyApp.Cart", "add", 2)
    for i in range(3):  # three calls that return, then one that raises
        r.at(f"c{i}").call(p1, add, [i, i], MS)
        b.ret(p1, add, A("ok"), MS)
    r.at("c3").call(p1, add, [3, 3], MS)
    r.at("e3").exc(p1, add, "error", A("badarg"), 100 * MS)
    r.at("c4").call(p1, add, [4, 4], MS)                      # raises too late
    r.at("e4").exc(p1, add, "error", A("badarg"), 600 * MS)
    r.at("c5").call(p2, add, [5, 5], MS)                      # another process …
    r.at("e_other").exc(p1, add, "error", A("badarg"), MS)    # … the exception is in p1
    rec = r.done(store)
    q = "sequence call MyApp.Cart.add then exception within 500ms same process"
    res = run_query(rec, q)
    assert match_ids(res) == [[r.ids["c3"], r.ids["e3"]]]
    assert res.rows[0].span_ns == 100 * MS and not res.rows[0].crosses_gap
    # without the window the late one matches too; p2's call never pairs with p1's exception
    assert match_ids(run_query(rec, "sequence call MyApp.Cart.add then exception same process")) == [
        [r.ids["c3"], r.ids["e3"]], [r.ids["c4"], r.ids["e4"]]]
    # across processes, the exception after p2's call is its successor
    assert [r.ids["c5"], r.ids["e_other"]] in match_ids(
        run_query(rec, "sequence call MyApp.Cart.add then exception within 500ms"))
    assert run_query(rec, q + " | count").groups[0].values["count"] == 1
    assert run_query(rec, "sequence call MyApp.Cart.add where arg[0] = 4 then exception").total_estimate == 1


def test_sequence_with_repeated_identical_messages_and_three_steps(store):
    r = Rec(store)
    b = r.b
    srv = b.pid(10, "MyApp.Server")
    cb = b.mfa("MyApp.Server", "handle_info", 2)
    for i in range(5):
        r.at(f"tick{i}").recv(srv, A("tick"), MS)
    r.at("state").state(srv, cb, "after", {A("n"): 5}, MS)
    r.at("exc").exc(srv, cb, "error", A("function_clause"), MS)
    r.at("tick5").recv(srv, A("tick"), MS)
    rec = r.done(store)
    res = run_query(rec, "sequence receive where message = :tick then exception within 1s same process")
    assert match_ids(res) == [[r.ids["tick4"], r.ids["exc"]]]   # one match, the latest tick
    res = run_query(rec, "sequence receive where message = :tick then state where phase = :after "
                         "then exception within 10ms same process")
    assert match_ids(res) == [[r.ids["tick4"], r.ids["state"], r.ids["exc"]]]
    # "exception after a state change"
    res = run_query(rec, "sequence state where phase = :after then exception within 1s same process")
    assert res.total_estimate == 1


def test_without_return_with_nesting_recursion_and_a_gap(store):
    r = Rec(store)
    b = r.b
    p = b.pid(1)
    fact = b.mfa("MyApp.Math", "fact", 1)
    helper = b.mfa("MyApp.Math", "helper", 0)
    r.at("f3").call(p, fact, [3], MS)          # outer never returns (process killed)
    r.at("f2").call(p, fact, [2], MS)
    r.at("h").call(p, helper, [], MS)          # nested other function
    b.ret(p, helper, A("ok"), MS)
    r.at("f1").call(p, fact, [1], MS)
    b.ret(p, fact, 1, MS)                     # f1 returns
    b.ret(p, fact, 2, 30 * MS)                # f2 returns (slowly)
    r.at("lost").call(p, helper, [], MS)       # its return was dropped in a gap
    b.gap(3, "overload_queue", MS)
    r.at("after").call(p, helper, [], MS)
    b.ret(p, helper, A("ok"), MS)
    rec = r.done(store)
    res = run_query(rec, "calls without return")
    assert ids(res) == [r.ids["f3"], r.ids["lost"]]
    gaps = {row.event.id: row.gap_after for row in res.rows}
    assert gaps == {r.ids["f3"]: True, r.ids["lost"]: True}
    assert res.crosses_gaps and res.gap_summary.count == 1 and res.gap_summary.dropped == 3
    assert "overload_queue" in res.gap_summary.describe()
    slow = run_query(rec, "calls MyApp.Math.fact without return within 10ms")
    assert ids(slow) == [r.ids["f3"], r.ids["f2"]]
    # durations pair recursion correctly: f1 = 1 ms, f2 = 1+1+1+1+30 = 34 ms
    res = run_query(rec, "calls MyApp.Math.fact | sort duration desc")
    assert [(row.event.id, row.duration_ns) for row in res.rows] == [
        (r.ids["f2"], 34 * MS), (r.ids["f1"], MS), (r.ids["f3"], None)]
    # a plain page finds the same closings (walked per page, several calls per statement)
    page = run_query(rec, "calls MyApp.Math.fact", limit=2)
    assert [(row.event.id, row.duration_ns) for row in page.rows] == [(r.ids["f3"], None), (r.ids["f2"], 34 * MS)]
    # a window before the gap does not cross it
    early = run_query(rec, "calls from 0ms to 3ms")
    assert not early.crosses_gaps and early.gap_summary.count == 0


def test_sequence_across_a_gap_says_so(store):
    r = Rec(store)
    b = r.b
    p = b.pid(1)
    f = b.mfa("M", "f", 0)
    r.at("c").call(p, f, [], MS)
    b.gap(10, "rate_limit", MS)
    r.at("x").exc(p, f, "error", A("boom"), MS)
    rec = r.done(store)
    res = run_query(rec, "sequence call then exception same process")
    assert res.rows[0].crosses_gap and res.crosses_gaps


def test_several_nodes(store):
    w = store.create_recording("cluster", spec={}, limits={})
    na = w.add_node("a@host", otp_release="25", time_unit=1_000_000_000, time_offset=0,
                    mono_at_start=1_000 * MS)
    # node b's clock: monotonic differs, offset aligns wall time; native unit is microseconds
    nb = w.add_node("b@host", otp_release="25", time_unit=1_000_000, time_offset=4_000_000,
                    mono_at_start=-4_000_000 + 1_000_000)
    ba, bb = Batch("a@host", 1_000 * MS), Batch("b@host", 0)
    pa, pb = ba.pid(1), bb.pid(1)
    fa, fb = ba.mfa("M", "f", 0), bb.mfa("M", "f", 0)
    ba.call(pa, fa, [], 5 * MS)                 # wall 1.005 s
    ba.ret(pa, fa, 1, 5 * MS)                   # wall 1.010 s
    bb.t = -4_000_000 + 1_000_000
    bb.call(pb, fb, [], 7_000)                  # b: ts in µs → wall 1.007 s
    bb.exc(pb, fb, "error", A("x"), 10_000)     # wall 1.017 s
    flush(w, na, ba)
    flush(w, nb, bb)
    w.finish("stopped")
    rec = store.recording(w.id)
    res = run_query(rec, "calls | count by node")
    assert {g.key["node"]: g.values["count"] for g in res.groups} == {"a@host": 1, "b@host": 1}
    assert [row.node for row in run_query(rec, "events").rows] == ["a@host", "b@host", "a@host", "b@host"]
    assert [row.event.kind.name for row in run_query(rec, "events on b@host").rows] == ["CALL", "EXCEPTION"]
    res = run_query(rec, "calls | stats max(duration) by node")
    assert {g.key["node"]: g.values["max(duration)"] for g in res.groups} == {"a@host": 5.0, "b@host": 10.0}
    res = run_query(rec, "sequence call then exception within 20ms same node")
    assert [[s.node for s in m.steps] for m in res.rows] == [["b@host", "b@host"]]
    assert run_query(rec, "events from 6ms to 8ms").rows[0].node == "b@host"


def test_large_state_rebuilt_from_deltas_still_matches(store):
    r = Rec(store)
    b = r.b
    p = b.pid(1, "MyApp.Big")
    cb = b.mfa("MyApp.Big", "handle_cast", 2)
    blob = b"x" * 10_000  # over the store's full-state limit: kept as snapshots + deltas
    for n in range(4):
        r.at(f"s{n}").state(p, cb, "after", {A("count"): n, A("blob"): blob}, MS)
    rec = r.done(store)
    assert store.db.query_one("SELECT count(*) FROM events WHERE kind = 13 AND payload IS NULL")[0] == 4
    res = run_query(rec, "state of MyApp.Big where state.count >= 2")
    assert ids(res) == [r.ids["s2"], r.ids["s3"]]


def test_exception_after_a_state_change(store):
    r = Rec(store)
    b = r.b
    srv = b.pid(7, "MyApp.Counter")
    cb = b.mfa("MyApp.Counter", "handle_call", 3)
    b.state(srv, cb, "before", {A("n"): 1}, MS)
    r.at("same").state(srv, cb, "after", {A("n"): 1}, MS)      # the callback changed nothing
    r.at("exc1").exc(srv, cb, "error", A("boom"), MS)
    b.state(srv, cb, "before", {A("n"): 1}, MS)
    r.at("changed").state(srv, cb, "after", {A("n"): 2}, MS)   # a real change …
    r.at("exc2").exc(srv, cb, "error", A("boom"), MS)          # … then a crash
    rec = r.done(store)
    q = "sequence state where phase = :after and changed = true then exception within 1s same process"
    assert match_ids(run_query(rec, q)) == [[r.ids["changed"], r.ids["exc2"]]]
    assert ids(run_query(rec, "states where changed = true and phase = :after")) == [r.ids["changed"]]
    # the Python side (an OR with a payload condition) agrees with SQL
    assert ids(run_query(rec, "states where changed = true and phase = :after or state = :never")) == [r.ids["changed"]]
    assert r.ids["same"] in ids(run_query(rec, "states where changed = false"))
