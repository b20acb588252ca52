"""The query engine on real SQLite stores filled through the store's ingest API with records
encoded as the tracer agent sends them (tests/support/query_records.py)."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.query import (
    QueryCursorError, QueryError, QueryResult, QueryStoreError, QuerySyntaxError, run_query,
)
from support.query_records import MS, flush, new_recording

A = Atom


def ids(res: QueryResult) -> list[int]:
    return [r.event.id for r in res.rows]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small shop: a registered cart GenServer, a worker, calls (nested, raising, hanging),
    messages (one lost), states, all at known times."""
    store = TraceStore.open(tmp_path_factory.mktemp("shop") / "shop.db")
    w, node, b = new_recording(store, "shop")
    cart = b.pid(100, "MyApp.Cart", ("MyApp.Cart", "init", 1))
    worker = b.pid(101, None, ("MyApp.Worker", "init", 1))
    add = b.mfa("MyApp.Cart", "add", 2)
    price = b.mfa("MyApp.Pricing", "price", 1)
    checkout = b.mfa("MyApp.Cart", "checkout", 1)
    handle = b.mfa("MyApp.Cart", "handle_call", 3)
    ev = {}

    def mark(name):
        ev[name] = b.count + 1  # ids start at 1 and follow record order in one recording

    # t = 1 ms: add("alice", 50) → calls price (nested) → {:ok, 50}
    mark("add1"); b.call(cart, add, [b"alice", 50], MS)
    mark("price1"); b.call(cart, price, [50], MS)
    mark("price1_ret"); b.ret(cart, price, 50, MS)
    mark("add1_ret"); b.ret(cart, add, (A("ok"), 50), 2 * MS)
    # add("bob", 150) → raises badarith
    mark("add2"); b.call(cart, add, [b"bob", 150], MS)
    mark("add2_exc"); b.exc(cart, add, "error", A("badarith"), 3 * MS)
    # add("carol", 500) → {:error, %{status: :failed}}
    mark("add3"); b.call(cart, add, [b"carol", 500], MS)
    mark("add3_ret"); b.ret(cart, add, (A("error"), {A("status"): A("failed")}), 40 * MS)
    # messages: worker → cart twice the same term, received once
    mark("send1"); b.send(worker, cart, (A("tick"), 1), MS)
    mark("send2"); b.send(worker, cart, (A("tick"), 1), MS)
    mark("recv1"); b.recv(cart, (A("tick"), 1), MS)
    mark("recv_timeout"); b.recv(cart, (A("timeout"), b"late reply"), MS)
    # states of the cart
    mark("state1"); b.state(cart, handle, "after", {A("count"): 3, A("items"): [], A("user"): A("nil")}, MS)
    mark("state2"); b.state(cart, handle, "after", {A("count"): 12, A("items"): [b"x"], A("user"): b"bob"}, MS)
    # checkout hangs (no return), in the worker
    mark("checkout"); b.call(worker, checkout, [A("cart")], MS)
    mark("exc_worker"); b.exc(worker, price, "throw", A("oops"), 700 * MS)
    flush(w, node, b)
    w.finish("stopped")
    rec = store.recording(w.id)
    yield rec, ev
    store.close()


# --------------------------------------------------------------------------- filters

