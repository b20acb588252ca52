"""The overlapping-runs fact (agents/evidence/overlaps.py) on a real node: a job that checks what is
left to do, works slowly and marks it done only at the end is started again 40 ms into its first run;
both runs notify and mark the same item (named). Its twins must stay silent: the same job run twice
one after the other (the second finds the item done), and readers that overlap and both only read
the same key. A symptom that does not say "twice" leaves the fact out."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Depot.Store do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def pending?(id), do: GenServer.call(__MODULE__, {:pending?, id})
  def mark(id), do: GenServer.call(__MODULE__, {:mark, id})
  def init(s), do: {:ok, s}
  def handle_call({:pending?, id}, _from, s), do: {:reply, not Map.has_key?(s, id), s}
  def handle_call({:mark, id}, _from, s), do: {:reply, :ok, Map.put(s, id, true)}
end

defmodule Depot.Notifier do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def announce(id, text), do: GenServer.call(__MODULE__, {:announce, id, text})
  def init(s), do: {:ok, s}
  def handle_call({:announce, id, text}, _from, s), do: {:reply, :ok, [{id, text} | s]}
end

defmodule Depot.Release do
  # check, work slowly, mark at the end: a second run started meanwhile passes the check too
  def run(id) do
    if Depot.Store.pending?(id) do
      Process.sleep(80)
      Depot.Notifier.announce(id, "released " <> id)
      Depot.Store.mark(id)
    end
    :ok
  end
end

defmodule Depot.Report do
  def run(id) do
    _ = Depot.Store.pending?(id)
    Process.sleep(60)
    _ = Depot.Store.pending?(id)
    :ok
  end
end

defmodule Depot do
  def start do
    {:ok, _} = Depot.Store.start_link()
    {:ok, _} = Depot.Notifier.start_link()
    {:ok, self()}
  end

  defp twice(fun, gap) do
    a = Task.async(fun)
    Process.sleep(gap)
    b = Task.async(fun)
    Task.await(a)
    Task.await(b)
  end

  def run do
    # overlapping: the second run starts 40 ms into the first (which takes 80 ms and more)
    twice(fn -> Depot.Release.run("lot-7") end, 40)
    # one after the other: the second run finds lot-8 marked
    twice(fn -> Depot.Release.run("lot-8") end, 150)
    # overlapping readers: the same call from two runs, but nothing written
    twice(fn -> Depot.Report.run("lot-9") end, 20)
    :ok
  end
end
'''

SYMPTOM = "lot-7 was announced twice, two notifications a moment apart, though it was released once"


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("overlaps"), APP, start="Depot.start()", run="Elixir.Depot",
                       specs=["Depot :: return", "Depot.Store :: return", "Depot.Notifier :: return",
                              "Depot.Release :: return", "Depot.Report :: return"],
                       state_modules=("Elixir.Depot.Store", "Elixir.Depot.Notifier"))


def test_two_overlapping_runs_that_both_write_are_named(view):
    book = build_facts(view, SYMPTOM)
    assert not book.errors, book.errors
    facts = book.of_kind("overlapping_runs")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    # the job: the outermost named function of each Task (its entry fun is Depot.run/0's code)
    assert (f.culprit.module, f.culprit.function) == ("Depot.Release", "run/1"), f.culprit
    assert '"lot-7"' in f.title and "lot-8" not in f.summary and "lot-9" not in f.summary
    assert f.signatures == ["process:overlapping_runs"] and not f.weak


def test_without_twice_in_the_symptom_nothing_is_said(view):
    book = build_facts(view, "lot-7 has the wrong release note")
    assert book.of_kind("overlapping_runs") == []
