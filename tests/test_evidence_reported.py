"""Calibration against confident wrong verdicts, on a real node: the failure the user reports is
the end of the causal chain, not its cause. Each rule beside a twin where the fact must still
count in full:

- an error whose reason (or the status a caller answered instead) the symptom repeats reached
  the user — it was not dropped (twin: the same recording, a symptom that does not name it);
- a callback that replies ``{:error, _}`` after catching a failure passed it on (twin: one that
  answers a normal value);
- a slowness the symptom calls expected blames the caller that did not survive it (twin: a
  symptom that only says it times out);
- a child stopped on request and asked for again in vain blames the callback whose request
  failed (twin: a child that ended itself);
- a start race for the same instance blames the caller that turned ``{:already_started, pid}``
  into a failure;
- a poll whose pace follows the work it finds (short after "empty", long after a job) is no
  hot loop on its own (twin: a tick that sped up after a reconfiguration,
  tests/test_evidence_calibration.py);
- a refused multi-step request that keeps the steps that worked is a fact of its own (twin: one
  that releases them);
- a reply that composes the stated text anew (a log of earlier answers in the state) is not served
  from the state (twin: a cache keyed too coarsely, tests/test_evidence_provenance.py);
- a stale copy that another write path keeps fresh blames the write path that does not tell it
  (the twin, a memo nobody refreshes, names the reader: tests/test_evidence_drift.py).
"""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.hypotheses import MIN_VERDICT, WEAK_FACT, relevance
from support.fact_recording import record_view

