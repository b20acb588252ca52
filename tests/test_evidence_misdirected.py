"""``reply_misdirected`` on real nodes (apps in tests/fixtures/reply_apps): a caller times out
because its answer — or its ``from``, which the answer must be sent with — went to another
process. The culprit is the function that sent it there, not the caller nor the server's
``handle_call/3`` that deferred correctly. Each app has a twin (the same app, fixed) that must
stay silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "reply_apps"


def _app(name: str) -> tuple[str, dict]:
    sc = json.loads((APPS / name / "scenario.json").read_text())
    return "\n".join((APPS / name / f).read_text() for f in sc["files"]), sc


async def _diagnose(tmp_path: Path, kb_index_dir, name: str, source: str | None = None):
    src, sc = _app(name)
    src = source or src
    report, book = await diagnose_once(tmp_path, kb_index_dir, src, app=sc["start"].split(".")[0],
                                       symptom=sc["symptom"], trigger=sc["trigger"])
    return report, book, sc


def _shown(book) -> list:
    return [(f.id, f.title, f.caused_by) for f in book.facts]


async def test_one_from_answered_for_every_request_blames_the_callback_that_replies(tmp_path: Path, kb_index_dir):
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, "freight_quotes")
    found = book.of_kind("reply_misdirected")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Freight.Quotes", "handle_info/2"), c
    assert c.detail.startswith("{:priced,"), c.detail
    # the callers' timeouts and the from overwritten in the state are its effects
    for f in book.of_kind("call_failed", "reply_dropped"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert report.root_cause is not None
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Freight.Quotes", "handle_info/2")


async def test_a_state_machine_answering_one_kept_caller_blames_its_reply_action(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "kiln_firing")
    found = book.of_kind("reply_misdirected")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Kiln.Controller", "handle_event/4"), c
    assert c.detail.startswith("{:cooled,"), c.detail   # the event whose answer went astray, not the call
    for f in book.of_kind("call_failed"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert report.root_cause is not None
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Kiln.Controller", "handle_event/4")


async def test_a_state_machine_answering_each_caller_leaves_no_fact(tmp_path: Path, kb_index_dir):
    src, _ = _app("kiln_firing")
    fixed = (src.replace("%{caller: nil,", "%{callers: %{},")
                .replace("%{data | caller: from}", "%{data | callers: Map.put(data.callers, profile, from)}")
                .replace("%{data | fired: data.fired + 1}, [{:reply, data.caller,",
                         "%{data | fired: data.fired + 1}, [{:reply, Map.fetch!(data.callers, profile),"))
    assert fixed.count("callers") == 4, fixed
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "kiln_firing", fixed)
    assert not book.of_kind("reply_misdirected", "call_failed"), _shown(book)


async def test_a_from_sent_to_a_process_that_ignores_it_blames_its_sender(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "pay_charges")
    found = book.of_kind("reply_misdirected")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Pay.Charger", "handle_cast/2"), c
    assert "Pay.Ledger" in c.detail, c.detail
    for f in book.of_kind("call_failed", "no_effect_message"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert report.root_cause is not None
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Pay.Charger", "handle_cast/2")


async def test_a_result_sent_to_self_inside_a_task_blames_the_function_that_spawned_it(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "tile_render")
    found = book.of_kind("reply_misdirected")
    assert len(found) == 1, _shown(book)     # both lost renders, one mistake
    c = found[0].culprit
    assert (c.module, c.function) == ("Atlas.Tiles", "handle_call/3"), c
    assert ":tile_done" in c.detail, c.detail
    for f in book.of_kind("call_failed"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert report.root_cause is not None
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Atlas.Tiles", "handle_call/3")


@pytest.mark.parametrize("name", ["freight_quotes_fixed", "pay_charges_fixed", "tile_render_fixed"])
async def test_answers_that_reach_their_callers_leave_no_fact(tmp_path: Path, kb_index_dir, name: str):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, name)
    assert not book.of_kind("reply_misdirected", "call_failed"), _shown(book)


async def test_answers_that_come_too_late_are_slow_not_misdirected(tmp_path: Path, kb_index_dir):
    src, _ = _app("pay_charges_fixed")
    slow = src.replace("when cents > 0, do: {:ok,", "when cents > 0, do: Process.sleep(600) && {:ok,")
    assert slow != src
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, "pay_charges_fixed", slow)
    assert book.of_kind("call_failed"), _shown(book)      # the callers did time out ...
    assert not book.of_kind("reply_misdirected"), _shown(book)   # ... waiting on work still running
