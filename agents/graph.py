"""The diagnosis graph (LangGraph).

::

    START → retrieve → analyze_sources ─┬─(live node)──→ survey → plan → capture ─┐
                                        └─(a recording given)─────────────────────┴→ detect → explain → report → END

Each node is ``async (state, runtime) -> partial update``; the runtime context
(:class:`~elixir_scope.agents.context.DiagnosisContext`) carries the node connection, the
store and the model settings, so the checkpointed state holds nothing secret or live. With a
checkpointer, a long diagnosis can be inspected step by step or resumed (``thread_id``).
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from functools import lru_cache
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from . import explain as explain_mod
from . import planner
from .capture import run_capture
from .context import DiagnosisContext
from .detectors import run_all
from .findings import KnowledgeRef, Report
from .state import DiagnosisInput, DiagnosisState
from .view import RecordingView


def _timed(name: str):
    def deco(fn):
        async def node(state: DiagnosisState, runtime: Runtime[DiagnosisContext]):
            t0 = time.perf_counter()
            update = await fn(state, runtime)
            timings = dict(state.timings_ms)
            timings[name] = (time.perf_counter() - t0) * 1000.0 - update.pop("_wait_ms", 0.0)
            update["timings_ms"] = {**timings, **update.get("timings_ms", {})}
            return update
        node.__name__ = fn.__name__
        return node
    return deco


@lru_cache(maxsize=4)
def _retriever(index_dir: str | None):
    from elixir_scope.knowledge.retrieve import Retriever

    return Retriever.open(index_dir)


def retriever_for(ctx: DiagnosisContext):
    return _retriever(str(ctx.knowledge_dir) if ctx.knowledge_dir else None)


def knowledge_refs(hits) -> list[KnowledgeRef]:
    return [KnowledgeRef(id=h.id, title=h.entry.title, score=round(float(h.score), 4),
                         fix=h.entry.fix, code_example=h.entry.example) for h in hits]


@_timed("retrieve")
async def retrieve(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    if not ctx.use_knowledge:
        return {}
    await ctx.report_progress("searching the OTP knowledge base", 0.05)
    hits = retriever_for(ctx).search(state.symptom, k=5)
    sigs: list[str] = []
    for h in hits[:3]:
        sigs.extend(s for s in h.entry.signatures if s not in sigs)
    return {"knowledge": knowledge_refs(hits), "signatures": sigs}


@_timed("analyze_sources")
async def analyze_sources(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    if not state.source_path:
        return {}
    from elixir_scope.knowledge.source import analyze_tree, rank_candidates

    await runtime.context.report_progress("analysing the Elixir sources", 0.1)
    analysis = analyze_tree(state.source_path, include_tests=state.include_tests)
    cands = rank_candidates(analysis, state.symptom, limit=8)
    modules = {m.name: (m.file, m.line, {(f.name, f.arity): f.line for f in m.functions})
               for m in analysis.modules}
    return {
        "candidates": [{"spec": c.spec, "module": c.module, "score": c.score, "reasons": list(c.reasons)}
                       for c in cands],
        "source_summary": {
            "files": analysis.files, "lines": analysis.lines,
            "flags": [{"kind": str(f.kind), "message": f.message} for f in analysis.flags][:20],
            "modules": {name: {"file": str(f), "line": ln, "functions": {f"{n}/{a}": l for (n, a), l in fs.items()}}
                        for name, (f, ln, fs) in modules.items()},
        },
    }


def route_after_sources(state: DiagnosisState) -> Literal["survey", "detect"]:
    if state.recording_id is not None:
        return "detect"
    if state.node:
        return "survey"
    raise ValueError("a diagnosis needs a live node to record or an existing recording_id")


@_timed("survey")
async def survey(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    from elixir_scope.instrument.survey import survey as survey_node

    ctx = runtime.context
    await ctx.report_progress(f"surveying {state.node}", 0.15)
    return {"survey": asdict(planner.Survey.from_app_survey(await survey_node(ctx.conn)))}


@_timed("plan")
async def plan(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    sv = planner.Survey(**{**state.survey, "ets_tables": [tuple(t) for t in state.survey.get("ets_tables", [])]})

    p = planner.plan(state.symptom, sv, signatures=state.signatures,
                     candidates=state.candidates, focus=state.focus,
                     seconds=state.seconds, max_events=runtime.context.max_events)
    return {"plan": p}


@_timed("capture")
async def capture(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    await ctx.report_progress("recording", 0.3)
    result = await run_capture(ctx, state.plan, symptom=state.symptom, trigger=state.trigger,
                               seconds=state.seconds)
    return {"recording_id": result.recording_id, "capture": result.summary,
            "errors": state.errors + result.errors, "_wait_ms": result.wait_ms,
            "timings_ms": {"capture_wait": result.wait_ms}}


@_timed("detect")
async def detect(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    await ctx.report_progress("running detectors", 0.8)
    rec = ctx.store.recording(state.recording_id)
    view = RecordingView.from_recording(rec)
    findings = run_all(view)
    return {"findings": findings, "gaps": view.gap_notes()}


@_timed("explain")
async def explain(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    await ctx.report_progress("explaining", 0.9)
    knowledge = list(state.knowledge)
    root = state.findings[0] if state.findings else None
    if root is not None and ctx.use_knowledge:
        hits = retriever_for(ctx).search(f"{root.title}. {root.summary}", signatures=root.signatures, k=3)
        knowledge = knowledge_refs(hits)
    report = explain_mod.build_report(state, knowledge)
    if ctx.llm.enabled:
        from .evidence_tools import StoreEvidenceTools
        from .llm import narrate

        run = await narrate(report, StoreEvidenceTools(ctx.store, state.recording_id), ctx.llm)
        if run.narrative is not None:
            report.narrative = run.narrative
        else:
            report.gaps.append(f"the model's narrative is missing ({run.stopped_by}); the templated one stands")
    return {"report": report, "knowledge": knowledge}


async def finish(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    report = state.report.model_copy(update={"timings_ms": dict(state.timings_ms)})
    return {"report": report}


# The types the graph's state holds, allowed when a checkpoint is read back (LangGraph refuses
# unregistered classes from msgpack checkpoints).
CHECKPOINT_TYPES = [("elixir_scope.agents.findings", n) for n in (
    "Report", "Finding", "KnowledgeRef", "Plan", "PlannedSpec", "Culprit", "Evidence", "StateDiff",
    "StateChange", "MessageArrow", "Location", "Narrative")]


def checkpoint_serde():
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


@asynccontextmanager
async def sqlite_checkpointer(path):
    """A SQLite checkpointer (``langgraph-checkpoint-sqlite``) for resumable diagnoses."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(str(path)) as conn:
        saver = AsyncSqliteSaver(conn, serde=checkpoint_serde())
        await saver.setup()
        yield saver


