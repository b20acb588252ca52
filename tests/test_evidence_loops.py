"""Busy loops on a real node, recorded the way a diagnosis records them (the agent's rate limit and
an event budget the loop overruns within a fraction of a second): a callback that retries at once
by sending itself its next message (started by a request carrying a number, which is no timer
interval), and a timer of 0, must be named every time — also when the
capture stored only the loop's first tens of milliseconds and dropped the rest — while their twins
are not loops: a server kept busy by many clients, and a fast but bounded run of self-sent steps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.evidence.loop_window import MIN_LOOP_SPAN, loop_window
from elixir_scope.agents.evidence.common import message_shape
from elixir_scope.agents.view import RecordingView
from elixir_scope.instrument.capture import CapturePlan, RunningModule
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.session import CaptureSession, SessionState
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node

APP = r'''
defmodule Outbox.Pool do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{free: 0}, name: __MODULE__)
  def take(msg), do: GenServer.call(__MODULE__, {:take, msg})
  def init(s), do: {:ok, s}
  def handle_call({:take, _msg}, _from, %{free: 0} = s), do: {:reply, {:error, :full}, s}
  def handle_call({:take, _msg}, _from, s), do: {:reply, :ok, %{s | free: s.free - 1}}
end

defmodule Outbox.Sender do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{pending: nil}, name: __MODULE__)
  # a request that carries a number (a deadline): no timer interval, whatever it looks like
  def deliver(msg), do: GenServer.call(__MODULE__, {:deliver, msg, 250})
  def init(s), do: {:ok, s}
  def handle_call({:deliver, msg, _deadline_ms}, _from, s) do
    send(self(), :next)
    {:reply, :ok, %{s | pending: msg}}
  end
  def handle_info(:next, s) do
    case Outbox.Pool.take(s.pending) do
      :ok -> {:noreply, %{s | pending: nil}}
      {:error, :full} ->
        send(self(), :next)
        {:noreply, s}
    end
  end
end

defmodule Beacon.Pulse do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{period: 5_000, ref: nil}, name: __MODULE__)
  def set_period(sec), do: GenServer.call(__MODULE__, {:period, sec})
  def init(s), do: {:ok, %{s | ref: Process.send_after(self(), :tick, s.period)}}
  def handle_call({:period, sec}, _from, s) do
    Process.cancel_timer(s.ref)
    period = trunc(sec)
    {:reply, :ok, %{s | period: period, ref: Process.send_after(self(), :tick, period)}}
  end
  def handle_info(:tick, s), do: {:noreply, %{s | ref: Process.send_after(self(), :tick, s.period)}}
end

defmodule Shop.Views do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def init(s), do: {:ok, s}
  def handle_info({:hit, page}, s), do: {:noreply, Map.update(s, page, 1, &(&1 + 1))}
end

defmodule Batch.Runner do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{left: 0}, name: __MODULE__)
  def run(n), do: GenServer.cast(__MODULE__, {:run, n})
  def init(s), do: {:ok, s}
  def handle_cast({:run, n}, s) do
    send(self(), :step)
    {:noreply, %{s | left: n}}
  end
  def handle_info(:step, %{left: 0} = s), do: {:noreply, s}
  def handle_info(:step, s) do
    if s.left > 1, do: send(self(), :step)
    {:noreply, %{s | left: s.left - 1}}
  end
end

defmodule LoopApp do
  def start do
    children = [Outbox.Pool, Outbox.Sender, Beacon.Pulse, Shop.Views, Batch.Runner]
    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: LoopApp.Sup) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  def retry, do: Outbox.Sender.deliver("hello")
  def tick_zero, do: Beacon.Pulse.set_period(0.25)
  def batch, do: Batch.Runner.run(2_000)

  def shop do
    for c <- 1..40 do
      # busy throughout the capture: each client a page view every millisecond or so
      spawn(fn -> for i <- 1..1_500, do: (send(Shop.Views, {:hit, {c, rem(i, 50)}}); Process.sleep(1)) end)
    end
    :ok
  end
end
'''

# what the diagnosis records of each: the module's calls, and the messages of its process
CASES = {
    "retry": ("Outbox.Sender", ["Outbox.Sender :: return", "Outbox.Pool :: return"]),
    "tick_zero": ("Beacon.Pulse", ["Beacon.Pulse :: return"]),
    "shop": ("Shop.Views", ["Shop.Views :: return"]),
    "batch": ("Batch.Runner", ["Batch.Runner :: return"]),
}
# the diagnosis's own limits (agents/capture.py, the planner's event budget): a busy loop overruns
# the agent's rate limit within ~0.1 s and the budget within ~0.5 s
LIMITS = CaptureLimits(max_events=200_000, max_seconds=20.0, max_queue=20_000)


def _record(tmp: Path, case: str) -> tuple[RecordingView, dict]:
    """One fresh node per case (a loop left running would load the next case's node)."""
    module, specs = CASES[case]
    src = tmp / "loops.ex"
    src.write_text(APP)
    node = start_node("elixir", elixir_files=[src], eval_code="{:ok, _} = LoopApp.start()")

    async def record() -> tuple[RecordingView, dict]:
        dist = Node()
        try:
            conn = await dist.connect(node.name, cookie=node.cookie)
            store = TraceStore.open(tmp / f"{case}.db")
            plan = CapturePlan(specs=tuple(compile_spec(s) for s in specs),
                               message_procs=(RunningModule(f"Elixir.{module}"),))
            rec = store.create_recording(case, spec=plan.describe(), limits={})
            session = await CaptureSession.start(conn, rec, plan, LIMITS)
            await conn.rpc("Elixir.LoopApp", case, [])
            for _ in range(4):   # the diagnosis samples the node while it records: marks show it went on
                await asyncio.sleep(0.25)
                if session.state is SessionState.RUNNING:
                    await session.mark((Atom("es_sample"), 0, []))
            result = await session.stop()
            stats = {"end_reason": result.end_reason, "dropped": result.stats.dropped}
            return RecordingView.from_recording(store.recording(result.recording_id)), stats
        finally:
            await dist.close()

    try:
        return asyncio.run(record())
    finally:
        node.stop()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    return {case: _record(tmp_path_factory.mktemp(case), case) for case in CASES}


def _hot(view: RecordingView, module: str) -> list:
    book = build_facts(view, "one CPU core is pegged at 100%")
    assert not book.errors, book.errors
    return [f for f in book.facts if f.detector in ("hot_callback", "rate_change") and f.culprit
            and f.culprit.module == module]


def test_a_retry_loop_cut_short_by_the_capture_is_named(recorded):
    view, stats = recorded["retry"]
    assert stats["dropped"] > 0, stats   # the loop overran the capture: what this test is about
    found = _hot(view, "Outbox.Sender")
    assert [f.detector for f in found] == ["hot_callback"], [(f.detector, f.title) for f in found]
    f = found[0]
    assert f.culprit.function == "handle_info/2" and f.weak is None and f.confidence >= 0.65
    assert ":next" in f.title and "of every call stored" in f.summary
    hits = [c for c in view.calls if c.module == "Elixir.Outbox.Sender" and c.function == "handle_info"
            and message_shape(c.args[0]) == ":next"]
    pid = hits[0].pid
    win = loop_window(view, pid, hits)
    assert win.is_loop and win.share > 0.5
    if win.cut is not None:   # the drops came right after the last stored tick: they stand for more of it
        assert win.more_ticks > 0 and "dropped" in f.summary and f"{win.dropped:,}" in f.summary
    else:
        assert win.span >= MIN_LOOP_SPAN


def test_a_timer_of_zero_is_named(recorded):
    view, _ = recorded["tick_zero"]
    found = [f for f in _hot(view, "Beacon.Pulse") if f.detector == "hot_callback"]
    assert len(found) == 1 and found[0].weak is None, [(f.detector, f.title, f.weak) for f in found]
    assert ":tick" in found[0].title


def test_a_server_fed_by_many_clients_is_not_a_loop(recorded):
    view, _ = recorded["shop"]
    assert _hot(view, "Shop.Views") == []


def test_a_bounded_run_of_self_sent_steps_is_not_a_loop(recorded):
    view, _ = recorded["batch"]
    steps = [c for c in view.calls if c.function == "handle_info" and c.module == "Elixir.Batch.Runner"]
    assert len(steps) >= 1_000   # the burst was recorded, and ended within the capture
    pid = steps[0].pid
    assert loop_window(view, pid, steps).stopped_for >= MIN_LOOP_SPAN
    assert _hot(view, "Batch.Runner") == []
