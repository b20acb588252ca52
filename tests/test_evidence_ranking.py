"""A ranking the symptom says runs the wrong way (agents/evidence/ranking.py), on a real node: a
helper that sorts by points ascending, called by a GenServer whose client hands the list on, beside
one that ranks right and one that lists records by their id. Only the helper that made the wrong
order may be named — not the callback that returned it, not the client the reply reached — and
nothing is named for the right ranking or for a symptom that claims no order."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.evidence.ranking import order_seen
from support.fact_recording import record_view

APP = r'''
defmodule Rk.Rank do
  def standings(points), do: points |> Enum.map(fn {t, p} -> %{team: t, points: p} end) |> Enum.sort_by(& &1.points)
  def standings_right(points),
    do: points |> Enum.map(fn {t, p} -> %{team: t, points: p} end) |> Enum.sort_by(& &1.points, :desc)
  # records listed by their id: ascending, but by a field the symptom's numbers are not in
  def by_id(rows), do: Enum.sort_by(rows, & &1.id)
  # handed the ordered list: it only passes the order on
  def numbered(rows), do: rows |> Enum.with_index(1) |> Enum.map(fn {r, i} -> Map.put(r, :pos, i) end)
end

defmodule Rk.Table do
  use GenServer
  def start_link(right), do: GenServer.start_link(__MODULE__, right, name: if(right, do: Rk.TableRight, else: Rk.Table))
  def table(name), do: GenServer.call(name, :table)
  def init(right), do: {:ok, %{right: right, points: %{"Harbour" => 10, "Rovers" => 1, "Millers" => 5, "Quay" => 7}}}
  def handle_call(:table, _from, s) do
    t = if s.right, do: Rk.Rank.standings_right(s.points), else: Rk.Rank.standings(s.points)
    {:reply, t, s}
  end
end

defmodule Rk do
  def start do
    for right <- [false, true], do: ({:ok, p} = Rk.Table.start_link(right); Process.unlink(p))
    {:ok, self()}
  end
end

defmodule Rk.Wrong do
  def run do
    Rk.Rank.numbered(Rk.Table.table(Rk.Table))
    Rk.Rank.by_id([%{id: 3, points: 5}, %{id: 1, points: 10}, %{id: 2, points: 1}])
    :ok
  end
end

defmodule Rk.Right do
  def run do
    Rk.Rank.numbered(Rk.Table.table(Rk.TableRight))
    Rk.Rank.by_id([%{id: 3, points: 5}, %{id: 1, points: 10}, %{id: 2, points: 1}])
    :ok
  end
end
'''

SPECS = ["Rk :: return", "Rk.Rank :: return", "Rk.Table :: return", "Rk.Wrong :: return", "Rk.Right :: return"]
SYMPTOM = ("the published table puts Rovers, with 1 point, first and Harbour, with 10 points, last: "
           "the team with fewer points is ranked above the leader")


def _facts(view, symptom):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return [(f.culprit.module, f.culprit.function) for f in book.of_kind("order_inverted")]


@pytest.fixture(scope="module")
def wrong(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("rank"), APP, start="Rk.start()", run="Elixir.Rk.Wrong", specs=SPECS)


@pytest.fixture(scope="module")
def right(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("rank_right"), APP, start="Rk.start()", run="Elixir.Rk.Right", specs=SPECS)


def test_the_helper_that_made_the_order_is_named_not_its_callers_or_the_client(wrong):
    # the callback returned the list, the client got it in the reply, numbered/1 passed it on,
    # by_id/1 sorted ascending by a field without the stated numbers: only standings/1 made it
    assert _facts(wrong, SYMPTOM) == [("Rk.Rank", "standings/1")]


def test_a_right_ranking_is_silent(right):
    assert _facts(right, SYMPTOM) == []


def test_no_claim_about_an_order_gives_no_fact(wrong):
    assert _facts(wrong, "the published table shows Rovers with 1 point and Harbour with 10 points") == []


def test_without_stated_numbers_the_fact_is_weak(wrong):
    book = build_facts(wrong, "the team with fewer points is ranked above the leader in the published table")
    facts = book.of_kind("order_inverted")
    # by_id/1 is ascending too: with no number to tie the field to, every such list counts, weakly
    assert facts and all(f.weak for f in facts)
    assert ("Rk.Rank", "standings/1") in [(f.culprit.module, f.culprit.function) for f in facts]


@pytest.mark.parametrize("symptom, way", [
    ("the table puts Rovers, with 1 point, first and Harbour, with 10 points, last", "asc"),
    ("the leaderboard lists the slowest runner first", "asc"),
    ("the cheapest flight comes last in the sorted results", "desc"),
    ("the cheapest flight should be first in the list but the most expensive is", "desc"),
    ("the counter ends lower after the restart", None),
    ("the first request after a deploy is slower", None),
])
def test_the_order_the_symptom_says_it_saw(symptom, way):
    assert order_seen(symptom) == way
