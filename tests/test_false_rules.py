"""The rules behind fewer confident wrong answers (tests/fixtures/false_apps), one at a time, on
real terms: what makes a state change a corruption, a later success of the same callee, a tie
between observed tokens."""

from __future__ import annotations

import pytest

from elixir_scope.agents.detectors.exception_state import _unusual
from elixir_scope.agents.view import state_changes
from elixir_scope.instrument.etf import Atom

NIL = Atom("nil")
JOBS, PAGES, OWNER, MODE = Atom("jobs"), Atom("pages"), Atom("owner"), Atom("mode")


def _corrupting(earlier, prev, nxt):
    rows = state_changes(prev, nxt)
    return [r.path for r in _unusual(prev, nxt, rows, [*earlier, prev])]


@pytest.mark.parametrize("earlier, prev, nxt, expected", [
    # an entry of a collection keyed by data taken out when its work is done, a number counting
    ([{JOBS: {}, PAGES: 0}], {JOBS: {b"J-1": b"1-4"}, PAGES: 0}, {JOBS: {}, PAGES: 4}, []),
    # a plain integer state counting (and going down)
    ([0, 3], 5, 2, []),
    # a field back to the nil it started with
    ([{OWNER: NIL, PAGES: 0}], {OWNER: b"ada", PAGES: 0}, {OWNER: NIL, PAGES: 1}, []),
    # a field of a type the process's other states show
    ([{MODE: Atom("idle")}], {MODE: b"x"}, {MODE: Atom("busy")}, []),
    # a field turned nil that never was, a field lost, a field of a new type: corruption
    ([{OWNER: b"bob"}], {OWNER: b"ada"}, {OWNER: NIL}, ["state.owner"]),
    ([{OWNER: b"bob", PAGES: 0}], {OWNER: b"ada", PAGES: 0}, {PAGES: 0}, ["state.owner"]),
    ([{PAGES: 1}], {PAGES: 2}, {PAGES: b"2"}, ["state.pages"]),
])
def test_a_state_is_corrupt_only_in_a_shape_its_other_states_do_not_show(earlier, prev, nxt, expected):
    assert _corrupting(earlier, prev, nxt) == expected
