"""Mutations ask the user through the client (elicitation) when the client can be asked:
declined, nothing changes; accepted, the change happens. A user-typed exit reason never
becomes a new atom on the node."""

from __future__ import annotations

from mcp import Client
from mcp.types import ElicitResult

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server


def make_server(tmp_path, node):
    return build_server(ServerConfig(store_path=tmp_path / "traces.db", default_node=node.name,
                                     cookie=node.cookie, allow_mutations=True))


async def test_declined_confirmation_changes_nothing_and_accepted_runs(tmp_path, sample_app):
    asked: list[str] = []
    answer = {"action": "decline"}

    async def on_elicit(context, params):
        asked.append(params.message)
        if answer["action"] == "accept":
            return ElicitResult(action="accept", content={"confirm": True})
        return ElicitResult(action=answer["action"])

    async with Client(make_server(tmp_path, sample_app), mode="legacy", elicitation_callback=on_elicit) as client:
        before = (await client.call_tool("eval_code", {"code": "inspect(Process.whereis(SampleApp.Ticker))"}))
        assert before.is_error and "did not confirm" in before.content[0].text
        answer["action"] = "accept"
        before = (await client.call_tool("eval_code", {"code": "inspect(Process.whereis(SampleApp.Ticker))"}))
        assert not before.is_error
        answer["action"] = "decline"
        refused = await client.call_tool("kill_process", {"process": "SampleApp.Ticker"})
        assert refused.is_error and "nothing was changed" in refused.content[0].text
        answer["action"] = "accept"
        after = await client.call_tool("eval_code", {"code": "inspect(Process.whereis(SampleApp.Ticker))"})
        assert after.structured_content["value"] == before.structured_content["value"]
        killed = await client.call_tool("kill_process", {"process": "SampleApp.Ticker"})
        assert not killed.is_error and killed.structured_content["alive_after"] is False
    assert any("kill SampleApp.Ticker" in m for m in asked) and any("evaluate" in m for m in asked)


async def test_unknown_names_and_reasons_make_no_atoms(tmp_path, sample_app):
    node = Node()
    conn = await node.connect(sample_app.name, cookie=sample_app.cookie)
    try:
        async with Client(make_server(tmp_path, sample_app)) as client:
            # connecting makes one atom (the server's node name); count after it
            await client.call_tool("process_details", {"process": "SampleApp.Ticker"})
            atoms = await conn.rpc("erlang", "system_info", [Atom("atom_count")])
            # a reason the node has no atom for travels as a binary (exit(pid, "…")): no new atom
            got = await client.call_tool("kill_process", {"process": "SampleApp.Ticker", "reason": "zq_no_such_reason_81"})
            assert not got.is_error, got.content[0].text
            got = await client.call_tool("process_details", {"process": "Zq.Nobody.Here81"})
            assert got.is_error and "no process" in got.content[0].text
            assert await conn.rpc("erlang", "system_info", [Atom("atom_count")]) == atoms
    finally:
        await node.close()
