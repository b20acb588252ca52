"""A real recording for the web UI tests: a small Elixir system on a real node, captured by the
tracer agent. A ``Ledger`` GenServer (state history) is called by a ``Teller`` GenServer, which
also casts and sends plain messages to it; a ``DynamicSupervisor`` starts two workers during the
capture (spawns and links, for the supervision tree). Returns what the tests compare the screen
with: the recording id and the moments at which the Ledger's state was read on the node."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.session import capture
from elixir_scope.store import TraceStore

SOURCE = """
defmodule EsUi.Ledger do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{balance: 0, entries: [], owner: "ann"}, name: __MODULE__)
  @impl true
  def init(s), do: {:ok, s}
  @impl true
  def handle_call({:deposit, n}, _from, s), do: {:reply, :ok, %{s | balance: s.balance + n, entries: [{:deposit, n} | s.entries]}}
  def handle_call({:withdraw, n}, _from, s), do: {:reply, :ok, %{s | balance: s.balance - n, entries: [{:withdraw, n} | s.entries]}}
  def handle_call(:balance, _from, s), do: {:reply, s.balance, s}
  @impl true
  def handle_cast({:owner, who}, s), do: {:noreply, %{s | owner: who}}
  @impl true
  def handle_info(:audit, s), do: {:noreply, Map.put(s, :audited, true)}
end

defmodule EsUi.Teller do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)
  @impl true
  def init(s), do: {:ok, s}
  @impl true
  def handle_call({:run, ops}, _from, s) do
    for op <- ops do
      case op do
        {:cast, who} -> GenServer.cast(EsUi.Ledger, {:owner, who})
        :audit -> send(EsUi.Ledger, :audit)
        other -> GenServer.call(EsUi.Ledger, other)
      end
    end
    {:reply, :ok, s}
  end
end

defmodule EsUi.Worker do
  use GenServer
  def start_link(n), do: GenServer.start_link(__MODULE__, n)
  @impl true
  def init(n), do: {:ok, n}
end
"""

START = ("{:ok, _} = EsUi.Ledger.start_link(nil); {:ok, _} = EsUi.Teller.start_link(nil); "
         "{:ok, sup} = DynamicSupervisor.start_link(strategy: :one_for_one, name: EsUi.Sup); "
         "Process.unlink(sup)")

LEDGER = "Elixir.EsUi.Ledger"
TELLER = "Elixir.EsUi.Teller"
SUP = "Elixir.EsUi.Sup"


@dataclass
class UiRecording:
    path: Path
    recording_id: int
    observed: list[tuple[int, object]] = field(default_factory=list)
    """(node monotonic time, :sys.get_state of the Ledger) read on the node during the capture."""


async def record_ui_system(node, path: Path) -> UiRecording:
    """Capture the scenario above on ``node`` (started with ``SOURCE`` and ``START``)."""
    store = TraceStore.open(path)
    observed = []
    try:
        async with Node() as me:
            conn = await me.connect(node.name, cookie=node.cookie)
            plan = CapturePlan(state_modules=(LEDGER,),
                               message_procs=(Registered(LEDGER), Registered(TELLER)),
                               lifecycle_procs=(Registered(SUP),))
            session = await capture(conn, store, "ledger session", plan)
            rounds = [
                [(Atom("deposit"), 100), (Atom("deposit"), 50)],
                [(Atom("withdraw"), 30), (Atom("cast"), b"bob"), Atom("balance")],
                [Atom("audit"), (Atom("deposit"), 7)],
            ]
            for i, ops in enumerate(rounds):
                await conn.rpc("Elixir.GenServer", "call", [Atom(TELLER), (Atom("run"), ops)])
                await conn.rpc("Elixir.DynamicSupervisor", "start_child", [Atom(SUP), (Atom("Elixir.EsUi.Worker"), i)])
                observed.append((await conn.rpc("erlang", "monotonic_time", []),
                                 await conn.rpc("sys", "get_state", [Atom(LEDGER)])))
            result = await session.stop()
        return UiRecording(path, result.recording_id, observed)
    finally:
        store.close()
