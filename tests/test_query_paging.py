"""Pages that cost the same at any depth of a large recording: keyset over the time blocks, no
count unless asked, and the planner statistics that per-process walks rely on, refreshed when
the store doubles (not at every finish)."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.db import refresh_statistics
from elixir_scope.store.query import run_query
from elixir_scope.store.query.context import QueryContext
from elixir_scope.store.query.engine import SLICED, Engine
from elixir_scope.store.query.parser import parse
from support.query_records import flush, new_recording


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "t.db")
    yield s
    s.close()


def busy_recording(store, calls: int = 3000, rare: int = 3):
    """Many calls of a hot function, a few of a rare one, in several processes."""
    w, node, b = new_recording(store, "busy")
    hot, cold = b.mfa("MyApp.Hot", "run", 1), b.mfa("MyApp.Cold", "run", 1)
    pids = [b.pid(100 + i) for i in range(8)]
    for i in range(calls):
        p = pids[i % len(pids)]
        f = cold if i % (calls // rare) == 0 and i else hot
        b.call(p, f, [i])
        b.ret(p, f, Atom("ok"))
        if i % 500 == 499:
            flush(w, node, b)
    flush(w, node, b)
    w.finish("stopped")
    return store.recording(w.id)


def source_for(rec, text: str) -> str:
    engine = Engine(QueryContext(rec), parse(text))
    return engine._time_ordered_source(engine.plan(parse(text).source.step))


def test_a_frequent_match_walks_the_time_blocks_and_a_rare_one_is_sorted(store):
    rec = busy_recording(store)
    assert source_for(rec, "calls MyApp.Hot.run/1") == SLICED
    assert source_for(rec, "calls MyApp.Cold.run/1") != SLICED
    # either way the pages are right and in time order, and paging reads to the end
    for text in ("calls MyApp.Hot.run/1", "calls MyApp.Cold.run/1"):
        want = [r[0] for r in rec.db.query(
            "SELECT e.id FROM events e JOIN functions f ON f.node_id = e.node_id AND f.idx = e.aux "
            "WHERE e.recording_id = ? AND e.kind = 1 AND f.module = ? ORDER BY e.ts, e.id",
            (rec.id, "Elixir." + text.split()[1].rsplit(".", 1)[0]))]
        seen, cursor = [], None
        while True:
            page = run_query(rec, text, limit=200, cursor=cursor)
            seen += [r.event.id for r in page.rows]
            assert all(r.closing is not None for r in page.rows)  # closings of the page found
            cursor = page.next_cursor
            if cursor is None:
                assert page.total_estimate == len(want) and page.total_is_exact
                break
            assert page.total_estimate is None
        assert seen == want


def test_statistics_are_gathered_then_refreshed_when_the_store_doubles(store):
    assert not store.db.query("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
    busy_recording(store, calls=1000)
    first = int(store.db.query_one("SELECT value FROM meta WHERE key = 'analyzed_at_events'")[0])
    assert first == 2000 and store.db.query("SELECT * FROM sqlite_stat1 WHERE tbl = 'events'")
    busy_recording(store, calls=200)  # +20 %: statistics kept, finishing stays cheap
    assert refresh_statistics(store.db) is False
    assert int(store.db.query_one("SELECT value FROM meta WHERE key = 'analyzed_at_events'")[0]) == first
    busy_recording(store, calls=1000)  # now more than doubled
    assert int(store.db.query_one("SELECT value FROM meta WHERE key = 'analyzed_at_events'")[0]) == 4400
