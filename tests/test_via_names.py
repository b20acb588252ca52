"""Processes named through an Elixir ``Registry`` (and ``:global``) in the live tools, on a real
Elixir node running tests/fixtures/via_app: unique, partitioned and duplicate registries;
string, tuple, atom and integer keys; a key too big to send whole; a ``:global`` name.

The agent reads the registries' own ETS tables with bounded selects; keys typed by a user are
parsed as Elixir literals and travel as data: an atom the node lacks is "no such key", never a
new atom (checked by the node's own atom_count)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from support.nodes import REPO, start_node

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.introspect import (
    AmbiguousKey,
    GlobalName,
    NoSuchKey,
    NoSuchRegistry,
    ProcessNotFound,
    ViaName,
    get_state,
    parse_process_name,
    peek_mailbox,
    process_labels,
    process_overview,
    via_name,
    whereis_process,
)
from elixir_scope.instrument.literal_text import LiteralSyntaxError
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server

VIA_APP = REPO / "tests" / "fixtures" / "via_app" / "via_app.ex"


@pytest.fixture(scope="module")
def via_node():
    node = start_node("elixir", elixir_files=[VIA_APP], eval_code=":ok = ViaApp.start()")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def erlang_node():
    node = start_node("erl", eval_code="yes = global:register_name(es_via_ledger, spawn(fun() -> receive stop -> ok end end))")
    yield node
    node.stop()


@pytest.fixture
async def conn(via_node):
    async with Node() as dist:
        yield await dist.connect(via_node.name, cookie=via_node.cookie)


async def _atoms(conn) -> int:
    return await conn.rpc("erlang", "system_info", [Atom("atom_count")])


def test_process_names_parse_from_elixir_and_erlang_text():
    assert parse_process_name('{:via, Registry, {MyApp.Registry, "user-42"}}') == ViaName("Elixir.MyApp.Registry", b"user-42")
    assert parse_process_name("{via, 'Elixir.Registry', {'Elixir.MyApp.Registry', {user, 7}}}") == \
        ViaName("Elixir.MyApp.Registry", (Atom("user"), 7))
    assert parse_process_name("{:global, :ledger}") == GlobalName(Atom("ledger"))
    assert parse_process_name("MyApp.Cart") is None and parse_process_name("<0.1.2>") is None
    assert via_name("MyApp.Registry", '{:user, 42}') == ViaName("Elixir.MyApp.Registry", (Atom("user"), 42))
    assert via_name(":my_registry", 7) == ViaName("my_registry", 7)
    with pytest.raises(LiteralSyntaxError, match="only Elixir's Registry"):
        parse_process_name("{:via, :gproc, {:n, :l, :x}}")
    with pytest.raises(LiteralSyntaxError, match="needs its quotes"):
        via_name("MyApp.Registry", "user-42")
    with pytest.raises(LiteralSyntaxError, match="user is a variable"):
        parse_process_name("{:via, Registry, {MyApp.Registry, user}}")


async def test_get_state_and_mailbox_by_registry_key(conn):
    for text, key in [('{:via, Registry, {ViaApp.Registry, "user-42"}}', b"user-42"),
                      ("{:via, Registry, {ViaApp.Registry, {:user, 7}}}", (Atom("user"), 7)),
                      ("{:via, Registry, {ViaApp.Registry, :alice}}", Atom("alice")),
                      ("{:via, Registry, {ViaApp.Sharded, 99}}", 99)]:  # 4 partitions
        st = await get_state(conn, text)
        assert st.module == "Elixir.ViaApp.Session" and st.state.term[Atom("key")] == key, text
        assert st.state.term[Atom("token")] == Atom("[REDACTED]")
    user42 = (await get_state(conn, '{:via, Registry, {ViaApp.Registry, "user-42"}}')).pid
    typed = await peek_mailbox(conn, via_name("ViaApp.Registry", '"user-42"'))
    assert typed.length == 0 and typed.pid == user42
    assert await whereis_process(conn, via_name("ViaApp.Registry", '"user-42"')) == user42
    ledger = await get_state(conn, "{:global, :via_app_ledger}")
    assert ledger.state.term[Atom("key")] == b"ledger"


async def test_capture_targets_take_via_names(conn):
    from elixir_scope.mcp_server.targets import message_targets

    user42 = await whereis_process(conn, '{:via, Registry, {ViaApp.Registry, "user-42"}}')
    assert await message_targets(conn, ['{:via, Registry, {ViaApp.Registry, "user-42"}}']) == (user42,)
    with pytest.raises(NoSuchKey):
        await message_targets(conn, ['{:via, Registry, {ViaApp.Registry, "user-0"}}'])


async def test_bad_via_names_get_clear_errors_and_create_no_atom(conn):
    before = await _atoms(conn)
    with pytest.raises(NoSuchKey, match=r'no process is registered under \{:via, Registry, \{ViaApp.Registry, "user-43"\}\}'):
        await get_state(conn, '{:via, Registry, {ViaApp.Registry, "user-43"}}')
    with pytest.raises(NoSuchKey):  # an atom the node lacks is in no key
        await get_state(conn, "{:via, Registry, {ViaApp.Registry, {:es_never_seen_atom_81, 1}}}")
    with pytest.raises(NoSuchKey):  # '_' is compared as a value, not matched as a pattern
        await get_state(conn, "{:via, Registry, {ViaApp.Registry, :_}}")
    with pytest.raises(NoSuchRegistry, match="no Registry ViaApp.Nowhere"):
        await get_state(conn, "{:via, Registry, {ViaApp.Nowhere, 1}}")
    with pytest.raises(NoSuchRegistry):  # a registered process that is not a Registry
        await get_state(conn, "{:via, Registry, {:logger, 1}}")
    with pytest.raises(AmbiguousKey, match="several processes") as amb:
        await peek_mailbox(conn, '{:via, Registry, {ViaApp.PubSub, "news"}}')
    assert str(amb.value).count("<0.") == 2
    with pytest.raises(ProcessNotFound, match=":global"):
        await get_state(conn, "{:global, :es_never_seen_global_81}")
    assert await _atoms(conn) == before


async def test_labels_carry_registry_names_bounded(conn):
    everyone = await process_overview(conn, limit=5000)
    names = await process_labels(conn, [p.pid for p in everyone])
    via = [(reg, key.term, key.truncated) for n in names.values() for reg, key in n.registry_names
           if not key.truncated]
    assert ("Elixir.ViaApp.Registry", b"user-42", False) in via
    assert ("Elixir.ViaApp.Registry", (Atom("user"), 7), False) in via
    assert ("Elixir.ViaApp.Sharded", 99, False) in via
    assert [k for r, k, _ in via if r == "Elixir.ViaApp.PubSub"] == [b"news", b"news"]
    big = [key for n in names.values() for _, key in n.registry_names if key.truncated]
    assert len(big) == 1  # the 20,000-byte key is cut on the node


async def test_pure_erlang_node_has_no_registry(erlang_node):
    async with Node() as dist:
        c = await dist.connect(erlang_node.name, cookie=erlang_node.cookie)
        with pytest.raises(NoSuchRegistry):
            await get_state(c, '{:via, Registry, {MyApp.Registry, "k"}}')
        pid = await whereis_process(c, "{global, es_via_ledger}")
        names = await process_labels(c, [pid])
    assert names[pid].global_name.term == Atom("es_via_ledger") and names[pid].registry_names == ()


async def test_mcp_tools_take_registry_and_key(tmp_path, via_node):
    n = via_node
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", default_node=n.name, cookie=n.cookie))
    async with Client(server) as client:
        found = await client.call_tool("find_processes", {"text": "user-42"})
        assert not found.is_error, found.content[0].text
        rows = found.structured_content["items"]
        assert [r["registry_names"] for r in rows] == [['{ViaApp.Registry, "user-42"}']]
        st = await client.call_tool("get_state", {"registry": "ViaApp.Registry", "key": '"user-42"'})
        assert not st.is_error, st.content[0].text
        assert st.structured_content["pid"] == rows[0]["pid"] and "user-42" in st.content[0].text
        sharded = await client.call_tool("get_state", {"registry": "ViaApp.Sharded", "key": 99})
        assert not sharded.is_error and "99" in sharded.structured_content["state"]
        box = await client.call_tool("peek_mailbox", {"process": "{:via, Registry, {ViaApp.Registry, {:user, 7}}}"})
        assert not box.is_error and "mailbox empty" in box.content[0].text
        details = await client.call_tool("process_details", {"registry": "ViaApp.Registry", "key": ":alice"})
        assert not details.is_error and details.structured_content["process"]["initial_call"]
        bare = await client.call_tool("get_state", {"registry": "ViaApp.Registry", "key": "user-42"})
        assert bare.is_error and "needs its quotes" in bare.content[0].text
        half = await client.call_tool("get_state", {"registry": "ViaApp.Registry"})
        assert half.is_error and "both registry" in half.content[0].text
        missing = await client.call_tool("get_state", {"registry": "ViaApp.Registry", "key": '"nobody"'})
        assert missing.is_error and "find_processes" in missing.content[0].text


def test_cli_via_option_and_process_lists(via_node, capsys):
    n = via_node
    base = ["--node", n.name, "--cookie", n.cookie]
    assert main(["state", *base, "--via", "ViaApp.Registry", '"user-42"', "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["module"] == "ViaApp.Session"
    assert main(["state", *base, "--via", "ViaApp.Registry", "{:user, 7}"]) == 0
    out = capsys.readouterr().out
    assert "State of {:via, Registry, {ViaApp.Registry, {:user, 7}}}" in out and ":user" in out
    assert main(["process", *base, '{:via, Registry, {ViaApp.Registry, "user-42"}}', "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["process"]["pid"].startswith("#PID<")
    assert main(["processes", *base, "--find", "user-42"]) == 0
    assert '[via {ViaApp.Registry, "user-42"}]' in capsys.readouterr().out
    assert main(["mailbox", *base, "--via", "ViaApp.Registry", "user-42"]) != 0
    err = capsys.readouterr().err
    assert "needs its quotes" in err
    assert main(["mailbox", *base]) != 0
    assert "--via REGISTRY KEY" in capsys.readouterr().err
