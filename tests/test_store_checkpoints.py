"""WAL checkpoints beside the writer (store/checkpoints.py): the background checkpointer copies
committed pages into the database file while the writer goes on, its thread ends when idle or
closed, and read-only stores have none. Real SQLite files, real ingest."""

from __future__ import annotations

import threading
import time

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.batch import SyntheticTrace
from elixir_scope.store.checkpoints import BackgroundCheckpointer

PAGE = 4096


def _ingest(store: TraceStore, calls: int) -> int:
    """``calls`` gen_server calls (8 records each), 50 per batch; returns the records stored."""
    rec = store.create_recording("ckpt", spec={}, limits={})
    node = rec.add_node("test@localhost", otp_release="25", time_unit=10**9, time_offset=0)
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    stored = 0
    for start in range(0, calls, 50):
        for n in range(start, min(start + 50, calls)):
            t.gen_call(client, server, "Elixir.Srv", n, {Atom("n"): n}, {Atom("n"): n + 1}, Atom("ok"))
        b = t.take()
        stored += rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {})
    return stored


def _wait(cond, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_committed_pages_reach_the_file_beside_the_writer(tmp_path):
    path = tmp_path / "t.db"
    store = TraceStore.open(path)
    empty_size = path.stat().st_size
    ck = BackgroundCheckpointer(path, rows=2_000)
    store.db.checkpoints = ck
    stored = _ingest(store, 2_000)  # ~16k records: far below the writer's own autocheckpoint
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size < 10_000 * PAGE  # so only the background can have copied pages
    assert _wait(lambda: ck.completed >= 1 and path.stat().st_size > empty_size + 100 * PAGE), (
        ck.completed, ck.failed, path.stat().st_size, empty_size)
    assert ck.failed == 0
    # what the file holds is what was written, read by another connection
    other = TraceStore.open(path, readonly=True)
    assert other.recordings()[-1].event_count == stored
    other.close()
    store.close()
    assert not ck.running


def test_close_stops_the_thread_and_no_request_restarts_it(tmp_path):
    path = tmp_path / "t.db"
    store = TraceStore.open(path)
    ck = store.db.checkpoints
    assert isinstance(ck, BackgroundCheckpointer)
    ck.rows = 500
    _ingest(store, 200)
    assert _wait(lambda: ck.completed >= 1)
    store.close()
    assert not ck.running
    assert not [t for t in threading.enumerate() if t.name == f"checkpoint {path.name}"]
    ck.note_rows(10_000)  # after close: ignored
    assert not ck.running


def test_idle_thread_ends_and_the_next_request_starts_another(tmp_path):
    path = tmp_path / "t.db"
    store = TraceStore.open(path)
    store.db.checkpoints = None  # this test drives its own checkpointer
    _ingest(store, 100)
    ck = BackgroundCheckpointer(path, rows=1, idle_seconds=0.1)
    ck.note_rows(1)
    assert _wait(lambda: ck.completed == 1)
    assert _wait(lambda: not ck.running, 5.0)  # idle: the thread ended
    ck.note_rows(1)
    assert _wait(lambda: ck.completed == 2)
    ck.close()
    assert not ck.running and ck.failed == 0
    store.close()


def test_read_only_store_has_no_checkpointer(tmp_path):
    path = tmp_path / "t.db"
    TraceStore.open(path).close()
    ro = TraceStore.open(path, readonly=True)
    assert ro.db.checkpoints is None
    ro.close()


def test_rows_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="rows between checkpoints must be > 0"):
        BackgroundCheckpointer(tmp_path / "t.db", rows=0)
