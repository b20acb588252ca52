"""The model path, with the model's replies scripted (there is no network): the real
``anthropic`` client talks real HTTP to a scripted Messages-API server
(``support.scripted_anthropic``); the tool loop runs real evidence tools over a real
recording, stays within its step and token budgets, and a failing model leaves the
templated report standing."""

from __future__ import annotations

import asyncio
import json

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.llm import LLMConfig
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from support.scripted_anthropic import ErrorReply, ScriptedAnthropic, message, text, tool_use
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


def config(server: ScriptedAnthropic, **kw) -> LLMConfig:
    return LLMConfig(api_key="sk-test", model="claude-scripted", base_url=server.url, **kw)


async def rediagnose(report, store, kb_dir, llm: LLMConfig):
    ctx = DiagnosisContext(store=store, knowledge_dir=kb_dir, llm=llm)
    return await diagnose(DiagnosisInput(symptom=report.symptom, recording_id=report.recording_id), ctx)


async def test_tool_loop_uses_real_evidence(recorded, kb_module_dir):
    report, store = recorded
    crash = next(e for e in report.root_cause.causal_chain if e.kind == "exception")
    final = (f"The weekly digest crashed at [#{crash.event_id}] because an earlier cast stored a nil "
             "email. Validate the profile update.")
    with ScriptedAnthropic([
        tool_use("query", {"q": "exceptions | count by function"}),
        tool_use("state_at", {"process": crash.pid, "at_event": crash.event_id}, preface="Let me check the state."),
        text(final),
    ]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    assert model.rejected == []  # every request was one the real API accepts
    assert out.narrative.source == "claude" and out.narrative.text == final and out.narrative.steps == 3
    requests = [r.body for r in model.requests]
    assert len(requests) == 3
    assert "tools" in requests[0] and requests[0]["model"] == "claude-scripted"
    assert model.requests[0].headers.get("x-api-key") == "sk-test" or \
        model.requests[0].headers.get("authorization") == "Bearer sk-test"
    # the findings reached the model, and each tool result came from the recording
    assert "CorruptedState.Accounts" in json.dumps(requests[0]["messages"][0])
    first_result = requests[1]["messages"][-1]["content"][0]
    assert first_result["type"] == "tool_result" and not first_result.get("is_error")
    assert first_result["tool_use_id"] == requests[1]["messages"][-2]["content"][0]["id"]
    assert "handle_call" in first_result["content"]
    state_result = requests[2]["messages"][-1]["content"][0]["content"]
    assert "email" in state_result and "users" in state_result
    # the evidence and the culprit are the detectors', whatever the model says
    a, b = out.root_cause.culprit, report.root_cause.culprit
    assert (a.module, a.function, a.detail) == (b.module, b.function, b.detail)
    assert "Explanation (by claude-scripted)" in render_markdown(out)


async def test_tool_errors_go_back_to_the_model(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([tool_use("query", {"q": "calls whre x"}), text("Done.")]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    result = model.requests[1].body["messages"][-1]["content"][0]
    assert result["is_error"] is True and "QuerySyntaxError" in result["content"]
    assert out.narrative.text == "Done." and model.rejected == []


async def test_step_budget_stops_the_loop(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([tool_use("event", {"id": 1}, preface="more")]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model, max_steps=3))
    assert len(model.requests) == 3
    assert "tools" not in model.requests[-1].body  # the last step may not ask for more
    assert "last step" in model.requests[-1].body["system"]
    assert out.narrative.source == "template"
    assert any("max_steps" in g for g in out.gaps)


async def test_token_budget_stops_the_loop(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([message([{"type": "tool_use", "id": "tu", "name": "event", "input": {"id": 1}}],
                                    "tool_use", tokens=(50_000, 10))]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model, token_budget=40_000))
    assert len(model.requests) == 1
    assert out.narrative.source == "template" and any("token_budget" in g for g in out.gaps)


async def test_a_failing_model_leaves_the_template(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([ErrorReply(401, "authentication_error", "invalid x-api-key")]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    assert out.narrative.source == "template"
    assert out.root_cause.culprit.module == "CorruptedState.Accounts"
    assert any("AuthenticationError" in g for g in out.gaps)


async def test_an_unreachable_model_leaves_the_template(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([text("never sent")]) as model:
        url = model.url
    out = await rediagnose(report, store, kb_module_dir,
                           LLMConfig(api_key="sk-test", model="claude-scripted", base_url=url))
    assert out.narrative.source == "template" and any("APIConnectionError" in g for g in out.gaps)


def test_the_scripted_server_refuses_what_the_real_api_refuses():
    """The server's own checks (a test double that accepted anything could not catch a
    malformed tool_result): driven with the real SDK."""
    import anthropic

    async def go(server):
        client = anthropic.AsyncAnthropic(api_key="k", base_url=server.url, max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="tool_result for unknown tool_use_id"):
            await client.messages.create(model="m", max_tokens=10, messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "q", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "b", "content": "x"}]}])
        with pytest.raises(anthropic.BadRequestError, match="alternate"):
            await client.messages.create(model="m", max_tokens=10, messages=[
                {"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        reply = await client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "a"}])
        assert reply.content[0].text == "ok" and reply.usage.input_tokens == 200

    with ScriptedAnthropic([text("ok")]) as server:
        asyncio.run(go(server))
    assert len(server.rejected) == 2 and len(server.requests) == 3