APP = r'''
defmodule Vouchers do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{"WIN-1" => "2099-12-31", "WIN-2" => "31.12.2026"}, name: __MODULE__)
  def redeem(code), do: GenServer.call(__MODULE__, {:redeem, code})
  def init(m), do: {:ok, m}
  def handle_call({:redeem, code}, _from, m) do
    case Date.from_iso8601(Map.get(m, code, "")) do
      {:ok, _} -> {:reply, {:ok, :two_for_one}, m}
      {:error, _} -> {:reply, {:error, :expired}, m}
    end
  end
end

defmodule Till do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def buy(code), do: GenServer.call(__MODULE__, {:buy, code})
  def init(s), do: {:ok, s}
  def handle_call({:buy, code}, _from, s) do
    discount =
      case Vouchers.redeem(code) do
        {:ok, _} -> 500
        {:error, _reason} -> 0
      end
    {:reply, {:ok, 1000 - discount}, [code | s]}
  end
end

defmodule Allowance do
  def take(key), do: if(String.starts_with?(key, "busy"), do: {:error, :limited}, else: :ok)
end

defmodule Api do
  def request(key) do
    case Allowance.take(key) do
      :ok -> {200, %{status: "in transit"}}
      {:error, :limited} -> {429, %{error: "too many requests"}}
    end
  end
end

defmodule Gateway do
  use GenServer
  def start_link(m), do: GenServer.start_link(__MODULE__, m, name: name(m))
  def charge(m), do: GenServer.call(name(m), :charge, 100)
  defp name("card"), do: :gateway_card
  defp name("paypal"), do: :gateway_paypal
  def init(m), do: {:ok, m}
  def handle_call(:charge, _from, m), do: {:reply, {:ok, m}, m}
end

defmodule Pay do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def pay(m), do: GenServer.call(__MODULE__, {:pay, m})
  def quote(m), do: GenServer.call(__MODULE__, {:quote, m})
  def init(s), do: {:ok, s}
  def handle_call({:pay, m}, _from, s) do
    result =
      try do
        Gateway.charge(m)
      catch
        :exit, _ -> {:error, :method_unavailable}
      end
    {:reply, result, s}
  end
  def handle_call({:quote, m}, _from, s) do
    fee =
      try do
        Gateway.charge(m)
        150
      catch
        :exit, _ -> 0
      end
    {:reply, fee, s}
  end
end

defmodule Methods do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def add(m), do: GenServer.call(__MODULE__, {:add, m})
  def disable(m), do: GenServer.call(__MODULE__, {:disable, m})
  def enable(m), do: GenServer.call(__MODULE__, {:enable, m})
  def init(s), do: {:ok, s}
  def handle_call({:add, m}, _from, s) do
    {:ok, _} = Supervisor.start_child(ReportedApp.GatewaySup, %{id: {:gw, m}, start: {Gateway, :start_link, [m]}})
    {:reply, :ok, Map.put(s, m, true)}
  end
  def handle_call({:disable, m}, _from, s) do
    :ok = Supervisor.terminate_child(ReportedApp.GatewaySup, {:gw, m})
    {:reply, :ok, Map.put(s, m, false)}
  end
  def handle_call({:enable, m}, _from, s) do
    _ = Supervisor.start_child(ReportedApp.GatewaySup, %{id: {:gw, m}, start: {Gateway, :start_link, [m]}})
    {:reply, :ok, Map.put(s, m, true)}
  end
end

defmodule Courier do
  use GenServer, restart: :transient
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def finish, do: GenServer.cast(__MODULE__, :finish)
  def init(s), do: {:ok, s}
  def handle_cast(:finish, s), do: {:stop, :normal, s}
end

defmodule Recommender do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def similar(id), do: GenServer.call(__MODULE__, {:similar, id}, 60)
  def init(s), do: {:ok, s}
  def handle_call({:similar, id}, _from, s) do
    Process.sleep(200)
    {:reply, [id], s}
  end
end

defmodule RecipePage do
  def get(id), do: {200, "<h1>#{id}</h1>" <> Enum.join(sidebar(id), ",")}
  def sidebar(id) do
    try do
      Recommender.similar(id)
    rescue
      _ -> []
    end
  end
end

defmodule Board do
  use GenServer
  def start_link(id), do: GenServer.start_link(__MODULE__, id, name: {:global, {:board, id}})
  def init(id), do: {:ok, id}
end

defmodule Boards do
  def open(id) do
    case :global.whereis_name({:board, id}) do
      :undefined ->
        Process.sleep(20)
        case DynamicSupervisor.start_child(ReportedApp.Dyn, {Board, id}) do
          {:ok, pid} -> {:ok, pid}
          {:error, _} -> {:error, :board_unavailable}
        end
      pid -> {:ok, pid}
    end
  end
end

defmodule Catalog do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{"tea" => 399, "jam" => 259} end, name: __MODULE__)
  def price(sku), do: Agent.get(__MODULE__, &Map.fetch!(&1, sku))
  def put(sku, cents), do: Agent.update(__MODULE__, &Map.put(&1, sku, cents))
  def put_many(rows), do: Agent.update(__MODULE__, &Map.merge(&1, Map.new(rows)))
end

defmodule PriceCache do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def price(sku), do: GenServer.call(__MODULE__, {:price, sku})
  def invalidate(sku), do: GenServer.cast(__MODULE__, {:invalidate, sku})
  def init(m), do: {:ok, m}
  def handle_call({:price, sku}, _from, m) do
    case Map.fetch(m, sku) do
      {:ok, cents} -> {:reply, cents, m}
      :error -> {:reply, Catalog.price(sku), Map.put(m, sku, Catalog.price(sku))}
    end
  end
  def handle_cast({:invalidate, sku}, m), do: {:noreply, Map.delete(m, sku)}
end

defmodule Admin do
  def set_price(sku, cents) do
    Catalog.put(sku, cents)
    PriceCache.invalidate(sku)
  end
end

defmodule Promo do
  def run(file, rows) do
    Catalog.put_many(rows)
    {:ok, file}
  end
end

defmodule Jobs do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> [] end, name: __MODULE__)
  def push(n), do: Agent.update(__MODULE__, &(&1 ++ Enum.to_list(1..n)))
  def next, do: Agent.get_and_update(__MODULE__, fn [] -> {:empty, []}; [j | rest] -> {{:job, j}, rest} end)
end

defmodule Poller do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def init(n) do
    send(self(), :free)
    {:ok, n}
  end
  def handle_info(:free, n) do
    case Jobs.next() do
      {:job, _} ->
        Process.send_after(self(), :free, 60)
        {:noreply, n + 1}
      :empty ->
        Process.send_after(self(), :free, 12)
        {:noreply, n}
    end
  end
end

defmodule Stock do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{stock: %{"chair" => 100, "tent" => 1}, holds: %{}}, name: __MODULE__)
  def hold(event, item, n), do: GenServer.call(__MODULE__, {:hold, event, item, n})
  def release(event, item, n), do: GenServer.call(__MODULE__, {:release, event, item, n})
  def free(item), do: GenServer.call(__MODULE__, {:free, item})
  def init(s), do: {:ok, s}
  def handle_call({:hold, event, item, n}, _from, s) do
    if left(s, item) >= n,
      do: {:reply, :ok, %{s | holds: Map.update(s.holds, {event, item}, n, &(&1 + n))}},
      else: {:reply, {:error, {:unavailable, item}}, s}
  end
  def handle_call({:release, event, item, _n}, _from, s), do: {:reply, :ok, %{s | holds: Map.delete(s.holds, {event, item})}}
  def handle_call({:free, item}, _from, s), do: {:reply, left(s, item), s}
  defp left(s, item), do: s.stock[item] - Enum.sum(for {{_e, ^item}, n} <- s.holds, do: n)
end

defmodule Rental do
  def reserve_all(event, items) do
    Enum.reduce_while(items, :ok, fn {item, n}, :ok ->
      case Stock.hold(event, item, n) do
        :ok -> {:cont, :ok}
        {:error, reason} -> {:halt, {:error, reason}}
      end
    end)
  end

  # the twin: gives back what it took when a later step fails
  def reserve_or_release(event, items) do
    Enum.reduce_while(items, [], fn {item, n}, taken ->
      case Stock.hold(event, item, n) do
        :ok -> {:cont, [{item, n} | taken]}
        {:error, reason} ->
          for {i, k} <- taken, do: Stock.release(event, i, k)
          {:halt, {:error, reason}}
      end
    end)
    |> case do
      {:error, _} = e -> e
      _ -> :ok
    end
  end
end

defmodule Kiosk do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def pickup(name), do: GenServer.call(__MODULE__, {:pickup, name})
  def init(log), do: {:ok, log}
  def handle_call({:pickup, name}, _from, log) do
    screen = if name == "Anna", do: "Bib 1021", else: "No registration found for #{name}. Please go to the help desk."
    {:reply, screen, [{name, screen} | log]}
  end
end

defmodule ReportedApp do
  def start do
    children = [Vouchers, Till, Pay, Methods, Recommender, Catalog, PriceCache, Jobs, Stock, Kiosk,
                %{id: ReportedApp.GatewaySup, type: :supervisor,
                  start: {Supervisor, :start_link, [[], [strategy: :one_for_one, name: ReportedApp.GatewaySup]]}},
                {DynamicSupervisor, name: ReportedApp.Dyn, strategy: :one_for_one}]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: ReportedApp.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def run do
    for code <- ["WIN-1", "WIN-2"], do: Till.buy(code)
    for key <- ["busy-shop", "tea-shop"], do: Api.request(key)
    {:ok, _} = Supervisor.start_child(ReportedApp.GatewaySup, Courier)
    Jobs.push(7)
    {:ok, _} = Supervisor.start_child(ReportedApp.GatewaySup, Poller)
    :ok = Methods.add("card")
    :ok = Methods.add("paypal")
    Process.sleep(50)   # the recording learns a new process's name and initial call while it runs
    :ok = Methods.disable("paypal")
    :ok = Methods.enable("paypal")
    Pay.pay("card")
    Pay.pay("paypal")
    Pay.quote("card")
    Pay.quote("paypal")
    Courier.finish()
    Process.sleep(20)
    spawn(fn -> RecipePage.get("lasagne") end)
    for _ <- 1..2, do: spawn(fn -> Boards.open("wb-1") end)
    for name <- ["Anna", "Jonas", "Ines"], do: Kiosk.pickup(name)
    Rental.reserve_or_release("Fair", [{"chair", 10}, {"tent", 5}])
    Rental.reserve_all("Wedding", [{"chair", 60}, {"tent", 5}])
    Stock.free("chair")
    for sku <- ["tea", "jam"], do: PriceCache.price(sku)
    Admin.set_price("jam", 279)
    Promo.run("promo.csv", [{"tea", 249}])
    for sku <- ["tea", "jam"], do: {PriceCache.price(sku), Catalog.price(sku)}
    Process.sleep(1000)
    :ok
  end
end
'''

