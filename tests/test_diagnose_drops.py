"""A diagnosis on a real node whose capture sheds events (tests/fixtures/drop_apps): a call whose
return the agent dropped is not a call that never returned (agents/view_gaps.py)."""

from __future__ import annotations

import json
from pathlib import Path

from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "drop_apps"


async def test_a_shed_capture_names_no_frame_that_returned_as_stuck(tmp_path: Path, kb_index_dir):
    sc = json.loads((APPS / "pair_audit" / "scenario.json").read_text())
    src = "\n".join((APPS / "pair_audit" / f).read_text() for f in sc["files"])
    views: list = []
    report, book = await diagnose_once(tmp_path, kb_index_dir, src, app="Audit", symptom=sc["symptom"],
                                       trigger=sc["trigger"], views=views)
    view = views[0]
    assert sum(g.count for g in view.gaps) > 1000, view.gap_notes()   # the premise: the capture shed
    by_id = {c.call_id: c for c in view.calls}
    steps = [c for c in view.calls if c.function in ("clashes", "overlap?")]
    assert steps and any(c.broken or view.crosses_gap(c) for c in steps)
    # at most the one step of each function still running when the capture ended is open
    for fun in ("clashes", "overlap?"):
        assert sum(1 for c in steps if c.function == fun and c.open) <= 1, fun
    facts = book.facts + list(report.findings or [])
    for f in facts:
        for e in f.evidence:
            if "never returned" in e.summary and e.event_id in by_id:
                assert by_id[e.event_id].open, (f.title, e.summary)
        if f.detector == "blocked_chain":
            assert f.culprit.function not in ("clashes/2", "overlap?/2"), f.title
    assert any("events dropped" in g for g in report.gaps), report.gaps
    if report.root_cause is not None:
        assert report.root_cause.culprit.function not in ("clashes/2", "overlap?/2"), report.root_cause.title
