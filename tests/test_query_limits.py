"""Queries that ask for too much end quickly with a clear `QueryLimitError` (or a
`QuerySyntaxError` from the parser) instead of eating gigabytes: long sequences, a memory
budget on the rows a query holds, a time budget enforced in Python loops and inside SQLite."""

from __future__ import annotations

import threading

import pytest

from elixir_scope.store import TraceStore
from elixir_scope.store.query import QueryLimitError, QueryLimits, QuerySyntaxError, run_query
from elixir_scope.store.query.limits import Limiter, installed
from support.query_records import flush, new_recording

N_CALLS = 60_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    st = TraceStore.open(tmp_path_factory.mktemp("ql") / "q.db")
    w, node, b = new_recording(st, "many calls")
    f = b.mfa("MyApp.Loop", "step", 1)
    for i in range(N_CALLS):
        p = b.pid(i % 50)
        b.call(p, f, [i])
        b.ret(p, f, i)
        if i % 2000 == 1999:
            flush(w, node, b)
    flush(w, node, b)
    w.finish("stopped", {})
    yield st
    st.close()


def test_a_sequence_of_a_hundred_steps_is_refused_by_the_parser(store):
    text = "sequence " + " then ".join(["call"] * 100)
    with pytest.raises(QuerySyntaxError, match="at most 32 steps"):
        run_query(store, text)


def test_a_long_sequence_runs_out_of_its_memory_budget(store):
    text = "sequence " + " then ".join(["call"] * 30)  # 30 x 60k candidate rows
    with pytest.raises(QueryLimitError, match="memory budget") as info:
        run_query(store, text, limits=QueryLimits(max_rows=500_000))
    assert "narrow each step" in str(info.value)
    # the same query within the budget answers
    small = "sequence call then call then call"
    assert run_query(store, small, limits=QueryLimits(max_rows=500_000)).rows


def test_the_default_memory_budget_holds_the_thirty_step_sequence():
    lim = Limiter()
    with pytest.raises(QueryLimitError):
        lim.take(30 * 200_000)  # the 200k events x 30 steps


def test_a_query_past_its_time_budget_stops_with_a_clear_error(store):
    with pytest.raises(QueryLimitError, match="time budget of 1e-06 s"):
        run_query(store, "sequence call then return then call within 1s same process",
                  limits=QueryLimits(max_seconds=1e-6))
    # the budget is per call: the next query runs normally
    assert run_query(store, "calls | count").groups


def test_sqlite_statements_are_interrupted_at_the_deadline(store):
    lim = Limiter(QueryLimits(max_seconds=1e-6))
    conn = store.db.conn
    with installed(conn, lim):
        with pytest.raises(Exception, match="interrupted"):
            # a statement that would run for a long time: a recursive CTE
            conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                         "SELECT count(*) FROM c").fetchone()
    assert lim.expired
    # the handler is gone once the query is over
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] > 0


def test_other_threads_statements_are_not_interrupted(store):
    lim = Limiter(QueryLimits(max_seconds=1e-6))
    got: list = []
    with installed(store.db.conn, lim):
        t = threading.Thread(target=lambda: got.append(
            store.db.conn.execute("SELECT count(*) FROM events").fetchone()[0]))
        t.start()
        t.join()
    assert got == [2 * N_CALLS]


def test_numbers_out_of_range_are_query_errors(store):
    for text in ["calls where arg[1] = " + "9" * 5000, "calls last 1e999999999s",
                 "calls where " + "(" * 500 + "arg[1] = 1" + ")" * 500]:
        with pytest.raises(QuerySyntaxError):
            run_query(store, text)
