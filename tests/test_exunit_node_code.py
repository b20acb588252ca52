"""``exunit --run`` / ``generate_exunit(run=true)`` with the node's own compiled code: the
``corrupted_state`` app is compiled to ``.beam`` files (as in a release) and the node loads it
from there; the generated test then runs against the object code copied from that node
(``code:get_object_code``), with no sources given."""

from __future__ import annotations

import json
import subprocess

import pytest
from mcp import Client

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node, RpcError
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.object_code import ObjectCodeError, fetch_object_code
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.corrupted_recording import APP_FILES, record_crash
from support.nodes import start_node


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(node, store path): the app loaded from compiled .beam files, and a recording of its crash."""
    ebin = tmp_path_factory.mktemp("ebin")
    subprocess.run(["elixirc", "-o", str(ebin), *map(str, APP_FILES)], check=True, capture_output=True, timeout=120)
    node = start_node("elixir", code_paths=[ebin], eval_code="{:ok, _} = CorruptedState.start()")
    path = tmp_path_factory.mktemp("node_code") / "trace.db"
    try:
        record_crash(node, path)
        yield node, path
    finally:
        node.stop()


def test_cli_runs_the_test_with_the_nodes_code(capsys, compiled):
    node, path = compiled
    code = main(["exunit", "CorruptedState.Accounts", "--run", "--node", node.name, "--cookie", node.cookie,
                 "--store", str(path), "--json"])
    cap = capsys.readouterr()
    got = json.loads(cap.out)
    assert code == 0 and got["fails_as_recorded"] is True, got["output_tail"]
    assert got["failure_banner"] == "** (FunctionClauseError) no function clause matching in String.downcase/2"
    assert f"copied from {node.name}" in cap.err


async def test_mcp_runs_the_test_with_the_nodes_code(compiled, tmp_path):
    node, path = compiled
    server = build_server(ServerConfig(store_path=path, default_node=node.name, cookie=node.cookie,
                                       allow_mutations=True))
    async with Client(server) as client:
        r = await client.call_tool("generate_exunit", {"process": "CorruptedState.Accounts", "run": True})
    assert not r.is_error, r.content[0].text
    assert r.structured_content["fails_as_recorded"] is True


async def test_fetch_object_code_is_bounded_and_clear(compiled, tmp_path):
    node, _ = compiled
    async with Node() as n:
        conn = await n.connect(node.name, cookie=node.cookie)
        code = await fetch_object_code(conn, "CorruptedState.Accounts", tmp_path / "beams")
        assert "Elixir.CorruptedState.Accounts" in code.modules
        assert code.bytes == sum((tmp_path / "beams" / f"{m}.beam").stat().st_size for m in code.modules)
        with pytest.raises(ObjectCodeError, match="not known"):
            await fetch_object_code(conn, "CorruptedState.Nope", tmp_path / "x")
        with pytest.raises(RpcError):  # and the mistyped name did not become an atom there
            await conn.rpc("erlang", "binary_to_existing_atom", [b"Elixir.CorruptedState.Nope", Atom("utf8")])
        # a module compiled in memory has no object code: the error says what to give instead
        await conn.rpc("Elixir.Code", "eval_string", [b"defmodule EsInMemory do\n def x, do: 1\nend"])
        with pytest.raises(ObjectCodeError, match="compiled in memory"):
            await fetch_object_code(conn, "EsInMemory", tmp_path / "y")