@pytest.mark.parametrize("query, names", [
    ("calls MyApp.Cart.add/2 where arg[1] > 100", ["add2", "add3"]),
    ("calls MyApp.Cart.add where arg[0] = \"bob\"", ["add2"]),
    ("calls where arg[0] ~ \"aro\"", ["add3"]),
    ("calls MyApp.Cart.add/1", []),
    ("calls MyApp.Cart", ["add1", "add2", "add3", "checkout"]),
    ("calls MyApp.*", ["add1", "price1", "add2", "add3", "checkout"]),
    ("calls where function in [price, checkout]", ["price1", "checkout"]),
    ("calls where module = MyApp.Pricing or arity = 1 and function = checkout", ["price1", "checkout"]),
    ("calls where return = {:error, _}", ["add3"]),
    ("calls where return = {:error, %{status: :failed}}", ["add3"]),
    ("calls where exception ~ :badarith", ["add2"]),
    ("calls where class = :error", ["add2"]),
    ("returns where return = {:ok, _}", ["add1_ret"]),
    ("returns where return > 10 and return < 100", ["price1_ret"]),
    ("exceptions where reason = :oops", ["exc_worker"]),
    ("receives where message ~ :timeout", ["recv_timeout"]),
    ("receives where message ~ \"late\"", ["recv_timeout"]),
    ("sends where message = {:tick, _} and to = <0.100.0>", ["send1", "send2"]),
    ("state of MyApp.Cart where state.count > 10", ["state2"]),
    ("states where state.items = [] and state.user = nil", ["state1"]),
    ("states where state.items = [_ | _]", ["state2"]),
    ("states where phase = :after and state = %{user: \"bob\"}", ["state2"]),
    ("events of <0.101.0> where kind in [call, exception]", ["checkout", "exc_worker"]),
    ("calls of MyApp.Worker", ["checkout"]),
    ("calls where pid = <0.101.0>", ["checkout"]),
    ("calls where name = MyApp.Cart and arg[1] >= 500", ["add3"]),
    ("calls where not name = MyApp.Cart", ["checkout"]),
    ("calls where duration > 10ms", ["add3"]),
    ("calls MyApp.Cart.add where duration < 5ms", ["add1", "add2"]),
    ("events where time < 2ms", ["add1"]),
    ("events from 5ms to 7ms", ["add1_ret", "add2"]),
    ("exceptions last 1ms", ["exc_worker"]),
])
def test_filters(shop, query, names):
    rec, ev = shop
    res = run_query(rec, query)
    assert ids(res) == [ev[n] for n in names], res.notes


def test_sql_and_python_sides_agree(shop):
    """A metadata condition gives the same answer compiled to SQL and evaluated in Python
    (an OR with a payload condition forces the Python side)."""
    rec, _ = shop
    never = "arg[0] = :never_there"
    for cond in ["module = MyApp.Cart", "function = add", "arity >= 2", "name = MyApp.Cart",
                 "pid = <0.101.0>", "module = MyApp.*", "function ~ \"eck\"", "kind = call",
                 "time > 5ms", "node = app@host", "module != MyApp.Cart"]:
        sql = ids(run_query(rec, f"calls where {cond}"))
        py = ids(run_query(rec, f"calls where {cond} or {never}"))
        assert sql == py, cond


def test_event_rows_are_typed(shop):
    rec, ev = shop
    res = run_query(rec, "calls MyApp.Cart.add/2 where arg[1] = 500")
    (row,) = res.rows
    assert row.kind == "call" and row.function == "MyApp.Cart.add/2"
    assert row.pid == "<0.100.0>" and row.process_name == "MyApp.Cart" and row.node == "app@host"
    assert row.closing.id == ev["add3_ret"] and row.duration_ns == 40 * MS
    assert row.event.payload == [b"carol", 500]
    d = row.as_dict()
    assert d["payload"] == '["carol", 500]' and d["duration_ms"] == 40.0
    assert d["closing"] == {"id": ev["add3_ret"], "kind": "return",
                            "payload": "{:error, %{status: :failed}}"}
    # a payload condition scanned the whole recording on this one page: the total is known
    assert (res.total_estimate, res.total_is_exact, res.next_cursor) == (1, True, None)
    assert not res.crosses_gaps


# --------------------------------------------------------------------------- absences

def test_calls_without_return(shop):
    rec, ev = shop
    res = run_query(rec, "calls without return")
    assert [r.event.id for r in res.rows] == [ev["checkout"]]
    assert res.rows[0].missing == "return" and res.shape == "absences"
    slow = run_query(rec, "calls MyApp.Cart.add without return within 10ms")
    assert [r.event.id for r in slow.rows] == [ev["add3"]]


def test_sends_never_received_by_identity(shop):
    rec, ev = shop
    res = run_query(rec, "sends never received")
    # two identical messages, one receive: the *later* send is the lost one
    assert [r.event.id for r in res.rows] == [ev["send2"]]
    assert run_query(rec, "sends never received | count").groups[0].values["count"] == 1


