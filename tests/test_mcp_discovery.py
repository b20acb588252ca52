"""Browsing without tools: recordings in resources/list, completions for prompt and template
arguments, the logging capability - through the SDK's client against a real node."""

from __future__ import annotations

from mcp import Client
from mcp.types import PromptReference, ResourceTemplateReference

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server


def make_server(tmp_path, node, **kw):
    return build_server(ServerConfig(store_path=tmp_path / "traces.db", default_node=node.name,
                                     cookie=node.cookie, **kw))


async def test_recordings_are_listed_as_resources_and_readable(tmp_path, sample_app_module):
    async with Client(make_server(tmp_path, sample_app_module)) as client:
        def recordings(resources):  # other resources (the MCP Apps page) are listed too
            return [r for r in resources if str(r.uri).startswith("elixir-scope://recordings/")]

        assert recordings((await client.list_resources()).resources) == []
        for _ in range(2):
            got = await client.call_tool("start_capture", {"spec": ["SampleApp.Inventory"], "max_seconds": 0.5, "wait": True})
            assert not got.is_error, got.content[0].text
        listed = recordings((await client.list_resources()).resources)
        uris = [str(r.uri) for r in listed]
        assert uris == ["elixir-scope://recordings/2", "elixir-scope://recordings/1"]
        assert "events" in listed[0].description and listed[0].mime_type == "application/json"
        doc = await client.read_resource(listed[0].uri)
        assert '"events_by_kind"' in doc.contents[0].text


async def test_completions_for_prompt_and_template_arguments(tmp_path, sample_app_module):
    node = sample_app_module
    async with Client(make_server(tmp_path, node)) as client:
        await client.call_tool("connect_node", {"node": node.name})
        got = await client.complete(PromptReference(name="investigate_slow_process"), {"name": "node", "value": node.sname[:6]})
        assert node.name in got.completion.values
        got = await client.complete(PromptReference(name="investigate_slow_process"), {"name": "process", "value": "SampleApp.In"})
        assert got.completion.values == ["SampleApp.Inventory"]
        got = await client.complete(PromptReference(name="explain_crash"), {"name": "module", "value": "SampleApp.Ca"})
        assert {"SampleApp.Cart", "SampleApp.Carts"} <= set(got.completion.values)
        got = await client.complete(PromptReference(name="explain_crash"), {"name": "module", "value": ":gen_ser"})
        assert ":gen_server" in got.completion.values
        await client.call_tool("start_capture", {"spec": ["SampleApp.Inventory"], "max_seconds": 0.5, "wait": True})
        got = await client.complete(ResourceTemplateReference(uri="elixir-scope://recordings/{recording_id}"),
                                    {"name": "recording_id", "value": ""})
        assert got.completion.values == ["1"]


async def test_logging_capability_and_notifications(tmp_path, sample_app_module):
    seen = []

    async def on_log(params):
        seen.append(params)

    # logging is a 2025-11-25 protocol capability (deprecated since): clients negotiate it in legacy mode
    async with Client(make_server(tmp_path, sample_app_module), mode="legacy", logging_callback=on_log) as client:
        caps = client.server_capabilities
        assert caps.logging is not None and caps.completions is not None
        await client.set_logging_level("info")
        got = await client.call_tool("read_logs", {})
        assert not got.is_error
    assert any("logger handler" in str(p.data) for p in seen)
