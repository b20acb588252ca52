"""The model's tool loop over any ``ModelBackend``, within a step and a token budget.

Send the prompt and the tool definitions; run each ``tool_use`` against the tools (a tool
error goes back to the model as an ``is_error`` result, so it can adapt); send the results;
stop at a final answer, or when a budget is spent. The last allowed step is sent without
tools and with "answer now", so a loop that has budget left always ends with an answer
rather than a question. A ``ModelError`` stops the loop with ``error: <kind>: ...``.

Used by the narrator (``llm.narrate``); any step that lets the model gather evidence can use
it with its own system prompt and tools.
"""

from __future__ import annotations

from typing import Any, Protocol

from .model_api import LoopRun, ModelBackend, ModelError, ModelRequest, ToolResult, ToolSpec, Turn

__all__ = ["EvidenceTools", "run_tool_loop", "LAST_STEP", "MAX_RESULT_CHARS"]

LAST_STEP = "\nThis is your last step: answer now, without tools."
MAX_RESULT_CHARS = 8000


class EvidenceTools(Protocol):
    """Tools the model may call (implemented over the store: ``evidence_tools.StoreEvidenceTools``)."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> str: ...


async def run_tool_loop(backend: ModelBackend, system: str, prompt: str, tools: EvidenceTools | None, *,
                        max_steps: int, max_tokens: int, token_budget: int) -> LoopRun:
    """Run the loop; ``tools`` None (or a backend without tool support) means one answer."""
    use_tools = tools is not None and backend.supports_tools
    specs = tuple(ToolSpec.from_definition(d) for d in tools.definitions()) if use_tools else ()
    turns: list[Turn] = [Turn.user(prompt)]
    run = LoopRun(text=None, model=None, steps=0)
    for step in range(1, max_steps + 1):
        last = step == max_steps or run.tokens_used >= token_budget or not specs
        request = ModelRequest(system=system + (LAST_STEP if last and specs else ""), turns=tuple(turns),
                               max_tokens=max_tokens, tools=() if last else specs)
        try:
            reply = await backend.complete(request)
        except ModelError as exc:
            run.stopped_by = f"error: {exc}"
            return run
        run.steps = step
        run.model = reply.model
        run.tokens_used += reply.tokens
        uses = reply.tool_uses
        if reply.stop_reason != "tool_use" or not uses:
            run.text = reply.text or None
            run.stopped_by = "end_turn" if run.text else "error: empty answer"
            return run
        if run.tokens_used >= token_budget or last:
            # cut off while still asking for evidence: no finished answer
            run.stopped_by = "token_budget" if run.tokens_used >= token_budget else "max_steps"
            return run
        turns.append(Turn("assistant", reply.blocks))
        results = []
        for use in uses:
            run.tool_calls.append((use.name, dict(use.input)))
            try:
                content = await tools.call(use.name, dict(use.input))
                is_error = False
            except Exception as exc:  # a tool error goes back to the model, which can adapt
                content, is_error = f"{type(exc).__name__}: {exc}", True
            results.append(ToolResult(use.id, content[:MAX_RESULT_CHARS], is_error))
        turns.append(Turn("user", tuple(results)))
    run.stopped_by = "max_steps"
    return run
