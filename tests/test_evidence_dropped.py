"""``reference_dropped`` on real nodes (apps in tests/fixtures/leak_apps): a process the owner
started and kept in its state, replaced there by another and never ended, is a leak of the owner
— the callback that overwrote it is the culprit, not the ``start_link``/``spawn`` that made it.
A `process_leak` of children started per request blames the callback that starts them, not
their own start function. Each app has a twin that ends the old process first: no fact."""

from __future__ import annotations

import json
from pathlib import Path

from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "leak_apps"


def _app(name: str) -> tuple[str, dict]:
    sc = json.loads((APPS / name / "scenario.json").read_text())
    return "\n".join((APPS / name / f).read_text() for f in sc["files"]), sc


async def _diagnose(tmp_path: Path, kb_index_dir, name: str):
    src, sc = _app(name)
    report, book = await diagnose_once(tmp_path, kb_index_dir, src, app=sc["start"].split(".")[0],
                                       symptom=sc["symptom"], trigger=sc["trigger"])
    return report, book, sc


def _shown(book) -> list:
    return [(f.id, f.title, f.caused_by) for f in book.facts]


async def test_sessions_replaced_by_user_without_being_stopped(tmp_path: Path, kb_index_dir):
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, "chat_gateway")
    found = book.of_kind("reference_dropped")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    # "ana" reconnected three times and "bo" once: four sessions left running, one place
    assert (c.module, c.function, c.detail) == ("Chat.Gateway", "handle_call/3", '"sessions[_]"'), c
    assert "(4 left running)" in found[0].title, found[0].title
    assert report.root_cause is not None, report
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Chat.Gateway", "handle_call/3")


async def test_a_ticker_replaced_in_a_struct_field_without_being_stopped(tmp_path: Path, kb_index_dir):
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, "sensor_poller")
    found = book.of_kind("reference_dropped")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Sensors.Poller", "handle_cast/2", '"ticker"'), c
    assert report.root_cause is not None, report
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Sensors.Poller", "handle_cast/2")


async def test_sessions_stopped_before_they_are_replaced_are_no_drop(tmp_path: Path, kb_index_dir):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "chat_gateway_fixed")
    # the old process took its stop message and ended; the capture did not trace its receives,
    # so its "unreceived" stop is no message lost in a mailbox either
    assert not book.of_kind("reference_dropped", "lost_in_mailbox"), _shown(book)


async def test_a_ticker_stopped_before_it_is_replaced_is_no_drop(tmp_path: Path, kb_index_dir):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "sensor_poller_fixed")
    # the old process took its stop message and ended; the capture did not trace its receives,
    # so its "unreceived" stop is no message lost in a mailbox either
    assert not book.of_kind("reference_dropped", "lost_in_mailbox"), _shown(book)


async def test_a_child_started_per_request_and_never_ended_blames_the_callback(tmp_path: Path, kb_index_dir):
    # a process_leak: the renderer's own start_link only makes the process; the job server's
    # callback starts one per document and never ends it
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, "render_jobs")
    found = book.of_kind("process_leak")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Render.Jobs", "handle_cast/2"), c
    assert report.root_cause is not None, report
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Render.Jobs", "handle_cast/2")


async def test_children_that_end_on_their_own_are_no_leak(tmp_path: Path, kb_index_dir):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "render_jobs_fixed")
    assert not book.of_kind("process_leak", "reference_dropped"), _shown(book)


async def test_children_a_supervisor_started_for_the_owner_are_the_owners_to_end(tmp_path: Path, kb_index_dir):
    # the DynamicSupervisor spawned the tunnels, the manager is not linked to them: they are the
    # manager's because each was started while its callback ran and kept by that callback
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, "tunnel_manager")
    found = book.of_kind("reference_dropped")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Tunnels.Manager", "handle_call/3", '"{0}[_]"'), c
    assert "(3 left running)" in found[0].title, found[0].title
    assert report.root_cause is not None, report
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Tunnels.Manager", "handle_call/3")


async def test_children_terminated_before_they_are_replaced_are_no_drop(tmp_path: Path, kb_index_dir):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "tunnel_manager_fixed")
    assert not book.of_kind("reference_dropped"), _shown(book)
