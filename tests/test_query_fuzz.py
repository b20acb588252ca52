"""Whatever text arrives (an LLM can write anything), the parser answers with a Query or a
QuerySyntaxError that points inside the text — never another exception; and values never
reach SQL as text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elixir_scope.store import TraceStore
from elixir_scope.store.query import QuerySyntaxError, parse, run_query
from support.query_records import MS, flush, new_recording

WORDS = ["calls", "MyApp.Cart.add/2", "where", "arg[1]", ">", "100", "last", "30s", "|", "count",
         "by", "function", "sequence", "call", "then", "exception", "within", "500ms", "same",
         "process", "without", "return", "sends", "never", "received", "{:error, _}", "=", "~",
         "%{a: 1}", "state.count", "and", "or", "not", "(", ")", "stats", "p99(duration)", ",",
         "of", "<0.1.0>", "on", "a@b", "from", "2s", "to", "\"x\"", "[1 | _]", "limit", "5"]


def _check(text: str) -> None:
    try:
        parse(text)
    except QuerySyntaxError as err:
        assert 0 <= err.position <= len(text)
        assert err.message and "^" in err.excerpt


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text(text):
    _check(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_word_salad(words):
    _check(" ".join(words))


@pytest.mark.parametrize("query", [
    "calls where arg[0] = \"'; DROP TABLE events; --\"",
    "calls where module = \"x' OR 1=1 --\"",
    "calls where name = :\"a'); DELETE FROM events; --\"",
    "events on \"n'); DROP TABLE nodes; --\"",
])
def test_values_never_reach_sql_as_text(tmp_path, query):
    store = TraceStore.open(tmp_path / "s.db")
    w, node, b = new_recording(store)
    p = b.pid(1)
    f = b.mfa("M", "f", 1)
    b.call(p, f, [1], MS)
    flush(w, node, b)
    w.finish("stopped")
    rec = store.recording(w.id)
    try:
        res = run_query(rec, query)
        assert len(res) == 0
    except Exception as exc:  # an unknown node is a clear error, not an injection
        assert "no node" in str(exc)
    assert store.db.query_one("SELECT count(*) FROM events")[0] == 1
    store.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from elixir_scope.instrument.etf import Atom

    store = TraceStore.open(tmp_path_factory.mktemp("fz") / "s.db")
    w, node, b = new_recording(store)
    cart = b.pid(1, "MyApp.Cart", ("MyApp.Cart", "init", 1))
    other = b.pid(2)
    add = b.mfa("MyApp.Cart", "add", 2)
    for i in range(5):
        b.call(cart, add, [i, i * 50], MS)
        b.ret(cart, add, (Atom("ok"), i), MS) if i != 3 else b.exc(cart, add, "error", Atom("x"), MS)
        b.send(other, cart, (Atom("tick"), i), MS)
        b.recv(cart, (Atom("tick"), i), MS)
        b.state(cart, add, "after", {Atom("count"): i}, MS)
    b.gap(2)
    flush(w, node, b)
    w.finish("stopped")
    yield store.recording(w.id)
    store.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
def test_word_salad_runs_or_explains(small, words):
    """Whatever parses, runs: the only failures are the query layer's own explained errors."""
    from elixir_scope.store.query import QueryError

    text = " ".join(words)
    try:
        parse(text)
    except QuerySyntaxError:
        return
    try:
        res = run_query(small, text, limit=5)
    except QueryError:
        return
    assert res.shape in ("events", "matches", "absences", "groups")
    res.as_dict()


TARGETS = ["", " MyApp.Cart", " MyApp.Cart.add", " MyApp.Cart.add/2", " MyApp.*", " :ets.lookup/2"]
CONDS = ["arg[1] > 100", "return = {:ok, _}", "message ~ :tick", "state.count >= 2",
         "duration > 1ms", "function = add", "not pid = <0.1.0>", "time < 5ms", "kind in [call, state]",
         "exception ~ :x", "phase = :after", "payload ~ 3", "module = MyApp.* or arity = 2"]
KINDS = ["calls", "returns", "exceptions", "sends", "receives", "states", "events", "messages"]
STAGES = ["", " | count", " | count by function", " | count by process, kind", " | rate per s",
          " | stats count, p50(duration), max(duration) by function", " | sort duration desc",
          " | sort time desc | limit 3", " | limit 2", " | count | sort count asc"]
CLAUSES = ["", " last 10ms", " from 2ms to 9ms", " on app@host", " of MyApp.Cart", " of <0.2.0>"]


@st.composite
def queries(draw):
    kind = draw(st.sampled_from(KINDS))
    step = kind + draw(st.sampled_from(TARGETS))
    if draw(st.booleans()):
        step += " where " + draw(st.sampled_from(CONDS))
    form = draw(st.sampled_from(["plain", "seq", "without", "never"]))
    if form == "seq":
        other = draw(st.sampled_from(KINDS))
        src = f"sequence {step} then {other}" + draw(st.sampled_from(["", " within 3ms", " same process", " within 1s same node"]))
    elif form == "without":
        src = step + " without " + draw(st.sampled_from(["return", "receive", "exception", "state"])) + \
            draw(st.sampled_from(["", " within 2ms", " same process"]))
    elif form == "never":
        src = step + " never received"
    else:
        src = step
    return src + draw(st.sampled_from(CLAUSES)) + draw(st.sampled_from(STAGES))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queries())
def test_generated_queries_run_or_explain(small, text):
    from elixir_scope.store.query import QueryError

    try:
        res = run_query(small, text, limit=3)
    except QueryError:
        return
    res.as_dict()
    if res.next_cursor:
        run_query(small, text, limit=3, cursor=res.next_cursor).as_dict()
