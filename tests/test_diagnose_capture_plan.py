"""The diagnosis's plan as the tracer gets it: ``trace_pattern`` keeps one match spec per
function, so the specs a plan gives one function must reach the agent as one spec with all
their clauses (examples/double_subscribe records it on a real node)."""

from __future__ import annotations

from elixir_scope.agents.capture import capture_plan
from elixir_scope.agents.findings import Plan, PlannedSpec
from elixir_scope.instrument.etf import Atom


def _plan(*specs: str) -> Plan:
    return Plan(specs=[PlannedSpec(spec=s, why="test") for s in specs])


def test_specs_of_one_function_are_joined_into_one_pattern():
    cplan, errors = capture_plan(_plan("Shop.Cart :: return", "Registry.register(Shop.Users, _, _)",
                                       "Registry.dispatch(Shop.Users, _, _)", "Registry.register(Shop.Topics, _, _)",
                                       "Shop.Cart.add/3 :: return"))
    assert errors == []
    mfas = [(s.module, s.function, s.arity) for s in cplan.specs]
    assert len(mfas) == len(set(mfas)) == 4, mfas
    reg = next(s for s in cplan.specs if s.function == "register")
    assert [clause[0][0] for clause in reg.match_spec] == [Atom("Elixir.Shop.Users"), Atom("Elixir.Shop.Topics")]
    assert "Shop.Users" in reg.source and "Shop.Topics" in reg.source


def test_returns_are_kept_per_clause_and_whole_modules_are_left_alone():
    cplan, _ = capture_plan(_plan("Shop.Cart.add(1, _, _)", "Shop.Cart.add(2, _, _) :: return", "Shop.Cart", "Shop.Cart"))
    add = next(s for s in cplan.specs if s.function == "add")
    assert add.returns is True
    assert [bool(clause[2]) for clause in add.match_spec] == [False, True]   # only the second traces returns
    assert sum(1 for s in cplan.specs if s.function is None) == 2
