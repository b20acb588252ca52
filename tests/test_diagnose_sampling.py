"""MCP sampling as the diagnosis model: ``diagnose`` runs as an MCP tool on a server with no API
key, and a real MCP client session (the SDK's ``Client`` with a ``sampling_callback``) answers
the server's sampling requests from a script — with tool use over sampling when the client
declares ``sampling.tools``, and with the evidence in the prompt and a JSON answer when not.
A declined request or an unusable reply leaves the templated narrative, and the report says so."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp import Client, types

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.scripted_sampling import SamplingScript, answer, asks, final
from test_diagnose import run_diagnosis


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, kb_index_dir):
    """A store holding one real recording of the corrupted_state app, and its template report."""
    folder = tmp_path_factory.mktemp("sampling")
    report, store = asyncio.run(run_diagnosis("corrupted_state", folder, kb_index_dir))
    store.close()
    return report, folder / "diag.db", kb_index_dir


async def run_tool(recorded, script, *, tools: bool, mode: str | None = "legacy", **server_kw):
    report, store_path, kb_dir = recorded
    server = build_server(ServerConfig(store_path=store_path, knowledge_dir=kb_dir, **server_kw))
    caps = types.SamplingCapability(tools=types.SamplingToolsCapability()) if tools else None
    kwargs = {"sampling_callback": script, "sampling_capabilities": caps} if script is not None else {}
    if mode is not None:
        kwargs["mode"] = mode
    async with Client(server, **kwargs) as client:
        result = await client.call_tool("diagnose", {"symptom": report.symptom, "recording": report.recording_id})
    assert not result.is_error, result.content[0].text
    return result.structured_content["report"]


async def test_tool_use_over_sampling(recorded):
    report = recorded[0]
    crash = next(e for e in report.root_cause.causal_chain if e.kind == "exception")
    final_text = f"The digest crashed at [#{crash.event_id}]: a cast stored email: nil. Validate updates."
    script = SamplingScript([asks("state_at", {"process": crash.pid, "at_event": crash.event_id}),
                             final(final_text)])
    got = await run_tool(recorded, script, tools=True)
    assert got["narrative"] == {"source": "claude", "text": final_text, "model": "client-model", "steps": 2}
    first, second = script.requests
    assert {t.name for t in first.tools} == {"query", "event", "state_at", "causal_past"}
    assert "CorruptedState.Accounts" in first.messages[0].content_as_list[0].text
    assert first.system_prompt.startswith("You are ElixirScope's diagnosis narrator")
    # the tool ran against the recording, and its result went back as sampling content
    assert {t.name for t in second.tools} == {t.name for t in first.tools}  # not the last step: tools still offered
    result = second.messages[-1].content_as_list[0]
    assert isinstance(result, types.ToolResultContent) and result.tool_use_id == "call_state_at"
    assert not result.is_error and "email" in result.content[0].text
    assert isinstance(second.messages[-2].content_as_list[1], types.ToolUseContent)
    # the verdict and culprit are the detectors'
    assert got["root_cause"]["culprit"]["module"] == report.root_cause.culprit.module


async def test_without_sampling_tools_the_evidence_is_in_the_prompt(recorded):
    report = recorded[0]
    crash = next(e for e in report.root_cause.causal_chain if e.kind == "exception")
    explanation = f"An earlier cast left a nil email; the digest crashed at [#{crash.event_id}]."
    script = SamplingScript([answer("```json\n" + json.dumps(
        {"explanation": explanation, "cited_events": [crash.event_id]}) + "\n```")])
    got = await run_tool(recorded, script, tools=False)
    assert got["narrative"]["text"] == explanation and got["narrative"]["model"] == "client-model"
    (request,) = script.requests
    assert request.tools is None
    prompt = request.messages[0].content_as_list[0].text
    assert "Evidence:" in prompt and f'state_at({{"process": "{crash.pid}"' in prompt
    assert "email" in prompt.split("Evidence:")[1]
    assert '"explanation"' in request.system_prompt


async def test_unusable_or_declined_answers_leave_the_template(recorded):
    got = await run_tool(recorded, SamplingScript([answer("Sure! It is probably the cast.")]), tools=False)
    assert got["narrative"]["source"] == "template"
    assert any("unusable reply" in g for g in got["gaps"])

    declined = SamplingScript([types.ErrorData(code=-1, message="User rejected sampling request")])
    got = await run_tool(recorded, declined, tools=True)
    assert got["narrative"]["source"] == "template" and len(declined.requests) == 1
    assert any("sampling failed" in g and "rejected" in g for g in got["gaps"])


async def test_no_sampling_no_model(recorded):
    got = await run_tool(recorded, None, tools=False)
    assert got["narrative"]["source"] == "template"
    assert not any("model" in g for g in got["gaps"])
    # declared, but the newest protocol in process has no back-channel: no request is tried
    script = SamplingScript([answer("never asked")])
    got = await run_tool(recorded, script, tools=True, mode=None)
    assert got["narrative"]["source"] == "template" and script.requests == []
    assert not any("model" in g for g in got["gaps"])
