"""The diagnosis graph (LangGraph).

::

    START → retrieve → analyze_sources ─┬─(live node)──→ survey → plan → capture ─┐
                                        └─(a recording given)─────────────────────┴→ detect → judge ─┐
                                                   ┌──────────── refocus ◀─(not decided, rounds left)─┤
                                                   ▼                                                  │
                                                  plan                                  (decided) explain → report → END

A live node that cannot be surveyed or recorded (too busy to answer, gone, another tracer on
it, a newer agent loaded) does not end the diagnosis with an exception: survey or capture
notes why (``not_recorded``) and the graph goes straight to ``explain``, whose report says it
(inconclusive when no earlier round recorded anything, else explaining the last round that did).

After each capture round, ``judge`` asks whether a hypothesis is confirmed (its evidence
reaches the verdict bar and the runner-up is clearly behind, or names the same culprit). If
not, and rounds and time are left, ``refocus`` plans the next round: longer when nothing was
seen, with the modules that appeared in the last round, and with what the leading hypotheses'
knowledge signatures say to record; the trigger runs again and a new recording is made.

Each node is ``async (state, runtime) -> partial update``; the runtime context
(:class:`~elixir_scope.agents.context.DiagnosisContext`) carries the node connection, the
store and the model settings, so the checkpointed state holds nothing secret or live. With a
checkpointer, a long diagnosis can be inspected step by step or resumed (``thread_id``).
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import asdict
from functools import lru_cache
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from . import explain as explain_mod
from . import planner
from .capture import NODE_FAILURES, node_failure_text, run_capture
from .context import DiagnosisContext
from .decide import apply_decision, read_decision
from .evidence import CodeEvidence, build_facts, trigger
from .evidence import config as config_evidence
from .evidence.pitfalls import code_evidence, encoder_similarity
from .evidence.nodes import unrecorded_calls
from .findings import KnowledgeRef, Report
from .hypotheses import rank
from .rounds import (decided, earlier_stands, modules_seen, next_round_reason, out_of_sight, refines, unseen_loops,
                     unseen_producers, weak, wider)
from .state import DiagnosisInput, DiagnosisState
from .leads import word_lead
from .observations import lead, observe
from .gap_facts import temper
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


async def start(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    if state.max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, not {state.max_rounds}")
    if state.time_budget <= 0:
        raise ValueError(f"time_budget must be positive seconds, not {state.time_budget}")
    return {"started_at": state.started_at or time.time()}


@_timed("retrieve")
async def retrieve(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    if not ctx.use_knowledge:
        return {}
    await ctx.report_progress("searching the OTP knowledge base", 0.05)
    hits = retriever_for(ctx).search(state.symptom, k=5)
    sigs: list[str] = []
    needs: list[str] = list(state.needs)
    for h in hits[:3]:
        sigs.extend(s for s in h.entry.signatures if s not in sigs)
        ev = h.entry.evidence
        if ev is not None:
            needs.extend(n for n in ev.record if n not in needs)
    return {"knowledge": knowledge_refs(hits), "signatures": sigs, "needs": needs}


@_timed("analyze_sources")
async def analyze_sources(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    if not state.source_path:
        return {}
    from elixir_scope.knowledge.source import analyze_tree, rank_candidates
    from elixir_scope.knowledge.source.model import RoleKind

    await runtime.context.report_progress("analysing the Elixir sources", 0.1)
    analysis = analyze_tree(state.source_path, include_tests=state.include_tests)
    cands = rank_candidates(analysis, state.symptom, limit=8)
    modules = {m.name: (m.file, m.line, {(f.name, f.arity): f.line for f in m.functions})
               for m in analysis.modules}
    return {
        "candidates": [{"spec": c.spec, "module": c.module, "score": c.score, "reasons": list(c.reasons)}
                       for c in cands],
        "tail_loops": analysis.tail_loops(),
        "option_keys": analysis.option_keys(),
        "env_reads": analysis.env_reads(),
        "source_summary": {
            "files": analysis.files, "lines": analysis.lines,
            "flags": [{"kind": str(f.kind), "message": f.message} for f in analysis.flags][:20],
            "modules": {name: {"file": str(f), "line": ln, "functions": {f"{n}/{a}": l for (n, a), l in fs.items()}}
                        for name, (f, ln, fs) in modules.items()},
            "child_specs": {m.name: dict(m.child_spec) for m in analysis.modules if m.child_spec},
            # GenServers and state machines by their source, running or not yet (a trigger may
            # start them: per-item processes under a DynamicSupervisor or a Registry)
            "servers": [m.name for m in analysis.modules
                        if {RoleKind.GENSERVER, RoleKind.GEN_STATEM} & set(m.roles)],
            "callees": planner.static_callees(analysis.graph.function_calls),
            # what each function's @spec says it returns: a recorded return outside it broke
            # the function's contract (evidence/contracts.py)
            # (read from the analysis's own parse of each file)
            "return_specs": dict(analysis.return_specs),
            # store writers, literal lookup tables, registries and who treats one as unique
            # (knowledge/source/stores.py: evidence/respelled.py, zeroed.py, registries.py)
            "stores": analysis.stores,
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
    await ctx.report_progress(f"surveying {', '.join([state.node, *state.nodes])}", 0.15)
    errors = list(state.errors)
    try:
        found = planner.Survey.from_app_survey(await survey_node(ctx.conn, timeout=ctx.survey_timeout))
    except NODE_FAILURES as exc:
        why = await node_failure_text(ctx.conn, exc, ctx.attach_timeouts.probe)
        return {"not_recorded": f"the survey of {ctx.conn.node_name} failed, so nothing was recorded: {why}",
                "errors": errors}
    for conn in ctx.peers:  # every node recorded: the plan covers what runs on any of them
        try:
            found = found.merged(planner.Survey.from_app_survey(await survey_node(conn, timeout=ctx.survey_timeout)))
        except Exception as exc:  # a node that cannot be surveyed is still recorded
            errors.append(f"could not survey {conn.node_name}: {exc}")
    return {"survey": asdict(found), "errors": errors}


@_timed("plan")
async def plan(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    sv = planner.Survey(**{**state.survey, "ets_tables": [tuple(t) for t in state.survey.get("ets_tables", [])]})

    p = planner.plan(state.symptom, sv, signatures=state.signatures,
                     candidates=state.candidates, focus=state.focus,
                     seconds=state.seconds, max_events=runtime.context.max_events, needs=state.needs,
                     tail_loops=[f for f in state.tail_loops if f not in state.loops_returned],
                     option_keys=state.option_keys,
                     source_servers=(state.source_summary or {}).get("servers"),
                     source_functions={m: list(v.get("functions", {})) for m, v
                                       in ((state.source_summary or {}).get("modules") or {}).items()})
    if state.round > 1:
        p.reasons.insert(0, f"round {state.round}: " + (state.rounds[-1].get("next", "") if state.rounds else ""))
    return {"plan": p}


@_timed("capture")
async def capture(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    errors = await _reach_nodes(state, ctx)
    await ctx.report_progress(f"round {state.round}: recording", 0.3)
    try:
        result = await run_capture(ctx, state.plan, symptom=state.symptom, trigger=state.trigger,
                                   seconds=state.seconds)
    except NODE_FAILURES as exc:
        why = await node_failure_text(ctx.conn, exc, ctx.attach_timeouts.probe)
        return {"not_recorded": f"round {state.round} could not record {ctx.conn.node_name}: {why}",
                "errors": state.errors + errors}
    return {"recording_id": result.recording_id, "capture": result.summary, "not_recorded": "",
            "errors": state.errors + errors + result.errors, "_wait_ms": result.wait_ms,
            "timings_ms": {"capture_wait": result.wait_ms}}


async def _reach_nodes(state: DiagnosisState, ctx: DiagnosisContext) -> list[str]:
    """Connections for every further node the state names (a round may have widened to a node
    the calls went to; a resumed diagnosis has none yet). A node that cannot be reached is
    reported and left out."""
    have = {c.node_name for c in ctx.peers} | {ctx.conn.node_name}
    errors = []
    for name in state.nodes:
        if name in have:
            continue
        if ctx.connect_node is None:
            errors.append(f"{name} is not recorded: no way to connect to it in this diagnosis")
            continue
        try:
            ctx.peers.append(await ctx.connect_node(name))
        except Exception as exc:
            errors.append(f"could not connect to {name} to record it: {exc}")
    return errors


@_timed("detect")
async def detect(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    await ctx.report_progress(f"round {state.round}: computing the evidence and ranking hypotheses", 0.8)
    rec = ctx.store.recording(state.recording_id)
    view = RecordingView.from_recording(rec)
    book = build_facts(view, state.symptom, code=_code_evidence(state, ctx), earlier_triggers=state.trigger_runs,
                       trigger_expr=state.trigger, config_env=await _config_env(ctx, view, state.env_reads),
                       source_reads=state.env_reads, child_specs=(state.source_summary or {}).get("child_specs"),
                       callees=(state.source_summary or {}).get("callees"),
                       return_specs=(state.source_summary or {}).get("return_specs"),
                       stores=(state.source_summary or {}).get("stores"))
    dropped_near = temper(view, book.facts)   # facts resting on calls the capture's drops cut through
    kb, sym = None, {}
    if ctx.use_knowledge:
        retriever = retriever_for(ctx)
        kb = retriever.kb
        hits = retriever.search_text(state.symptom, k=len(kb))
        top = max((h.score for h in hits), default=0.0) or 1.0
        sym = {h.id: h.score / top for h in hits}
    sources = set(state.source_summary.get("modules", {})) if state.source_summary else set()
    ranking = rank(book, state.symptom, kb=kb, symptom_scores=sym, source_modules=sources)
    order = {f.id: i for i, f in enumerate(book.facts)}
    facts = sorted(book.facts, key=lambda f: (-ranking.relevance[f.id], order[f.id]))
    earlier = (state.best_round.get("hypotheses") or [None])[0] if state.best_round else None
    refined = bool(earlier and ranking.hypotheses
                   and refines(view, earlier.culprit, ranking.hypotheses[0].culprit))
    return {"findings": facts, "hypotheses": ranking.hypotheses, "claims": ranking.claims,
            "chain": [f.id for f in ranking.chain], "gaps": dropped_near + view.gap_notes() + trigger.notes(book, state.round) + book.errors,
            "trigger_runs": state.trigger_runs + [trigger.runs(view, book, state.trigger)],
            "recorded_nodes": [view.nodes[k] for k in sorted(view.nodes)] if view.multi_node else [],
            "unrecorded": [list(x) for x in unrecorded_calls(view)], "refines_earlier": refined,
            "observations": observe(view), "lead": _lead(view, state, ranking)}


def _lead(view: RecordingView, state: DiagnosisState, ranking):
    """The recording's strongest lead (observations.lead), else — when no hypothesis names
    anything — the function the reproduction ran that best fits the symptom (leads.word_lead)."""
    found = lead(view, "slow" in ranking.claims)
    if found is None and not ranking.hypotheses:
        found = word_lead(view, state.symptom, state.source_path, state.source_summary)
    return found


async def _config_env(ctx: DiagnosisContext, view: RecordingView, source_reads: list[dict]) -> dict:
    """The live environment of the applications whose recorded reads fell back to their
    default, and of those whose settings the sources read with a default (none: no live call).
    A node that cannot answer costs only these facts."""
    try:
        return await config_evidence.live_envs(ctx.conn, view, source_reads)
    except Exception:
        return {}


def _code_evidence(state: DiagnosisState, ctx: DiagnosisContext) -> CodeEvidence | None:
    """The sources' well-known pitfalls, for facts about the ones that ran (no sources: None)."""
    if not state.source_path:
        return None
    sim = encoder_similarity() if ctx.use_knowledge else None
    return code_evidence(state.source_path, state.symptom, include_tests=state.include_tests, similarity=sim,
                         scans=ctx.source_scans)