SPECS = ["Vouchers.handle_call/3 :: return", "Vouchers.redeem/1 :: return", "Till.handle_call/3 :: return",
         "Allowance.take/1 :: return", "Api.request/1 :: return", "Gateway.charge/1 :: return",
         "Gateway.handle_call/3 :: return", "Gateway.start_link/1 :: return", "Pay.handle_call/3 :: return",
         "Methods.handle_call/3 :: return", "Courier.handle_cast/2 :: return",
         "Recommender.similar/1 :: return", "Recommender.handle_call/3 :: return", "RecipePage.get/1 :: return",
         "RecipePage.sidebar/1 :: return", "Board.start_link/1 :: return", "Boards.open/1 :: return",
         "Catalog.price/1 :: return", "Catalog.put/2 :: return", "Catalog.put_many/1 :: return",
         "PriceCache.price/1 :: return", "PriceCache.handle_call/3 :: return", "PriceCache.handle_cast/2 :: return",
         "PriceCache.invalidate/1 :: return", "Admin.set_price/2 :: return", "Promo.run/2 :: return",
         "Kiosk.handle_call/3 :: return", "Stock.hold/3 :: return", "Stock.free/1 :: return", "Stock.handle_call/3 :: return", "Stock.release/3 :: return", "Rental.reserve_all/2 :: return",
         "Rental.reserve_or_release/2 :: return", "Poller.handle_info/2 :: return", "Jobs.next/0 :: return", "ReportedApp.run/0 :: return"]

