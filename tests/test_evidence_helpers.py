"""The arithmetic that lets a helper's result account for a wrong total
(agents/evidence/helpers.py), and the rounds' walk down to the culprit's callees
(agents/planner.py) — table-driven; tests/test_diagnose_helpers.py runs them on real nodes."""

from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from elixir_scope.agents.evidence.helpers import _accounts
from elixir_scope.agents.findings import Culprit
from elixir_scope.agents.planner import callee_modules, static_callees


@pytest.mark.parametrize("x, y, s, e, whole, how", [
    (D(610), D(280), D(1060), D(730), D(1), "added"),             # a fee added to a base
    (D(3), D(2), D(300), D(200), D(1), "a factor"),                # a unit off by a factor
    (D("0.05"), D("0.10"), D(19000), D(18000), D(1), "a share taken off"),
    (D(5), D(10), D(19000), D(18000), D(100), "a share taken off"),  # a percentage as an integer
    (D(25), D(20), D(15000), D(14400), D(100), "a share added"),
    (D(280), D(280), D(1060), D(730), D(1), None),                 # the part is right: never named
    (D(610), D(280), D(1060), D(1060), D(1), None),                # nothing is wrong
    (D(611), D(280), D(1060), D(730), D(1), None),                 # the part does not account for the error
])
def test_a_part_accounts_for_the_error_only_exactly(x, y, s, e, whole, how):
    assert _accounts(x, y, s, e, whole) == how


def test_the_next_round_records_the_modules_the_culprit_calls():
    callees = static_callees([("Shop.Tills.handle_call/3", "Shop.Levy.on/1"), ("Shop.Levy.on/1", "Shop.Levy.rate/1"),
                              ("Shop.trigger/0", "Shop.Tills.total/1")])
    assert callees["Shop.Tills.handle_call/3"] == ["Shop.Levy.on/1"]
    lead = SimpleNamespace(culprit=Culprit(module="Shop.Tills", function="handle_call/3"))
    assert callee_modules([lead], callees) == ["Shop.Levy"]
    # no function identified, no sources: nothing to add
    assert callee_modules([SimpleNamespace(culprit=Culprit(module="Shop.Tills", function=None))], callees) == []
    assert callee_modules([lead], None) == []
