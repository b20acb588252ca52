"""The bookkeeping facts (``agents/evidence/shutdown.py``, ``variants.py``, ``counters.py``,
``demand.py``) on a real node: each buggy server runs beside a correct twin, both recorded with
their callbacks, local functions and state, and only the buggy one may become a fact — with its
own module, function and values."""

from __future__ import annotations

import pytest

from elixir_scope.agents.capture import _supervision
from support.fact_recording import record_facts

APP = r'''
defmodule Loans.Archive do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> [] end, name: __MODULE__)
  def store(lines), do: Agent.update(__MODULE__, &(&1 ++ lines))
  def all, do: Agent.get(__MODULE__, & &1)
end

defmodule Loans.Log do
  # check-outs of a library desk, kept in a buffer and archived in batches
  use GenServer
  def start_link({trap, name}), do: GenServer.start_link(__MODULE__, trap, name: name)
  def init(trap) do
    if trap, do: Process.flag(:trap_exit, true)
    {:ok, %{pending: [], count: 0}}
  end
  def handle_call({:lend, book}, _from, s), do: {:reply, :ok, %{s | pending: [book | s.pending], count: s.count + 1}}
  def handle_info(:archive, s), do: {:noreply, archive(s)}
  def terminate(_reason, s), do: archive(s)
  defp archive(%{pending: []} = s), do: s
  defp archive(s) do
    Loans.Archive.store(Enum.reverse(s.pending))
    %{s | pending: []}
  end
end

defmodule Loans.Ledger do
  # a ledger that settles its open entries in terminate/2, slowly
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init([]) do
    Process.flag(:trap_exit, true)
    {:ok, %{open: []}}
  end
  def handle_call({:post, entry}, _from, s), do: {:reply, :ok, %{s | open: [entry | s.open]}}
  def terminate(_reason, s), do: settle(s.open)
  defp settle(open), do: Process.sleep(300 * length(open))
end

defmodule Loans.Scanner do
  # a branch's barcode scanner, restarted together with the branch's log (one_for_all)
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def init(n), do: {:ok, n}
  def handle_cast({:scan, code}, n), do: {:noreply, n + String.to_integer(code)}
end

defmodule Weather.Gauge do
  # readings of a station: {:reading, {:ok, v}} counts, {:reading, {:gust, v}} should too
  use GenServer
  def start_link(all), do: GenServer.start_link(__MODULE__, all, name: if(all, do: Weather.FullGauge, else: Weather.Gauge))
  def init(all), do: {:ok, %{all: all, readings: []}}
  def readings(name), do: GenServer.call(name, :readings)
  def handle_call(:readings, _from, s), do: {:reply, s.readings, s}
  def handle_info({:reading, {:ok, v}}, s), do: {:noreply, %{s | readings: [v | s.readings]}}
  def handle_info({:reading, {:gust, v}}, %{all: true} = s), do: {:noreply, %{s | readings: [v | s.readings]}}
  def handle_info(_other, s), do: {:noreply, s}
end

defmodule Mail.Relay do
  # a mail relay's health checks: every failed check waits longer before the next
  use GenServer
  def start_link(reset), do: GenServer.start_link(__MODULE__, reset, name: if(reset, do: Mail.GoodRelay, else: Mail.Relay))
  def init(reset), do: {:ok, %{reset: reset, health: :up, failures: 0, waits: []}}
  def check(name, result), do: GenServer.call(name, {:check, result})
  def handle_call({:check, :ok}, _from, s), do: {:reply, :ok, recovered(s)}
  def handle_call({:check, :error}, _from, s) do
    w = pause(s.failures)
    {:reply, w, %{s | health: :down, failures: s.failures + 1, waits: [w | s.waits]}}
  end
  defp recovered(%{reset: true} = s), do: %{s | health: :up, failures: 0}
  defp recovered(s), do: %{s | health: :up}
  defp pause(n), do: 50 * Integer.pow(2, n)
end

defmodule Dns.Upstream do
  # a resolver's upstream: after a run of misses it cools down, longer each time
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init([]), do: {:ok, %{up?: true, misses: 0}}
  def answer(result), do: GenServer.call(__MODULE__, {:answer, result})
  def handle_call({:answer, :hit}, _from, s), do: {:reply, 0, %{s | up?: true}}
  def handle_call({:answer, :miss}, _from, s), do: {:reply, cooldown(s), %{s | up?: false, misses: s.misses + 1}}
  defp cooldown(s), do: 20 + 15 * s.misses
end

defmodule Sync.Link do
  # a file-sync link that retries after a drop, waiting twice as long each time (computed inline)
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init([]), do: {:ok, %{link: :online, tries: 0, flaky: 0}}
  def handle_info({:drop, flaky}, s), do: {:noreply, retry_later(%{s | link: :offline, flaky: flaky})}
  def handle_info(:retry, %{flaky: 0} = s), do: {:noreply, %{s | link: :online}}
  def handle_info(:retry, s), do: {:noreply, retry_later(%{s | flaky: s.flaky - 1})}
  defp retry_later(s) do
    Process.send_after(self(), :retry, 25 * Integer.pow(2, s.tries))
    %{s | tries: s.tries + 1}
  end
end

defmodule Mill.Jobs do
  # a print shop's job queue: the press asks for a number of jobs and waits for all of them
  use GenServer
  def start_link(keep), do: GenServer.start_link(__MODULE__, keep, name: if(keep, do: Mill.GoodJobs, else: Mill.Jobs))
  def init(keep), do: {:ok, %{keep: keep, jobs: [], credit: 0, press: nil}}
  def handle_call({:add, jobs}, _from, s), do: {:reply, :ok, deliver(%{s | jobs: s.jobs ++ jobs})}
  def handle_call({:want, press, n}, _from, s), do: {:reply, :ok, deliver(%{s | press: press, credit: s.credit + n})}
  def handle_call(:state, _from, s), do: {:reply, s, s}
  defp deliver(%{credit: 0} = s), do: s
  defp deliver(%{jobs: []} = s), do: s
  defp deliver(s) do
    {batch, rest} = Enum.split(s.jobs, s.credit)
    send(s.press, {:jobs, batch})
    left = if s.keep, do: s.credit - length(batch), else: 0
    %{s | jobs: rest, credit: left}
  end
end

defmodule Print.Queue do
  # the same protocol with the batch handed out inline, in the callback
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init([]), do: {:ok, %{jobs: [], credit: 0, press: nil}}
  def handle_call({:want, press, n}, _from, s), do: {:reply, :ok, %{s | press: press, credit: s.credit + n}}
  def handle_call({:add, jobs}, _from, s) do
    jobs = s.jobs ++ jobs
    if s.credit > 0 do
      {batch, rest} = Enum.split(jobs, s.credit)
      send(s.press, {:print, batch})
      {:reply, :ok, %{s | jobs: rest, credit: 0}}
    else
      {:reply, :ok, %{s | jobs: jobs}}
    end
  end
end

defmodule Books do
  def start do
    children = [Loans.Archive,
                Supervisor.child_spec({Loans.Log, {false, Loans.Log}}, id: :log),
                Supervisor.child_spec({Loans.Log, {true, Loans.SafeLog}}, id: :safe_log),
                Supervisor.child_spec({Loans.Log, {true, Loans.KioskLog}}, id: :kiosk_log, shutdown: :brutal_kill),
                Supervisor.child_spec(Loans.Ledger, shutdown: 40),
                %{id: :branch, type: :supervisor,
                  start: {Supervisor, :start_link, [[Supervisor.child_spec({Loans.Log, {false, Loans.BranchLog}}, id: :branch_log),
                                                     Loans.Scanner], [strategy: :one_for_all]]}},
                Supervisor.child_spec({Weather.Gauge, false}, id: :gauge),
                Supervisor.child_spec({Weather.Gauge, true}, id: :full_gauge),
                Supervisor.child_spec({Mail.Relay, false}, id: :relay),
                Supervisor.child_spec({Mail.Relay, true}, id: :good_relay),
                Dns.Upstream,
                Sync.Link,
                Print.Queue,
                Supervisor.child_spec({Mill.Jobs, false}, id: :jobs),
                Supervisor.child_spec({Mill.Jobs, true}, id: :good_jobs)]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: Books.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def run do
    for log <- [Loans.Log, Loans.SafeLog] do
      GenServer.call(log, {:lend, "Dune"})
      send(log, :archive)
      GenServer.call(log, {:lend, "Emma"})
      GenServer.call(log, {:lend, "Ulysses"})
    end
    :ok = Supervisor.terminate_child(Books.Supervisor, :log)
    :ok = Supervisor.terminate_child(Books.Supervisor, :safe_log)
    GenServer.call(Loans.KioskLog, {:lend, "Walden"})
    :ok = Supervisor.terminate_child(Books.Supervisor, :kiosk_log)   # traps exits, but is killed
    GenServer.call(Loans.Ledger, {:post, {"fine", 150}})
    :ok = Supervisor.terminate_child(Books.Supervisor, Loans.Ledger)  # killed 40 ms into a 300 ms terminate/2
    GenServer.call(Loans.BranchLog, {:lend, "Persuasion"})
    GenServer.call(Loans.BranchLog, {:lend, "Middlemarch"})
    GenServer.cast(Loans.Scanner, {:scan, "97801"})
    GenServer.cast(Loans.Scanner, {:scan, "no barcode"})   # crashes: its one_for_all supervisor restarts the log too
    Process.sleep(100)
    for g <- [Weather.Gauge, Weather.FullGauge] do
      for r <- [{:ok, 12}, {:ok, 14}, {:gust, 31}, {:ok, 13}], do: send(g, {:reading, r})
      Weather.Gauge.readings(g)
    end
    for relay <- [Mail.Relay, Mail.GoodRelay], r <- [:ok, :error, :error, :error, :ok, :error, :ok, :error, :ok] do
      Mail.Relay.check(relay, r)
    end
    for r <- [:hit, :miss, :miss, :hit, :miss, :hit], do: Dns.Upstream.answer(r)
    send(Sync.Link, {:drop, 3})       # retries after 25, 50, 100 and 200 ms
    Process.sleep(500)
    send(Sync.Link, {:drop, 0})       # one blip: waits 400 ms, since tries was never reset
    Process.sleep(600)
    for q <- [Mill.Jobs, Mill.GoodJobs] do
      GenServer.call(q, {:want, self(), 5})
      GenServer.call(q, {:add, ["flyer", "menu"]})
      GenServer.call(q, {:add, ["poster", "card", "banner"]})
      GenServer.call(q, :state)
    end
    GenServer.call(Print.Queue, {:want, self(), 4})
    GenServer.call(Print.Queue, {:add, ["leaflet"]})
    GenServer.call(Print.Queue, {:add, ["sticker", "label"]})
    :ok
  end
end
'''

