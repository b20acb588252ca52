"""The re-keyed ETS row fact (agents/evidence/rekeyed.py) on a real node: jobs in an :ordered_set
keyed by {rank, id}; rushing a job re-inserts it under its new rank. One queue leaves the old row
(named, when the symptom says the job was printed twice); its twin, writing the same table, deletes
the old key first and is never named; a symptom that does not speak of doubles leaves the fact out."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Print.Queue do
  use GenServer
  # jobs are ordered by {rank, id}; a rush job moves to rank 1 — and its rank-2 row stays
  def start_link(name), do: GenServer.start_link(__MODULE__, [], name: name)
  def add(q, id), do: GenServer.call(q, {:add, id})
  def rush(q, id), do: GenServer.call(q, {:rush, id})
  def init([]), do: {:ok, %{}}
  def handle_call({:add, id}, _from, s) do
    :ets.insert(:print_jobs, {{2, id}, %{id: id, pages: 12, rush: false}})
    {:reply, :ok, s}
  end
  def handle_call({:rush, id}, _from, s) do
    :ets.insert(:print_jobs, {{1, id}, %{id: id, pages: 12, rush: true}})
    {:reply, :ok, s}
  end
end

defmodule Print.CleanQueue do
  use GenServer
  # the twin: the old key is deleted before the job is put under its new rank
  def start_link(name), do: GenServer.start_link(__MODULE__, [], name: name)
  def add(q, id), do: GenServer.call(q, {:add, id})
  def rush(q, id), do: GenServer.call(q, {:rush, id})
  def init([]), do: {:ok, %{}}
  def handle_call({:add, id}, _from, s) do
    :ets.insert(:print_jobs, {{2, id}, %{id: id, pages: 12, rush: false}})
    {:reply, :ok, s}
  end
  def handle_call({:rush, id}, _from, s) do
    :ets.delete(:print_jobs, {2, id})
    :ets.insert(:print_jobs, {{1, id}, %{id: id, pages: 12, rush: true}})
    {:reply, :ok, s}
  end
end

defmodule PrintApp do
  def start do
    owner = spawn(fn -> :ets.new(:print_jobs, [:ordered_set, :named_table, :public]); Process.sleep(:infinity) end)
    Process.sleep(50)
    {:ok, _} = Print.Queue.start_link(:queue_a)
    {:ok, _} = Print.CleanQueue.start_link(:queue_b)
    {:ok, owner}
  end

  def run do
    Print.Queue.add(:queue_a, "JOB-881")
    Print.Queue.add(:queue_a, "JOB-882")
    Print.Queue.rush(:queue_a, "JOB-881")
    Print.CleanQueue.add(:queue_b, "JOB-991")
    Print.CleanQueue.rush(:queue_b, "JOB-991")
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("rekeyed"), APP, start="PrintApp.start()", run="Elixir.PrintApp",
                       specs=["Print.Queue :: return", "Print.CleanQueue :: return", "PrintApp :: return",
                              ":ets.insert(:print_jobs, _) :: return", ":ets.delete(:print_jobs, _) :: return"])


def test_a_record_put_under_a_new_key_with_its_old_row_left_is_named(view):
    book = build_facts(view, "JOB-881 and JOB-991 were rushed; JOB-881 was printed twice: once as a rush job, once later")
    assert not book.errors, book.errors
    facts = book.of_kind("ets_rekeyed_not_deleted")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    assert (f.culprit.module, f.culprit.function, f.culprit.process) == ("Print.Queue", "handle_call/3", "queue_a")
    assert '"JOB-881"' in f.title and ":print_jobs" in f.title and "JOB-991" not in f.summary


def test_without_doubles_in_the_symptom_nothing_is_said(view):
    book = build_facts(view, "JOB-881 came out with the wrong paper")
    assert book.of_kind("ets_rekeyed_not_deleted") == []
