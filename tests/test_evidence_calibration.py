"""Calibration of vague facts on a real node: a steady tick, state that grows with the work of a
short capture (or a window that reached its cap), an error passed on to the caller who reports it, and a trigger that asks again for
the named process its earlier run started are no root cause on their own — each beside a twin
that must still count in full (a tick that sped up after a reconfiguration, a cache keyed by
something unique per request, an error dropped, two different instances under one name)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.hypotheses import MIN_VERDICT, WEAK_FACT, relevance
from support.fact_recording import record_facts

APP = r'''
defmodule Tick do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def init(n), do: {Process.send_after(self(), :tick, 20), n} |> then(fn {_, n} -> {:ok, n} end)
  def handle_info(:tick, n) do
    Process.send_after(self(), :tick, 20)
    {:noreply, n + 1}
  end
end

defmodule Flush do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 60_000, name: __MODULE__)
  def configure(ms), do: GenServer.call(__MODULE__, {:configure, ms})
  def init(ms), do: {:ok, %{interval: ms, timer: Process.send_after(self(), :flush, ms)}}
  def handle_call({:configure, ms}, _from, s) do
    Process.cancel_timer(s.timer)
    {:reply, :ok, %{s | interval: ms, timer: Process.send_after(self(), :flush, ms)}}
  end
  def handle_info(:flush, s), do: {:noreply, %{s | timer: Process.send_after(self(), :flush, s.interval)}}
end

defmodule Mailer do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def deliver(to), do: GenServer.cast(__MODULE__, {:deliver, to})
  def init(sent), do: {:ok, sent}
  def handle_cast({:deliver, to}, sent), do: {:noreply, [to | sent]}
end

defmodule Recent do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def seen(page), do: GenServer.cast(__MODULE__, {:seen, page})
  def init(pages), do: {:ok, pages}
  def handle_cast({:seen, page}, pages), do: {:noreply, Enum.take([page | pages], 20)}
end

defmodule Cache do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def get(ip), do: GenServer.call(__MODULE__, {:get, ip})
  def init(m), do: {:ok, m}
  def handle_call({:get, ip}, _from, m) do
    key = cache_key(ip)
    case Map.fetch(m, key) do
      {:ok, v} -> {:reply, v, m}
      :error -> {:reply, ip, Map.put(m, key, ip)}
    end
  end
  def cache_key(ip), do: {ip, System.unique_integer([:positive])}
end

defmodule Tickets do
  def check("ok-" <> _ = code), do: {:ok, code}
  def check(_code), do: {:error, :expired}
end

defmodule Gate do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def enter(code), do: GenServer.call(__MODULE__, {:enter, code})
  def init(n), do: {:ok, n}
  def handle_call({:enter, code}, _from, n) do
    case Tickets.check(code) do
      {:ok, _} -> {:reply, :welcome, n + 1}
      {:error, reason} -> {:reply, {:refused, reason}, n}
    end
  end
end

defmodule Billing do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def bill(trip), do: GenServer.cast(__MODULE__, {:bill, trip})
  def init(s), do: {:ok, s}
  def handle_cast({:bill, trip}, s) do
    result =
      case charge(trip) do
        {:ok, id} -> {:paid, id}
        {:error, reason} -> {:unpaid, reason}
      end
    {:noreply, Map.put(s, trip, result)}
  end
  def charge(_trip), do: {:error, :psp_timeout}
end

defmodule Importer do
  def store_all(rows) do
    Enum.each(rows, &insert/1)
    :ok
  end
  def insert(amount) when amount > 0, do: {:ok, amount}
  def insert(amount), do: {:error, {:invalid_amount, amount}}
end

defmodule Probe do
  use GenServer
  def start_link(tank), do: GenServer.start_link(__MODULE__, tank, name: Probe)
  def init(tank), do: {:ok, tank}
end

defmodule Lane do
  use GenServer
  def start_link(lane), do: GenServer.start_link(__MODULE__, lane, name: Lane)
  def init(lane), do: {:ok, lane}
end

defmodule Sensor do
  use GenServer
  def start_link(device), do: GenServer.start_link(__MODULE__, device, name: Sensor)
  def init(device), do: {:ok, device}
end

defmodule Starter do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def open_lanes, do: GenServer.cast(__MODULE__, :open_lanes)
  def init(s), do: {:ok, s}
  def handle_cast(:open_lanes, s) do
    for lane <- ["north", "south"], do: DynamicSupervisor.start_child(CalibApp.Dyn, {Lane, lane})
    {:noreply, s}
  end
end

defmodule CalibApp do
  def start do
    children = [Tick, Flush, Mailer, Recent, Cache, Gate, Billing, Starter,
                {DynamicSupervisor, name: CalibApp.Dyn, strategy: :one_for_one}]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: CalibApp.Supervisor)
    Process.unlink(pid)
    {:ok, _} = DynamicSupervisor.start_child(CalibApp.Dyn, {Sensor, "north"})
    {:ok, pid}
  end

  def run do
    :ok = Flush.configure(2)
    for i <- 1..30, do: Mailer.deliver("owner#{i}@example.org")
    for i <- 1..26, do: Recent.seen("/docs/page-#{i}")
    for i <- 1..30, do: Cache.get("10.0.0.#{rem(i, 3)}")
    for code <- ["MUS-7701", "MUS-7702", "ok-7703"], do: Gate.enter(code)
    :ok = Importer.store_all([1200, -5, 900, -7])
    for trip <- ["T-1", "T-2"], do: Billing.bill(trip)
    # the reproduction run twice: the second run finds its probe started
    for _ <- 1..2 do
      case DynamicSupervisor.start_child(CalibApp.Dyn, {Probe, "FV-4"}) do
        {:ok, _} -> :ok
        {:error, {:already_started, _}} -> :ok
      end
    end
    Starter.open_lanes()
    # three devices, one name: the first got it before the capture, the other two are refused
    for device <- ["south", "east"] do
      case DynamicSupervisor.start_child(CalibApp.Dyn, {Sensor, device}) do
        {:ok, _} -> :ok
        {:error, {:already_started, _}} -> :ok
      end
    end
    Process.sleep(900)
    :ok
  end
end
'''

SPECS = ["Tick.handle_info/2 :: return", "Flush.handle_info/2 :: return", "Flush.handle_call/3 :: return",
         "Mailer.handle_cast/2 :: return", "Recent.handle_cast/2 :: return", "Cache.handle_call/3 :: return", "Cache.cache_key/1 :: return",
         "Tickets.check/1 :: return", "Gate.handle_call/3 :: return", "Importer.store_all/1 :: return",
         "Importer.insert/1 :: return",
         "Billing.handle_cast/2 :: return", "Billing.charge/1 :: return", "Probe.start_link/1 :: return", "Lane.start_link/1 :: return",
         "Sensor.start_link/1 :: return",
         "Starter.handle_cast/2 :: return", "CalibApp.run/0 :: return"]

NEUTRAL = "the report shows the wrong numbers"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("calib"), APP, start="CalibApp.start()", run="Elixir.CalibApp",
                        specs=SPECS, state_modules=("Elixir.Mailer", "Elixir.Recent", "Elixir.Cache"), lifecycle_procs="all")


def _fact(book, kind, module):
    found = [f for f in book.of_kind(kind) if f.culprit.module == module]
    assert len(found) == 1, [(f.detector, f.culprit.module, f.title) for f in book.facts]
    return found[0]


def test_a_steady_tick_is_weak_evidence(book):
    f = _fact(book, "hot_callback", "Tick")
    assert f.weak and "same rate" in f.weak, f.weak
    rel = relevance(book, NEUTRAL)
    assert rel[f.id] <= WEAK_FACT < MIN_VERDICT
    # a user who says the CPU is busy makes the loop count in full; a busy shop (many customers) does not
    assert relevance(book, "one CPU core is busy all the time")[f.id] >= MIN_VERDICT
    assert relevance(book, "our support chat was busy all morning")[f.id] <= WEAK_FACT
    # …and so does one who says how often it should run
    assert relevance(book, "a gateway is only supposed to check in twice a minute")[f.id] >= MIN_VERDICT


def test_a_tick_that_sped_up_after_a_reconfiguration_counts_in_full(book):
    f = _fact(book, "hot_callback", "Flush")
    assert f.weak is None
    assert relevance(book, NEUTRAL)[f.id] >= MIN_VERDICT


def test_state_grown_by_the_work_of_a_short_capture_is_weak(book):
    f = _fact(book, "state_growth", "Mailer")
    assert f.weak and "bounded by the work" in f.weak, f.weak
    assert relevance(book, NEUTRAL)[f.id] <= WEAK_FACT
    # the user's own report of growth over time makes it evidence
    assert relevance(book, "memory keeps growing over time")[f.id] >= MIN_VERDICT


def test_a_window_at_its_cap_is_no_growth(book):
    # 26 pages into a list kept to 20 (Enum.take): it grew to its cap and stayed there
    assert not [f for f in book.of_kind("state_growth") if f.culprit.module == "Recent"], \
        [f.title for f in book.of_kind("state_growth")]


def test_a_cache_keyed_by_something_unique_counts_in_full(book):
    f = _fact(book, "state_growth", "Cache")
    assert f.weak is None
    assert (f.culprit.module, f.culprit.function) == ("Cache", "cache_key/1")
    assert relevance(book, NEUTRAL)[f.id] >= MIN_VERDICT


def test_an_error_passed_on_to_the_caller_is_not_ignored(book):
    assert not [f for f in book.of_kind("ignored_error") if f.culprit.module == "Gate"], \
        [f.title for f in book.of_kind("ignored_error")]


def test_an_error_dropped_by_its_caller_is_still_a_fact(book):
    f = _fact(book, "ignored_error", "Importer")
    assert f.culprit.function == "store_all/1"
    assert f.weak is None


def test_an_error_kept_in_the_state_of_a_cast_reaches_no_caller(book):
    f = _fact(book, "ignored_error", "Billing")
    assert f.culprit.function == "handle_cast/2"


def test_a_name_taken_by_the_triggers_earlier_run_is_weak(book):
    f = _fact(book, "already_started", "Probe")
    assert f.weak and "CalibApp.run/0" in f.weak, f.weak
    assert relevance(book, NEUTRAL)[f.id] <= WEAK_FACT


def test_devices_refused_one_name_inside_the_trigger_count_in_full(book):
    # the first instance started before the capture; two others, with other arguments, are refused
    f = _fact(book, "already_started", "Sensor")
    assert f.weak is None
    assert relevance(book, NEUTRAL)[f.id] >= MIN_VERDICT


def test_two_instances_under_one_name_count_in_full(book):
    f = _fact(book, "already_started", "Lane")
    assert f.weak is None
    assert relevance(book, NEUTRAL)[f.id] >= MIN_VERDICT


def test_the_report_says_why_a_fact_is_weak(book):
    from elixir_scope.agents.findings import Report
    from elixir_scope.agents.report import render_markdown

    f = _fact(book, "hot_callback", "Tick")
    md = render_markdown(Report(symptom=NEUTRAL, verdict="problems_found", findings=[f]))
    assert "Weak evidence on its own: " + f.weak in md