MODULES = ["Loans.Log", "Loans.Ledger", "Loans.Scanner", "Weather.Gauge", "Mail.Relay", "Dns.Upstream", "Sync.Link", "Mill.Jobs", "Print.Queue"]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    async def supervisors(conn, session):
        # the supervisors as a diagnosis reads them (agents/capture.py): the children's shutdown values
        await _supervision(conn, session, "start", ["Elixir.Books"] + [f"Elixir.{m}" for m in MODULES], [], 20_000)

    return record_facts(tmp_path_factory.mktemp("bookkeeping"), APP, start="Books.start()", run="Elixir.Books",
                        specs=[f"{m} :: return" for m in MODULES],
                        state_modules=tuple(f"Elixir.{m}" for m in MODULES), lifecycle_procs="all",
                        before_run=supervisors)


def _only(book, kind):
    facts = book.of_kind(kind)
    assert len(facts) == 1, [f.title for f in book.facts]
    return facts[0]


def test_stopped_without_terminate_names_init(book):
    facts = {f.culprit.process: f for f in book.of_kind("terminate_skipped")}
    assert set(facts) == {"Loans.Log", "Loans.BranchLog"}, [f.title for f in book.facts]   # not Loans.SafeLog
    f = facts["Loans.Log"]
    assert (f.culprit.module, f.culprit.function) == ("Loans.Log", "init/1")
    assert "state.pending" in f.culprit.detail and "2 entries" in f.culprit.detail, f.culprit.detail
    assert f.confidence == 0.75 and "hands on and empties" in f.summary, f.summary   # it archived once before
    assert "exit:terminate_skipped" in f.signatures and f.caused_by is None


