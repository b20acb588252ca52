"""A model as narrator: when one is available — ``ANTHROPIC_API_KEY``, or the MCP client's own
model through sampling when ``diagnose`` runs as an MCP tool — it writes the explanation
from the detectors' findings and may ask for more evidence through the same tools a person or
an MCP client has (the query language, state at a moment, an event's causal past), within a
step and token budget.

The model is reached through a ``ModelBackend`` (``model_api``): ``AnthropicBackend`` (HTTP)
by default, or ``LLMConfig.backend`` (e.g. ``mcp_server.sampling.SamplingBackend``). With a
backend that can use tools, the loop is ``tool_loop.run_tool_loop``. With one that cannot
(an MCP client without ``sampling.tools``), the evidence a tool would have fetched — each
cited event with its neighbours, the culprit's state at the failure, the failure's causal
past — is fetched first and put in the prompt, and the model answers in a small JSON format.

If the model fails (network, auth, budget) or its reply is not usable, the templated
narrative stands and the run says why (``NarratorRun.stopped_by``): the report never depends
on the model being reachable.

Tests drive the real SDK against a scripted Messages-API server over loopback HTTP
(``tests/support/scripted_anthropic.py``) and a real MCP client session that answers
sampling requests from a script.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .findings import Narrative, Report
from .model_api import ModelBackend
from .tool_loop import EvidenceTools, run_tool_loop

__all__ = ["DEFAULT_MODEL", "SYSTEM_PROMPT", "LLMConfig", "NarratorRun", "EvidenceTools", "findings_brief",
           "narrate", "parse_json_answer"]

DEFAULT_MODEL = "claude-sonnet-4-5"

SYSTEM_PROMPT = """You are ElixirScope's diagnosis narrator, an expert in Elixir, Erlang and OTP.
You are given a symptom, the findings that ElixirScope's detectors proved from a recording of
the live system (each with evidence event ids), and related OTP knowledge. Explain the root
cause to an Elixir developer: what happened, in causal order, citing event ids as [#id];
why it happens (the OTP mechanism); and the fix, with a short code example. Use the tools only
when the findings leave a real question open. Never invent event ids: cite only ids you were
given or that a tool returned. Be concise (at most ~300 words).

You may also decide. The offline verdict and the ranked hypotheses are given; if the evidence
you gathered shows a different culprit, or that the question is still open, end your answer
with ONE JSON object (and nothing after it):
{"explanation": "<Markdown, citing [#id]>", "cited_events": [<ids that prove it>],
 "verdict": "root_cause_found" | "inconclusive", "culprit": {"module": "...", "function": "name/arity", "detail": "..."},
 "fix": "...", "another_round": {"why": "...", "focus": ["Module"]}}   (another_round only when a new capture is needed)
A culprit you name is accepted only with cited events that exist in the recording."""

JSON_FORMAT = """
You cannot call tools here: the evidence they would return is already below the findings.
Answer with ONE JSON object and nothing else:
{"explanation": "<the explanation, Markdown, citing event ids as [#id]>", "cited_events": [<ids>]}
(optionally with "verdict", "culprit", "fix" and "another_round" as described above)"""

EVIDENCE_CHARS = 12_000


@dataclass(frozen=True)
class LLMConfig:
    """How the narrator runs: an API key (Anthropic over HTTP) or an explicit ``backend``
    (e.g. MCP sampling); neither means no narrator (template only)."""

    api_key: str | None = None
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    max_steps: int = 4          # model calls, including the final answer
    max_tokens: int = 1500      # per model call
    token_budget: int = 40_000  # input + output tokens over the whole loop
    http_client: Any = field(default=None, compare=False, repr=False)  # httpx2.AsyncClient for the SDK
    backend: ModelBackend | None = field(default=None, compare=False, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.api_key) or self.backend is not None

    def model_backend(self) -> ModelBackend:
        """The backend to use: the explicit one, else Anthropic over HTTP."""
        if self.backend is not None:
            return self.backend
        from .anthropic_backend import AnthropicBackend

        return AnthropicBackend(self)


@dataclass
class NarratorRun:
    narrative: Narrative | None
    tool_calls: list[tuple[str, dict]]
    tokens_used: int
    stopped_by: str  # end_turn | max_steps | token_budget | error: ... | unusable reply: ...
    backend: str = "anthropic"
    answer: dict | None = None  # the JSON object the final answer ended with, if any (a decision)


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
        "hypotheses": [{"id": h.id, "title": h.title, "score": h.score, "supporting_events": h.supporting_events[:8],
                        "contradicting_events": h.contradicting_events[:8],
                        "culprit": h.culprit.model_dump(exclude_none=True) if h.culprit else None}
                       for h in report.hypotheses[:5]],
        "knowledge": [k.model_dump(exclude_none=True) for k in report.knowledge[:3]],
        "gaps": report.gaps,
    }
    text = json.dumps(data, default=str)
    return text[:30_000]


async def prefetch_evidence(report: Report, tools: EvidenceTools) -> str:
    """What the tools would have shown, fetched up front (bounded): the root cause's cited
    events with their neighbours, the state of the failing process at its failure, and the
    failure's causal past."""
    root = report.root_cause
    if root is None:
        return ""
    chain = [e for e in (root.causal_chain or root.evidence) if e.event_id is not None]
    calls: list[tuple[str, dict[str, Any]]] = [("event", {"id": e.event_id}) for e in chain[:3]]
    failing = next((e for e in reversed(chain) if e.kind in ("exception", "exit")), chain[-1] if chain else None)
    if failing is not None and failing.pid:
        calls.append(("state_at", {"process": failing.pid, "at_event": failing.event_id}))
    if failing is not None:
        calls.append(("causal_past", {"id": failing.event_id}))
    parts: list[str] = []
    used = 0
    for name, arguments in calls:
        try:
            content = await tools.call(name, arguments)
        except Exception as exc:  # evidence that cannot be fetched is said so, not fatal
            content = f"(unavailable: {type(exc).__name__}: {exc})"
        part = f"{name}({json.dumps(arguments)}):\n{content[:3000]}"
        if used + len(part) > EVIDENCE_CHARS:
            break
        parts.append(part)
        used += len(part)
    return "\n\n".join(parts)


def parse_json_answer(text: str) -> dict[str, Any] | None:
    """The JSON object in a reply (a bare object, or one in a ```json fence); None if there is none."""
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    candidate = fenced.group(1) if fenced else text.strip()
    try:
        data = json.loads(candidate)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def narrate(report: Report, tools: EvidenceTools, config: LLMConfig) -> NarratorRun:
    """Ask the model for the narrative; return it (or None, and why the template stands)."""
    backend = config.model_backend()
    budgets = {"max_tokens": config.max_tokens, "token_budget": config.token_budget}
    prompt = "Findings:\n" + findings_brief(report)
    if backend.supports_tools:
        loop = await run_tool_loop(backend, SYSTEM_PROMPT, prompt, tools, max_steps=config.max_steps, **budgets)
        answer = _trailing_json(loop.text) if loop.text else None
        text = loop.text
        if answer is not None and isinstance(answer.get("explanation"), str) and answer["explanation"].strip():
            text = answer["explanation"].strip()
        narrative = (Narrative(source="claude", text=text, model=loop.model, steps=loop.steps)
                     if text else None)
        return NarratorRun(narrative, loop.tool_calls, loop.tokens_used, loop.stopped_by, backend.name, answer)

    evidence = await prefetch_evidence(report, tools)
    prompt += "\n\nEvidence:\n" + (evidence or "(none beyond the findings)")
    loop = await run_tool_loop(backend, SYSTEM_PROMPT + JSON_FORMAT, prompt, None, max_steps=1, **budgets)
    if loop.text is None:
        return NarratorRun(None, [], loop.tokens_used, loop.stopped_by, backend.name)
    answer = parse_json_answer(loop.text)
    explanation = answer.get("explanation") if answer else None
    if not isinstance(explanation, str) or not explanation.strip():
        return NarratorRun(None, [], loop.tokens_used,
                           "unusable reply: not the JSON object asked for ({\"explanation\": ...})", backend.name)
    narrative = Narrative(source="claude", text=explanation.strip(), model=loop.model, steps=loop.steps)
    return NarratorRun(narrative, [], loop.tokens_used, "end_turn", backend.name, answer)


def _trailing_json(text: str) -> dict[str, Any] | None:
    """A decision: the whole answer as a JSON object, or a JSON object (fenced or not) ending it."""
    whole = parse_json_answer(text)
    if whole is not None:
        return whole
    start = text.rfind("\n{")
    if start < 0:
        return None
    return parse_json_answer(text[start + 1:])
