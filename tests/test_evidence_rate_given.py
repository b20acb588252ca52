"""``rate_change`` compares a timer's rate after a control callback with the interval that
callback was given. A message that carries a batch of data — readings, amounts — gives no
interval: one of its numbers read as one made a steady poll look "1.7x the interval it was
given". The twin: a reconfiguration that starts a second timer chain without cancelling the
first is still found."""

from __future__ import annotations

import pytest

from support.fact_recording import record_facts

APP = r'''
defmodule Gateway do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{every: 40, polls: 0, readings: []}, name: __MODULE__)
  def init(s) do
    Process.send_after(self(), :poll, s.every)
    {:ok, s}
  end
  def handle_info(:poll, s) do
    Process.send_after(self(), :poll, s.every)
    {:noreply, %{s | polls: s.polls + 1}}
  end
  def handle_cast({:upload, month, rows}, s), do: {:noreply, %{s | readings: [{month, rows} | s.readings]}}
end

defmodule Mirror do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{every: 40, runs: 0}, name: __MODULE__)
  def init(s) do
    Process.send_after(self(), :copy, s.every)
    {:ok, s}
  end
  def handle_info(:copy, s) do
    Process.send_after(self(), :copy, s.every)
    {:noreply, %{s | runs: s.runs + 1}}
  end
  def handle_cast({:set_every, ms}, s) do
    Process.send_after(self(), :copy, ms)
    {:noreply, %{s | every: ms}}
  end
end

defmodule RateApp do
  def start do
    {:ok, sup} = Supervisor.start_link([Gateway, Mirror], strategy: :one_for_one, name: RateApp.Supervisor)
    Process.unlink(sup)
    {:ok, sup}
  end
  def run do
    Process.sleep(400)
    GenServer.cast(Gateway, {:upload, "2026-12", [{"7741-0091", 48212}, {"7741-0092", 23905}, {"7741-0093", 120}, {"7741-0094", 71388}]})
    GenServer.cast(Mirror, {:set_every, 120})
    Process.sleep(900)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("rate_given"), APP, start="RateApp.start()", run="Elixir.RateApp",
                        specs=["Gateway :: return", "Mirror :: return"],
                        state_modules=("Elixir.Gateway", "Elixir.Mirror"))


def _rate_changes(book, label):
    return [f for f in book.facts if f.detector == "rate_change" and label in f.title]


def test_a_batch_of_data_gives_the_timer_no_interval(book):
    assert _rate_changes(book, "Gateway") == [], [f.title for f in book.facts if f.detector == "rate_change"]


def test_a_new_interval_that_starts_a_second_timer_chain_is_still_found(book):
    found = _rate_changes(book, "Mirror")
    assert len(found) == 1, [(f.detector, f.title) for f in book.facts]
    assert "the 120 ms interval it was given" in found[0].title
    assert (found[0].culprit.module, found[0].culprit.function) == ("Mirror", "handle_cast/2")