def test_stopped_by_a_siblings_crash_is_caused_by_the_restart(book):
    f = {f.culprit.process: f for f in book.of_kind("terminate_skipped")}["Loans.BranchLog"]
    restart = book.get(f.caused_by)
    assert restart is not None and restart.detector == "sibling_restart", f.caused_by
    assert "Loans.Scanner" in restart.title, restart.title


def test_killed_at_shutdown_names_the_cut_clean_up_or_the_child_spec(book):
    facts = {f.title.split(" ")[0]: f for f in book.of_kind("terminate_cut")}
    assert set(facts) == {"Loans.Ledger", "Loans.KioskLog"}, [f.title for f in book.facts]
    f = facts["Loans.Ledger"]
    assert (f.culprit.module, f.culprit.function) == ("Loans.Ledger", "terminate/2")
    assert "into terminate/2 (its shutdown time: 40 ms), before it returned" in f.culprit.detail, f.culprit.detail
    assert "1 entries in state.open" in f.culprit.detail and "exit:shutdown_timeout" in f.signatures
    effects = [x for x in book.facts if x.caused_by == f.id]
    assert effects and all("killed" in x.title for x in effects), [x.title for x in book.facts]   # not a crash of its own
    f = facts["Loans.KioskLog"]
    # under a supervisor started inline (Supervisor.start_link(children, opts)): the child's spec
    assert (f.culprit.module, f.culprit.function, f.culprit.process) == ("Loans.Log", "child_spec/1", "Loans.KioskLog")
    assert f.culprit.detail.startswith("shutdown: :brutal_kill for :kiosk_log"), f.culprit.detail