def build_graph(checkpointer=None):
    g = StateGraph(DiagnosisState, context_schema=DiagnosisContext, input_schema=DiagnosisInput)
    g.add_node("retrieve", retrieve)
    g.add_node("analyze_sources", analyze_sources)
    g.add_node("survey", survey)
    g.add_node("plan", plan)
    g.add_node("capture", capture)
    g.add_node("detect", detect)
    g.add_node("explain", explain)
    g.add_node("report", finish)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "analyze_sources")
    g.add_conditional_edges("analyze_sources", route_after_sources, ["survey", "detect"])
    g.add_edge("survey", "plan")
    g.add_edge("plan", "capture")
    g.add_edge("capture", "detect")
    g.add_edge("detect", "explain")
    g.add_edge("explain", "report")
    g.add_edge("report", END)
    return g.compile(checkpointer=checkpointer)


async def diagnose(request: DiagnosisInput, ctx: DiagnosisContext, *, checkpointer=None,
                   thread_id: str | None = None) -> Report:
    """Run the whole diagnosis and return the report."""
    import uuid

    graph = build_graph(checkpointer)
    config = {"configurable": {"thread_id": thread_id or f"diagnosis-{uuid.uuid4().hex[:12]}"}}
    out = await graph.ainvoke(request, config=config, context=ctx)
    report = out["report"] if isinstance(out, dict) else out.report
    return report
