"""The ``caught_failure`` fact on a real node: an ETS write refused with ``badarg`` (a
``:protected`` table written by processes that do not own it) that the writer rescues as
"allowed". The diagnosis must trace the table's writes with their outcome (the planner) and
keep a burst of request processes (the capture does not shed it), and the fact must name the
function that caught the failure and the value it returned instead."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.agents.planner import Survey, plan
from support.diagnose_once import diagnose_once

APP = '''
defmodule Parking do
  def start do
    {:ok, pid} = Supervisor.start_link([Parking.Gate], strategy: :one_for_one, name: Parking.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  # every car at the barrier is its own process; the garage has 5 places
  def trigger do
    for i <- 1..120, do: spawn(fn -> Parking.Gate.enter("level-1", "car-#{i}") end)
    :ok
  end
end

defmodule Parking.Gate do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def enter(level, _car) do
    if room?(level), do: GenServer.cast(__MODULE__, {:opened, level}), else: :full
  end

  defp room?(level) do
    try do
      :ets.update_counter(:garage_levels, level, {2, 1}, {level, 0}) <= 5
    rescue
      ArgumentError -> true
    end
  end

  @impl true
  def init([]) do
    :ets.new(:garage_levels, [:named_table, :set])
    {:ok, %{opened: 0}}
  end

  @impl true
  def handle_cast({:opened, _level}, state), do: {:noreply, %{state | opened: state.opened + 1}}
end
'''


def test_plan_traces_ets_writes_with_their_outcome():
    p = plan("the barrier lets everyone in", Survey(node="n@h", app_modules=["Parking.Gate"],
                                                   ets_tables=[(":garage_levels", "Parking.Gate")]))
    specs = {s.spec for s in p.specs}
    assert ":ets.update_counter(:garage_levels, _, _, _) :: return" in specs, specs
    assert ":ets.update_counter(:garage_levels, _, _) :: return" in specs
    assert ":ets.insert(:garage_levels, _) :: return" in specs
    assert ":ets.lookup(:garage_levels, _)" in specs


async def _diagnose(tmp_path: Path, kb_index_dir, source: str, app: str, symptom: str):
    """Start ``source`` on a fresh node (``App.start()``), diagnose ``symptom`` with ``App.trigger()``
    in one round; the report and the facts of its recording."""
    return await diagnose_once(tmp_path, kb_index_dir, source, app=app, symptom=symptom, facts_symptom=False)


async def test_a_rescued_ets_badarg_is_a_caught_failure(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(
        tmp_path, kb_index_dir, APP, "Parking",
        "the garage barrier lets every car in although level-1 has only 5 places; nothing errors")
    assert report.capture["dropped"] == 0, report.capture
    caught = book.of_kind("caught_failure")
    assert caught, [f.title for f in book.facts]
    f = caught[0]
    assert (f.culprit.module, f.culprit.function, f.culprit.detail) == ("Parking.Gate", "room?/1", "true")
    assert f.signatures == ["return:exception_caught", "exception:badarg:ets"], f.signatures
    # 120 cars, each refused by the table and let in: one fact, the repeats as evidence
    assert len(caught) == 1 and "120 time(s)" in f.summary, f.summary
    assert report.root_cause is not None and report.root_cause.culprit.module == "Parking.Gate"


CRASH_APP = '''
defmodule Bakery do
  def start do
    {:ok, pid} = Supervisor.start_link([Bakery.Stock, Bakery.Counter], strategy: :one_for_one, name: Bakery.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    spawn(fn -> for item <- ["rye", "croissant", "rye"], do: Bakery.Counter.sell(item) end)
    :ok
  end
end

defmodule Bakery.Stock do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{"rye" => 5} end, name: __MODULE__)
  def take(item), do: Agent.update(__MODULE__, fn stock -> Map.update!(stock, item, &(&1 - 1)) end)
end

defmodule Bakery.Counter do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def sell(item), do: GenServer.call(__MODULE__, {:sell, item})
  @impl true
  def init([]), do: {:ok, 0}
  @impl true
  def handle_call({:sell, item}, _from, sold) do
    {:reply, :ok, sold + take(item)}
  end
  defp take(item) do
    try do
      Bakery.Stock.take(item)
      1
    catch
      :exit, _ -> 1
    end
  end
end
'''


async def test_a_fallback_after_the_target_crashed_is_explained_by_the_crash(tmp_path: Path, kb_index_dir):
    """The caller catches the exit of a call whose target crashed: the crash is the first cause
    (it is logged anyway), the fallback only its consequence."""
    _, book = await _diagnose(tmp_path, kb_index_dir, CRASH_APP, "Bakery",
                              "the stock of rye bread was reset after a croissant was sold")
    caught = book.of_kind("caught_failure")
    assert len(caught) == 1, [f.title for f in book.facts]
    assert (caught[0].culprit.module, caught[0].culprit.function) == ("Bakery.Counter", "take/1")  # the catcher
    origin = book.origin(caught[0])
    assert origin.detector == "exception", [(f.id, f.caused_by) for f in book.facts]
    assert (origin.culprit.module, origin.culprit.function) == ("Bakery.Stock", "take/1")
