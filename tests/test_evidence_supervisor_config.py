"""Supervision configuration as the first cause, on real nodes (apps in
tests/fixtures/supervision_apps): restart intensity an occasional crash exhausts, a
``:temporary`` child still needed after its crash, a pid kept from before its process was
restarted, a ``:transient`` child stopped with a shutdown reason. The culprit is the
configuration (the supervisor's ``init/1``) or the function that kept the pid / ended the
child — not the crash a right configuration survives. Each app has a twin (the same app,
fixed) where those facts must stay silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elixir_scope.agents.report import render_markdown
from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "supervision_apps"
CONFIG_FACTS = ("intensity_exhausted", "finished_child_restarted", "temporary_child_needed", "not_restarted")


async def _diagnose(tmp_path: Path, kb_index_dir, name: str, source: str | None = None):
    sc = json.loads((APPS / name / "scenario.json").read_text())
    src = source or "\n".join((APPS / name / f).read_text() for f in sc["files"])
    report, book = await diagnose_once(tmp_path, kb_index_dir, src, app=sc["start"].split(".")[0],
                                       symptom=sc["symptom"], trigger=sc["trigger"])
    return report, book, sc


def _shown(book) -> list:
    return [(f.id, f.title, f.caused_by) for f in book.facts]


def _verdict(report) -> tuple:
    assert report.root_cause is not None
    c = report.root_cause.culprit
    return c.module, c.function


async def test_an_occasional_crash_exhausting_a_low_intensity_blames_the_supervisor_init(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "parcel_sort")
    found = book.of_kind("intensity_exhausted")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("Sort.Line", "init/1", "max_restarts: 1, max_seconds: 10"), c
    # the sibling's calls that found nothing (noproc, or shut down in flight) are its effects
    noproc = [f for f in book.of_kind("call_failed") if book.meta[f.id]["gc"].why == "noproc"]
    assert noproc and all(book.origin(f).id == found[0].id for f in noproc), _shown(book)
    # the router stopped by the supervisor that gave up: its :shutdown is no cause of its own
    for f in book.of_kind("exit_reason_produced"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert _verdict(report) == ("Sort.Line", "init/1")


async def test_a_child_running_before_the_recording_that_crashes_on_its_first_message_counts_as_working(
        tmp_path: Path, kb_index_dir):
    src = (APPS / "parcel_sort" / "parcel_sort.ex").read_text()
    first_bad = src.replace('["PX-1001-B", "~~smudged~~",', '["~~smudged~~", "PX-1001-B",')
    assert first_bad != src
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "parcel_sort", first_bad)
    found = book.of_kind("intensity_exhausted")
    assert len(found) == 1, _shown(book)
    assert _verdict(report) == ("Sort.Line", "init/1")


async def test_a_temporary_child_needed_after_its_crash_blames_its_child_spec(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "meter_feed")
    found = book.of_kind("temporary_child_needed")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Meter.Supervisor", "init/1") and ":temporary" in c.detail, c
    for f in book.of_kind("not_restarted"):
        assert book.origin(f).id == found[0].id, _shown(book)
    noproc = [f for f in book.of_kind("call_failed") if book.meta[f.id]["gc"].why == "noproc"]
    assert noproc and all(book.origin(f).id == found[0].id for f in noproc), _shown(book)
    assert _verdict(report) == ("Meter.Supervisor", "init/1")


async def test_a_temporary_restart_declared_in_the_childs_use_blames_the_childs_child_spec(tmp_path: Path, kb_index_dir):
    """The same bug written the idiomatic Elixir way: `use GenServer, restart: :temporary` in the
    child's module and a plain `{Mod, arg}` in the supervisor's list - the fix belongs in the
    child's module (its generated child_spec/1), which the sources say."""
    sc = json.loads((APPS / "meter_feed" / "scenario.json").read_text())
    src = (APPS / "meter_feed" / "meter_feed.ex").read_text()
    moved = src.replace("Supervisor.child_spec({Meter.Reader, []}, restart: :temporary)", "{Meter.Reader, []}") \
        .replace("defmodule Meter.Reader do\n  use GenServer\n", "defmodule Meter.Reader do\n  use GenServer, restart: :temporary\n")
    assert moved.count("restart: :temporary") == 1 and "use GenServer, restart: :temporary" in moved
    report, _book = await diagnose_once(tmp_path, kb_index_dir, moved, app="Meter", symptom=sc["symptom"],
                                        trigger=sc["trigger"], with_sources=True)
    found = [f for f in report.findings if f.detector == "temporary_child_needed"]
    assert len(found) == 1, render_markdown(report)
    assert (found[0].culprit.module, found[0].culprit.function) == ("Meter.Reader", "child_spec/1"), found[0].culprit
    assert _verdict(report) == ("Meter.Reader", "child_spec/1"), render_markdown(report)


