"""The sum-replaced fact (agents/evidence/sums.py) on a real node: the day's sales of three shops are
combined per article by a fold whose step uses Map.merge/2 (the last shop's count wins) beside a
twin using Map.merge/3 with a sum. The symptom states the total with its parts: only the buggy step
is named. A symptom without parts, or parts that do not add up, leaves the fact out."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.evidence.sums import totals
from elixir_scope.agents.evidence.stated import stated_values
from support.fact_recording import record_view

APP = r'''
defmodule Shops do
  def sales("north"), do: %{"oak-shelf" => 12, "lamp" => 3}
  def sales("centre"), do: %{"oak-shelf" => 15, "rug" => 4}
  def sales("south"), do: %{"oak-shelf" => 14}
end

defmodule Shops.Totals do
  def combine(shops), do: Enum.reduce(shops, %{}, fn shop, acc -> Map.merge(acc, Shops.sales(shop)) end)
  def combine_right(shops),
    do: Enum.reduce(shops, %{}, fn shop, acc -> Map.merge(acc, Shops.sales(shop), fn _k, a, b -> a + b end) end)
end

defmodule ShopsApp do
  def start, do: {:ok, spawn(fn -> Process.sleep(:infinity) end)}
  def run do
    Shops.Totals.combine(["north", "centre", "south"])
    Shops.Totals.combine_right(["north", "centre", "south"])
    :ok
  end
end
'''

SYMPTOM = ("the restock list has 14 oak shelves although the three shops sold 41 today (north 12, centre 15, "
           "south 14); lamps and rugs, sold by one shop only, are right")


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("sums"), APP, start="ShopsApp.start()", run="Elixir.ShopsApp",
                       specs=["Shops :: return", "Shops.Totals :: return", "ShopsApp :: return"])


def test_totals_are_a_number_followed_by_the_parts_that_add_up_to_it():
    assert totals(stated_values(SYMPTOM)) == [(41, (12, 15, 14))]
    assert totals(stated_values("we sold 41 today (north 12, centre 15)")) == []


def test_the_step_that_kept_a_part_instead_of_the_sum_is_named(view):
    book = build_facts(view, SYMPTOM)
    assert not book.errors, book.errors
    facts = book.of_kind("sum_replaced")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    assert (f.culprit.module, f.culprit.function) == ("Shops.Totals", "combine/1"), f.culprit
    assert "12 by 15" in f.title and '"oak-shelf"' in f.title
    assert "combine_right" not in f.summary


def test_no_total_with_its_parts_says_nothing(view):
    for symptom in ("the restock list has 14 oak shelves, far too few", "we sold 41 today (north 12, centre 15)"):
        assert build_facts(view, symptom).of_kind("sum_replaced") == [], symptom
