"""The bounced-message fact (agents/evidence/bounces.py) on a real node: a desk that does not know a
ticket's category hands it back to the router, which sends it to the same desk again (stopped after
30 hops so the test ends). Named: the desk's callback that hands it back. Twins that must stay silent:
a router and a desk that acknowledge each ticket once by cast (many tickets, each going back and forth
once), and a client asking a server for the same key 25 times by call."""

from __future__ import annotations

import pytest

from support.fact_recording import record_facts

APP = r'''
defmodule Tickets.Router do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def route(t), do: GenServer.cast(__MODULE__, {:route, t})
  def back(t), do: GenServer.cast(__MODULE__, {:back, t})
  def init(n), do: {:ok, n}
  def handle_cast({:route, t}, n), do: (Tickets.Desk.take(t); {:noreply, n + 1})
  def handle_cast({:back, t}, n) when n < 60, do: (Tickets.Desk.take(t); {:noreply, n + 1})
  def handle_cast({:back, _t}, n), do: {:noreply, n}
end

defmodule Tickets.Desk do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def take(t), do: GenServer.cast(__MODULE__, {:take, t})
  def init(s), do: {:ok, s}
  def handle_cast({:take, %{category: "noise"} = t}, s), do: {:noreply, [t.id | s]}
  def handle_cast({:take, t}, s) do
    Tickets.Router.back(t)
    {:noreply, s}
  end
end

defmodule Acks.Hub do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def post(t), do: GenServer.cast(__MODULE__, {:post, t})
  def ack(t), do: GenServer.cast(__MODULE__, {:ack, t})
  def init(s), do: {:ok, s}
  def handle_cast({:post, t}, s), do: (Acks.Desk.file(t); {:noreply, s})
  def handle_cast({:ack, t}, s), do: {:noreply, [t.id | s]}
end

defmodule Acks.Desk do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def file(t), do: GenServer.cast(__MODULE__, {:file, t})
  def init(s), do: {:ok, s}
  def handle_cast({:file, t}, s), do: (Acks.Hub.ack(t); {:noreply, [t | s]})
end

defmodule Lookup do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, %{"zone-7" => "north"}, name: __MODULE__)
  def get(k), do: GenServer.call(__MODULE__, {:get, k})
  def init(s), do: {:ok, s}
  def handle_call({:get, k}, _from, s), do: {:reply, {k, Map.get(s, k)}, s}
end

defmodule BounceApp do
  def start do
    for m <- [Tickets.Router, Tickets.Desk, Acks.Hub, Acks.Desk, Lookup], do: {:ok, _} = m.start_link()
    {:ok, self()}
  end

  def run do
    Tickets.Router.route(%{id: "T-5501", category: "noise"})
    Tickets.Router.route(%{id: "T-5502", category: "lamp post"})
    for i <- 1..15, do: Acks.Hub.post(%{id: "A-#{7000 + i}", text: "filed"})
    for _ <- 1..25, do: Lookup.get("zone-7")
    Process.sleep(200)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    mods = ["Tickets.Router", "Tickets.Desk", "Acks.Hub", "Acks.Desk", "Lookup", "BounceApp"]
    return record_facts(tmp_path_factory.mktemp("bounces"), APP, start="BounceApp.start()", run="Elixir.BounceApp",
                        specs=[f"{m} :: return" for m in mods])


def test_a_payload_handed_back_and_forth_is_named_at_the_callback_that_hands_it_back(book):
    facts = book.of_kind("message_bounced")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    # Tickets.Router.back/1 only sends: the desk's callback decided to hand the ticket back
    assert (f.culprit.module, f.culprit.function) == ("Tickets.Desk", "handle_cast/2"), f.culprit
    assert "T-5502" in f.title and "T-5501" not in f.title


def test_acknowledgements_and_repeated_calls_are_not_bounces(book):
    named = " ".join(f.summary for f in book.of_kind("message_bounced"))
    assert "A-70" not in named and "zone-7" not in named
