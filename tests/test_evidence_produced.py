"""``exit_reason_produced`` on real nodes (apps in tests/fixtures/lock_apps): a process that
goes down through a link with a "clean" reason (``{:shutdown, _}``) is a victim; the culprit is
where the reason was made — a ``{:stop, reason, state}`` return, an ``exit/1``, an
``exit(pid, reason)`` sent by another process — not the victim's ``init/1``. The twin, a
supervisor stopping its child with ``terminate_child``, is an orderly shutdown: no fact."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.agents.view import RecordingView, fmt, is_atom
from elixir_scope.store import TraceStore
from test_evidence_leases import _diagnose, _shown


async def test_a_stop_return_takes_down_the_linked_buffer(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "feed_poller")
    found = book.of_kind("exit_reason_produced")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Feed.Poller", "handle_info/2", "{:shutdown, :no_config}"), c
    assert all(f.culprit.function != "init/1" for f in [report.root_cause] if f), report.root_cause


async def test_a_task_that_exits_shutdown_is_blamed_not_the_server_it_took_down(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "import_task")
    found = book.of_kind("exit_reason_produced")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Import.Reader", "read_all/1", "{:shutdown, :empty_file}"), c
    for f in book.of_kind("terminate_skipped"):   # the runner's lost history is an effect
        assert book.origin(f).id == found[0].id and f.weak, _shown(book)
    assert report.root_cause is not None, report
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Import.Reader", "read_all/1")


async def test_exit_sent_with_a_shutdown_reason_is_blamed_on_its_sender(tmp_path: Path, kb_index_dir):
    _, book = await _diagnose(tmp_path, kb_index_dir, "cart_rebalance")
    found = book.of_kind("exit_reason_produced")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Carts.Balancer", "handle_call/3", "{:shutdown, :rebalance}"), c


async def test_a_supervisor_stopping_its_child_is_no_produced_reason(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "report_shutdown")
    store = TraceStore.open(tmp_path / "d.db")
    try:
        view = RecordingView.from_recording(store.recording(report.recording_id))
    finally:
        store.close()
    # the worker and its linked tracker did go down with :shutdown (the shape is there) ...
    assert sum(1 for e in view.exits if is_atom(e.reason, "shutdown")) >= 2, [fmt(e.reason) for e in view.exits]
    # ... but the reason came from the supervisor, not from application code
    assert not book.of_kind("exit_reason_produced"), _shown(book)
