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


def test_the_former_silent_module_is_only_an_import_path():
    """The failures-that-raise-nothing analyses moved to one module per family and their shared
    helpers to ``common``; ``silent`` re-exports the old names (code written against it still
    imports) and holds no logic of its own."""
    import ast
    import inspect

    from elixir_scope.agents.evidence import common, growth, ignored, rates, silent, statem

    assert (silent._culprit, silent._shape, silent._senders, silent._state_pairs, silent._generated) == (
        common.culprit_of, common.message_shape, common.message_senders, common.callback_states, common.is_generated)
    assert (silent.is_error, silent.is_success, silent._event_type) == (common.is_error, common.is_success,
                                                                       statem.event_type)
    assert (silent.ignored_errors, silent.no_effect_messages, silent.hot_callbacks, silent.rate_changes,
            silent.statem_events, silent.state_growth) == (ignored.ignored_errors, ignored.no_effect_messages,
                                                            rates.hot_callbacks, rates.rate_changes,
                                                            statem.statem_events, growth.state_growth)
    tree = ast.parse(inspect.getsource(silent))
    assert not [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
