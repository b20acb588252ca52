"""The Claude path, with the model's replies scripted (there is no network): the tool loop runs
real evidence tools over a real recording, stays within its step and token budgets, and a
failing model leaves the templated report standing."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.llm import LLMConfig
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from test_diagnose import run_diagnosis


@pytest.fixture(scope="module")
def kb_module_dir(kb_index_dir):
    return kb_index_dir


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, kb_module_dir):
    """One real diagnosis of the corrupted_state app (template path); its recording is reused."""
    report, store = asyncio.run(run_diagnosis("corrupted_state", tmp_path_factory.mktemp("llm"), kb_module_dir))
    yield report, store
    store.close()


def message(content: list[dict], stop: str, tokens=(200, 50)) -> dict:
    return {"id": "msg_x", "type": "message", "role": "assistant", "model": "claude-scripted",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]}}


class Script:
    """Replies in order; records every request body the SDK sent."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests: list[dict] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, httpx2.Response):
            return reply
        return httpx2.Response(200, json=reply)

    def config(self, **kw) -> LLMConfig:
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(self))
        return LLMConfig(api_key="sk-test", model="claude-scripted", http_client=client, **kw)


async def rediagnose(report, store, kb_dir, llm: LLMConfig):
    ctx = DiagnosisContext(store=store, knowledge_dir=kb_dir, llm=llm)
    return await diagnose(DiagnosisInput(symptom=report.symptom, recording_id=report.recording_id), ctx)


async def test_tool_loop_uses_real_evidence(recorded, kb_module_dir):
    report, store = recorded
    crash = next(e for e in report.root_cause.causal_chain if e.kind == "exception")
    final = (f"The weekly digest crashed at [#{crash.event_id}] because an earlier cast stored a nil "
             "email. Validate the profile update.")
    script = Script([
        message([{"type": "tool_use", "id": "tu_1", "name": "query",
                  "input": {"q": "exceptions | count by function"}}], "tool_use"),
        message([{"type": "text", "text": "Let me check the state."},
                 {"type": "tool_use", "id": "tu_2", "name": "state_at",
                  "input": {"process": crash.pid, "at_event": crash.event_id}}], "tool_use"),
        message([{"type": "text", "text": final}], "end_turn"),
    ])
    out = await rediagnose(report, store, kb_module_dir, script.config())
    assert out.narrative.source == "claude" and out.narrative.text == final and out.narrative.steps == 3
    assert len(script.requests) == 3
    assert "tools" in script.requests[0] and script.requests[0]["model"] == "claude-scripted"
    # the findings reached the model, and each tool result came from the recording
    assert "CorruptedState.Accounts" in json.dumps(script.requests[0]["messages"][0])
    first_result = script.requests[1]["messages"][-1]["content"][0]
    assert first_result["type"] == "tool_result" and not first_result.get("is_error")
    assert "handle_call" in first_result["content"]
    state_result = script.requests[2]["messages"][-1]["content"][0]["content"]
    assert "email" in state_result and "users" in state_result
    # the evidence and the culprit are the detectors', whatever the model says
    a, b = out.root_cause.culprit, report.root_cause.culprit
    assert (a.module, a.function, a.detail) == (b.module, b.function, b.detail)
    assert "Explanation (by claude-scripted)" in render_markdown(out)


async def test_tool_errors_go_back_to_the_model(recorded, kb_module_dir):
    report, store = recorded
    script = Script([
        message([{"type": "tool_use", "id": "tu_1", "name": "query", "input": {"q": "calls whre x"}}], "tool_use"),
        message([{"type": "text", "text": "Done."}], "end_turn"),
    ])
    out = await rediagnose(report, store, kb_module_dir, script.config())
    result = script.requests[1]["messages"][-1]["content"][0]
    assert result["is_error"] is True and "QuerySyntaxError" in result["content"]
    assert out.narrative.text == "Done."


async def test_step_budget_stops_the_loop(recorded, kb_module_dir):
    report, store = recorded
    script = Script([message([{"type": "text", "text": "more"},
                              {"type": "tool_use", "id": "tu", "name": "event", "input": {"id": 1}}], "tool_use")])
    out = await rediagnose(report, store, kb_module_dir, script.config(max_steps=3))
    assert len(script.requests) == 3
    assert "tools" not in script.requests[-1]  # the last step may not ask for more
    assert out.narrative.source == "template"
    assert any("max_steps" in g for g in out.gaps)


async def test_token_budget_stops_the_loop(recorded, kb_module_dir):
    report, store = recorded
    script = Script([message([{"type": "tool_use", "id": "tu", "name": "event", "input": {"id": 1}}],
                             "tool_use", tokens=(50_000, 10))])
    out = await rediagnose(report, store, kb_module_dir, script.config(token_budget=40_000))
    assert len(script.requests) == 1
    assert out.narrative.source == "template" and any("token_budget" in g for g in out.gaps)


async def test_a_failing_model_leaves_the_template(recorded, kb_module_dir):
    report, store = recorded
    script = Script([httpx2.Response(401, json={"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}})])
    out = await rediagnose(report, store, kb_module_dir, script.config())
    assert out.narrative.source == "template"
    assert out.root_cause.culprit.module == "CorruptedState.Accounts"
    assert any("AuthenticationError" in g for g in out.gaps)
