"""Resource samples and supervision facts recorded during a diagnosis capture, on a real
Elixir node (OTP 25): a process that hoards binaries and fills an ETS table while the capture
runs, under a ``:one_for_all`` supervisor with intensity 3 / period 5 and a transient child.
The capture writes its observations as marks; the recording view reads them back typed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import start_node  # noqa: E402

from elixir_scope.agents.capture import run_capture  # noqa: E402
from elixir_scope.agents.context import DiagnosisContext  # noqa: E402
from elixir_scope.agents.findings import Plan, PlannedSpec  # noqa: E402
from elixir_scope.agents.marks import parse_resources, parse_supervisor, resource_mark, supervisor_mark  # noqa: E402
from elixir_scope.agents.view import RecordingView  # noqa: E402
from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom, Pid, decode, encode  # noqa: E402
from elixir_scope.instrument.resources import EtsFigures, NodeFigures, ProcessFigures, ResourceSnapshot  # noqa: E402
from elixir_scope.instrument.supervisors import ChildFacts, SupervisorFacts  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402

APP = r'''
defmodule Hoard do
  def start do
    children = [
      Hoard.Keeper,
      %{id: :courier, start: {Hoard.Courier, :start_link, []}, restart: :transient, shutdown: :brutal_kill},
      {DynamicSupervisor, strategy: :one_for_one, max_restarts: 7, max_seconds: 9, name: Hoard.Dyn}
    ]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_all, max_restarts: 3, max_seconds: 5, name: Hoard.Sup)
    Process.unlink(pid)
    {:ok, _} = DynamicSupervisor.start_child(Hoard.Dyn, %{id: :job, start: {Agent, :start_link, [fn -> 0 end]}, restart: :temporary, shutdown: 250})
    {:ok, pid}
  end
end

defmodule Hoard.Keeper do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def hoard(n), do: GenServer.cast(__MODULE__, {:hoard, n})
  @impl true
  def init([]) do
    :ets.new(:hoard_index, [:named_table, :public])
    {:ok, []}
  end
  @impl true
  def handle_cast({:hoard, 0}, kept), do: {:noreply, kept}
  def handle_cast({:hoard, n}, kept) do
    blob = :binary.copy(<<n::32>>, 1_000)
    :ets.insert(:hoard_index, {n, byte_size(blob)})
    Process.send_after(self(), {:more, n - 1}, 5)
    {:noreply, [blob | kept]}
  end
  @impl true
  def handle_info({:more, n}, kept), do: handle_cast({:hoard, n}, kept)
end

defmodule Hoard.Courier do
  use GenServer
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  @impl true
  def init([]), do: {:ok, 0}
end
'''


@pytest.fixture(scope="module")
def hoard_node(tmp_path_factory):
    src = tmp_path_factory.mktemp("hoard") / "hoard.ex"
    src.write_text(APP)
    node = start_node("elixir", elixir_files=[src], eval_code="{:ok, _} = Hoard.start()")
    yield node
    node.stop()


async def _record(node, tmp_path, **ctx_kw) -> tuple[RecordingView, list[str]]:
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "res.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, sample_every=0.2, **ctx_kw)
        plan = Plan(specs=[PlannedSpec(spec="Hoard.Keeper.handle_cast/2", why="test")], seconds=1.5)
        run = await run_capture(ctx, plan, symptom="memory grows", trigger="Hoard.Keeper.hoard(400)", seconds=1.5)
        view = RecordingView.from_recording(store.recording(run.recording_id))
        store.close()
        return view, run.errors
    finally:
        await dist.close()


async def test_resource_samples_follow_a_hoarding_process(hoard_node, tmp_path):
    view, errors = await _record(hoard_node, tmp_path)
    assert not [e for e in errors if "resource" in e or "supervisor" in e], errors
    assert len(view.resources) >= 4, view.resources
    # the old mailbox samples are still there, one per resource sample
    assert len(view.samples) == len(view.resources)
    keeper = [s.process(next(p.proc for p in s.processes if p.name == "Hoard.Keeper"))
              for s in view.resources if any(p.name == "Hoard.Keeper" for p in s.processes)]
    assert len(keeper) >= 3, [[(p.name, p.memory) for p in s.processes] for s in view.resources]
    k0 = keeper[0]
    assert k0.module == "Elixir.Hoard.Keeper" and k0.current and k0.pid.startswith("<0.")
    # every hoarded blob is a 4000-byte off-heap binary: the binary memory grows sample by sample
    bins = [k.binary_bytes for k in keeper]
    assert all(a <= b for a, b in zip(bins, bins[1:])) and bins[-1] > bins[0], bins
    assert bins[-1] >= 40 * 4000, bins
    assert keeper[-1].binaries == bins[-1] // 4000
    assert keeper[-1].reductions > k0.reductions and keeper[-1].heap_bytes > 0 and keeper[-1].memory > 0
    # the ETS table it fills, owned by it
    sizes = [t.size for s in view.resources if (t := s.table(":hoard_index"))]
    assert len(sizes) >= 3 and sizes[-1] > sizes[0], sizes
    table = view.resources[-1].table(":hoard_index")
    assert table.owner == k0.proc and table.memory > 0
    # node totals
    last = view.resources[-1]
    assert last.process_count > 30 and last.atom_count > 1000 and last.port_count >= 1
    assert last.memory["total"] >= last.memory["binary"] > 0 and last.memory["ets"] > 0
    assert [r.ts for r in view.resources] == sorted(r.ts for r in view.resources)


async def test_supervision_facts_at_start_and_end(hoard_node, tmp_path):
    view, _ = await _record(hoard_node, tmp_path)
    assert set(view.supervisors) == {"start", "end"}
    for phase in ("start", "end"):
        (sup,) = [s for s in view.supervisors[phase] if s.name == "Hoard.Sup"]
        assert (sup.strategy, sup.intensity, sup.period, sup.kind) == ("one_for_all", 3, 5, "supervisor")
        assert sup.module == "Elixir.Supervisor.Default" and sup.child_count == 3 and sup.error is None
        courier = sup.child_by_id(":courier")
        keeper = sup.child_by_id("Hoard.Keeper")
        assert (courier.restart, courier.shutdown, courier.type, courier.status) == (
            "transient", "brutal_kill", "worker", "running")
        assert (keeper.restart, keeper.shutdown, keeper.type) == ("permanent", 5000, "worker")
        # the child's pid is the same process the samples and the trace know
        assert view.procs[keeper.proc].pid == keeper.pid
        assert view.supervisor_of(keeper.proc, phase) == (sup, keeper)
        # the dynamic supervisor below it, told apart by its state, with its one temporary child
        (dyn,) = [s for s in view.supervisors[phase] if s.name == "Hoard.Dyn"]
        assert (dyn.kind, dyn.strategy, dyn.intensity, dyn.period, dyn.child_count) == (
            "dynamic_supervisor", "one_for_one", 7, 9, 1)
        (job,) = dyn.children
        assert (job.restart, job.shutdown, job.type, job.status) == ("temporary", 250, "worker", "running")
        assert sup.child_by_id("Hoard.Dyn").type == "supervisor"
    # only the application's supervisors: none of OTP's own (kernel_sup, logger_sup, ...)
    assert {s.name for s in view.supervisors["start"]} == {"Hoard.Sup", "Hoard.Dyn"}


def _pid(n: int) -> Pid:
    return Pid(Atom("a@b"), n, 0, 1)


def test_marks_fit_the_budget_and_round_trip():
    """A sample with many rows is trimmed (lowest ranked first) to fit the agent's term limit;
    what is kept reads back unchanged."""
    procs = [ProcessFigures(_pid(i), f"Elixir.App.Worker{i}", "Elixir.App.Worker", "gen_server.loop/7",
                            1000 * i, 800 * i, 4000 * i, i, i % 3, 10 * i) for i in range(1, 40)]
    procs[1] = ProcessFigures(_pid(2), None, None, None, 64 << 20, 60 << 20, None, None, 0, 5)  # binaries not listed
    ets = [EtsFigures(f":table_{i}", _pid(i), i, 100 * i) for i in range(1, 40)]
    snap = ResourceSnapshot(procs, ets, NodeFigures(120, 15000, 7, {"total": 10 ** 7, "binary": 10 ** 5}))
    term = resource_mark(snap, budget=1500)
    assert len(encode(term)) <= 1500
    back = parse_resources(7, 99, decode(encode(term)), lambda text: int(text.split(".")[1]))
    assert back is not None and 0 < len(back.processes) < 39 and 0 < len(back.ets) < 39
    p = back.processes[0]
    assert (p.proc, p.name, p.module, p.memory, p.binary_bytes, p.queue_len) == (
        1, "App.Worker1", "Elixir.App.Worker", 1000, 4000, 1)
    huge = back.processes[1]
    assert (huge.name, huge.module, huge.binary_bytes, huge.binaries, huge.memory) == (None, None, None, None, 64 << 20)
    assert back.ets[0].name == ":table_1" and back.ets[0].owner == 1
    assert (back.process_count, back.atom_count, back.port_count, back.memory["binary"]) == (120, 15000, 7, 10 ** 5)

    kids = [ChildFacts(f"{{App.Conn, {i}}}", _pid(i), "running", "temporary", 5000, "worker") for i in range(60)]
    sup = SupervisorFacts(_pid(1), None, "Elixir.DynamicSupervisor", "dynamic_supervisor", "one_for_one",
                          3, 5, kids, 60)
    term = supervisor_mark("end", sup, budget=1000)
    assert len(encode(term)) <= 1000
    back = parse_supervisor(1, 2, decode(encode(term)), lambda text: int(text.split(".")[1]))
    assert back.phase == "end" and back.child_count == 60 and 0 < len(back.children) < 60
    assert back.children[0] == back.child_by_id("{App.Conn, 0}") and back.children[0].restart == "temporary"
    assert back.name is None and back.strategy == "one_for_one" and (back.intensity, back.period) == (3, 5)
    with pytest.raises(ValueError, match="phase"):
        supervisor_mark("middle", sup)


def test_other_marks_are_not_mistaken_for_samples():
    key = lambda text: 0  # noqa: E731
    for term in [(Atom("es_resources"),), (Atom("es_resources"), 1, 2, 3), (Atom("es_trigger"), b"x"),
                 (Atom("es_supervisor"), b"start", (b"<0.1.0>",)), b"es_resources", [1, 2]]:
        assert parse_resources(1, 1, term, key) is None
        assert parse_supervisor(1, 1, term, key) is None


@pytest.mark.parametrize("kind", ["erl", "otp28"])
async def test_sampler_and_supervisors_on_plain_erlang_nodes(kind):
    """Both on OTP 25 and on the OTP 28 runtime: the supervisor record is read at the same
    positions (kernel_sup is one_for_all with intensity 0 in 1 s), and a sample has figures."""
    from elixir_scope.instrument.resources import ResourceSampler
    from elixir_scope.instrument.supervisors import app_supervisors

    node = start_node(kind)
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        sups = {s.registered_name: s for s in await app_supervisors(conn, {"kernel"})}
        kernel = sups["kernel_sup"]
        assert (kernel.strategy, kernel.intensity, kernel.period, kernel.kind) == ("one_for_all", 0, 1, "supervisor")
        code = next(c for c in kernel.children if c.id == ":code_server")
        assert (code.restart, code.type, code.status) == ("permanent", "worker", "running") and code.pid
        assert "kernel_safe_sup" in sups  # a supervisor below, also run by `kernel`
        sampler = ResourceSampler(conn)
        first, second = await sampler.sample(), await sampler.sample()
        assert second.node.process_count > 10 and second.node.atom_count > 1000
        assert second.node.memory["total"] > second.node.memory["processes"] > 0
        names = {p.registered_name for p in second.processes}
        assert "code_server" in names and all(p.memory > 0 for p in second.processes)
        # a supervisor is named by its callback module (proc_lib says {supervisor, kernel, 1})
        wide = await ResourceSampler(conn, top=40, max_watch=80).sample()
        assert [p.module for p in wide.processes if p.registered_name == "kernel_sup"] == ["kernel"]
        assert {p.pid for p in first.processes} & {p.pid for p in second.processes}  # followed across samples
        assert all(p.binaries is not None for p in second.processes)
        # a process bigger than the limit does not get its binaries listed
        small = await ResourceSampler(conn, binary_list_max_memory=1).sample()
        assert small.processes and all(p.binaries is None and p.binary_bytes is None for p in small.processes)
    finally:
        await dist.close()
        node.stop()


async def test_large_supervisors_are_described_within_bounds(hoard_node):
    """A supervisor with more children than the limits: counted, not listed (or only the
    first ones described), with the reason."""
    from elixir_scope.instrument.supervisors import app_supervisors

    dist = Node()
    try:
        conn = await dist.connect(hoard_node.name, cookie=hoard_node.cookie)
        await conn.rpc("Elixir.Code", "eval_string", [b"""
            {:ok, big} = DynamicSupervisor.start_link(strategy: :one_for_one, name: Hoard.Big)
            Process.unlink(big)
            for n <- 1..31 do
              DynamicSupervisor.start_child(Hoard.Big, %{id: n, start: {Agent, :start_link, [fn -> n end]}, restart: :temporary})
            end
            :ok"""])
        # the children run Agent: that makes Hoard.Big (and Hoard.Dyn, whose :job is one) the app's
        app = {"Elixir.Agent"}
        # too many to list: kept only through its callback module (here the inline one's)
        sups = {s.registered_name: s for s in await app_supervisors(conn, app, max_children=10, list_limit=20)}
        assert "Elixir.Hoard.Big" not in sups and "Elixir.Hoard.Dyn" in sups
        sups = {s.registered_name: s for s in await app_supervisors(
            conn, app | {"Elixir.Supervisor.Default"}, max_children=10, list_limit=20)}
        big = sups["Elixir.Hoard.Big"]
        assert big.child_count == 31 and big.children == [] and "too many to list" in big.error
        assert big.strategy is None and big.intensity is None and big.kind == "unknown"  # state not copied
        sups = {s.registered_name: s for s in await app_supervisors(conn, app, max_children=10)}
        big = sups["Elixir.Hoard.Big"]
        assert big.child_count == 31 and len(big.children) == 10 and "only the first 10" in big.error
        assert sups["Elixir.Hoard.Dyn"].error is None and sups["Elixir.Hoard.Dyn"].intensity == 7
        with pytest.raises(ValueError, match="list_limit"):
            await app_supervisors(conn, app, max_children=10, list_limit=5)
        # never harmed: a DynamicSupervisor gets no request it has no clause for (it would crash)
        assert await conn.rpc("Elixir.Code", "eval_string", [b"DynamicSupervisor.stop(Hoard.Big)"]) == (
            Atom("ok"), [])
    finally:
        await dist.close()
