"""Every call a prompt teaches is a real call: the prompts are rendered for the sample app and
each ``tool(arg=value, ...)`` they contain is run through the MCP client against the real
node, in the order written, and must succeed."""

from __future__ import annotations

import ast
import re

from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server

CALL = re.compile(r"\b([a-z_]+)\(([^()]*)\)")


def calls_in(text: str, tools: set[str]) -> list[tuple[str, dict]]:
    out = []
    for name, args in CALL.findall(text):
        if name not in tools:
            continue
        tree = ast.parse(f"f({args})", mode="eval").body
        assert not tree.args, f"{name}({args}): positional arguments cannot be passed to a tool"
        out.append((name, {k.arg: ast.literal_eval(k.value) for k in tree.keywords}))
    return out


async def test_every_prompt_call_succeeds(tmp_path, sample_app_module):
    node = sample_app_module
    server = build_server(ServerConfig(store_path=tmp_path / "traces.db", cookie=node.cookie))
    args = {"investigate_slow_process": {"node": node.name, "process": "SampleApp.Inventory"},
            "explain_crash": {"node": node.name, "module": "SampleApp.Cart"},
            "tour_system": {"node": node.name}}
    async with Client(server) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == set(args)
        ran = 0
        for prompt, prompt_args in args.items():
            got = await client.get_prompt(prompt, prompt_args)
            text = got.messages[0].content.text
            calls = calls_in(text, tools)
            assert len(calls) >= 3, f"{prompt} teaches too few calls: {text}"
            for name, kwargs in calls:
                result = await client.call_tool(name, kwargs)
                assert not result.is_error, f"{prompt}: {name}({kwargs}) failed: {result.content[0].text}"
                ran += 1
        for cap in (await client.call_tool("capture_status", {})).structured_content["captures"]:
            if cap["running"]:
                await client.call_tool("stop_capture", {"capture_id": cap["capture_id"]})
    assert ran >= 15