def test_generic_absence(shop):
    rec, ev = shop
    res = run_query(rec, "calls MyApp.Cart.add without exception within 5ms same process")
    assert [r.event.id for r in res.rows] == [ev["add1"], ev["add3"]]


# --------------------------------------------------------------------------- aggregations

def test_counts_and_stats(shop):
    rec, _ = shop
    res = run_query(rec, "calls | count by function")
    assert {g.key["function"]: g.values["count"] for g in res.groups} == {
        "MyApp.Cart.add/2": 3, "MyApp.Pricing.price/1": 1, "MyApp.Cart.checkout/1": 1}
    assert res.groups[0].key["function"] == "MyApp.Cart.add/2"  # biggest first
    res = run_query(rec, "calls MyApp.Cart.add | stats count, p50(duration), p99(duration), max(duration), avg(duration)")
    (g,) = res.groups
    # durations: add1 = 1+1+2 = 4 ms, add2 = 3 ms, add3 = 40 ms
    assert g.values == {"count": 3, "p50(duration)": 4.0, "p99(duration)": 40.0,
                        "max(duration)": 40.0, "avg(duration)": pytest.approx(47 / 3)}
    res = run_query(rec, "events | count by kind, process | sort count desc | limit 2")
    assert [tuple(g.key.values()) for g in res.groups] == [("call", "<0.100.0> (MyApp.Cart)"),
                                                        ("state", "<0.100.0> (MyApp.Cart)")] or \
        res.groups[0].values["count"] == 4
    assert len(res.groups) == 2 and res.columns == ("kind", "process", "count")
    rate = run_query(rec, "calls | rate").groups[0].values["rate"]
    span_s = 764 / 1000  # first event at 1 ms after start, last at 765 ms
    assert rate == pytest.approx(5 / (rec.context and span_s), rel=0.01)
    with pytest.raises(QuerySyntaxError, match="needs durations"):
        run_query(rec, "exceptions | stats p99(duration)")


def test_stats_with_payload_condition(shop):
    rec, _ = shop
    res = run_query(rec, "calls MyApp.Cart.add where arg[1] > 100 | stats count, max(duration)")
    assert res.groups[0].values == {"count": 2, "max(duration)": 40.0}


# --------------------------------------------------------------------------- paging

@pytest.fixture(scope="module")
def many(tmp_path_factory):
    store = TraceStore.open(tmp_path_factory.mktemp("many") / "many.db")
    w, node, b = new_recording(store, "many")
    p = b.pid(200)
    f = b.mfa("MyApp.Loop", "step", 1)
    for i in range(57):
        b.call(p, f, [i], MS)
        b.ret(p, f, i * 2, MS)
    flush(w, node, b)
    w.finish("stopped")
    yield store
    store.close()


@pytest.mark.parametrize("query", ["calls MyApp.Loop.step", "calls where arg[0] >= 3",
                                   "calls | sort duration desc", "calls | sort time desc",
                                   "returns where return ~ 4 or return = 0"])
def test_paging_walks_every_row_once(many, query):
    rec = many.recording(1)
    whole = ids(run_query(rec, query, limit=1000))
    seen, cursor, pages = [], None, 0
    while True:
        res = run_query(rec, query, limit=10, cursor=cursor)
        seen += ids(res)
        pages += 1
        cursor = res.next_cursor
        if cursor is None:
            break
    assert seen == whole and pages == (len(whole) + 9) // 10


