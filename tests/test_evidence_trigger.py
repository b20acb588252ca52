"""The reproduction's own failures on real nodes (apps in tests/fixtures/rerun_apps): a trigger
that fails in its own code — a check of an answer it got, or a failure new in a later round
because the first round changed what it relies on — is reported as ``trigger_failed``, never
ranked, never the root cause. The twin's trigger runs the same in every round: no such fact,
and the bug it reproduces is found."""

from __future__ import annotations

import json
from pathlib import Path

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.nodes import start_node

APPS = Path(__file__).parent / "fixtures" / "rerun_apps"


async def _diagnose(tmp_path: Path, kb_dir: Path, name: str, *, max_rounds: int, ran_before: bool = False):
    """Diagnose the app ``name`` through the graph (every round re-runs its trigger); with
    ``ran_before`` the node has run the trigger once already, as a user reproducing the bug by
    hand would have."""
    sc = json.loads((APPS / name / "scenario.json").read_text())
    start = "{:ok, _} = " + sc["start"] + ("; " + sc["trigger"] if ran_before else "")
    node = start_node("elixir", elixir_files=[APPS / name / f for f in sc["files"]], eval_code=start)
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / f"{name}.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_dir)
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=sc["seconds"], max_rounds=max_rounds), ctx)
        store.close()
        return report, sc
    finally:
        await dist.close()
        node.stop()


def _never_blames(report, *modules: str) -> None:
    md = render_markdown(report)
    for f in (report.root_cause, report.suspect):
        assert f is None or f.culprit.module not in modules, md
    for r in report.rounds:
        for h in r.top:
            assert not h["culprit"] or h["culprit"].rsplit(".", 1)[0] not in modules, md


async def test_a_trigger_whose_own_check_fails_is_reported_not_blamed(tmp_path, kb_index_dir):
    # the node ran the trigger once already: the desk answers {:error, :taken} and the trigger's
    # own `{:ok, badge} =` fails in the one round there is
    report, _sc = await _diagnose(tmp_path, kb_index_dir, "badge_desk", max_rounds=1, ran_before=True)
    md = render_markdown(report)
    failed = [f for f in report.findings if f.detector == "trigger_failed"]
    assert len(failed) == 1, md
    f = failed[0]
    # where to look is the call whose answer the trigger did not expect, with that answer
    assert (f.culprit.module, f.culprit.function, f.culprit.detail) == ("Badges.Desk", "enrol/2", "{:error, :taken}"), f
    assert f.weak and "trigger's own check failed" in f.weak
    assert f.signatures == ["trigger:failed"]
    assert all(f.id not in h.supporting_facts and h.origin_fact != f.id for h in report.hypotheses), md
    assert report.verdict != "root_cause_found", md
    assert any("round 1: the trigger's own check failed" in g for g in report.gaps), report.gaps
    _never_blames(report, "Badges")


async def test_the_trigger_s_code_in_a_process_it_spawned_is_still_the_trigger(tmp_path, kb_index_dir):
    # the trigger plays the customer in a process it spawns: the fun defined in trigger/0 fails
    # its own `{:ok, slip} =` on the counter's answer there - not in the rpc's process, still the
    # reproduction's code (its anonymous function is named after trigger/0)
    report, _sc = await _diagnose(tmp_path, kb_index_dir, "parcel_counter", max_rounds=1, ran_before=True)
    md = render_markdown(report)
    failed = [f for f in report.findings if f.detector == "trigger_failed"]
    assert len(failed) == 1, md
    f = failed[0]
    assert (f.culprit.module, f.culprit.function, f.culprit.detail) == (
        "Parcels.Counter", "register/2", "{:error, :already_registered}"), f
    assert f.weak and "trigger's own check failed" in f.weak
    assert all(f.id not in h.supporting_facts and h.origin_fact != f.id for h in report.hypotheses), md
    assert report.verdict != "root_cause_found", md
    _never_blames(report, "Parcels")


async def test_a_trigger_failing_in_a_later_round_does_not_decide_it(tmp_path, kb_index_dir):
    # round 1 ran the trigger (a badge enrolled; the crash comes later than the round lasts);
    # round 2's trigger fails in its own match on the desk's {:error, :taken}
    report, _sc = await _diagnose(tmp_path, kb_index_dir, "badge_desk", max_rounds=2)
    md = render_markdown(report)
    assert len(report.rounds) == 2, md
    _never_blames(report, "Badges")
    if report.root_cause is not None:   # the crash round 1 set off may land in round 2's window
        c = report.root_cause.culprit
        assert (c.module, c.function) == ("Badges.Printer", "layout/1"), md
    assert any(g.startswith("round 2: the trigger's own check failed") for g in report.gaps), report.gaps


async def test_a_helper_of_the_trigger_failing_only_in_a_later_round_is_the_trigger_failing(tmp_path, kb_index_dir):
    # round 2's failure is a `case` in a helper the trigger called (not its outermost call), on
    # an answer of an Agent's function: new in round 2, so the trigger's, not the application's
    report, _sc = await _diagnose(tmp_path, kb_index_dir, "loan_seed", max_rounds=2)
    md = render_markdown(report)
    assert len(report.rounds) == 2, md
    _never_blames(report, "Loans", "Loans.Seed")
    if report.root_cause is not None:
        c = report.root_cause.culprit
        assert (c.module, c.function) == ("Loans.Reminder", "due/1"), md
    notes = [g for g in report.gaps if g.startswith("round 2: the trigger failed in its own code")]
    assert len(notes) == 1 and "Loans.Seed.member/2" in notes[0], report.gaps


async def test_a_trigger_that_runs_the_same_every_round_is_no_trigger_failure(tmp_path, kb_index_dir):
    report, sc = await _diagnose(tmp_path, kb_index_dir, "badge_desk_fixed", max_rounds=2)
    md = render_markdown(report)
    assert not any(f.detector == "trigger_failed" for f in report.findings), md
    assert not any("trigger" in g and "failed" in g for g in report.gaps), report.gaps
    # round 2 lasts long enough for the printer's crash: that is the root cause
    assert report.root_cause is not None, md
    c = report.root_cause.culprit
    assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), md
