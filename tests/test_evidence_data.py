"""The value facts of ``agents/evidence/data.py`` on a real node: each buggy function is called
beside a correct twin, recorded with its returns (and the cache's state), and only the buggy
one may become a fact — with its own module, function and input."""

from __future__ import annotations

import pytest

from elixir_scope.agents.capture import _supervision
from support.fact_recording import record_facts

APP = r'''
defmodule Texts do
  @max 24
  def cut(text) when byte_size(text) <= @max, do: text
  def cut(text), do: binary_part(text, 0, @max)
  def cut_right(text), do: String.slice(text, 0, @max)
end

defmodule Amounts do
  def cents(text) do
    {v, _rest} = Float.parse(String.trim(text))
    {:ok, round(v * 100)}
  end

  def cents_right(text) do
    {v, ""} = Float.parse(text |> String.trim() |> String.replace(",", ""))
    {:ok, round(v * 100)}
  end
end

defmodule Visits do
  def last(visits), do: visits |> Enum.max_by(& &1.on) |> Map.fetch!(:on)
  def last_right(visits), do: visits |> Enum.max_by(& &1.on, Date) |> Map.fetch!(:on)
end

defmodule Quotes do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def get(key), do: GenServer.call(__MODULE__, {:get, key})
  def init(m), do: {:ok, %{entries: m, asked: 0}}

  def handle_call({:get, key}, _from, state) do
    case Map.fetch(state.entries, key) do
      {:ok, v} -> {:reply, v, state}
      :error ->
        v = lookup(key)
        {:reply, v, %{state | entries: Map.put(state.entries, key, v), asked: state.asked + 1}}
    end
  end

  defp lookup("down-" <> _), do: {:error, :unavailable}
  defp lookup(key), do: {:ok, byte_size(key)}
end

defmodule Rates do
  def get(pair) do
    case :ets.lookup(:rates, pair) do
      [{_, r}] -> r
      [] -> r = fetch(pair); :ets.insert(:rates, {pair, r}); r
    end
  end

  def fetch(pair), do: (Process.sleep(30); {byte_size(elem(pair, 0)), 1.08})
  def lookup_local(pair), do: elem(pair, 0)
end

defmodule Jobs do
  use GenServer
  def start_link(flush), do: GenServer.start_link(__MODULE__, flush, name: if(flush, do: JobsRight, else: Jobs))
  def init(flush), do: {:ok, %{flush: flush, runs: %{}, done: []}}
  def handle_cast({:run, job}, s), do: {:noreply, start(s, job, 1)}

  def handle_info({ref, {:done, job}}, s) when is_reference(ref) do
    if s.flush, do: Process.demonitor(ref, [:flush])
    {:noreply, %{s | done: [job | s.done]}}
  end

  def handle_info({:DOWN, ref, :process, _pid, _reason}, s) do
    case Map.pop(s.runs, ref) do
      {{job, n}, runs} when n < 3 -> {:noreply, start(%{s | runs: runs}, job, n + 1)}
      {_, runs} -> {:noreply, %{s | runs: runs}}
    end
  end

  def start(s, job, attempt) do
    me = self()
    {pid, mref} = spawn_monitor(fn -> receive do {:go, r} -> send(me, {r, {:done, job}}) end end)
    send(pid, {:go, mref})
    %{s | runs: Map.put(s.runs, mref, {job, attempt})}
  end
end

defmodule Shelf do
  use GenServer
  def start_link(id) do
    Registry.register(Shelves, id, :shelf)
    GenServer.start_link(__MODULE__, id)
  end

  def put(id, item), do: GenServer.cast(addr(id), {:put, item})
  defp addr(id), do: (case Registry.lookup(Shelves, id) do [{pid, _}] -> pid; [] -> :nobody end)
  def init(id), do: {:ok, {id, []}}
  def handle_cast({:put, item}, {id, items}), do: {:noreply, {id, [item | items]}}
end

defmodule DataApp do
  def start do
    children = [Quotes, Supervisor.child_spec({Jobs, false}, id: :jobs), Supervisor.child_spec({Jobs, true}, id: :right),
                {Registry, keys: :unique, name: Shelves},
                {DynamicSupervisor, name: Shelves.Sup, strategy: :one_for_one}]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: DataApp.Supervisor)
    Process.unlink(pid)
    {:ok, _} = DynamicSupervisor.start_child(Shelves.Sup, {Shelf, "s1"})
    {:ok, pid}
  end

  def run do
    texts = ["Grüße, Jürgen Weiß — bis morgen früh um acht", "plain ascii text that is long enough"]
    for t <- texts, do: {Texts.cut(t), Texts.cut_right(t)}
    for a <- ["1,049.00", "18.40", "12,500.00"], do: {Amounts.cents(a), Amounts.cents_right(a)}
    visits = [%{on: ~D[2026-10-01]}, %{on: ~D[2026-11-28]}, %{on: ~D[2026-12-03]}]
    {Visits.last(visits), Visits.last_right(visits)}
    for k <- ["down-a", "ok-b", "down-a", "ok-b", "down-a"], do: Quotes.get(k)
    :ets.new(:rates, [:named_table, :public])
    # eight shoppers at once on a cold cache; a cheap local call made by all of them is no stampede
    tasks = for _ <- 1..8, do: Task.async(fn -> {Rates.get({"EUR", "USD"}), Rates.lookup_local({"EUR", "USD"})} end)
    Enum.each(tasks, &Task.await/1)
    GenServer.cast(Jobs, {:run, "contract-7"})
    GenServer.cast(JobsRight, {:run, "contract-8"})
    for item <- ["tea", "jam", "oats"], do: Shelf.put("s1", item)
    Process.sleep(200)
    :ok
  end
end
'''

