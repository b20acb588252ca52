"""Where a wrong value comes from, not where it is seen (agents/evidence/provenance.py,
constant.py, values.py), on a real node: each function that only passes a value on — picks a field out of
its input, builds a list of the size it was given, answers the same request again from its
cache, keeps what it was sent — runs beside one that makes the value, in one recording; only the
maker may be named."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Orig.Readings do
  # a field picked out of a reading passes the value on; a scaled raw value is made here
  def pick(r), do: r.level
  def scaled(r), do: r.raw * 3
end

defmodule Orig.Roll do
  # a list built to the size it was given: the count came with the arguments
  def make(prefix, n), do: for(i <- 1..n, do: "#{prefix}#{i}")
end

defmodule Orig.Batches do
  def batches(xs), do: Enum.chunk_every(xs, 4, 4, :discard)
  def batches_right(xs), do: Enum.chunk_every(xs, 4)
  def first(xs), do: Enum.take(xs, 3)
  def numbered(xs), do: Enum.with_index(xs)
end

defmodule Orig.Tags do
  def assign(kids), do: store(Enum.zip(kids, tags(length(kids))))
  def assign_right(kids), do: store(Enum.zip(kids, tags_right(length(kids))))
  def tags(n), do: Enum.map(1..min(n, 5), &"T#{&1}")
  def tags_right(n), do: Enum.map(1..n, &"T#{&1}")
  def store(pairs), do: length(pairs)
end

defmodule Orig.Refunds do
  # decoded JSON has text keys: read with an atom, the amount is always nil
  def from_provider(payload), do: %{amount: payload[:amount], order: payload["order"]}
  def from_provider_right(payload), do: %{amount: payload["amount"], order: payload["order"]}
  def handle(payload), do: {:ok, from_provider(payload)}
end

defmodule Orig.Frames do
  # the scale sends temperatures in tenths as signed 16-bit numbers
  def decode(<<hive, t::16>>), do: {:ok, %{hive: hive, temp: t / 10}}
  def decode_right(<<hive, t::signed-16>>), do: {:ok, %{hive: hive, temp: t / 10}}
  def read(frame), do: decode(frame)
end

defmodule Orig.Consent do
  # `!` binds tighter than `==`: a boolean compared with nil, always false
  def unsubscribed?(c), do: !c.unsubscribed_at == nil
  def unsubscribed_right?(c), do: c.unsubscribed_at != nil
  def mailable?(c), do: not unsubscribed?(c) and not String.ends_with?(c.email, ".invalid")
end

defmodule Orig.News do
  def members, do: ["lena@x.net", "mats@x.net", "ravi@x.net"]
  def course, do: ["ida@x.net", "lena@x.net", "ravi@x.net"]
  # dedup drops only neighbours: lena and ravi stay twice
  def recipients, do: Enum.dedup(members() ++ course())
  def recipients_right, do: Enum.uniq(members() ++ course())
  def issue(list), do: {:ok, list}
  # a log that is sent the same entry twice: the repeat came from its caller
  def log(entries, entry), do: [entry | entries]
  # the same answer to two requests is no record made twice
  def send_all(list), do: Enum.map(list, fn _ -> {:ok, :sent} end)
end

defmodule Orig.Accounts do
  # Map.put_new only adds missing keys: the changed plan is accepted and not applied
  use GenServer
  def start_link(right), do: GenServer.start_link(__MODULE__, right, name: if(right, do: Orig.AccountsRight, else: Orig.Accounts))
  def init(right), do: {:ok, %{right: right, subs: %{"sub-1" => %{plan: :classic, city: "Leipzig"}}}}
  def handle_call({:update, id, changes}, _from, s) do
    sub = s.subs[id]
    updated = if s.right, do: Map.merge(sub, changes), else: Enum.reduce(changes, sub, fn {k, v}, acc -> Map.put_new(acc, k, v) end)
    {:reply, {:ok, updated}, %{s | subs: Map.put(s.subs, id, updated)}}
  end
  def handle_call({:freeze, _id, _changes}, _from, s), do: {:reply, {:error, :frozen}, s}
end

defmodule Orig.Pages do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def view(show), do: GenServer.call(__MODULE__, {:view, show})
  def init(s), do: {:ok, s}
  def handle_call({:view, show}, _from, shown) do
    text = "#{seats(show)} seats left"
    {:reply, text, Map.update(shown, {show, text}, 1, &(&1 + 1))}
  end
  defp seats("hamlet"), do: 42
  defp seats(_), do: 118
end

defmodule Orig.Sales do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def close(sale), do: GenServer.call(__MODULE__, {:close, sale})
  def all, do: GenServer.call(__MODULE__, :all)
  def init(s), do: {:ok, s}
  def handle_call({:close, sale}, _from, sales), do: {:reply, :ok, sales ++ [sale]}
  def handle_call(:all, _from, sales), do: {:reply, sales, sales}
end

defmodule Orig do
  def start do
    {:ok, a} = Orig.Pages.start_link([])
    {:ok, b} = Orig.Sales.start_link([])
    for right <- [true, false], do: ({:ok, p} = Orig.Accounts.start_link(right); Process.unlink(p))
    Process.unlink(a)
    Process.unlink(b)
    {:ok, a}
  end

  def run do
    Orig.Readings.pick(%{station: "north", level: 18})
    Orig.Readings.scaled(%{station: "south", raw: 9})
    Orig.Roll.make("KID-", 24)
    phones = for i <- 1..11, do: "+4917600#{i}"
    Orig.Batches.batches(phones)
    Orig.Batches.batches_right(phones)
    Orig.Batches.first(phones)
    Orig.Batches.numbered(phones)
    kids = for i <- 1..7, do: "K#{i}"
    Orig.Tags.assign(kids)
    Orig.Tags.assign_right(kids)
    for show <- ["hamlet", "hamlet", "odd-couple", "hamlet"], do: Orig.Pages.view(show)
    for {id, amount} <- [{"S-1", 1850000}, {"S-2", 425000}, {"S-3", 990000}, {"S-4", 62000}], do: Orig.Sales.close(%{id: id, amount: amount})
    Orig.Sales.all()
    for f <- [<<1, 14::signed-16>>, <<2, 9::signed-16>>, <<3, -35::signed-16>>, <<4, 3::signed-16>>] do
      {Orig.Frames.read(f), Orig.Frames.decode_right(f)}
    end
    for {name, at} <- [{"Anja Weber", nil}, {"Marta Ruiz", ~D[2026-09-14]}, {"Sofie Berg", ~D[2026-03-02]}, {"Piet Lund", nil}] do
      c = %{name: name, email: "x@#{if at, do: "example.org", else: "bounce.invalid"}", unsubscribed_at: at}
      {Orig.Consent.mailable?(c), Orig.Consent.unsubscribed_right?(c)}
    end
    for server <- [Orig.AccountsRight, Orig.Accounts] do
      GenServer.call(server, {:freeze, "sub-1", %{city: "Halle"}})
      GenServer.call(server, {:update, "sub-1", %{plan: :family, note: "back door"}})
    end
    Orig.News.log(Orig.News.log([], {"lena@x.net", "reset"}), {"lena@x.net", "reset"})
    Orig.News.send_all(["ida@x.net", "mats@x.net"])
    Orig.News.issue(Orig.News.recipients())
    Orig.News.issue(Orig.News.recipients_right())
    Orig.Refunds.handle(%{"amount" => 850, "order" => "M-1"})
    Orig.Refunds.from_provider_right(%{"amount" => 1200, "order" => "M-3"})
    Orig.Refunds.from_provider_right(%{"order" => "M-2"})
    :ok
  end
end
'''

SPECS = ["Orig :: return", "Orig.Accounts :: return", "Orig.News :: return", "Orig.Consent :: return", "Orig.Frames :: return", "Orig.Refunds :: return", "Orig.Readings :: return", "Orig.Roll :: return", "Orig.Batches :: return", "Orig.Tags :: return",
         "Orig.Pages :: return", "Orig.Sales :: return"]


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("origin"), APP, start="Orig.start()", run="Elixir.Orig", specs=SPECS)


def _facts(view, symptom, kind):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return book.of_kind(kind)


def _named(facts):
    return [(f.culprit.module, f.culprit.function) for f in facts]


def test_a_field_picked_out_of_the_input_is_not_where_the_value_was_made(view):
    assert _facts(view, "the board shows 18 for the north station", "value_origin") == []
    # the twin multiplies a raw value: 27 is made there
    assert _named(_facts(view, "the board shows 27 for the south station", "value_origin")) == \
        [("Orig.Readings", "scaled/1")]


def test_a_list_built_to_the_size_it_was_given_is_not_the_origin_of_the_count(view):
    assert _facts(view, "the roster has 24 kids", "value_origin") == []


def test_an_identifier_that_only_names_a_case_is_not_followed(view):
    assert _facts(view, "kid KID-21 has no wristband", "value_origin") == []
    # an identifier the user says came out is
    assert _named(_facts(view, "the new kid's badge shows KID-21", "value_origin")) == [("Orig.Roll", "make/2")]


def test_a_request_answered_again_from_the_state_is_no_cache_keyed_too_coarsely(view):
    # hamlet was answered three times, each time for {:view, "hamlet"}: the caller (from) differs, the request not
    assert _facts(view, "the hamlet page kept saying '42 seats left'", "served_for_other_request") == []


def test_a_store_that_accumulated_the_items_did_not_serve_another_request(view):
    assert _facts(view, "the month only had four sales", "served_for_other_request") == []


HEAT = r'''
defmodule Heat.Hub do
  # the sync re-applies the set points read at start: every change made since is undone
  use GenServer
  def start_link(revert), do: GenServer.start_link(__MODULE__, revert, name: name(revert))
  def name(true), do: Heat.Hub
  def name(false), do: Heat.HubRight
  def init(revert), do: {:ok, %{revert: revert, setpoints: %{"living" => 20.0}, snapshot: %{"living" => 20.0}}}
  def handle_cast({:set, room, c}, s), do: {:noreply, %{s | setpoints: Map.put(s.setpoints, room, c)}}
  def handle_info(:sync, s) do
    points = if s.revert, do: s.snapshot, else: s.setpoints
    Heat.Boiler.demand(boiler(s.revert), points |> Map.values() |> Enum.max())
    {:noreply, %{s | setpoints: points}}
  end
  defp boiler(true), do: Heat.Boiler
  defp boiler(false), do: Heat.BoilerRight
end

defmodule Heat.Boiler do
  use GenServer
  def start_link(name), do: GenServer.start_link(__MODULE__, [], name: name)
  def demand(name, c), do: GenServer.cast(name, {:demand, c})
  def init([]), do: {:ok, %{flow: 42.5}}
  def handle_cast({:demand, c}, s), do: {:noreply, %{s | flow: 30.0 + (c - 15.0) * 2.5}}
end

defmodule Heat do
  def start do
    for {m, a} <- [{Heat.Boiler, Heat.Boiler}, {Heat.Boiler, Heat.BoilerRight}, {Heat.Hub, true}, {Heat.Hub, false}] do
      {:ok, pid} = m.start_link(a)
      Process.unlink(pid)
    end
    {:ok, self()}
  end

  def run do
    for _ <- 1..2 do
      GenServer.cast(Heat.Hub, {:set, "living", 22.5})
      send(Heat.Hub, :sync)
      send(Heat.HubRight, :sync)
      Process.sleep(20)
    end
    send(Heat.Hub, :sync)
    send(Heat.HubRight, :sync)
    Process.sleep(50)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def heat(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("heat"), HEAT, start="Heat.start()", run="Elixir.Heat",
                       specs=["Heat.Hub :: return", "Heat.Boiler :: return"],
                       state_modules=("Elixir.Heat.Hub", "Elixir.Heat.Boiler"))


def test_a_message_sent_by_the_callback_that_reverted_its_state_is_the_reverts_effect(heat):
    book = build_facts(heat, "I set the living room to 22.5 and a moment later it is back at 20")
    assert not book.errors, book.errors
    reverts = book.of_kind("state_revert")
    assert [(f.culprit.module, f.culprit.function) for f in reverts] == [("Heat.Hub", "handle_info/2")]
    quiet = {f.culprit.process: f for f in book.of_kind("no_effect_message")}
    # both boilers get the same demand again and again; only the reverting hub's was caused by its revert
    assert set(quiet) == {"Heat.Boiler", "Heat.BoilerRight"}, [f.title for f in book.facts]
    assert quiet["Heat.Boiler"].caused_by == reverts[0].id
    assert quiet["Heat.BoilerRight"].caused_by is None


def test_same_answer_for_all_names_the_check_that_cannot_tell_the_cases_apart(view):
    symptom = "Marta Ruiz unsubscribed in September and still got today's offer"
    facts = _facts(view, symptom, "same_answer_for_all")
    # mailable?/2 answers both ways (the bounced addresses), the twin tells set from nil: neither is named
    assert _named(facts) == [("Orig.Consent", "unsubscribed?/1")]
    f = facts[0]
    assert "answered false to all 4 calls" in f.title and f.weak and f.confidence == 0.5
    assert "Marta Ruiz" in f.culprit.detail and "unsubscribed_at is nil in some" in f.summary
    # without a failing case named it is weaker still
    assert [x.confidence for x in _facts(view, "", "same_answer_for_all")] == [0.4]
