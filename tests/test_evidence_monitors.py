"""The ignored-:DOWN fact (agents/evidence/monitors.py) on a real node: a feed is stopped and
started again; four watchers get the notice. One monitored the feed by its registered name, so
the notice names ``{Feed, node}`` and its clause for the stored pid never matches (named, in
full); one monitored the pid and lets a catch-all take the notice (named, weak); one handles the
notice and looks the feed up again, and one ignores the notice of a worker it never kept — both
must stay silent."""

from __future__ import annotations

import pytest

from support.fact_recording import record_facts

APP = r'''
defmodule Feed do
  use GenServer
  def start_link, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def init(s), do: {:ok, s}
end

defmodule Watch.ByName do
  use GenServer
  def start_link, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def init([]) do
    Process.monitor(Feed)
    {:ok, %{feed: Process.whereis(Feed), follows: true}}
  end
  def handle_info({:DOWN, _ref, :process, pid, _why}, %{feed: pid} = s), do: {:noreply, %{s | follows: false}}
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule Watch.Forgetful do
  use GenServer
  def start_link, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def init([]) do
    feed = Process.whereis(Feed)
    Process.monitor(feed)
    {:ok, %{feed: feed}}
  end
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule Watch.Right do
  use GenServer
  def start_link, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def init([]) do
    feed = Process.whereis(Feed)
    Process.monitor(feed)
    {:ok, %{feed: feed, lost: 0}}
  end
  def handle_info({:DOWN, _ref, :process, pid, _why}, %{feed: pid} = s), do: {:noreply, %{s | feed: nil, lost: s.lost + 1}}
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule Watch.Tasks do
  use GenServer
  def start_link, do: GenServer.start(__MODULE__, [], name: __MODULE__)
  def init([]), do: {:ok, %{done: 0}}
  def spawn_job, do: GenServer.call(__MODULE__, :job)
  def handle_call(:job, _from, s) do
    pid = spawn(fn -> Process.sleep(20) end)
    Process.monitor(pid)
    {:reply, :ok, s}
  end
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule MonApp do
  def start do
    {:ok, _} = Feed.start_link()
    for m <- [Watch.ByName, Watch.Forgetful, Watch.Right, Watch.Tasks], do: {:ok, _} = m.start_link()
    {:ok, self()}
  end

  def run do
    Watch.Tasks.spawn_job()
    GenServer.stop(Feed, :shutdown)
    {:ok, _} = Feed.start_link()
    Process.sleep(150)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return record_facts(tmp_path_factory.mktemp("monitors"), APP, start="MonApp.start()", run="Elixir.MonApp",
                        specs=["Watch.ByName :: return", "Watch.Forgetful :: return", "Watch.Right :: return",
                               "Watch.Tasks :: return", "Feed :: return"],
                        state_modules=tuple(f"Elixir.Watch.{m}" for m in ("ByName", "Forgetful", "Right", "Tasks")),
                        lifecycle_procs="all")


def test_a_down_ignored_by_a_watcher_that_keeps_the_pid_is_named(book):
    facts = {f.culprit.process: f for f in book.of_kind("down_ignored")}
    assert set(facts) == {"Watch.ByName", "Watch.Forgetful"}, [f.title for f in book.of_kind("down_ignored")]
    by_name = facts["Watch.ByName"]
    assert (by_name.culprit.module, by_name.culprit.function) == ("Watch.ByName", "handle_info/2")
    assert by_name.weak is None and by_name.confidence >= 0.6
    assert "registered name" in by_name.summary and "Feed" in by_name.summary
    assert "monitor:down_unhandled" in by_name.signatures
    # a monitor by pid whose notice a catch-all takes: named, but a watcher may look the pid up later
    forgetful = facts["Watch.Forgetful"]
    assert forgetful.weak and forgetful.confidence < 0.6


def test_a_down_handled_or_of_a_process_never_kept_is_not_named(book):
    named = {f.culprit.module for f in book.of_kind("down_ignored")}
    assert "Watch.Right" not in named and "Watch.Tasks" not in named
