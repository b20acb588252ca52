"""Checks shared by the tests that diagnose real nodes."""

from __future__ import annotations


def assert_evidence_exists(report, store) -> int:
    """Every event a finding cites is in the report's recording, of the kind it says; returns
    how many were cited."""
    rec = store.recording(report.recording_id)
    cited = 0
    for f in report.findings:
        for ev in [*f.evidence, *f.causal_chain]:
            if ev.event_id is None:
                assert ev.kind == "sample", f"only samples may lack an event id: {ev}"
                continue
            stored = rec.event(ev.event_id)
            assert stored.kind.name.lower() == ev.kind, (ev, stored)
            cited += 1
    return cited
