"""End to end: record a real Elixir GenServer with the tracer agent, then check that
``state_at`` equals what ``:sys.get_state`` returned on the node at the same moments, and that
the repeated identical requests were matched one to one."""

from __future__ import annotations

import random

import pytest

from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.session import capture
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.diff import same
from support.nodes import start_node

pytestmark = pytest.mark.slow

COUNTER = """
defmodule EsTT.Counter do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{count: 0, items: [], owner: nil}, name: __MODULE__)
  @impl true
  def init(s), do: {:ok, s}
  @impl true
  def handle_call({:add, x}, _from, s), do: {:reply, :ok, %{s | count: s.count + 1, items: [x | s.items]}}
  def handle_call({:own, who}, _from, s), do: {:reply, s.owner, %{s | owner: who}}
  def handle_call(:drop, _from, s), do: {:reply, :ok, %{s | items: Enum.drop(s.items, 1)}}
  def handle_call(:ping, _from, s), do: {:reply, :pong, s}
  @impl true
  def handle_info(:tick, s), do: {:noreply, %{s | count: s.count + 1}}
end

defmodule EsTT.Client do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)
  @impl true
  def init(s), do: {:ok, s}
  @impl true
  def handle_call({:burst, n}, _from, s) do
    for _ <- 1..n, do: send(EsTT.Counter, :tick)
    {:reply, :ok, s}
  end
end
"""

NAME = Atom("Elixir.EsTT.Counter")


@pytest.fixture(scope="module")
def counter_node(tmp_path_factory):
    src = tmp_path_factory.mktemp("ex") / "counter.ex"
    src.write_text(COUNTER)
    node = start_node("elixir", elixir_files=[src], eval_code="{:ok, _} = EsTT.Counter.start_link(nil); {:ok, _} = EsTT.Client.start_link(nil)")
    yield node
    node.stop()


async def test_state_at_matches_sys_get_state_at_the_same_moments(counter_node, tmp_path):
    rng = random.Random(4)
    store = TraceStore.open(tmp_path / "live.db")
    observed = []  # (monotonic time on the node, state from :sys.get_state)
    async with Node() as me:
        conn = await me.connect(counter_node.name, cookie=counter_node.cookie)
        plan = CapturePlan(state_modules=("Elixir.EsTT.Counter",),
                           message_procs=(Registered(NAME.name), Registered("Elixir.EsTT.Client")))
        session = await capture(conn, store, "counter", plan)
        for i in range(40):
            op = rng.choice(["add", "add", "big", "own", "drop", "ping", "burst"])
            if op == "burst":  # identical :tick messages sent several times in a row
                await conn.rpc("Elixir.GenServer", "call", [Atom("Elixir.EsTT.Client"), (Atom("burst"), 3)])
                observed.append((await conn.rpc("erlang", "monotonic_time", []),
                                 await conn.rpc("sys", "get_state", [NAME])))
                continue
            req = {"add": (Atom("add"), i), "big": (Atom("add"), b"%d" % i * 700),
                   "own": (Atom("own"), b"user-%d" % rng.randrange(3)), "drop": Atom("drop"),
                   "ping": Atom("ping")}[op]
            await conn.rpc("Elixir.GenServer", "call", [NAME, req])
            state = await conn.rpc("sys", "get_state", [NAME])
            t = await conn.rpc("erlang", "monotonic_time", [])
            observed.append((t, state))
        result = await session.stop()
    assert result.end_reason == "stopped" and result.stats.consistent
    rec = store.recording(result.recording_id)
    phases = [e.payload[0].name for e in rec.events(kind="state", limit=10_000)]
    assert phases.count("after") == phases.count("before") >= 40
    encodings = dict(store.db.query("SELECT encoding, count(*) FROM states GROUP BY encoding"))
    assert encodings.get("delta", 0) > 0  # the big items made the state large: deltas were used
    for t, expected in observed:
        got = rec.state_at("Elixir.EsTT.Counter", t)
        assert got is not None and same(got.state, expected), (t, got and got.state, expected)
    # identical :tick messages: each send matched to its own receive, in order
    flows = rec.message_flow(processes=["Elixir.EsTT.Client"], limit=10_000)
    ticks = [f for f in flows.messages if f.message == Atom("tick")]
    assert ticks and all(f.receive is not None for f in ticks)
    recv_ids = [f.receive.id for f in ticks]
    assert recv_ids == sorted(recv_ids) and len(set(recv_ids)) == len(recv_ids)
    assert all(f.receive.ts > f.send.ts for f in ticks)
    counter_ticks = rec.events(kind=EventKind.RECEIVE, pid="Elixir.EsTT.Counter", limit=10_000)
    assert {e.id for e in counter_ticks if e.payload == Atom("tick")} == set(recv_ids)
    store.close()