SPECS = ["Texts.cut/1 :: return", "Texts.cut_right/1 :: return", "Amounts.cents/1 :: return",
         "Amounts.cents_right/1 :: return", "Visits.last/1 :: return", "Visits.last_right/1 :: return",
         "Quotes.handle_call/3 :: return", "Rates.get/1 :: return", "Rates.fetch/1 :: return",
         "Rates.lookup_local/1 :: return", "Jobs.handle_info/2 :: return", "Jobs.handle_cast/2 :: return",
         "Jobs.start/3 :: return"]

@pytest.fixture(scope="module")
def book(tmp_path_factory):
    async def supervisors(conn, session) -> None:
        # the supervisors as a diagnosis reads them (agents/capture.py)
        await _supervision(conn, session, "start", ["Elixir.DataApp", "Elixir.Shelf"], [], 20_000)

    return record_facts(tmp_path_factory.mktemp("data"), APP, start="DataApp.start()", run="Elixir.DataApp",
                        specs=SPECS, state_modules=("Elixir.Quotes",), before_run=supervisors)

def _only(book, kind):
    facts = book.of_kind(kind)
    assert len(facts) == 1, [f.title for f in book.facts]
    return facts[0]

def test_text_cut_by_bytes(book):
    f = _only(book, "invalid_utf8")
    assert (f.culprit.module, f.culprit.function) == ("Texts", "cut/1")
    assert "Jürgen" in f.culprit.detail and f.signatures == ["data:invalid_utf8"]

def test_number_parsed_up_to_a_separator(book):
    f = _only(book, "lossy_parse")
    assert (f.culprit.module, f.culprit.function) == ("Amounts", "cents/1")
    assert f.culprit.detail == '"1,049.00"' and "2 such call(s)" in f.summary, f.summary

def test_date_picked_by_term_order(book):
    f = _only(book, "term_order_pick")
    assert (f.culprit.module, f.culprit.function) == ("Visits", "last/1")
    assert "2026-12-3" in f.summary, f.summary   # the latest, which it did not return

def test_error_cached_in_state(book):
    f = _only(book, "error_cached")
    assert (f.culprit.module, f.culprit.function) == ("Quotes", "handle_call/3")
    assert '"down-a"' in f.title and ":unavailable" in f.title, f.title
    assert "2 later call(s)" in f.summary, f.summary


def test_stampede_on_a_cold_cache(book):
    f = _only(book, "stampede")
    assert (f.culprit.module, f.culprit.function) == ("Rates", "get/1")
    assert "8 processes call Rates.fetch/1" in f.title, f.title


def test_normal_down_retried(book):
    f = _only(book, "retry_after_normal_exit")
    assert (f.culprit.module, f.culprit.function) == ("Jobs", "handle_info/2")
    assert ":normal" in f.culprit.detail and '"contract-7"' in f.summary and "contract-8" not in f.summary, f.summary


def test_casts_to_a_supervisor_name_the_childs_start_link(book):
    f = _only(book, "sent_to_supervisor")
    assert (f.culprit.module, f.culprit.function) == ("Shelf", "start_link/1")
    assert "Shelves.Sup" in f.title and '"tea"' in f.culprit.detail, (f.title, f.culprit.detail)
