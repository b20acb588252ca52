"""``lock_left_behind`` on a real node: a route job takes a lock row naming itself with
``:ets.insert_new/2`` and deletes it only at the end of a good run; one job times out on a
slow geocoder and dies holding it, and every later job for that depot is refused. The lock —
not the slow callback that made one job time out — is the first cause, and that slow callback is
weak (its only victim left the lock behind). The twin releases the lock in an ``after``: no
fact, and the slow callback keeps its strength."""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once

APP = '''
defmodule Rounds do
  def start do
    {:ok, pid} = Supervisor.start_link([Rounds.Geo, {Task.Supervisor, name: Rounds.Jobs}],
                                       strategy: :one_for_one, name: Rounds.Sup)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    Rounds.Geo.reload()
    Task.Supervisor.start_child(Rounds.Jobs, fn -> Rounds.Planner.replan("north") end)
    Process.sleep(200)
    for _ <- 1..4 do
      Task.Supervisor.start_child(Rounds.Jobs, fn -> Rounds.Planner.replan("north") end)
      Process.sleep(20)
    end
    Process.sleep(100)
    :ok
  end
end

defmodule Rounds.Geo do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def reload, do: GenServer.cast(__MODULE__, :reload)
  def coords(stop), do: GenServer.call(__MODULE__, {:coords, stop}, 60)
  @impl true
  def init([]) do
    :ets.new(:round_locks, [:set, :public, :named_table])
    {:ok, %{}}
  end
  @impl true
  def handle_cast(:reload, s) do
    Process.sleep(150)
    {:noreply, s}
  end
  @impl true
  def handle_call({:coords, stop}, _from, s), do: {:reply, {1.0, byte_size(stop)}, s}
end

defmodule Rounds.Planner do
  def replan(depot) do
    if :ets.insert_new(:round_locks, {depot, self()}) do
      BODY
    else
      :already_running
    end
  end

  def route(depot), do: Rounds.Geo.coords(depot <> "-1")
end
'''

LEAK = '''route(depot)
      :ets.delete(:round_locks, depot)
      :ok'''
RELEASE = '''try do
        route(depot)
        :ok
      catch
        :exit, _ -> :error
      after
        :ets.delete(:round_locks, depot)
      end'''

SYMPTOM = "since this morning no new north deliveries get routed, not even the ones that came in much later"


async def _facts(tmp_path: Path, kb_index_dir, body: str):
    return await diagnose_once(tmp_path, kb_index_dir, APP.replace("BODY", body), app="Rounds", symptom=SYMPTOM)


async def test_a_lock_left_by_a_dead_holder_is_the_first_cause(tmp_path: Path, kb_index_dir):
    report, book = await _facts(tmp_path, kb_index_dir, LEAK)
    found = book.of_kind("lock_left_behind")
    assert len(found) == 1, [f.title for f in book.facts]
    assert (found[0].culprit.module, found[0].culprit.function) == ("Rounds.Planner", "replan/1"), found[0].culprit
    slow = book.of_kind("slow_callback")
    assert slow and all(f.weak and "lock_left_behind" in f.weak for f in slow), [(f.title, f.weak) for f in slow]
    assert report.root_cause is not None and report.root_cause.culprit.module == "Rounds.Planner"


async def test_a_lock_released_in_after_leaves_the_slow_callback_alone(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, RELEASE)
    assert not book.of_kind("lock_left_behind"), [f.title for f in book.facts]
    slow = book.of_kind("slow_callback")
    assert slow and all(f.weak is None for f in slow), [(f.title, f.weak) for f in slow]
