"""A tick the process schedules for itself and handles without effect is what an idle periodic
job looks like: the "no effect" fact stays, weak (below the verdict bar). Its twin: messages
another process sends, swallowed by a catch-all clause, still count in full."""

from __future__ import annotations

import pytest

from elixir_scope.agents.hypotheses import MIN_VERDICT
from support.fact_recording import record_facts

APP = r'''
defmodule Sweeper do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{expired: []}, name: __MODULE__)
  def init(s) do
    Process.send_after(self(), :sweep, 15)
    {:ok, s}
  end
  def handle_info(:sweep, s) do
    Process.send_after(self(), :sweep, 15)
    {:noreply, s}
  end
end

defmodule Inbox do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init(s), do: {:ok, s}
  def handle_info({:note, text}, s) when is_binary(text), do: {:noreply, [text | s]}
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule Poster do
  def post(n), do: send(Inbox, {:note, n})
end

defmodule TickApp do
  def start do
    {:ok, sup} = Supervisor.start_link([Sweeper, Inbox], strategy: :one_for_one, name: TickApp.Supervisor)
    Process.unlink(sup)
    {:ok, sup}
  end
  def run do
    for n <- 1..4 do
      Poster.post(n)
      Process.sleep(20)
    end
    Process.sleep(100)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("ticks"), APP, start="TickApp.start()", run="Elixir.TickApp",
                        specs=["Sweeper :: return", "Inbox :: return", "Poster :: return"],
                        state_modules=("Elixir.Sweeper", "Elixir.Inbox"))


def _no_effect(book, label):
    return [f for f in book.facts if f.detector == "no_effect_message" and label in f.title]


def test_an_idle_periodic_tick_is_weak_evidence(book):
    found = _no_effect(book, "Sweeper")
    assert len(found) == 1, [(f.detector, f.title) for f in book.facts]
    assert found[0].weak and "timer the process set itself" in found[0].weak
    assert min(found[0].confidence, 0.5) < MIN_VERDICT


def test_messages_another_process_sent_and_a_catch_all_dropped_count_in_full(book):
    found = _no_effect(book, "Inbox")
    assert len(found) == 1, [(f.detector, f.title) for f in book.facts]
    assert found[0].weak is None
    assert found[0].culprit.module == "Poster"
