"""The evidence layer never loses a diagnosis to one analysis: an analysis that fails on an
unusual recording is skipped and named, the others still run."""

from __future__ import annotations

from elixir_scope.agents import evidence
from elixir_scope.agents.evidence.resources import _growing
from elixir_scope.agents.view import RecordingView


def _empty_view() -> RecordingView:
    return RecordingView(recording_id=1, time_unit=1_000_000_000, start_ts=0, procs={}, calls=[], messages=[],
                         exits=[], spawns=[], states=[], samples=[], gaps=[])


def test_a_failing_analysis_is_named_and_the_others_still_run(monkeypatch):
    def broken(view, book):
        raise ValueError("an unusual recording")

    monkeypatch.setattr(evidence.rates, "hot_callbacks", broken)
    book = evidence.build_facts(_empty_view())
    assert book.facts == []
    assert len(book.errors) == 1 and "an unusual recording" in book.errors[0]


def test_growth_ignores_samples_that_did_not_measure():
    assert _growing([100, None, 300, 500, 700], 200)
    assert not _growing([None, None, 5], 1)
