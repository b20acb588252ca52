"""Claude as narrator: with ``ANTHROPIC_API_KEY`` set, Claude writes the explanation from
the detectors' findings and may ask for more evidence through the same tools a person or
an MCP client has (the query language, state at a moment, an event's causal past), within a
step and token budget.

The loop is plain anthropic SDK calls (no LangChain wrapper): send the findings and the tool
definitions, run each ``tool_use`` block against the recording, send the results back, stop
at ``end_turn`` or when a budget is spent. If the model fails (network, auth, budget), the
templated narrative stands: the report never depends on the model being reachable.

Tests script the model's replies with ``httpx2.MockTransport`` as the client's
``http_client`` (the SDK talks httpx2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from .findings import Narrative, Report

DEFAULT_MODEL = "claude-sonnet-4-5"

SYSTEM_PROMPT = """You are ElixirScope's diagnosis narrator, an expert in Elixir, Erlang and OTP.
You are given a symptom, the findings that ElixirScope's detectors proved from a recording of
the live system (each with evidence event ids), and related OTP knowledge. Explain the root
cause to an Elixir developer: what happened, in causal order, citing event ids as [#id];
why it happens (the OTP mechanism); and the fix, with a short code example. Use the tools only
when the findings leave a real question open. Never invent event ids: cite only ids you were
given or that a tool returned. Be concise (at most ~300 words)."""


class EvidenceTools(Protocol):
    """The tools Claude may call for more evidence (implemented over the store)."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class LLMConfig:
    """How the narrator runs. ``api_key`` None means: no narrator (template only)."""

    api_key: str | None = None
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    max_steps: int = 4          # model calls, including the final answer
    max_tokens: int = 1500      # per model call
    token_budget: int = 40_000  # input + output tokens over the whole loop
    http_client: Any = field(default=None, compare=False, repr=False)  # httpx2.AsyncClient (tests)

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)


@dataclass
class NarratorRun:
    narrative: Narrative | None
    tool_calls: list[tuple[str, dict]]
    tokens_used: int
    stopped_by: str  # end_turn | max_steps | token_budget | error: ...


def findings_brief(report: Report) -> str:
    """The findings as compact JSON for the model (bounded)."""
    data = {
        "symptom": report.symptom,
        "node": report.node,
        "verdict": report.verdict,
        "root_cause": report.root_cause.model_dump(exclude_none=True) if report.root_cause else None,
        "other_findings": [
            {"title": f.title, "summary": f.summary, "culprit": f.culprit.model_dump(exclude_none=True)}
            for f in report.findings
            if report.root_cause is None or f.title != report.root_cause.title
        ][:5],
        "knowledge": [k.model_dump(exclude_none=True) for k in report.knowledge[:3]],
        "gaps": report.gaps,
    }
    text = json.dumps(data, default=str)
    return text[:30_000]


async def narrate(report: Report, tools: EvidenceTools, config: LLMConfig) -> NarratorRun:
    """Run the tool loop; return Claude's narrative (or None and why it stopped)."""
    import anthropic  # heavy: imported only when a key is configured

    kwargs: dict[str, Any] = {"api_key": config.api_key, "max_retries": 0}
    if config.base_url:
        kwargs["base_url"] = config.base_url
    if config.http_client is not None:
        kwargs["http_client"] = config.http_client
    client = anthropic.AsyncAnthropic(**kwargs)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Findings:\n" + findings_brief(report)}
    ]
    tool_defs = tools.definitions()
    calls: list[tuple[str, dict]] = []
    used = 0
    for step in range(1, config.max_steps + 1):
        last_step = step == config.max_steps or used >= config.token_budget
        try:
            reply = await client.messages.create(
                model=config.model,
                max_tokens=config.max_tokens,
                system=SYSTEM_PROMPT
                + ("\nThis is your last step: answer now, without tools." if last_step else ""),
                messages=messages,
                **({} if last_step else {"tools": tool_defs}),
            )
        except anthropic.APIError as exc:
            return NarratorRun(None, calls, used, f"error: {type(exc).__name__}: {exc}")
        used += reply.usage.input_tokens + reply.usage.output_tokens
        text = "".join(b.text for b in reply.content if b.type == "text").strip()
        uses = [b for b in reply.content if b.type == "tool_use"]
        if reply.stop_reason != "tool_use" or not uses:
            narrative = Narrative(source="claude", text=text, model=reply.model, steps=step) if text else None
            return NarratorRun(narrative, calls, used, "end_turn" if text else "error: empty answer")
        if used >= config.token_budget or last_step:
            # cut off while still asking for evidence: no finished answer, the template stands
            return NarratorRun(None, calls, used, "token_budget" if used >= config.token_budget else "max_steps")
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        results = []
        for use in uses:
            calls.append((use.name, dict(use.input)))
            try:
                content = await tools.call(use.name, dict(use.input))
                is_error = False
            except Exception as exc:  # a tool error goes back to the model, which can adapt
                content, is_error = f"{type(exc).__name__}: {exc}", True
            results.append(
                {"type": "tool_result", "tool_use_id": use.id, "content": content[:8000], "is_error": is_error}
            )
        messages.append({"role": "user", "content": results})
    return NarratorRun(None, calls, used, "max_steps")