@pytest.mark.parametrize("symptom, fires", [
    ("after one garbled reading this morning every record call fails with noproc, ever since", True),
    ("one reading was garbled at nine; no reading has been recorded since, and only restarting the whole "
     "system brings the meter back", True),
    ("one garbled reading this morning made the reader crash", False),
])
async def test_a_temporary_service_the_symptom_says_is_gone_for_good(symptom, fires, tmp_path: Path, kb_index_dir):
    """The crash is recorded but no later call is (the trigger stops at the crash): the symptom's
    words that later calls failed ("noproc", "ever since") stand for them - for a registered
    service of a static supervisor; without them a crashed :temporary child is no such fact."""
    src = (APPS / "meter_feed" / "meter_feed.ex").read_text()
    only_crash = src.replace('for {m, v} <- [{"m-31", "3.25"}, {"m-40", "7.0"}] do', 'for {m, v} <- [] do')
    assert only_crash != src
    report, book = await diagnose_once(tmp_path, kb_index_dir, only_crash, app="Meter", symptom=symptom,
                                       trigger="Meter.trigger()")
    assert not [f for f in book.of_kind("call_failed") if book.meta[f.id]["gc"].why == "noproc"], _shown(book)
    found = book.of_kind("temporary_child_needed")
    assert len(found) == (1 if fires else 0), _shown(book)
    if fires:
        assert (found[0].culprit.module, found[0].culprit.function) == ("Meter.Supervisor", "init/1"), found[0].culprit


async def test_a_pid_kept_from_before_a_restart_outranks_the_repaired_crash(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "clinic_slots")
    stale = [f for f in book.of_kind("dead_send") if "supervisor:stale_pid" in f.signatures]
    assert len(stale) == 1, _shown(book)
    assert (stale[0].culprit.module, stale[0].culprit.function) == ("Clinic.Desk", "init/1"), stale[0].culprit
    crash = book.of_kind("exception")
    assert crash and all(f.weak for f in crash), _shown(book)   # repaired by its supervisor at once
    assert _verdict(report) == ("Clinic.Desk", "init/1")


async def test_calls_to_a_transient_child_stopped_with_a_shutdown_reason_follow_it(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "fleet_track")
    found = book.of_kind("not_restarted")
    assert len(found) == 1, _shown(book)
    assert not found[0].weak, found[0].weak   # stopped with a shutdown reason and called again: no finished job
    noproc = [f for f in book.of_kind("call_failed") if book.meta[f.id]["gc"].why == "noproc"]
    assert noproc and all(book.origin(f).id == found[0].id for f in noproc), _shown(book)
    assert _verdict(report) == ("Fleet.Tracker", "handle_cast/2")


async def test_a_permanent_job_that_finishes_and_is_restarted_blames_its_child_spec(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "ledger_rollup")
    found = book.of_kind("finished_child_restarted")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Rollup.Job", "child_spec/1") and ":permanent" in c.detail, c
    assert not book.of_kind("intensity_exhausted"), _shown(book)   # no child crashed
    noproc = [f for f in book.of_kind("call_failed") if book.meta[f.id]["gc"].why == "noproc"]
    assert noproc and all(book.origin(f).id == found[0].id for f in noproc), _shown(book)
    for f in book.of_kind("terminate_skipped"):   # the ledger, stopped when its supervisor gave up
        assert book.origin(f).id == found[0].id, _shown(book)
    assert _verdict(report) == ("Rollup.Job", "child_spec/1")


async def test_a_transient_job_that_finished_once_is_a_weak_not_restarted(tmp_path: Path, kb_index_dir):
    report, book, _ = await _diagnose(tmp_path, kb_index_dir, "ledger_rollup_fixed")
    assert not book.of_kind("finished_child_restarted", "intensity_exhausted"), _shown(book)
    gone = book.of_kind("not_restarted", "child_down")
    assert gone and all(f.weak for f in gone), _shown(book)    # a job that finished, nobody asked again
    assert report.root_cause is None, report.root_cause


@pytest.mark.parametrize("name", ["parcel_sort_fixed", "meter_feed_fixed", "clinic_slots_fixed", "fleet_track_fixed"])
async def test_the_fixed_twins_leave_no_configuration_fact(tmp_path: Path, kb_index_dir, name: str):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, name)
    assert not book.of_kind(*CONFIG_FACTS), _shown(book)
    assert not [f for f in book.of_kind("dead_send") if "supervisor:stale_pid" in f.signatures], _shown(book)
    assert not [f for f in book.of_kind("exception") if f.weak], _shown(book)


def test_a_dynamic_supervisors_child_is_named_by_its_module_and_pid_not_undefined():
    from elixir_scope.agents.marks import SupervisedChild
    dyn = SupervisedChild("undefined", 3, "<0.212.0>", "running", "temporary", 5000, "worker", "Elixir.Shop.Cart")
    assert dyn.label == "Shop.Cart <0.212.0>"
    assert SupervisedChild("undefined", None, None, "undefined", "temporary", 5000, "worker").label == "a child"
    named = SupervisedChild("Shop.Pricing", 4, "<0.213.0>", "running", "permanent", 5000, "worker", "Elixir.Shop.Pricing")
    assert named.label == "Shop.Pricing"