NEUTRAL = "the numbers in the shop look wrong"


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("reported"), APP, start="ReportedApp.start()", run="Elixir.ReportedApp",
                       specs=SPECS, state_modules=("Elixir.Methods",), lifecycle_procs="all")


def _facts(view, symptom):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return book


def _one(book, kind, module):
    found = [f for f in book.of_kind(kind) if f.culprit.module == module]
    assert len(found) == 1, [(f.detector, f.culprit.module, f.culprit.function, f.title) for f in book.facts]
    return found[0]


def test_an_error_the_symptom_reports_is_not_an_ignored_error(view):
    book = _facts(view, "our winter codes are refused at checkout as expired, although they are valid")
    f = _one(book, "ignored_error", "Till")
    assert f.weak and "expired" in f.weak, f.weak
    assert relevance(book, "our winter codes are refused at checkout as expired")[f.id] <= WEAK_FACT < MIN_VERDICT


def test_an_error_named_by_a_user_who_saw_no_error_still_counts(view):
    symptom = "the codes are expired but the till takes them silently, with no error"
    f = _one(_facts(view, symptom), "ignored_error", "Till")
    assert f.weak is None


def test_the_same_error_unnamed_by_the_symptom_counts_in_full(view):
    book = _facts(view, NEUTRAL)
    f = _one(book, "ignored_error", "Till")
    assert f.weak is None
    assert relevance(book, NEUTRAL)[f.id] >= MIN_VERDICT


def test_a_status_code_the_caller_answered_is_the_reported_failure(view):
    symptom = "the shop gets 429 Too Many Requests for almost every call, well under its contract's rate"
    f = _one(_facts(view, symptom), "ignored_error", "Api")
    assert f.weak and "429" in f.weak, f.weak
    assert _one(_facts(view, NEUTRAL), "ignored_error", "Api").weak is None


def test_a_caught_failure_replied_as_an_error_is_passed_on(view):
    book = _facts(view, NEUTRAL)
    caught = [f for f in book.of_kind("caught_failure") if f.culprit.module == "Pay"]
    # {:pay, _} replies {:error, :method_unavailable}: passed on; {:quote, _} answers a fee of 0: hidden
    assert [f.culprit.detail for f in caught] == ["{:reply, 0, []}"], [(f.title, f.culprit.detail) for f in caught]
    assert "method_unavailable" not in caught[0].summary


def test_a_child_stopped_on_request_blames_the_callback_whose_restart_failed(view):
    f = _one(_facts(view, NEUTRAL), "not_restarted", "Methods")   # the gateway, blamed on Methods
    assert f.culprit.function == "handle_call/3"
    assert "enable" in f.culprit.detail and "stopped on request" in f.summary, (f.culprit, f.summary)


