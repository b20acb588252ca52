"""Facts about values that drift from the truth without any error (``agents/evidence/stale.py``,
``zones.py``, ``paging.py``) on a real node: each buggy function runs beside a correct twin, the
node is recorded the way a diagnosis plans it (whole modules, configuration writes,
``DateTime.add/4``), and only the buggy one may become a fact — with its own module, function
and detail."""

from __future__ import annotations

import pytest

from elixir_scope.agents.planner import Survey, plan
from support.fact_recording import record_facts

APP = r'''
defmodule Greenhouse.Sensors do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{"bed-1" => 31.5, "bed-2" => 28.0, "bed-3" => 30.0} end, name: __MODULE__)
  def set_max_temp(bed, t), do: Agent.update(__MODULE__, &Map.put(&1, bed, t))
  def put_max_temps(temps), do: Agent.update(__MODULE__, &Map.merge(&1, temps))
  def max_temp(bed), do: Agent.get(__MODULE__, &Map.fetch!(&1, bed))
end

defmodule Greenhouse.Vents do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def open?(bed, t), do: GenServer.call(__MODULE__, {:open?, bed, t})
  def init([]), do: {:ok, 0}
  def handle_call({:open?, bed, t}, _from, n), do: {:reply, t > limit(bed), n + 1}

  # remembered on first use, never read again
  defp limit(bed) do
    case Process.get({:limit, bed}) do
      nil -> v = Greenhouse.Sensors.max_temp(bed); Process.put({:limit, bed}, v); v
      v -> v
    end
  end
end

defmodule Greenhouse.Fans do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def on?(bed, t), do: GenServer.call(__MODULE__, {:on?, bed, t})
  def init([]), do: {:ok, 0}
  def handle_call({:on?, bed, t}, _from, n), do: {:reply, t > limit(bed), n + 1}
  defp limit(bed), do: Greenhouse.Sensors.max_temp(bed)
end

defmodule Greenhouse.Lamps do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def cutoff(bed), do: GenServer.call(__MODULE__, {:cutoff, bed})
  # a copy of the limits taken at start
  def init([]), do: {:ok, %{"bed-2" => Greenhouse.Sensors.max_temp("bed-2")}}
  def handle_call({:cutoff, bed}, _from, limits), do: {:reply, Map.fetch!(limits, bed), limits}
end

defmodule Greenhouse.Misters do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{"bed-3" => Greenhouse.Sensors.max_temp("bed-3")} end, name: __MODULE__)
  def threshold(bed), do: Agent.get(__MODULE__, &Map.fetch!(&1, bed))
end

defmodule Pantry do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)
  def add(item, n), do: Agent.update(__MODULE__, &Map.update(&1, item, n, fn q -> q + n end))
  def count(item), do: Agent.get(__MODULE__, &Map.get(&1, item, 0))
end

defmodule Pantry.Stock do
  def level(item), do: if(item == "oats", do: 12, else: 3)
end

defmodule Library.Loans do
  def load, do: :persistent_term.put({Library, :loan_days}, Application.fetch_env!(:library, :loan_days))
  def days_for(kind), do: Map.fetch!(:persistent_term.get({Library, :loan_days}), kind)
  def renewals_for(kind), do: Map.fetch!(Application.fetch_env!(:library, :renewals), kind)
end

defmodule Library.Admin do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def set_loan_days(kind, days), do: GenServer.call(__MODULE__, {:set, :loan_days, kind, days})
  def set_renewals(kind, n), do: GenServer.call(__MODULE__, {:set, :renewals, kind, n})
  def init([]), do: {:ok, []}

  def handle_call({:set, key, kind, v}, _from, log) do
    Application.put_env(:library, key, Map.put(Application.fetch_env!(:library, key), kind, v))
    {:reply, :ok, [{key, kind, v} | log]}
  end
end

defmodule Bakery.Sales do
  @offset 11 * 3600
  def day_of(sale), do: DateTime.to_date(sale.at)
  def by_day(sales), do: Enum.group_by(sales, &DateTime.to_date(&1.at))
  def by_local_day(sales), do: Enum.group_by(sales, &local_day/1)
  def local_day(sale), do: sale.at |> DateTime.to_naive() |> NaiveDateTime.add(@offset) |> NaiveDateTime.to_date()
end

defmodule Bakery.Receipts do
  def stamp(sale), do: sale.at |> DateTime.add(11 * 3600, :second) |> Calendar.strftime("%d %b %H:%M")
end

defmodule Archive.Api do
  use Agent
  def start_link(_) do
    rows = for id <- 1..14, do: %{id: id, stamp: if(id in 5..9, do: 500, else: id * 100)}
    Agent.start_link(fn -> Enum.sort_by(rows, &{&1.stamp, &1.id}) end, name: __MODULE__)
  end

  def since(stamp, limit), do: Agent.get(__MODULE__, fn rows -> rows |> Enum.filter(&(&1.stamp >= stamp)) |> Enum.take(limit) end)

  def changed_since(at, limit) do
    rows = for id <- 1..6, do: %{id: id, at: DateTime.add(~U[2026-12-01 08:00:00Z], if(id in 3..5, do: 60, else: id * 30))}
    rows |> Enum.filter(&(DateTime.compare(&1.at, at) != :lt)) |> Enum.take(limit)
  end

  def since_with_notes(stamp, limit) do
    Agent.get(__MODULE__, fn rows ->
      for r <- rows, r.stamp >= stamp, do: Map.put(r, :note, String.duplicate("n", 900))
    end)
    |> Enum.take(limit)
  end

  def after_key({stamp, id}, limit),
    do: Agent.get(__MODULE__, fn rows -> rows |> Enum.filter(&({&1.stamp, &1.id} > {stamp, id})) |> Enum.take(limit) end)
end

defmodule Archive.Export do
  @page 6
  def all, do: pages(0, [])
  def all_right, do: pages_right({-1, 0}, [])

  defp pages(since, acc) do
    page = Archive.Api.since(since, @page)
    kept = Enum.filter(page, &keep?/1)
    if length(page) < @page, do: acc ++ kept, else: pages(List.last(page).stamp + 1, acc ++ kept)
  end

  defp pages_right(cursor, acc) do
    page = Archive.Api.after_key(cursor, @page)
    kept = Enum.filter(page, &keep?/1)
    last = List.last(page)
    if length(page) < @page, do: acc ++ kept, else: pages_right({last.stamp, last.id}, acc ++ kept)
  end

  def changes, do: changes(~U[2026-12-01 00:00:00Z], [])

  defp changes(at, acc) do
    page = Archive.Api.changed_since(at, 4)
    if length(page) < 4, do: acc ++ page, else: changes(DateTime.add(List.last(page).at, 1, :second), acc ++ page)
  end

  # pages too big to record whole: their rows show only where the mirror stores them one by one
  def mirror, do: mirror(0)

  defp mirror(since) do
    page = Archive.Api.since_with_notes(since, 6)
    :ok = Archive.Mirror.store(page)
    if length(page) == 6, do: mirror(List.last(page).stamp + 1), else: :ok
  end

  def keep?(row), do: row.id > 0
end

defmodule Archive.Mirror do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def store(rows), do: GenServer.call(__MODULE__, {:store, rows})
  def init(m), do: {:ok, m}
  def handle_call({:store, rows}, _from, m), do: {:reply, :ok, Enum.reduce(rows, m, &Map.put(&2, &1.id, &1))}
end

defmodule DriftApp do
  def start do
    Application.put_env(:library, :loan_days, %{"book" => 21, "dvd" => 7})
    Application.put_env(:library, :renewals, %{"book" => 2, "dvd" => 1})
    Library.Loans.load()
    children = [Greenhouse.Sensors, Greenhouse.Vents, Greenhouse.Fans, Greenhouse.Lamps, Greenhouse.Misters, Pantry, Library.Admin, Archive.Api, Archive.Mirror]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: DriftApp.Supervisor)
    Process.unlink(pid)
    {Greenhouse.Vents.open?("bed-1", 30.0), Greenhouse.Fans.on?("bed-1", 30.0)}
    {:ok, pid}
  end

  def run do
    :ok = Greenhouse.Sensors.set_max_temp("bed-1", 26.0)
    {Greenhouse.Vents.open?("bed-1", 29.0), Greenhouse.Fans.on?("bed-1", 29.0)}
    :ok = Greenhouse.Sensors.set_max_temp("bed-2", 25.0)
    {Greenhouse.Lamps.cutoff("bed-2"), Greenhouse.Fans.on?("bed-2", 26.0)}
    :ok = Greenhouse.Sensors.put_max_temps(%{"bed-3" => 27.5})
    {Greenhouse.Misters.threshold("bed-3"), Greenhouse.Sensors.max_temp("bed-3")}
    # an add is no set: the cart count and the stock level answered differently before it
    {Pantry.count("oats"), Pantry.Stock.level("oats")}
    :ok = Pantry.add("oats", 2)
    {Pantry.count("oats"), Pantry.Stock.level("oats")}
    :ok = Library.Admin.set_loan_days("dvd", 14)
    {Library.Loans.days_for("dvd"), Library.Loans.days_for("book")}
    :ok = Library.Admin.set_renewals("dvd", 3)
    {Library.Loans.renewals_for("dvd"), Library.Loans.renewals_for("book")}
    sales = for at <- [~U[2026-12-04 20:15:00Z], ~U[2026-12-05 01:30:00Z], ~U[2026-12-05 13:30:00Z]], do: %{at: at}
    for s <- sales, do: {Bakery.Sales.day_of(s), Bakery.Sales.local_day(s), Bakery.Receipts.stamp(s)}
    {Bakery.Sales.by_day(sales), Bakery.Sales.by_local_day(sales)}
    {Archive.Export.all(), Archive.Export.all_right(), Archive.Export.changes(), Archive.Export.mirror()}
    :ok
  end
end
'''

