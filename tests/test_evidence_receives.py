"""The nested-receive fact on a real node: a call that reaches a GenServer while another of its
callbacks runs waits in the mailbox and is handled next — it is not lost, whatever the running
callback does (sleep, an `Agent.get` of its own). Its twin: a callback whose own `receive`
takes the server's casts with a catch-all clause still loses them, and is named."""

from __future__ import annotations

import pytest

from support.fact_recording import record_facts

APP = r'''
defmodule Shelf do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)
  def get(k), do: Agent.get(__MODULE__, &Map.get(&1, k))
end

defmodule Counter do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def slow(ms), do: GenServer.call(__MODULE__, {:slow, ms})
  def bump(n), do: GenServer.call(__MODULE__, {:bump, n})
  def init(n), do: {:ok, n}
  def handle_call({:slow, ms}, _from, n) do
    Process.sleep(ms)
    _ = Shelf.get(:x)
    {:reply, n, n}
  end
  def handle_call({:bump, k}, _from, n), do: {:reply, n + k, n + k}
end

defmodule Valves do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def calibrate, do: GenServer.cast(__MODULE__, :calibrate)
  def reading(v), do: GenServer.cast(__MODULE__, {:reading, v})
  def init(s), do: {:ok, s}
  def handle_cast(:calibrate, s) do
    drain(3)
    {:noreply, s}
  end
  def handle_cast({:reading, v}, s), do: {:noreply, [v | s]}
  def drain(0), do: :ok
  def drain(n) do
    receive do
      _any -> drain(n - 1)
    after
      60 -> :ok
    end
  end
end

defmodule RecvApp do
  def start do
    {:ok, sup} = Supervisor.start_link([Shelf, Counter, Valves], strategy: :one_for_one, name: RecvApp.Supervisor)
    Process.unlink(sup)
    {:ok, sup}
  end
  def run do
    slow = Task.async(fn -> Counter.slow(80) end)
    Process.sleep(10)
    bumps = for k <- 1..3, do: Task.async(fn -> Counter.bump(k) end)
    Enum.each([slow | bumps], &Task.await/1)
    Valves.calibrate()
    Process.sleep(5)
    Valves.reading(1)
    Valves.reading(2)
    Process.sleep(300)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("recv"), APP, start="RecvApp.start()", run="Elixir.RecvApp",
                        specs=["Counter :: return", "Valves :: return", "Shelf :: return"])


def _lost(book):
    return [f for f in book.facts if f.detector == "nested_receive_lost"]


def test_calls_queued_behind_a_slow_callback_are_not_lost(book):
    assert not [f for f in _lost(book) if f.culprit.module == "Counter"], \
        [(f.culprit.module, f.culprit.function, f.title) for f in _lost(book)]


def test_a_catch_all_receive_in_a_callback_still_loses_the_casts(book):
    lost = [f for f in _lost(book) if f.culprit.module == "Valves"]
    assert len(lost) == 1 and lost[0].culprit.function == "drain/1", \
        [(f.culprit.module, f.culprit.function) for f in _lost(book)]
