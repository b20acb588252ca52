"""A self-tail-recursive function must not be traced with its returns (each traced call would
keep a return frame: the loop's stack grows for as long as the capture runs). The source
analysis finds such loops (knowledge/source/tailcalls.py) and the planner traces their calls
only, after the module-wide spec, so that is the pattern the node keeps for them; a plain
function keeps its returns."""

from __future__ import annotations

import pytest
from elixir_scope.agents import planner
from elixir_scope.agents.capture import capture_plan
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.knowledge.source import analyze_source, analyze_tree, rank_candidates
from elixir_scope.store import TraceStore
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node

SOURCE = '''
defmodule Shop.Worker do
  use GenServer
  alias Shop.Worker

  def loop(state) do
    receive do
      {:add, x} -> loop(state + x)
      {:get, from} ->
        send(from, state)
        loop(state)
      :stop -> :ok
    after 1_000 -> state |> loop()
    end
  end

  def countdown(0), do: :done
  def countdown(n), do: if n > 0, do: countdown(n - 1), else: :negative

  def retry(x) do
    case x do
      {:error, _} -> __MODULE__.retry(:again)
      other -> other
    end
  end

  def aliased(x), do: Worker.aliased(x)

  def serve(s), do: (receive do m -> handle(m, s) end)
  defp handle(m, s) do
    s = apply_msg(m, s)
    serve(s)
  end
  defp apply_msg(_m, s), do: s

  def with_loop(x) do
    with {:ok, y} <- x do
      with_loop(y)
    else
      _ -> :ok
    end
  end

  def pick(x) do
    cond do
      x > 10 -> pick(x - 1)
      true -> x
    end
  end

  # not tail calls
  def depth(0), do: 0
  def depth(n), do: 1 + depth(n - 1)
  def bound(x) do
    y = bound(x)
    y
  end
  def guarded(x) do
    guarded(x)
  rescue
    _ -> :error
  end
  def each(xs), do: Enum.map(xs, &each/1)
  def price(total), do: total * 2
end
'''

LOOPS = ["loop/1", "countdown/1", "retry/1", "aliased/1", "serve/1", "handle/2", "with_loop/1", "pick/1"]


def test_tail_loops_of_the_source():
    analysis = analyze_source(SOURCE)
    assert sorted(analysis.tail_loops()) == sorted(f"Shop.Worker.{f}" for f in LOOPS)
    mod = analysis.module("Shop.Worker")
    for fn in ("depth", "bound", "guarded", "each", "price", "apply_msg"):
        assert mod.function(fn).tail_recursive is False, fn
    assert mod.function("loop", 1).tail_recursive is True


def _effective(cplan: CapturePlan, module: str, function: str, arity: int):
    """The spec the node ends with for one function: patterns are set in order, the last one
    covering a function replaces the earlier ones."""
    last = None
    for spec in cplan.specs:
        if spec.module == module and spec.function in (None, function) and spec.arity in (None, arity):
            last = spec
    return last


def test_plan_traces_a_tail_loop_without_its_returns(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "worker.ex").write_text(SOURCE)
    analysis = analyze_tree(tmp_path)
    survey = planner.Survey(node="n@h", app_modules=["Shop.Worker"])
    cands = rank_candidates(analysis, "the worker loop gets slow", limit=8)
    plan = planner.plan("the worker loop gets slow", survey, candidates=cands, tail_loops=analysis.tail_loops())
    cplan, errors = capture_plan(plan)
    assert errors == []
    for fa in LOOPS:
        name, arity = fa.split("/")
        spec = _effective(cplan, "Elixir.Shop.Worker", name, int(arity))
        assert spec is not None and not spec.returns, (fa, spec)
        assert spec.function == name  # its own spec, after the module's
    for name, arity in (("price", 1), ("depth", 1)):
        assert _effective(cplan, "Elixir.Shop.Worker", name, arity).returns, name
    why = [s.why for s in plan.specs if s.spec == "Shop.Worker.loop/1"]
    assert why and "calls only" in why[0]


def test_plan_without_sources_is_unchanged():
    survey = planner.Survey(node="n@h", app_modules=["Shop.Worker"])
    plan = planner.plan("slow", survey)
    assert [s.spec for s in plan.specs if s.spec.startswith("Shop.")] == ["Shop.Worker :: return"]


@pytest.fixture(scope="module")
def loop_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


async def test_the_node_keeps_the_loops_calls_only_pattern(loop_node, tmp_path):
    """On a real node: the module traced with returns, its loop with calls only."""
    survey = planner.Survey(node=loop_node.name, app_modules=[":es_loop"])
    plan = planner.plan("slow", survey, tail_loops=[":es_loop.loop/1"])
    cplan, errors = capture_plan(plan)
    assert errors == []
    store = TraceStore.open(tmp_path / "plan.db")
    limits = CaptureLimits(max_seconds=60)
    async with Node() as node:
        conn = await node.connect(loop_node.name, cookie=loop_node.cookie)
        await conn.rpc("code", "ensure_loaded", [Atom("es_loop")])
        rec = store.create_recording("plan", spec={}, limits=limits.as_dict())
        session = await CaptureSession.start(conn, rec, cplan, limits)
        try:
            ms = {}
            for fun in ("loop", "depth"):
                info = await conn.rpc("erlang", "trace_info", [(Atom("es_loop"), Atom(fun), 1), Atom("match_spec")])
                ms[fun] = info[1]
        finally:
            await session.stop(timeout=30)
    actions = {fun: [a for _h, _g, body in m for a in body] for fun, m in ms.items()}
    assert ms["loop"] and actions["loop"] == [], ms        # traced, calls only
    assert (Atom("exception_trace"),) in actions["depth"], ms
    store.close()


def test_a_request_for_returns_is_warned_about_loops():
    note = CapturePlan.from_strings(["Shop.Worker.price/1 :: return", "Shop.Worker.loop/1"]).returns_note()
    assert note and "Shop.Worker.price/1" in note and "Shop.Worker.loop/1" not in note
    assert "stack_guard" in note and "without `:: return`" in note
    assert CapturePlan.from_strings(["Shop.Worker.loop/1"]).returns_note() is None


async def test_the_diagnosis_graph_carries_the_loops_from_the_sources_to_the_plan():
    """analyze_sources → state.tail_loops → plan: linked_crash's flusher loop (a receive loop
    calling itself last) is planned calls only, its module with returns."""
    from dataclasses import replace
    from pathlib import Path
    from types import SimpleNamespace

    from elixir_scope.agents import graph
    from elixir_scope.agents.state import DiagnosisState

    async def progress(*_a, **_k):
        return None

    runtime = SimpleNamespace(context=SimpleNamespace(report_progress=progress, max_events=50_000))
    examples = Path(__file__).resolve().parents[1] / "examples" / "linked_crash"
    state = DiagnosisState(symptom="the collector dies", source_path=str(examples))
    update = await graph.analyze_sources(state, runtime)
    assert "LinkedCrash.Flusher.loop/1" in update["tail_loops"]
    state = replace(state, tail_loops=update["tail_loops"], candidates=update["candidates"],
                    survey={"node": "n@h", "app_modules": ["LinkedCrash.Flusher"]})
    plan = (await graph.plan(state, runtime))["plan"]
    specs = [s.spec for s in plan.specs if s.spec.startswith("LinkedCrash.Flusher")]
    assert specs.index("LinkedCrash.Flusher :: return") < specs.index("LinkedCrash.Flusher.loop/1")
    assert "LinkedCrash.Flusher.loop/1 :: return" not in specs
