"""The planner's statistics (store/planner_stats.py): every table but ``events`` measured by
ANALYZE, the ``events`` row written from the recordings' counts — and that row is exactly the
one ``ANALYZE events`` writes after reading the whole table."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.planner_stats import gather, refresh_statistics
from support.query_records import flush, new_recording


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "t.db")
    yield s
    s.close()


def recording(store, calls: int, procs: int = 4) -> None:
    w, node, b = new_recording(store, f"r{calls}")
    f = b.mfa("MyApp.Hot", "run", 1)
    pids = [b.pid(100 + i) for i in range(procs)]
    for i in range(calls):
        b.call(pids[i % procs], f, [i])
        b.ret(pids[i % procs], f, Atom("ok"))
        if i % 300 == 299:
            flush(w, node, b)
    flush(w, node, b)
    w.finish("stopped")


def stat_rows(store) -> dict:
    return {(t, i): s for t, i, s in store.db.query("SELECT tbl, idx, stat FROM sqlite_stat1")}


def measured_by_analyze(store) -> dict:
    with store.db.write("test: a plain ANALYZE") as c:
        c.execute("ANALYZE")
    return stat_rows(store)


def test_the_events_row_is_the_one_analyze_writes(store):
    for calls in (700, 1500, 40):  # recordings of different sizes: the average is rounded up
        recording(store, calls)
    assert refresh_statistics(store.db, force=True)
    ours = stat_rows(store)
    assert ours[("events", None)] == "4480"  # no index on events (schema 7): its row count
    for key in (("block_procs", "block_procs"), ("block_kinds", "block_kinds"), ("processes", "processes")):
        assert key in ours  # the other tables measured
    assert ours == measured_by_analyze(store)


def test_an_index_it_does_not_know_is_measured(store):
    recording(store, 300)
    with store.db.write("test") as c:
        c.execute("CREATE INDEX events_by_uniq ON events (uniq)")
        gather(c)
    ours = stat_rows(store)
    assert ours[("events", "events_by_uniq")] == "600 1"
    assert ours == measured_by_analyze(store)
