"""A capture of processes that handle huge terms ends on time, with its reason and its records
(the held-out bug `year_end_export`: a 60,000-entry reply whose text matched the redaction
precheck made the agent walk it with every redaction rule, for seconds per term, so the capture
outlived its stop and the diagnosis died on a TimeoutError).

On a real Elixir node: a GenServer replying with a 60,000-entry journal (state history, calls,
returns, messages, default redaction), and one killed by ``max_heap_size`` while building it
mid-call; the capture stops with ``stopped``, the huge payloads are cut to ``max_term_bytes``
with their shape and a secret inside them redacted. And ``stop``/``wait`` never raise on a
timeout: a stuck agent ends the capture with ``deadline``, a gap that counts what the agent
held, the records kept and the agent's trace settings removed. A diagnosis completes on the
app, and goes on when its capture ends with ``deadline``."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.capture import CapturePlan, RunningModule
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import EventKind, TraceStore
from support.nodes import start_node

A = Atom
T = A("$truncated")

JOURNAL = r'''
defmodule Huge.Journal do
  use GenServer
  def start_link(n), do: GenServer.start_link(__MODULE__, n, name: __MODULE__)
  def entries(client), do: GenServer.call(__MODULE__, {:entries, client}, 60_000)
  @impl true
  def init(n) do
    # the text holds "author" and "session": the redaction precheck matches the whole reply
    rows = for i <- 1..n, do: %{no: i, date: Date.add(~D[2026-01-01], rem(i, 365)), amount: rem(i * 7919, 250_000),
                               text: "entry #{i} by author, session #{i}"}
    {:ok, %{"hansen" => rows ++ [%{no: n + 1, password: "hunter2-the-secret"}], "cafe" => Enum.take(rows, 3)}}
  end
  @impl true
  def handle_call({:entries, client}, _from, ledger), do: {:reply, Map.get(ledger, client, []), ledger}
end

defmodule Huge.Exporter do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def export(client), do: GenServer.call(__MODULE__, {:export, client}, 60_000)
  @impl true
  def init([]) do
    Process.flag(:max_heap_size, %{size: 400_000, kill: true, error_logger: false})
    {:ok, %{exports: 0}}
  end
  @impl true
  def handle_call({:export, client}, _from, s) do
    rows = for e <- Huge.Journal.entries(client), do: [Integer.to_string(e.no), ?;, Map.get(e, :text, ""), ?\n]
    {:reply, {:ok, IO.iodata_to_binary(rows)}, %{s | exports: s.exports + 1}}
  end
end

defmodule Huge do
  def start do
    {:ok, _} = Huge.Journal.start_link(60_000)
    {:ok, _} = Huge.Exporter.start_link([])
    :ok
  end
  def trigger do
    small = Huge.Exporter.export("cafe")
    big = try do
      Huge.Exporter.export("hansen")
    catch
      :exit, reason -> {:exit, elem(reason, 0)}
    end
    {small, big}
  end
end
'''


@pytest.fixture(scope="module")
def huge_src(tmp_path_factory):
    src = tmp_path_factory.mktemp("huge") / "huge.ex"
    src.write_text(JOURNAL)
    return src


@pytest.fixture(scope="module")
def huge_node(huge_src):
    node = start_node("elixir", elixir_files=[huge_src], eval_code=":ok = Huge.start()")
    yield node
    node.stop()


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "huge.db")
    yield s
    s.close()


PLAN = CapturePlan(specs=(compile_spec("Huge.Journal.handle_call/3 :: return"),
                          compile_spec("Huge.Exporter.handle_call/3 :: return")),
                   state_modules=("Elixir.Huge.Journal", "Elixir.Huge.Exporter"),
                   message_procs=(RunningModule("Elixir.Huge.Journal"), RunningModule("Elixir.Huge.Exporter")),
                   lifecycle_procs="all", strict_names=False)


def records(store, result):
    return list(store.recording(result.recording_id).events(limit=100000))


def walk(t):
    yield t
    if isinstance(t, (list, tuple)):
        for x in t:
            yield from walk(x)
    elif isinstance(t, dict):
        for k, v in t.items():
            yield from walk(k)
            yield from walk(v)


async def test_huge_replies_and_a_process_killed_mid_call_end_the_capture_on_time(huge_node, store):
    limits = CaptureLimits(max_seconds=120)
    async with Node() as node:
        conn = await node.connect(huge_node.name, cookie=huge_node.cookie)
        rec = store.create_recording("huge", spec=PLAN.describe(), limits=limits.as_dict())
        s = await CaptureSession.start(conn, rec, PLAN, limits)
        red0 = (await conn.rpc("erlang", "process_info", [s.agent, A("reductions")]))[1]
        small, big = await conn.rpc("Elixir.Huge", "trigger", [], timeout=60)
        assert small[0] == A("ok") and big == (A("exit"), A("killed"))  # the exporter died mid-call
        # the agent handled every huge term with bounded work (the redaction walk of one reply
        # took billions of reductions): it still answers, and stops when asked
        red1 = (await conn.rpc("erlang", "process_info", [s.agent, A("reductions")]))[1]
        result = await s.stop(timeout=60)
    assert result.end_reason == "stopped", result.detail
    assert result.stats.consistent and result.stats.dropped == 0 and result.stats.agent_errors == 0
    assert red1 - red0 < 50_000_000, red1 - red0
    evs = records(store, result)
    assert result.stats.stored == len(evs)
    limit = limits.max_term_bytes
    # the huge reply: a return of the journal's handle_call, cut to the limit with its shape
    returns = [e for e in evs if e.kind == EventKind.RETURN and isinstance(e.payload, tuple)
               and e.payload and e.payload[0] == A("reply") and isinstance(e.payload[1], list)
               and len(e.payload[1]) > 3]
    assert returns, "no return of the huge reply"
    huge = returns[0]
    assert huge.truncated and len(huge.payload_bytes) <= limit
    assert huge.payload[1][-1] == T and huge.payload[1][0][A("no")] == 1
    # the journal's state before/after every callback, cut to max_state_bytes
    states = [e for e in evs if e.kind == EventKind.STATE]
    assert states and any(e.truncated and T in walk(e.payload) for e in states)
    # the secret at the end of the big list was never sent (a cut never keeps it)
    assert not any("hunter2" in repr(e.payload) for e in evs)
    # the exporter was killed by max_heap_size: its exit is recorded
    exits = [e for e in evs if e.kind == EventKind.EXIT and e.payload == A("killed")]
    assert exits, [e.kind for e in evs][:50]


async def test_a_secret_in_the_kept_part_of_a_huge_term_is_redacted(huge_node, store):
    """The cut-first path (a term over four times the limit): what is kept still goes through
    every redaction rule - a sensitive key, and a URL password in a string cut to a prefix."""
    url = "postgres://ledger:" + "s3cr3t" * 4000 + "@db/books"
    limits = CaptureLimits(max_seconds=60)
    plan = CapturePlan(specs=(compile_spec("Huge.Journal.entries/1"),))
    async with Node() as node:
        conn = await node.connect(huge_node.name, cookie=huge_node.cookie)
        rec = store.create_recording("secret", spec=plan.describe(), limits=limits.as_dict())
        s = await CaptureSession.start(conn, rec, plan, limits)
        # the binary cut to a prefix uses the rest of the budget: the charlist goes alone
        arg = [(A("password"), b"hunter2-the-secret"), url.encode(), list(range(20000))]
        assert await conn.rpc("Elixir.Huge.Journal", "entries", [arg]) == []
        assert await conn.rpc("Elixir.Huge.Journal", "entries", [Charlist.from_text(url)]) == []
        result = await s.stop(timeout=60)
    assert result.end_reason == "stopped", result.detail
    calls = [e for e in records(store, result) if e.kind == EventKind.CALL]
    assert len(calls) == 2
    for call in calls:
        assert call.truncated and call.redacted and len(call.payload_bytes) <= limits.max_term_bytes
        assert b"hunter2" not in call.payload_bytes and b"s3cr3t" not in call.payload_bytes
    ((pw, cut_url, rest),) = calls[0].payload
    assert pw == (A("password"), A("[REDACTED]"))
    assert cut_url[0] == T and cut_url[1].startswith(b"postgres://ledger:[REDACTED]@") and cut_url[2] == len(url)
    assert rest == T
    (cut_chars,) = calls[1].payload
    assert cut_chars == [A("[REDACTED]"), T]


async def suspended_agent(conn, agent):
    """A process on the node suspends the agent and waits (a node too busy to run it)."""
    _, toks, _ = await conn.rpc("erl_scan", "string", [Charlist.from_text(
        "erlang:suspend_process(Agent), receive after infinity -> ok end.")])
    _, exprs = await conn.rpc("erl_parse", "parse_exprs", [toks])
    return await conn.rpc("erlang", "spawn", [A("erl_eval"), A("exprs"), [exprs, [(A("Agent"), agent)]]])


@pytest.mark.parametrize("how", ["stop", "wait"])
async def test_stop_and_wait_past_their_timeout_end_the_capture_with_deadline(erl_node, store, how):
    limits = CaptureLimits(max_seconds=600)  # far away: the caller's timeout is what ends it
    plan = CapturePlan(specs=(compile_spec("lists:seq(A, B) when B > 50 -> return"),))
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        rec = store.create_recording("stuck", spec=plan.describe(), limits=limits.as_dict())
        s = await CaptureSession.start(conn, rec, plan, limits)
        for _ in range(3):
            await conn.rpc("lists", "seq", [1, 60])
        for _ in range(100):  # the first batch is stored
            if s.stored >= 6:
                break
            await asyncio.sleep(0.05)
        holder = await suspended_agent(conn, s.agent)
        await conn.rpc("lists", "seq", [1, 70])  # traced while the agent cannot run: held by it
        assert await s.ended(0.3) is None  # a progress poll does not end the capture
        result = await (s.stop(timeout=2.0) if how == "stop" else s.wait(1.0))
        assert result.end_reason == "deadline" and s.result is result
        assert "within" in result.detail and "killed" in result.detail
        gaps = store.recording(result.recording_id).gaps()
        assert [g.reason for g in gaps] == ["deadline"]
        assert store.recording(result.recording_id).stats.event_count >= 7  # the start mark + 6 kept
        assert (await s.stop(timeout=1.0)) is result  # idempotent
        await conn.rpc("erlang", "exit", [holder, A("kill")])

        async def clean():
            return (await conn.rpc("erlang", "trace_info", [(A("lists"), A("seq"), 2), A("traced")])
                    == (A("traced"), False)
                    and await conn.rpc("erlang", "is_process_alive", [s.agent]) is False)

        for _ in range(100):
            if await clean():
                break
            await asyncio.sleep(0.05)
        assert await clean(), "the agent or its trace settings were left behind"


async def test_the_diagnosis_of_an_app_with_huge_replies_completes(huge_src, tmp_path, kb_index_dir):
    """The held-out failure end to end: the diagnosis records the app while the exporter is
    killed building the big journal, its capture ends on time, and the report is written."""
    node = start_node("elixir", elixir_files=[huge_src], eval_code=":ok = Huge.start()")
    store = TraceStore.open(tmp_path / "diag.db")
    try:
        async with Node() as dist:
            conn = await dist.connect(node.name, cookie=node.cookie)
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
            report = await diagnose(DiagnosisInput(
                symptom="exporting the journal of our biggest client fails every time; small clients work",
                node=node.name, trigger="Huge.trigger()", seconds=1.0, source_path=str(huge_src.parent)), ctx)
    finally:
        node.stop()
    assert report.recording_id is not None
    assert report.capture["end_reason"] == "stopped", report.capture
    assert report.capture["stored"] == store.recording(report.recording_id).stats.event_count > 0
    store.close()


SUSPEND_AGENT = """
agent = Enum.find(Process.list(), fn p ->
  match?({:initial_call, {:elixir_scope_agent, :init, 3}}, Process.info(p, :initial_call))
end)
spawn(fn -> :erlang.suspend_process(agent); Process.sleep(:infinity) end)
Huge.trigger()
"""


async def test_the_diagnosis_goes_on_when_its_capture_ends_with_deadline(huge_src, tmp_path, kb_index_dir):
    """The trigger suspends the agent (a node too busy to run it): the capture's stop runs out
    of time (the context's ``stop_timeout``, 3 s here instead of 30), the capture ends with
    `deadline`, and the diagnosis still writes its report. One round: each round waits out the
    same stop, and the first is the one this is about."""
    node = start_node("elixir", elixir_files=[huge_src], eval_code=":ok = Huge.start()")
    store = TraceStore.open(tmp_path / "diag.db")
    try:
        async with Node() as dist:
            conn = await dist.connect(node.name, cookie=node.cookie)
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir,
                                   stop_timeout=3.0)
            report = await diagnose(DiagnosisInput(
                symptom="exporting the journal of our biggest client fails every time; small clients work",
                node=node.name, trigger=SUSPEND_AGENT, seconds=0.5, source_path=str(huge_src.parent),
                max_rounds=1), ctx)
        ends = [r.end_reason for r in store.recordings()]
    finally:
        node.stop()
    assert ends and ends[0] == "deadline", ends
    assert report.recording_id is not None and report.verdict
    store.close()
