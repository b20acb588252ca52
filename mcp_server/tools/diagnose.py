"""Diagnosis tools: plan what to record for a symptom, and run the whole diagnosis.

``diagnose`` runs the agents' LangGraph (knowledge → sources → survey → plan → capture →
detect → explain → report; docs/diagnosis.md) and returns the report: verdict, root cause
with the culprit, evidence event ids the other tools can open, and the fix. Reports are kept
for the session and served as ``elixir-scope://reports/{report_id}`` (Markdown).

LangGraph, the knowledge index and (with a key) the Anthropic SDK are imported when a
diagnosis runs, never at start-up. A ``trigger`` runs code on the node, so it is accepted
only when the server was started with ``--allow-mutations``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..state import app_state
from .annotations import ADDITIVE, DESTRUCTIVE, READ_ONLY
from .captures import attach_timeouts
from elixir_scope.instrument.etf.syntax import ELIXIR, TermSyntax, printing

from ..syntax import node_syntax, recording_syntax
from .common import NodeArg, in_thread

MARKDOWN_CHARS = 12_000


class PlannedCapture(BaseModel):
    node: str
    specs: list[dict[str, str]] = Field(description="Trace specs with the reason for each.")
    state_of: list[str]
    messages_of: list[str]
    lifecycle: bool
    reasons: list[str]
    next_step: str


class DiagnosisResult(BaseModel):
    report_id: str = Field(description="Read the Markdown report as resource elixir-scope://reports/{report_id}.")
    verdict: str = Field(description="root_cause_found, problems_found or inconclusive.")
    recording: int | None = Field(description="The recording holding the evidence (query it with the other tools).")
    markdown: str = Field(description="The report for people (bounded).")
    report: dict[str, Any] = Field(description="The JSON report (schema elixir-scope/diagnosis-report@1).")


def llm_config(config: ServerConfig, ctx: Context | None = None) -> Any:
    """The narrator's model: the server's ``ANTHROPIC_API_KEY`` if it has one; else, inside a
    tool call, the client's own model through MCP sampling when the client offers it."""
    from elixir_scope.agents.llm import LLMConfig

    kw: dict[str, Any] = {"api_key": config.anthropic_api_key, "base_url": config.anthropic_base_url}
    if config.llm_model:
        kw["model"] = config.llm_model
    if not config.anthropic_api_key and ctx is not None:
        from ..sampling import sampling_backend

        kw["backend"] = sampling_backend(ctx)
    return LLMConfig(**kw)


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def plan_instrumentation(
        ctx: Context,
        symptom: Annotated[str, Field(min_length=3, description="The problem in words, e.g. 'checkout times out'.")],
        source_path: Annotated[str | None, Field(description="Folder with the application's Elixir sources (optional: sharpens the plan).")] = None,
        focus: Annotated[list[str], Field(description="Modules or processes you already suspect.")] = [],
        include_tests: Annotated[bool, Field(description="Also analyze test/ folders and .exs scripts (by default only the application's .ex files).")] = False,
        confirm_by_replay: Annotated[bool, Field(description="Replay the blamed callbacks with and without the suspected message and run the generated ExUnit test once (runs the module's code: needs --allow-mutations).")] = False,
        node: NodeArg = None,
    ) -> PlannedCapture:
        """What to record for a symptom on a live node — which calls, whose state and messages —
        each with the reason, ready for start_capture. Surveys the node read-only."""
        from elixir_scope.agents.planner import plan_for

        conn = await app_state(ctx).connection(node)
        candidates: list = []
        loops: list[str] = []
        if source_path:
            from elixir_scope.knowledge.source import analyze_tree, rank_candidates

            analysis = await in_thread(lambda: analyze_tree(source_path, include_tests=include_tests))
            candidates = await in_thread(lambda: rank_candidates(analysis, symptom, focus=list(focus)))
            loops = analysis.tail_loops()
        plan, _ = await plan_for(conn, symptom, candidates=candidates, focus=list(focus), tail_loops=loops)
        return PlannedCapture(
            node=conn.node_name, specs=[{"spec": p.spec, "why": p.why} for p in plan.specs],
            state_of=plan.state_modules, messages_of=plan.message_processes, lifecycle=plan.lifecycle,
            reasons=plan.reasons,
            next_step="start_capture(spec=[...the specs...], state_of=..., messages_of=..., "
                      f"max_seconds={plan.seconds:g}) while the problem happens, or diagnose(symptom=...)")

    # With --allow-mutations a trigger runs code on the node: then diagnose may change it.
    @server.tool(annotations=DESTRUCTIVE if config.allow_mutations else ADDITIVE)
    @tool_errors
    async def diagnose(
        ctx: Context,
        symptom: Annotated[str, Field(min_length=3, description="What goes wrong, e.g. 'checkout with a gift box hangs and times out'.")],
        recording: Annotated[int | None, Field(description="Diagnose this existing recording instead of recording anew.")] = None,
        seconds: Annotated[float, Field(gt=0, le=120, description="How long to record (after the trigger, if any).")] = 5.0,
        trigger: Annotated[str | None, Field(description="Elixir expression run on the node to reproduce the problem (needs --allow-mutations).")] = None,
        max_rounds: Annotated[int, Field(ge=1, le=5, description="Capture rounds at most: an undecided round is followed by a refocused one.")] = 3,
        time_budget: Annotated[float, Field(gt=0, le=600, description="Seconds for the whole diagnosis; no new round starts past it.")] = 180.0,
        source_path: Annotated[str | None, Field(description="Folder with the application's Elixir sources (for code locations).")] = None,
        focus: Annotated[list[str], Field(description="Modules or processes you already suspect.")] = [],
        include_tests: Annotated[bool, Field(description="Also analyze test/ folders and .exs scripts (by default only the application's .ex files).")] = False,
        confirm_by_replay: Annotated[bool, Field(description="Replay the blamed callbacks with and without the suspected message and run the generated ExUnit test once (runs the module's code: needs --allow-mutations).")] = False,
        node: NodeArg = None,
        nodes: Annotated[list[str], Field(max_length=16, description="Further nodes (name@host) to record together with `node` in one recording, e.g. the other side of a cross-node call; the trigger runs on `node`. Same cookie as `node`.")] = [],
    ) -> DiagnosisResult:
        """Find the root cause of a symptom: plan and record what matters (or use a recording),
        run the failure detectors, and explain with evidence (event ids), the causal chain and
        a fix. Reports progress; takes about `seconds` plus a few seconds."""
        from elixir_scope.agents.context import DiagnosisContext
        from elixir_scope.agents.graph import diagnose as run_diagnosis
        from elixir_scope.agents.report import render_markdown
        from elixir_scope.agents.state import DiagnosisInput

        state = app_state(ctx)
        if trigger and not state.config.allow_mutations:
            raise ToolError("a trigger runs code on the node: start the server with --allow-mutations to use one, "
                            "or reproduce the problem yourself while diagnose records (no trigger)")
        if confirm_by_replay and not state.config.allow_mutations:
            raise ToolError("confirming by replay runs the module's code on the node: start the server with "
                            "--allow-mutations to use it")
        conn = None
        node_name = None
        peers = []
        if recording is not None and nodes:
            raise ToolError("`recording` diagnoses a saved recording: it takes no `nodes`; drop one of them")
        if recording is None:
            conn = await state.connection(node)
            node_name = conn.node_name
            for name in dict.fromkeys(nodes):
                if name != node_name:
                    peers.append(await state.connection(name))

        async def progress(message: str, fraction: float) -> None:
            await ctx.report_progress(round(fraction * 100, 1), 100, message)

        dctx = DiagnosisContext(store=state.store(), conn=conn, peers=peers, dist_node=state.node if conn else None,
                                connect_node=state.connection if conn else None,
                                knowledge_dir=state.config.knowledge_dir, llm=llm_config(state.config, ctx),
                                progress=progress, confirm_by_replay=confirm_by_replay,
                                attach_timeouts=attach_timeouts(state.config))
        # the report speaks the node's language: asked of the live node, or told by the recording
        sx = await node_syntax(state, conn) if conn is not None else await in_thread(_recording_syntax, state, recording)
        with printing(sx):
            report = await run_diagnosis(DiagnosisInput(
                symptom=symptom, node=node_name, nodes=[p.node_name for p in peers], focus=list(focus),
                source_path=source_path, include_tests=include_tests, trigger=trigger, seconds=seconds,
                recording_id=recording, max_rounds=max_rounds, time_budget=time_budget), dctx)
            md = render_markdown(report)
        report_id = secrets.token_hex(4)
        state.add_report(report_id, report)
        return DiagnosisResult(
            report_id=report_id, verdict=report.verdict, recording=report.recording_id,
            markdown=md[:MARKDOWN_CHARS] + ("\n… (full report: the resource)" if len(md) > MARKDOWN_CHARS else ""),
            report=report.model_dump(mode="json", by_alias=True))


def _recording_syntax(state: Any, recording: int) -> TermSyntax:
    """The recording's language; Elixir when it cannot be read (the diagnosis then says why)."""
    try:
        return recording_syntax(state.config.syntax, state.store().recording(recording))
    except Exception:
        return ELIXIR