def test_nested_tag_variant_dropped(book):
    f = _only(book, "variant_unhandled")
    assert (f.culprit.module, f.culprit.function, f.culprit.process) == ("Weather.Gauge", "handle_info/2", "Weather.Gauge")
    assert "{:gust, 31}" in f.culprit.detail and ":gust" in f.title and ":ok" in f.title, (f.title, f.culprit.detail)


def test_counter_not_reset_names_the_recovery(book):
    facts = {f.culprit.process: f for f in book.of_kind("counter_not_reset")}
    assert set(facts) == {"Mail.Relay", "Dns.Upstream", "Sync.Link"}, [f.title for f in book.facts]   # not Mail.GoodRelay
    f = facts["Mail.Relay"]
    assert (f.culprit.module, f.culprit.function) == ("Mail.Relay", "recovered/1")
    assert f.culprit.detail == "health: :up again with failures still 3 (not reset to 0)", f.culprit.detail
    assert "Mail.Relay.pause/1" in f.summary and "[3] → 400" in f.summary, f.summary
    # the counter read from the state map by the function that computes from it; a boolean status
    f = facts["Dns.Upstream"]
    assert (f.culprit.module, f.culprit.function) == ("Dns.Upstream", "handle_call/3")
    assert f.culprit.detail == "up?: true again with misses still 2 (not reset to 0)", f.culprit.detail
    assert "Dns.Upstream.cooldown/1" in f.summary and "misses: 2 → 50" in f.summary, f.summary
    # no function computes the delay: the waits before the self-scheduled retries grow with the counter
    f = facts["Sync.Link"]
    assert (f.culprit.module, f.culprit.function) == ("Sync.Link", "handle_info/2")
    assert f.culprit.detail == "link: :online again with tries still 4 (not reset to 0)", f.culprit.detail
    assert "waits before its :retry callbacks grow with it" in f.summary and "at tries = 5" in f.summary, f.summary


def test_demand_zeroed_after_a_partial_delivery(book):
    facts = {f.culprit.process: f for f in book.of_kind("demand_lost")}
    assert set(facts) == {"Mill.Jobs", "Print.Queue"}, [f.title for f in book.facts]   # not Mill.GoodJobs
    f = facts["Mill.Jobs"]
    assert (f.culprit.module, f.culprit.function) == ("Mill.Jobs", "deliver/1")
    assert f.culprit.detail == "credit: 5 → 0 while only 2 of jobs were handed out (3 lost)", f.culprit.detail
    assert "stalled" in f.summary and f.confidence == 0.75, f.summary
    # handed out inline: the batch the callback sent, and the jobs left waiting
    f = facts["Print.Queue"]
    assert (f.culprit.module, f.culprit.function) == ("Print.Queue", "handle_call/3")
    assert f.culprit.detail == "credit: 4 → 0 after a batch of only 1 (3 lost)", f.culprit.detail
    assert "2 entries arrived in jobs" in f.summary, f.summary


def test_what_a_state_holds_is_read_from_maps_tuples_and_lists():
    from elixir_scope.agents.evidence.shutdown import _field, _pending
    from elixir_scope.instrument.etf import Atom

    buffer = [b"croissant", b"rye"]
    assert _pending({Atom("buffer"): buffer, Atom("seq"): 2}) == {"state.buffer": 2}
    assert _pending((7, buffer, {})) == {"elem(state, 1)": 2}
    assert _pending(buffer) == {"state": 2} and _pending({b"k": 1}) == {"state": 1}
    assert _pending({Atom("buffer"): [], Atom("seq"): 0}) == {} and _pending(3) == {}
    assert _field((7, buffer, {}), "elem(state, 1)") == buffer