MODULES = ["Greenhouse.Sensors", "Greenhouse.Vents", "Greenhouse.Fans", "Greenhouse.Lamps", "Greenhouse.Misters",
           "Pantry", "Pantry.Stock", "Library.Loans", "Library.Admin",
           "Bakery.Sales", "Bakery.Receipts", "Archive.Api", "Archive.Export", "Archive.Mirror"]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    # the specs a diagnosis plans for this application (whole modules, configuration writes, time shifts)
    planned = plan("the vents open too late, and the daily report misses the morning sales",
                   Survey(node="drift@localhost", app_modules=MODULES))
    specs = [s.spec for s in planned.specs if not s.spec.startswith(":erlang.exit")]
    assert "Application.put_env/3 :: return" in specs and "DateTime.add/4 :: return" in specs, specs
    # time arithmetic is traced only when the symptom speaks of days or times
    quiet = [s.spec for s in plan("the vents open too late", Survey(node="drift@localhost", app_modules=MODULES)).specs]
    assert "Application.put_env/3 :: return" in quiet and "DateTime.add/4 :: return" not in quiet, quiet
    return record_facts(tmp_path_factory.mktemp("drift"), APP, start="DriftApp.start()", run="Elixir.DriftApp",
                        specs=specs)


def test_memo_that_misses_a_change_names_the_reader(book):
    facts = {(f.culprit.module, f.culprit.function): f for f in book.of_kind("stale_read")}
    f = facts.pop(("Greenhouse.Vents", "limit/1"))
    assert '"bed-1"' in f.title and "31.5" in f.title and "26.0" in f.title, f.title
    # another reader of the key returned the new value: the write landed, the memo is the culprit
    assert ("Greenhouse.Fans.limit/1 returns the new value" in f.summary
            or "Greenhouse.Sensors.max_temp/1 returns the new value" in f.summary), f.summary
    assert f.signatures == ["data:stale_read"]
    # a copy in a server's state: the handle_call that answers from it, not its client function
    f = facts.pop(("Greenhouse.Lamps", "handle_call/3"))
    assert '"bed-2"' in f.title and "28.0" in f.title and "25.0" in f.title, f.title
    assert "Greenhouse.Lamps.handle_call/3 answers from a copy" in f.summary, f.summary
    # a setter given a map of keys
    f = facts.pop(("Greenhouse.Misters", "threshold/1"))
    assert '"bed-3"' in f.title and "30.0" in f.title and "27.5" in f.title and "put_max_temps/1" in f.summary, f.summary
    # the readers that see the change (Fans, Sensors) are no fact, the boot copy of the config is the other one
    assert [m for m, _ in facts] == ["Library.Admin"], list(facts)


