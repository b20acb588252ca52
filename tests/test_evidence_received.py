"""Three ways a diagnosis blamed the process that only received the problem, on real nodes —
each with a twin that must stay as it was:

- ``bad_value_received``: a callback crashed on a value of its message that the sender got
  from one of its own functions (a reduce whose ``if`` has no ``else`` returned ``nil``): the
  function that made the value is the first cause, not the crashing receiver. Twin: the sender
  wrote the ``nil`` itself — no function returned it, the exception stands.
- a caught call timeout whose target dropped the pending call (coalescing that keeps one
  waiter) is explained by the dropped reply, not by the caller's fallback. Twin: the target was
  only slow — the fallback is the caller's policy and stays a first cause.
- ``no_effect_message`` is weak when every message names an identifier the handler already
  recorded as handled (a repeated delivery: the trigger run again). Twin: messages with new
  identifiers swallowed by a catch-all clause count in full.
"""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once


async def _facts(tmp_path: Path, kb_index_dir, source: str, app: str, symptom: str, *, warm: bool = False):
    """Start ``source`` (``App.start()``; with ``warm``, ``App.trigger()`` once before the
    diagnosis, as an earlier round would), diagnose ``symptom`` with ``App.trigger()`` in one
    round; the report and the facts of its recording."""
    boot = f"{{:ok, _}} = {app}.start()" + (f"; {app}.trigger(); Process.sleep(300)" if warm else "")
    return await diagnose_once(tmp_path, kb_index_dir, source, app=app, symptom=symptom, boot=boot)


SETTLE = '''
defmodule Fair do
  def start do
    {:ok, pid} = Supervisor.start_link([Fair.Purse, Fair.Stall], strategy: :one_for_one, name: Fair.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    Fair.Stall.sell("jam", 400)
    Fair.Stall.sell("honey", 650)
    Fair.Stall.close()
    :ok
  end
end

defmodule Fair.Tally do
  # the last record (:close) makes the accumulator nil: the `if` has no `else`
  def per_item(records) do
    Enum.reduce(records, %{}, fn r, acc ->
      if r.kind == :sale do
        Map.update(acc, r.item, r.cents, &(&1 + r.cents))
      end
    end)
  end
end

defmodule Fair.Stall do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def sell(item, cents), do: GenServer.cast(__MODULE__, {:sell, item, cents})
  def close, do: GenServer.cast(__MODULE__, :close)
  @impl true
  def init([]), do: {:ok, []}
  @impl true
  def handle_cast({:sell, item, cents}, records), do: {:noreply, records ++ [%{kind: :sale, item: item, cents: cents}]}
  def handle_cast(:close, records) do
    Fair.Purse.pay(:day, MODE)
    {:noreply, []}
  end
end

defmodule Fair.Purse do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def pay(day, totals), do: GenServer.cast(__MODULE__, {:pay, day, totals})
  @impl true
  def init([]), do: {:ok, %{paid: 0}}
  @impl true
  def handle_cast({:pay, _day, totals}, s) do
    {:noreply, %{s | paid: s.paid + Enum.reduce(totals, 0, fn {_item, cents}, acc -> acc + cents end)}}
  end
end
'''


async def test_a_crash_on_a_value_the_sender_computed_blames_the_function_that_made_it(tmp_path: Path, kb_index_dir):
    src = SETTLE.replace("MODE", "Fair.Tally.per_item(records ++ [%{kind: :close}])")
    _, book = await _facts(tmp_path, kb_index_dir, src, "Fair", "the day's takings never reached the purse, an error in the log")
    got = book.of_kind("bad_value_received")
    assert len(got) == 1, [f.title for f in book.facts]
    assert (got[0].culprit.module, got[0].culprit.function) == ("Fair.Tally", "per_item/1"), got[0].culprit
    exc = book.of_kind("exception")
    assert exc and book.origin(exc[0]).id == got[0].id, [(f.id, f.caused_by) for f in book.facts]


async def test_a_crash_on_a_value_the_sender_wrote_itself_stays_the_receivers(tmp_path: Path, kb_index_dir):
    src = SETTLE.replace("MODE", "(if records == [], do: %{}, else: nil)")
    _, book = await _facts(tmp_path, kb_index_dir, src, "Fair", "the day's takings never reached the purse, an error in the log")
    assert not book.of_kind("bad_value_received"), [f.title for f in book.facts]
    exc = book.of_kind("exception")
    assert exc and book.origin(exc[0]).id == exc[0].id
    assert exc[0].culprit.module == "Fair.Purse"


