"""``lost_in_mailbox`` (agents/evidence/failures.py) on a real node: a server that stops on one
message while more are queued behind it loses them without an error — when the capture traced its
receives. A process whose receives were not traced (tests/test_evidence_dropped.py's twins: a
ticker that takes its ``:stop`` unseen and ends) is no such loss."""

from __future__ import annotations

from support.fact_recording import record_facts

APP = r'''
defmodule Inbox do
  use GenServer
  def start, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def put(x), do: GenServer.cast(__MODULE__, {:put, x})
  def close, do: GenServer.cast(__MODULE__, :close)
  def init(s), do: {:ok, s}
  def handle_cast(:close, s), do: {:stop, :normal, s}
  def handle_cast({:put, x}, s) do
    Process.sleep(20)
    {:noreply, [x | s]}
  end
end

defmodule Run do
  def run do
    Inbox.put(1)
    Inbox.close()
    for i <- 2..4, do: Inbox.put(i)
    Process.sleep(200)
    :ok
  end
end
'''


def test_messages_queued_behind_a_stop_are_lost(tmp_path):
    book = record_facts(tmp_path, APP, start="Inbox.start()", run="Elixir.Run",
                        specs=["Inbox :: return", "Run :: return"], lifecycle_procs="all")
    found = book.of_kind("lost_in_mailbox")
    assert len(found) == 1, [(f.id, f.title) for f in book.facts]
    assert "3 message(s) died in" in found[0].title, found[0].title
    assert "Inbox" in found[0].title, found[0].title


DRAINED = APP.replace("""    Inbox.put(1)
    Inbox.close()
    for i <- 2..4, do: Inbox.put(i)""", """    for i <- 1..4, do: Inbox.put(i)
    Inbox.close()""")


def test_a_server_that_stops_after_its_queue_is_handled_loses_nothing(tmp_path):
    assert DRAINED != APP
    book = record_facts(tmp_path, DRAINED, start="Inbox.start()", run="Elixir.Run",
                        specs=["Inbox :: return", "Run :: return"], lifecycle_procs="all")
    assert not book.of_kind("lost_in_mailbox"), [(f.id, f.title) for f in book.facts]