@_timed("judge")
async def judge(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ok, why = decided(state)
    stands = earlier_stands(state) if ok else None
    if stands:   # a weaker later round does not overrule a stronger earlier finding it cannot see any more
        ok, why = False, stands
    live = state.node is not None and runtime.context.conn is not None and state.recording_id is not None
    elapsed = time.time() - (state.started_at or time.time())
    rounds_left = (live and state.plan is not None and state.round < state.max_rounds
                   and elapsed + state.seconds < state.time_budget)
    beyond = out_of_sight(state) if not weak(state) else []
    if beyond and rounds_left and runtime.context.connect_node is not None:
        # the culprit itself waits on a node nobody recorded: what holds it up is there
        ok, why = False, (f"{state.hypotheses[0].culprit.process} waits in a call to a process on "
                          f"{', '.join(beyond)}, which this recording does not hold")
    unseen = unseen_producers(state) if ok and not beyond else []
    if unseen and rounds_left:
        # a crash on a value: whether a callee made it off its contract shows only in the callee's
        # returns, which this round did not record
        ok, why = False, (f"{state.hypotheses[0].culprit.where} crashed on a value it may have got from "
                          f"{', '.join(unseen)}, whose returns this round did not record")
    loops = unseen_loops(state) if ok and not beyond and rounds_left else []
    if loops:
        # the value may have been made by a recursive function recorded calls only: its returns next
        ok, why = False, (f"{state.hypotheses[0].culprit.where} passed on or crashed on a value the recursive "
                          f"{', '.join(loops)} may have made, whose returns this round did not record (calls only)")
    more = not ok and rounds_left
    if ok:
        nxt = "decided: " + why
    elif more and beyond:
        nxt = "not decided (" + why + "): record " + ", ".join(beyond) + " too, in the same recording"
    elif more:
        nxt = "not decided (" + why + "): " + next_round_reason(state)
    elif not live or state.plan is None:
        nxt = "not decided (" + why + "); a saved recording gets no further round"
    elif state.round >= state.max_rounds:
        nxt = f"not decided ({why}); the maximum of {state.max_rounds} round(s) is reached"
    else:
        nxt = f"not decided ({why}); the time budget of {state.time_budget:g} s is spent"
    update: dict = {}
    if not more and state.best_round and not ok:
        # the diagnosis ends undecided: explain the round whose evidence was strongest, not the last one
        best = state.best_round
        top_now = state.hypotheses[0].evidence_score if state.hypotheses else 0.0
        if best["score"] > top_now:
            update = {"findings": best["findings"], "hypotheses": best["hypotheses"], "chain": best["chain"],
                      "recording_id": best["recording_id"], "claims": best["claims"],
                      "observations": best["observations"], "lead": best["lead"]}
            nxt += f"; the report explains round {best['round']}, whose evidence was strongest"
    record = {"round": state.round, "recording_id": state.recording_id, "seconds": state.seconds,
              "plan_reasons": list(state.plan.reasons) if state.plan else [],
              "top": [{"id": h.id, "title": h.title, "score": h.score,
                       "culprit": h.culprit.where if h.culprit else None} for h in state.hypotheses[:3]],
              "decided": ok, "next": nxt}
    top = state.hypotheses[0].evidence_score if state.hypotheses else 0.0
    best_round = state.best_round
    if not best_round or top > best_round["score"]:
        best_round = {"round": state.round, "score": top, "findings": state.findings, "hypotheses": state.hypotheses,
                      "chain": state.chain, "recording_id": state.recording_id, "claims": state.claims,
                      "observations": state.observations, "lead": state.lead}
    if more and beyond:
        update["nodes"] = list(state.nodes) + [n for n in beyond if n not in state.nodes and n != state.node]
    elif beyond:
        update["errors"] = list(state.errors) + [
            f"{state.hypotheses[0].culprit.process} waits in a call to {', '.join(beyond)}, which was not recorded: "
            "what holds it up is there — diagnose with --node for that node too (or --cluster)"]
    if more and loops:
        update["loops_returned"] = list(state.loops_returned) + loops
    return {"rounds": state.rounds + [record], "another_round": more, "best_round": best_round, **update}


def route_after_survey(state: DiagnosisState) -> Literal["plan", "explain"]:
    return "explain" if state.not_recorded else "plan"


def route_after_capture(state: DiagnosisState) -> Literal["detect", "explain"]:
    return "explain" if state.not_recorded else "detect"


def route_after_judge(state: DiagnosisState) -> Literal["refocus", "explain"]:
    return "refocus" if state.another_round else "explain"


@_timed("refocus")
async def refocus(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    """Plan the next round from what the last one showed."""
    ctx = runtime.context
    rec = ctx.store.recording(state.recording_id)
    view = RecordingView.from_recording(rec)
    appeared = modules_seen(view)
    known = set(state.survey.get("app_modules", []))
    focus = list(state.focus)
    for m in sorted(appeared - known):
        if m not in focus:
            focus.append(m)
    for h in state.hypotheses[:2]:
        if h.culprit and h.culprit.module and h.culprit.module not in focus and not h.culprit.module.startswith(":"):
            focus.append(h.culprit.module)
    # the functions the leading culprit calls, whole modules with their returns: a helper that made
    # its value and was not recorded this round is next round
    focus += [m for m in planner.callee_modules(state.hypotheses[:2], (state.source_summary or {}).get("callees"))
              if m not in focus]
    needs = list(state.needs)
    if ctx.use_knowledge:
        kb = retriever_for(ctx).kb
        for h in state.hypotheses[:3]:
            if not h.id.startswith("fact:"):
                ev = kb.get(h.id).evidence
                needs.extend(n for n in (ev.record if ev else ()) if n not in needs)
    seconds = wider(state.seconds) if weak(state) else state.seconds
    budget_left = state.time_budget - (time.time() - (state.started_at or time.time()))
    seconds = max(0.5, min(seconds, budget_left - 1.0))
    await ctx.report_progress(f"round {state.round + 1}: refocusing", 0.2)
    survey = {**state.survey, "app_modules": sorted(known | {m for m in appeared})}
    errors = list(state.errors)
    widened = [n for n in state.nodes if n not in set(state.recorded_nodes) | {state.node}]
    if widened:  # nodes the last round's calls went to: reach them and plan for what they run too
        from elixir_scope.instrument.survey import survey as survey_node

        errors += await _reach_nodes(state, ctx)
        merged = planner.Survey(**{**survey, "ets_tables": [tuple(t) for t in survey.get("ets_tables", [])]})
        for conn in ctx.peers:
            if conn.node_name in widened:
                try:
                    merged = merged.merged(planner.Survey.from_app_survey(await survey_node(conn, timeout=ctx.survey_timeout)))
                except Exception as exc:
                    errors.append(f"could not survey {conn.node_name}: {exc}")
        survey = asdict(merged)
    return {"round": state.round + 1, "focus": focus, "needs": needs, "seconds": seconds, "survey": survey,
            "errors": errors}


@_timed("explain")
async def explain(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    ctx = runtime.context
    await ctx.report_progress("explaining", 0.9)
    knowledge = list(state.knowledge)
    winner = state.hypotheses[0] if state.hypotheses else None
    if winner is not None and ctx.use_knowledge and not winner.id.startswith("fact:"):
        entry = retriever_for(ctx).kb.get(winner.id)
        ref = KnowledgeRef(id=entry.id, title=entry.title, score=winner.score, fix=entry.fix,
                           code_example=entry.example)
        knowledge = [ref] + [k for k in knowledge if k.id != entry.id]
    report = explain_mod.build_report(state, knowledge)
    if ctx.confirm_by_replay and ctx.conn is not None and report.root_cause is not None:
        await ctx.report_progress("confirming by replay", 0.92)
        await _confirm_by_replay(ctx, state, report)
    if ctx.llm.enabled and state.recording_id is not None:
        from .evidence_tools import StoreEvidenceTools
        from .llm import narrate

        run = await narrate(report, StoreEvidenceTools(ctx.store, state.recording_id), ctx.llm)
        if run.narrative is not None:
            report.narrative = run.narrative
        else:
            report.gaps.append(f"the model's narrative is missing ({run.stopped_by}); the templated one stands")
        decision = read_decision(run.answer, run.narrative.text if run.narrative else None)
        if decision is not None:
            rids = [r["recording_id"] for r in state.rounds if r.get("recording_id") is not None] or [state.recording_id]
            apply_decision(report, decision, ctx.store, rids)
            if decision.another_round is not None:
                return _model_round(state, report, knowledge, decision)
    return {"report": report, "knowledge": knowledge, "another_round": False}


async def _confirm_by_replay(ctx: DiagnosisContext, state: DiagnosisState, report: Report) -> None:
    """Counterfactual replay of the blamed message (and the ExUnit test that fails as recorded);
    the outcome goes into the report as evidence for or against the verdict."""
    from .replay_check import check_by_replay

    run_with = "none"
    if ctx.prove_test:
        # the application's sources when given (a node that compiled them in memory has no object code to copy)
        run_with = sorted(Path(state.source_path).rglob("*.ex")) if state.source_path else "node"
    try:
        check = await check_by_replay(ctx.conn, ctx.store.recording(state.recording_id), report.root_cause,
                                      run_test_with=run_with)
    except Exception as exc:  # replay is extra evidence: its failure never loses the report
        report.gaps.append(f"confirming by replay failed: {type(exc).__name__}: {exc}")
        return
    if check is None:
        report.gaps.append("confirming by replay: the verdict names no crashed callback to replay")
        return
    report.replay_check = check.as_dict()
    if check.verdict.value == "refuted":
        report.gaps.append("replay refuted the verdict: without the blamed message the failure still happens")


def _model_round(state: DiagnosisState, report: Report, knowledge, decision) -> dict:
    """The model asked for another capture round: allowed within the same limits as judge's."""
    live = state.node is not None and state.plan is not None
    elapsed = time.time() - (state.started_at or time.time())
    why = decision.another_round.get("why") or "the model asked for more evidence"
    if live and state.round < state.max_rounds and elapsed + state.seconds < state.time_budget:
        rounds = list(state.rounds)
        if rounds:
            rounds[-1] = {**rounds[-1], "decided": False, "next": f"the model asked for another round: {why}"}
        focus = list(state.focus) + [m for m in decision.another_round.get("focus", []) if m not in state.focus]
        report.model_claims.append(f"the model asked for another round: {why}")
        return {"report": report, "knowledge": knowledge, "another_round": True, "rounds": rounds, "focus": focus}
    report.model_claims.append(f"the model asked for another round ({why}), but no round is left "
                               f"(round {state.round} of {state.max_rounds}, or no live node, or no time)")
    return {"report": report, "knowledge": knowledge, "another_round": False}


def route_after_explain(state: DiagnosisState) -> Literal["refocus", "report"]:
    return "refocus" if state.another_round else "report"


async def finish(state: DiagnosisState, runtime: Runtime[DiagnosisContext]) -> dict:
    report = state.report.model_copy(update={"timings_ms": dict(state.timings_ms)})
    return {"report": report}


def build_graph(checkpointer=None):
    g = StateGraph(DiagnosisState, context_schema=DiagnosisContext, input_schema=DiagnosisInput)
    g.add_node("start", start)
    g.add_node("retrieve", retrieve)
    g.add_node("analyze_sources", analyze_sources)
    g.add_node("survey", survey)
    g.add_node("plan", plan)
    g.add_node("capture", capture)
    g.add_node("detect", detect)
    g.add_node("judge", judge)
    g.add_node("refocus", refocus)
    g.add_node("explain", explain)
    g.add_node("report", finish)
    g.add_edge(START, "start")
    g.add_edge("start", "retrieve")
    g.add_edge("retrieve", "analyze_sources")
    g.add_conditional_edges("analyze_sources", route_after_sources, ["survey", "detect"])
    g.add_conditional_edges("survey", route_after_survey, ["plan", "explain"])
    g.add_edge("plan", "capture")
    g.add_conditional_edges("capture", route_after_capture, ["detect", "explain"])
    g.add_edge("detect", "judge")
    g.add_conditional_edges("judge", route_after_judge, ["refocus", "explain"])
    g.add_edge("refocus", "plan")
    g.add_conditional_edges("explain", route_after_explain, ["refocus", "report"])
    g.add_edge("report", END)
    return g.compile(checkpointer=checkpointer)


class DiagnosisInterrupted(RuntimeError):
    """The diagnosis stopped before its report (``interrupt_before``); resume it by thread id."""

    def __init__(self, thread_id: str, next_steps: tuple[str, ...]) -> None:
        super().__init__(f"diagnosis {thread_id} stopped before {', '.join(next_steps) or 'the end'}; "
                         f"resume it with the same checkpoint file and thread id")
        self.thread_id = thread_id
        self.next_steps = next_steps


async def diagnose(request: DiagnosisInput | None, ctx: DiagnosisContext, *, checkpointer=None,
                   thread_id: str | None = None, interrupt_before: list[str] | None = None) -> Report:
    """Run the whole diagnosis and return the report.

    With a ``checkpointer``, the state after every step is saved under ``thread_id``; a
    diagnosis that was interrupted (the process died, or ``interrupt_before`` stopped it)
    resumes from its last completed step when called again with ``request=None`` and the same
    checkpointer and thread id (:func:`resume`)."""
    import uuid

    graph = build_graph(checkpointer)
    tid = thread_id or f"diagnosis-{uuid.uuid4().hex[:12]}"
    config = {"configurable": {"thread_id": tid}}
    out = await graph.ainvoke(request, config=config, context=ctx, interrupt_before=interrupt_before)
    report = out.get("report") if isinstance(out, dict) else getattr(out, "report", None)
    if report is None or (checkpointer is not None and (await graph.aget_state(config)).next):
        nxt = (await graph.aget_state(config)).next if checkpointer is not None else ()
        raise DiagnosisInterrupted(tid, tuple(nxt))
    return report


async def resume(ctx: DiagnosisContext, *, checkpointer, thread_id: str) -> Report:
    """Continue an interrupted diagnosis from its last completed step."""
    graph = build_graph(checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    snap = await graph.aget_state(config)
    if not snap.values:
        raise ValueError(f"no diagnosis {thread_id!r} in this checkpoint file")
    if not snap.next:
        report = snap.values.get("report")
        if report is None:
            raise ValueError(f"diagnosis {thread_id!r} ended without a report")
        return report
    return await diagnose(None, ctx, checkpointer=checkpointer, thread_id=thread_id)