def test_limit_stage_caps_and_cursor_checks(many):
    rec = many.recording(1)
    res = run_query(rec, "calls | limit 15", limit=10)
    nxt = run_query(rec, "calls | limit 15", limit=10, cursor=res.next_cursor)
    assert len(res.rows) == 10 and len(nxt.rows) == 5 and nxt.next_cursor is None
    # totals only when asked: a first page does not count every match, the last page knows
    assert (res.total_estimate, res.total_is_exact) == (None, False)
    assert (nxt.total_estimate, nxt.total_is_exact) == (15, True)
    counted = run_query(rec, "calls | limit 15", limit=10, count_total=True)
    assert (counted.total_estimate, counted.total_is_exact) == (15, True)
    assert run_query(rec, "calls", limit=10, count_total=True).total_estimate == \
        rec.db.query_one("SELECT count(*) FROM events WHERE recording_id = 1 AND kind = 1")[0]
    desc = run_query(rec, "calls | sort time desc", limit=10)
    assert desc.total_estimate is None and desc.next_cursor is not None
    seen, cursor = [], None
    while True:  # the descending pages, read to the end, are the ascending order reversed
        page = run_query(rec, "calls | sort time desc", limit=10, cursor=cursor)
        seen += [r.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            assert page.total_estimate == len(seen)
            break
    asc = [r[0] for r in rec.db.query("SELECT id FROM events WHERE recording_id = 1 AND kind = 1 "
                                      "ORDER BY ts, id")]
    assert seen == asc[::-1]
    with pytest.raises(QueryCursorError, match="different query"):
        run_query(rec, "returns", cursor=res.next_cursor)
    with pytest.raises(QueryCursorError):
        run_query(rec, "calls", cursor="not-a-cursor")
    with pytest.raises(QueryError, match="limit must be"):
        run_query(rec, "calls", limit=0)


def test_store_argument_and_errors(many, tmp_path):
    res = run_query(many, "calls | count")  # a TraceStore: its latest recording
    assert res.groups[0].values["count"] == 57 and res.recording_id == 1
    with pytest.raises(QueryStoreError, match="no node 'x@y'"):
        run_query(many, "calls on x@y")
    with pytest.raises(QueryStoreError, match="TraceStore or a Recording"):
        run_query("path", "calls")
    empty = TraceStore.open(tmp_path / "empty.db")
    with pytest.raises(QueryStoreError, match="no recordings"):
        run_query(empty, "calls")
    empty.close()
    notes = run_query(many, "calls MyApp.Lop.step").notes
    assert any("did you mean MyApp.Loop.step" in n for n in notes), notes


def test_public_names():
    import elixir_scope.store.query as q

    assert set(q.__all__) == {
        "AbsenceRow", "EventRow", "GapSummary", "GroupRow", "MatchRow", "Query",
        "QueryCursorError", "QueryError", "QueryLimitError", "QueryLimits", "QueryResult", "QueryStoreError", "QuerySyntaxError",
        "parse", "run_query"}


def test_absences_with_conditions(shop):
    rec, ev = shop
    res = run_query(rec, "calls MyApp.Cart.add where arg[1] > 100 without return within 10ms")
    assert [r.event.id for r in res.rows] == [ev["add3"]]
    assert res.rows[0].window_complete and not res.rows[0].gap_after
    res = run_query(rec, "sends where message = {:tick, _} never received")
    assert [r.event.id for r in res.rows] == [ev["send2"]]
    assert run_query(rec, "sends where message = :other never received").rows == []


def test_json_view_is_bounded_and_explains(shop):
    rec, _ = shop
    d = run_query(rec, "calls without return").as_dict()
    assert d["shape"] == "absences" and d["items"][0]["missing"] == "return"
    assert d["gaps"].startswith("no gaps") and d["next_cursor"] is None
    d = run_query(rec, "calls | count by module").as_dict()
    assert {i["module"] for i in d["items"]} == {"MyApp.Cart", "MyApp.Pricing"}


def test_a_bounded_scan_hands_out_a_cursor_to_continue(many):
    """A rare payload condition stops after the scan budget with a cursor and a note, and the
    following pages find the rest."""
    rec = many.recording(1)
    q = "calls where arg[0] = 50 or arg[0] = 3"
    first = run_query(rec, q, limit=10, scan_budget=20)
    assert [r.event.payload for r in first.rows] == [[3]]
    assert first.next_cursor and any("without filling the page" in n for n in first.notes)
    found, cursor = [], first.next_cursor
    while cursor:
        page = run_query(rec, q, limit=10, cursor=cursor, scan_budget=20)
        found += [r.event.payload for r in page.rows]
        cursor = page.next_cursor
    assert found == [[50]]