def test_boot_copy_missing_a_config_change_names_the_writer(book):
    facts = [f for f in book.of_kind("stale_read") if f.culprit.module == "Library.Admin"]
    assert len(facts) == 1, [f.title for f in book.of_kind("stale_read")]
    f = facts[0]
    assert f.culprit.function == "handle_call/3" and "Application.put_env(:library, :loan_days" in f.culprit.detail
    assert "Library.Loans.days_for/1" in f.title and '"dvd"' in f.title and "14" in f.title, f.title
    assert "renewals" not in f.summary, f.summary
    assert len(book.of_kind("stale_read")) == 4, [x.title for x in book.of_kind("stale_read")]


def test_day_of_a_utc_timestamp(book):
    facts = {f.culprit.function: f for f in book.of_kind("utc_date")}
    # a named helper, and an anonymous one (named by the function that holds it); not the local twins
    assert sorted(facts) == ["by_day/1", "day_of/1"], [f.title for f in book.of_kind("utc_date")]
    assert facts["by_day/1"].culprit.module == "Bakery.Sales"
    f = facts["day_of/1"]
    assert f.culprit.module == "Bakery.Sales"
    assert f.culprit.detail == "~U[2026-12-04 20:15:00Z]", f.culprit.detail
    assert "2 of them" in f.summary and "39600" in f.summary, f.summary
    # the offset as the application applies it, to a DateTime and to its naive form
    assert "DateTime.add/4 in Bakery.Receipts.stamp/1" in f.summary, f.summary
    assert "NaiveDateTime.add/3 in Bakery.Sales.local_day/1" in f.summary, f.summary


def test_keyset_page_past_a_tie(book):
    facts = {f.culprit.function: f for f in book.of_kind("page_skip")}
    assert sorted(facts) == ["changes/2", "mirror/1", "pages/2"], [f.title for f in book.facts]   # not pages_right/2
    f = facts["pages/2"]
    assert f.culprit.module == "Archive.Export" and f.culprit.detail.startswith("501 = 500 + 1"), f.culprit.detail
    assert "2 rows sharing" in f.title, f.title
    # a timestamp cursor: DateTime.add(last.at, 1, :second) past 3 rows at 08:01
    # the page as recorded is cut short; the tie shows in the rows the mirror stored one by one
    f = facts["mirror/1"]
    assert f.culprit.module == "Archive.Export" and f.culprit.detail.startswith("501 = 500 + 1"), f.culprit.detail
    f = facts["changes/2"]
    assert "3 rows sharing :at" in f.title and "+ 1 s" in f.culprit.detail, (f.title, f.culprit.detail)
