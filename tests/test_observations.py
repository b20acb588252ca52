"""Leads from a recording when no root cause is named (agents/observations.py), on a real node:
a check answering ``false`` to every batch, a probe failing on every read, a GenServer whose
state never changed while it handled them, a slow call — each shown at its event, in the JSON
report and under "What the recording shows" in the Markdown; never with a root cause."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.agents.explain import build_report
from elixir_scope.agents.observations import MAX_OBSERVATIONS, empty, failure, lead, observe
from elixir_scope.agents.state import DiagnosisState
from elixir_scope.agents.report import render_markdown
from elixir_scope.instrument.etf import Atom
from support.diagnose_once import diagnose_once

APP = Path(__file__).parent / "fixtures" / "observe_app" / "glaze.ex"


async def test_a_recording_s_leads_name_the_refusing_check_the_failing_read_and_the_unchanged_state(
        tmp_path: Path, kb_index_dir):
    views: list = []
    report, _ = await diagnose_once(tmp_path, kb_index_dir, APP.read_text(), app="Glaze",
                                    symptom="the kiln log looks off today", views=views)
    obs = observe(views[0])
    text = [o.summary for o in obs]
    assert 3 <= len(obs) <= MAX_OBSERVATIONS, text
    assert any(t.startswith("Glaze.Rules.plausible?/1 answered false to all 6") for t in text), text
    assert any(t.startswith("Glaze.Probe.read/1 returned {:error, _} in 6 of 6") for t in text), text
    assert any("state did not change through the 7 callback(s) it ran (handle_call, handle_cast)" in t
               for t in text), text
    # the slow call is named where the time went, not at each caller waiting for it
    slow = [t for t in text if " took " in t]
    assert len(slow) == 1 and slow[0].startswith("Glaze.Log.handle_call/3 took"), text
    assert all(o.event_id is not None and o.at_ms is not None for o in obs), obs
    # the report carries them when it names no root cause, and shows them
    if report.root_cause is None:
        assert [o.summary for o in report.observations] == text
        assert "### What the recording shows" in render_markdown(report)
    else:
        assert report.observations == []
    shown = render_markdown(report.model_copy(update={"root_cause": None, "verdict": "inconclusive",
                                                      "suspect": None, "observations": obs}))
    assert "### What the recording shows (leads, not a verdict)" in shown
    assert f"[#{obs[0].event_id}]" in shown
    # the strongest lead - the deepest function whose every call failed - is where to look first
    # when nothing else names anything: a low-confidence suspect, the verdict still inconclusive
    best = lead(views[0])
    assert best is not None and (best.culprit.module, best.culprit.function) == ("Glaze.Probe", "read/1"), best
    assert best.confidence < 0.5 and best.weak and len(best.evidence) == 3
    bare = build_report(DiagnosisState(symptom="the kiln log looks off today", observations=obs, lead=best), [])
    assert bare.verdict == "inconclusive" and bare.root_cause is None
    assert bare.suspect is not None and bare.suspect.culprit.function == "read/1"
    page = render_markdown(bare)
    assert "### Where to look first (low confidence): Glaze.Probe.read/1 returned a failure in 6 of its calls" in page
    assert "### What the recording shows" in page and "Not a verdict: a lead from the recording" in page


def test_failures_and_empty_answers_are_told_by_their_shape():
    assert failure((Atom("error"), Atom("enoent"))) == "{:error, _}"
    assert failure(Atom("timeout")) == ":timeout"
    assert failure((Atom("ok"), 1)) is None and failure(Atom("ok")) is None
    assert all(empty(v) for v in (Atom("false"), Atom("nil"), 0, 0.0, [], b""))
    assert not any(empty(v) for v in (Atom("true"), 1, [0], b"x", Atom("ok")))
