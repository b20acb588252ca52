"""``killed_mid_work`` on a real node: a planner cancels a transfer with ``Process.exit(pid, :kill)``
while the worker has taken the stock and is still booking the truck: the stock is gone from one
place and never put in the other. The kill — not the worker that died with ``:killed`` — is the
first cause. The twin: the worker is killed before it started (waiting for its go): nothing was
half done, no fact."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.agents.planner import Survey, plan
from support.diagnose_once import diagnose_once

APP = '''
defmodule Depot do
  def start do
    {:ok, pid} = Supervisor.start_link([Depot.Stock, Depot.Moves], strategy: :one_for_one, name: Depot.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    {:ok, id} = Depot.Moves.request("north", "south", 40)
    Process.sleep(WAIT)
    Depot.Moves.cancel(id)
    Process.sleep(100)
    :ok
  end
end

defmodule Depot.Stock do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{"north" => 100, "south" => 0} end, name: __MODULE__)
  def take(place, n), do: Agent.update(__MODULE__, &Map.update!(&1, place, fn x -> x - n end))
  def put(place, n), do: Agent.update(__MODULE__, &Map.update!(&1, place, fn x -> x + n end))
end

defmodule Depot.Truck do
  def book(_from, _to, _n) do
    Process.sleep(150)
    {:ok, "TRUCK-7"}
  end
end

defmodule Depot.Worker do
  def run(from, to, n) do
    receive do
      :go -> :ok
    end
    :ok = Depot.Stock.take(from, n)
    {:ok, _truck} = Depot.Truck.book(from, to, n)
    :ok = Depot.Stock.put(to, n)
  end
end

defmodule Depot.Moves do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def request(from, to, n), do: GenServer.call(__MODULE__, {:request, from, to, n})
  def cancel(id), do: GenServer.call(__MODULE__, {:cancel, id})
  @impl true
  def init([]), do: {:ok, %{}}
  @impl true
  def handle_call({:request, from, to, n}, _from, s) do
    pid = spawn(fn -> Depot.Worker.run(from, to, n) end)
    Process.send_after(pid, :go, 20)
    id = "MV-#{map_size(s) + 1}"
    {:reply, {:ok, id}, Map.put(s, id, pid)}
  end
  def handle_call({:cancel, id}, _from, s) do
    Process.exit(Map.fetch!(s, id), :kill)
    {:reply, :ok, Map.delete(s, id)}
  end
end
'''

SYMPTOM = "we cancelled a move of 40 pallets from north to south and now north is 40 short and south got nothing"


def test_the_plan_traces_kill_signals():
    p = plan("the stock is short", Survey(node="n@h", app_modules=["Depot.Moves"]))
    assert ":erlang.exit(_, :kill) :: return" in {s.spec for s in p.specs}


async def _facts(tmp_path: Path, kb_index_dir, wait_ms: int):
    return await diagnose_once(tmp_path, kb_index_dir, APP.replace("WAIT", str(wait_ms)), app="Depot", symptom=SYMPTOM)


async def test_a_worker_killed_between_its_steps_names_the_killer(tmp_path: Path, kb_index_dir):
    report, book = await _facts(tmp_path, kb_index_dir, 80)   # killed while booking the truck
    got = book.of_kind("killed_mid_work")
    assert len(got) == 1, [f.title for f in book.facts]
    assert (got[0].culprit.module, got[0].culprit.function) == ("Depot.Moves", "handle_call/3"), got[0].culprit
    assert "Depot.Truck.book/3" in got[0].title
    killed = [f for f in book.of_kind("exception") if f.caused_by == got[0].id]
    assert killed, [(f.id, f.caused_by) for f in book.facts]
    assert report.root_cause is not None and report.root_cause.culprit.module == "Depot.Moves"


async def test_a_worker_killed_before_it_started_is_no_cut_work(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, 0)   # killed while still waiting for its :go
    assert not book.of_kind("killed_mid_work"), [f.title for f in book.facts]
