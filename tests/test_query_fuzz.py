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