DESK = '''
defmodule Desk do
  def start do
    {:ok, pid} = Supervisor.start_link([Desk.Register], strategy: :one_for_one, name: Desk.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    a = Task.async(fn -> Desk.Counter.serve("19850412-3391") end)
    Process.sleep(5)
    b = Task.async(fn -> Desk.Counter.serve("19850412-3391") end)
    Task.await(a, 2000)
    Task.await(b, 2000)
    :ok
  end
end

defmodule Desk.Counter do
  def serve(id) do
    try do
      Desk.Register.extract(id)
    catch
      :exit, _ -> :register_unavailable
    end
  end
end

defmodule Desk.Register do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def extract(id), do: GenServer.call(__MODULE__, {:extract, id}, 300)
  @impl true
  def init([]), do: {:ok, %{pending: %{}}}
  @impl true
  def handle_call({:extract, id}, from, s) do
    MODE
  end
  @impl true
  def handle_info({:fetched, id}, s) do
    case Map.fetch(s.pending, id) do
      {:ok, from} -> GenServer.reply(from, {:extract, id})
      :error -> :ok
    end
    {:noreply, %{s | pending: Map.delete(s.pending, id)}}
  end
end
'''

# one waiter kept per id: the second request replaces the first caller's `from`
COALESCE = '''if Map.has_key?(s.pending, id) do
      {:noreply, %{s | pending: Map.put(s.pending, id, from)}}
    else
      Process.send_after(self(), {:fetched, id}, 100)
      {:noreply, %{s | pending: Map.put(s.pending, id, from)}}
    end'''
# only slow: every request is answered, too late for the caller's 300 ms
SLOW = '''Process.sleep(350)
    {:reply, {:extract, id}, s}'''


async def test_a_caught_timeout_of_a_call_whose_reply_was_dropped_is_explained_by_the_drop(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, DESK.replace("MODE", COALESCE), "Desk",
                           "counter 1 got 'register unavailable' although the register is up")
    caught = book.of_kind("caught_failure")
    assert len(caught) == 1, [f.title for f in book.facts]
    origin = book.origin(caught[0])
    assert origin.detector == "reply_dropped", [(f.id, f.caused_by) for f in book.facts]
    assert (origin.culprit.module, origin.culprit.function) == ("Desk.Register", "handle_call/3")


async def test_a_caught_timeout_of_a_slow_call_stays_the_callers_fallback(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, DESK.replace("MODE", SLOW), "Desk",
                           "counter 1 got 'register unavailable' although the register is up")
    caught = book.of_kind("caught_failure")
    assert caught, [f.title for f in book.facts]
    assert all(book.origin(f).id == f.id for f in caught), [(f.id, f.caused_by) for f in book.facts]
    assert not book.of_kind("reply_dropped")


ALERTS = '''
defmodule Alerts do
  def start do
    {:ok, pid} = Supervisor.start_link([Alerts.Gate], strategy: :one_for_one, name: Alerts.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    for {id, cents} <- [{"P-771201", 1890}, {"P-771202", 245000}, {"P-771203", 3550}],
        do: Alerts.Gate.authorise(%{id: id, cents: cents, shop: "Lange"})
    :ok
  end
end

defmodule Alerts.Gate do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def authorise(p), do: GenServer.cast(__MODULE__, {:authorise, p})
  @impl true
  def init([]), do: {:ok, %{seen: MapSet.new(), approved: 0}}
  @impl true
  def handle_cast({:authorise, p}, s) do
    MODE
  end
end
'''

# idempotent: a payment already seen is skipped
DEDUP = '''if MapSet.member?(s.seen, p.id) do
      {:noreply, s}
    else
      {:noreply, %{s | seen: MapSet.put(s.seen, p.id), approved: s.approved + 1}}
    end'''
# swallowed: the clause looks for a field the message does not have
SWALLOW = '''case p do
      %{amount: a} -> {:noreply, %{s | seen: MapSet.put(s.seen, p.id), approved: s.approved + a}}
      _ -> {:noreply, s}
    end'''


async def test_messages_naming_identifiers_already_handled_are_a_weak_no_effect(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, ALERTS.replace("MODE", DEDUP), "Alerts",
                           "no alert for the large payment P-771202", warm=True)
    got = book.of_kind("no_effect_message")
    assert len(got) == 1, [f.title for f in book.facts]
    assert got[0].weak and "P-7712" in got[0].weak and "already recorded as handled" in got[0].weak, got[0].weak


async def test_messages_with_new_identifiers_swallowed_count_in_full(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, ALERTS.replace("MODE", SWALLOW), "Alerts",
                           "no alert for the large payment P-771202", warm=True)
    got = book.of_kind("no_effect_message")
    assert len(got) == 1, [f.title for f in book.facts]
    assert got[0].weak is None, got[0].weak
    assert (got[0].culprit.module, got[0].culprit.function) == ("Alerts.Gate", "handle_cast/2")
