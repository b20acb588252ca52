"""A pitfall that ran without its effect (agents/evidence/pitfalls.py, ``shown_by``), on a real
node: two functions hold the same shallow ``Map.merge`` of a patch; one is given a nested change
and loses the nested keys (its ``nested_keys_lost`` fact shows the pitfall's effect), the other is
only ever given flat maps. Both ran; only the first may count in full."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import CodeEvidence
from elixir_scope.agents.hypotheses import WEAK_FACT, relevance
from elixir_scope.knowledge.source.pitfalls import scan_source
from support.fact_recording import record_facts

APP = r'''
defmodule Bell.Devices do
  @seed %{"db-1" => %{owner: "ana", prefs: %{}}}
  def seed, do: @seed
  def merge_prefs(prefs, changes), do: Map.merge(prefs, changes)
end

defmodule Bell.Accounts do
  @seed %{name: "Ada", alerts: %{email: true, sms: true}}
  def seed, do: @seed
  def update(account, changes), do: Map.merge(account, changes)
end

defmodule Bell do
  def start, do: {:ok, self()}

  def run do
    Bell.Devices.merge_prefs(%{motion: true}, %{motion: false})
    Bell.Devices.merge_prefs(%{}, %{package: true})
    Bell.Accounts.update(%{name: "Ada", alerts: %{email: true, sms: true}}, %{alerts: %{sms: false}})
    :ok
  end
end
'''

SYMPTOM = "I switched off one notification setting and my other settings were switched off too"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    hits = tuple(scan_source(APP, "lib/bell.ex"))
    assert {h.spec for h in hits if h.pitfall == "shallow_merge_nested"} == \
        {"Bell.Devices.merge_prefs/2", "Bell.Accounts.update/2"}
    return record_facts(tmp_path_factory.mktemp("pitfall_effect"), APP, start="Bell.start()", run="Elixir.Bell",
                        specs=["Bell.Devices :: return", "Bell.Accounts :: return"],
                        code=CodeEvidence(hits, SYMPTOM), symptom=SYMPTOM)


def test_a_pitfall_whose_effect_the_recording_shows_counts_in_full(book):
    facts = {f.culprit.function: f for f in book.of_kind("code_pitfall")}
    assert set(facts) == {"merge_prefs/2", "update/2"}
    assert [(f.culprit.module, f.culprit.function) for f in book.of_kind("nested_keys_lost")] == \
        [("Bell.Accounts", "update/2")]
    assert facts["update/2"].weak is None
    assert relevance(book, SYMPTOM)[facts["update/2"].id] > WEAK_FACT


def test_a_pitfall_that_ran_only_on_input_that_cannot_trigger_it_is_weak(book):
    f = next(f for f in book.of_kind("code_pitfall") if f.culprit.function == "merge_prefs/2")
    assert f.weak and "none shows the pitfall's effect (nested_keys_lost)" in f.weak
    assert relevance(book, SYMPTOM)[f.id] <= WEAK_FACT
