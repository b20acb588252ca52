"""A message that carries only what its receiver already holds — a repeated delivery to a
handler that skips what it has — and changes nothing is what a de-duplicating (idempotent)
handler does: the "no effect" fact stays, weak (below the verdict bar). Its twin: a message
about something the process holds but bringing a new value, swallowed by a catch-all, counts
in full."""

from __future__ import annotations

import pytest

from elixir_scope.agents.hypotheses import MIN_VERDICT
from support.fact_recording import record_facts

APP = r'''
defmodule Meters do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def init(s), do: {:ok, s}
  def handle_cast({:reading, meter, kwh, at}, s) do
    case s do
      %{^meter => %{at: ^at}} -> {:noreply, s}
      _ -> {:noreply, Map.put(s, meter, %{kwh: kwh, at: at})}
    end
  end
end

defmodule Tariffs do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{"night" => 1450, "day" => 3120}, name: __MODULE__)
  def init(s), do: {:ok, s}
  def handle_cast({:set, name, cents}, s) when is_integer(cents) and name == "peak", do: {:noreply, Map.put(s, name, cents)}
  def handle_cast(_other, s), do: {:noreply, s}
end

defmodule Feed do
  def readings do
    for {m, k, t} <- [{"MTR-4411", 5210, 1_733_400_000}, {"MTR-4412", 8830, 1_733_400_060}] do
      GenServer.cast(Meters, {:reading, m, k, t})
    end
  end
  def tariffs do
    GenServer.cast(Tariffs, {:set, "night", 1390})
    GenServer.cast(Tariffs, {:set, "day", 2980})
  end
end

defmodule RepeatApp do
  def start do
    {:ok, sup} = Supervisor.start_link([Meters, Tariffs], strategy: :one_for_one, name: RepeatApp.Supervisor)
    Process.unlink(sup)
    Feed.readings()
    {:ok, sup}
  end
  def run do
    for _ <- 1..2 do
      Feed.readings()
      Feed.tariffs()
      Process.sleep(30)
    end
    Process.sleep(100)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("repeats"), APP, start="RepeatApp.start()", run="Elixir.RepeatApp",
                        specs=["Meters :: return", "Tariffs :: return", "Feed :: return"],
                        state_modules=("Elixir.Meters", "Elixir.Tariffs"))


def _no_effect(book, label):
    return [f for f in book.facts if f.detector == "no_effect_message" and label in f.title]


def test_a_repeated_delivery_of_what_the_process_holds_is_weak_evidence(book):
    found = _no_effect(book, "Meters")
    assert len(found) == 1, [(f.detector, f.title) for f in book.facts]
    assert found[0].weak and "already held" in found[0].weak
    assert min(found[0].confidence, 0.5) < MIN_VERDICT


def test_a_new_value_for_a_known_key_swallowed_counts_in_full(book):
    found = _no_effect(book, "Tariffs")
    assert len(found) == 1, [(f.detector, f.title) for f in book.facts]
    assert found[0].weak is None
    assert found[0].culprit.module == "Feed"