def test_a_child_that_ended_itself_is_blamed_on_its_own_callback(view):
    f = _one(_facts(view, NEUTRAL), "not_restarted", "Courier")
    assert f.culprit.function == "handle_cast/2"


def test_a_slowness_the_symptom_calls_expected_blames_the_caller(view):
    symptom = ("the lasagne page shows an error page; the sidebar simply stays empty when the recommendation "
               "service is slow, so a slow recommender should never break a page")
    book = _facts(view, symptom)
    slow = _one(book, "slow_callback", "Recommender")
    assert slow.weak and "slow by design" in slow.weak
    failed = [f for f in book.of_kind("call_failed") if f.culprit.module == "RecipePage"]
    assert len(failed) == 1 and failed[0].caused_by is None, [(f.culprit, f.caused_by) for f in book.of_kind("call_failed")]
    assert failed[0].culprit.function == "sidebar/1"
    assert relevance(book, symptom)[failed[0].id] >= MIN_VERDICT


@pytest.mark.parametrize("symptom", ["the lasagne page times out",
                                     "the lasagne page times out; the recommender should not take that long"])
def test_a_timeout_without_that_claim_is_the_slow_callbacks(view, symptom):
    book = _facts(view, symptom)
    slow = _one(book, "slow_callback", "Recommender")
    assert slow.weak is None
    assert relevance(book, symptom)[slow.id] >= MIN_VERDICT
    timeouts = [f for f in book.of_kind("call_failed") if "Recommender" in f.title]
    assert len(timeouts) == 1 and timeouts[0].caused_by == slow.id, [(f.title, f.caused_by) for f in timeouts]


def test_a_start_race_blames_the_caller_that_failed_on_already_started(view):
    f = _one(_facts(view, NEUTRAL), "already_started", "Boards")
    assert f.culprit.function == "open/1"
    assert "already_started" in f.title and f.weak is None


def test_a_stale_copy_blames_the_write_path_that_skips_its_invalidation(view):
    book = _facts(view, NEUTRAL)
    f = _one(book, "stale_read", "Promo")
    assert f.culprit.function == "run/2", f.culprit
    assert "Admin.set_price/2" in f.summary and "tea" in f.title


def test_a_poll_paced_by_the_work_it_finds_is_weak(view):
    book = _facts(view, NEUTRAL)
    f = _one(book, "hot_callback", "Poller")
    assert f.weak and "polls" in f.weak and ":empty" in f.weak, f.weak
    assert relevance(book, NEUTRAL)[f.id] <= WEAK_FACT
    # many customers ("busy") say nothing about the loop; the rate the user expected does
    assert relevance(book, "the support desk was busy all morning")[f.id] <= WEAK_FACT
    assert relevance(book, "it should only check for jobs twice a minute")[f.id] >= MIN_VERDICT


def test_a_refused_request_that_keeps_its_steps_is_a_partial_failure(view):
    book = _facts(view, NEUTRAL)
    facts = book.of_kind("partial_failure_kept")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Rental", "reserve_all/2")], \
        [f.title for f in facts]
    assert '"Wedding"' in facts[0].culprit.detail and '"chair"' in facts[0].culprit.detail


def test_a_wrong_value_computed_from_what_the_refused_request_left_is_its_effect(view):
    book = _facts(view, "the availability page shows only 40 chairs free, though nothing is booked")
    kept = _one(book, "partial_failure_kept", "Rental")
    origins = [f for f in book.of_kind("value_origin") if "40" in f.title]
    assert origins and all(f.caused_by == kept.id for f in origins), [(f.title, f.caused_by) for f in origins]
    # the twin: the same value with no refused request behind it stays a first cause
    assert not [f for f in book.of_kind("value_origin") if f.caused_by and "40" not in f.title]


def test_a_text_composed_anew_is_not_served_from_the_state(view):
    book = _facts(view, "runners with accents get 'No registration found' at the kiosk")
    assert not book.of_kind("served_for_other_request"), [f.title for f in book.of_kind("served_for_other_request")]
    assert [f for f in book.of_kind("value_origin") if f.culprit.module == "Kiosk"]
