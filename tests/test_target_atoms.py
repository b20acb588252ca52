"""Nothing a user or a model types creates an atom on the target (issue 12): names travel as
binaries and are resolved on the node with binary_to_existing_atom; the tool's own node name
comes from a small per-user pool. Checked by the target's own atom_count, on OTP 25 and on the
OTP 28 runtime, over 1,000 calls with unknown names through the real Python API and the
functions the MCP tools and the CLI use."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.instrument.agent import ensure_agent
from elixir_scope.instrument.capture import CapturePlan, Labelled, Registered, RunningModule
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.introspect import ProcessNotFound, process_details
from elixir_scope.instrument.names import UnknownNameError, existing_atom, whereis
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.instrument.survey import registry_keys
from elixir_scope.mcp_server.targets import message_targets, resolve_pid
from elixir_scope.store import TraceStore

A = Atom


async def atom_count(conn) -> int:
    return await conn.rpc("erlang", "system_info", [A("atom_count")])


def unknown(i: int) -> str:
    return f"Elixir.NoSuch.Module{i}X{i * 7919}"


async def one_call(conn, store, i: int) -> None:
    """One call of the i-th kind with a name the node has never seen; each must fail clearly."""
    name = unknown(i)
    kind = i % 10
    if kind == 0:
        with pytest.raises(ProcessNotFound, match="no process"):
            await process_details(conn, name)
    elif kind == 1:
        with pytest.raises(ProcessNotFound):
            await resolve_pid(conn, name.removeprefix("Elixir."))  # as the MCP tools / CLI do
    elif kind == 2:
        targets = await message_targets(conn, [name])
        assert targets == (RunningModule(name),)
    elif kind == 3:
        assert await registry_keys(conn, name.removeprefix("Elixir.")) == []
    elif kind == 4:
        assert await existing_atom(conn, name) is None and await whereis(conn, name) is None
    else:
        plan = {
            5: CapturePlan(message_procs=(Registered(name),)),
            6: CapturePlan(message_procs=(RunningModule(name),)),
            7: CapturePlan(state_modules=(name,)),
            8: CapturePlan(specs=(compile_spec(f"{name.removeprefix('Elixir.')}.handle(x)"),)),
            # an existing module, a function it does not have
            9: CapturePlan(specs=(compile_spec(f"lists:no_such_fun_{i}(X) when X > 1"),)),
        }[kind]
        rec = store.create_recording(f"u{i}", spec=plan.describe(), limits={})
        with pytest.raises(UnknownNameError, match=r"no such (module|process|function) `"):
            await CaptureSession.start(conn, rec, plan)


async def check_no_atoms(node_fixture, tmp_path) -> None:
    store = TraceStore.open(tmp_path / "atoms.db")
    async with Node() as node:
        conn = await node.connect(node_fixture.name, cookie=node_fixture.cookie)
        await ensure_agent(conn)
        for i in range(10):  # every path once, so code loading is not counted
            await one_call(conn, store, 100_000 + i)
        before = await atom_count(conn)
        for i in range(1000):
            await one_call(conn, store, i)
        after = await atom_count(conn)
    # 1,000 unknown names would be 1,000 atoms; allow the node a handful of its own
    assert after - before <= 3, (before, after)


async def test_unknown_names_create_no_atoms_otp25(erl_node, tmp_path):
    await check_no_atoms(erl_node, tmp_path)


async def test_unknown_names_create_no_atoms_otp28(otp28_node, tmp_path):
    await check_no_atoms(otp28_node, tmp_path)


async def test_a_literal_atom_the_node_lacks_matches_nothing_and_is_not_created(erl_node, tmp_path):
    store = TraceStore.open(tmp_path / "lit.db")
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        await ensure_agent(conn)
        plan = CapturePlan(specs=(compile_spec(":lists.keyfind(:never_seen_atom_x1, n, l) :: return"),
                                  compile_spec(":lists.keyfind(k, n, l) when k == :ok :: return")))
        before = await atom_count(conn)
        s = await CaptureSession.start(conn, store.create_recording("lit", spec={}, limits={}), plan)
        await conn.rpc("lists", "keyfind", [A("ok"), 1, []])
        await conn.rpc("lists", "keyfind", [A("error"), 1, []])
        result = await s.stop()
        assert await existing_atom(conn, "never_seen_atom_x1") is None
        assert await atom_count(conn) - before <= 3
        calls = [e for e in store.recording(result.recording_id).events() if e.kind.name == "CALL"]
        assert [e.payload[0] for e in calls] == [A("ok")], calls


async def test_non_strict_plans_skip_and_report_unknown_names(erl_node, tmp_path):
    store = TraceStore.open(tmp_path / "soft.db")
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        plan = CapturePlan(specs=(compile_spec("NoSuch.Thing.run(x)"), compile_spec("lists:seq(A, B) when B > 2 -> return"),
                                  compile_spec("lists:seq(A, B, C, D) when D > 2")),
                           message_procs=(Registered("no_such_proc_q"),), strict_names=False)
        s = await CaptureSession.start(conn, store.create_recording("soft", spec={}, limits={}), plan)
        assert sorted(s.unknown_names) == [("function", "lists.seq/4"), ("module", "Elixir.NoSuch.Thing"),
                                           ("process", "no_such_proc_q")]
        await conn.rpc("lists", "seq", [1, 3])
        result = await s.stop()
        kinds = [e.kind.name for e in store.recording(result.recording_id).events()]
        assert "CALL" in kinds and "RETURN" in kinds


async def test_the_tool_node_name_is_stable_and_adds_no_atom_per_run(erl_node):
    names = []
    for _ in range(5):  # five "CLI runs" one after another
        async with Node() as node:
            conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
            names.append(node.name)
            if len(names) == 2:
                base = await atom_count(conn)
            last = await atom_count(conn)
    assert len(set(names)) == 1, names
    assert last - base <= 3
    # two live nodes at once get two names of the pool, and both connect
    async with Node() as a, Node() as b:
        assert a.name != b.name
        await a.connect(erl_node.name, cookie=erl_node.cookie)
        await b.connect(erl_node.name, cookie=erl_node.cookie)


@pytest.mark.parametrize("kind,setter", [("otp28", "proc_lib:set_label(<<\"worker-7\">>)"),
                                         ("erl", "put('$process_label', <<\"worker-7\">>)")])
async def test_processes_are_found_by_label(tmp_path, kind, setter):
    from support.nodes import start_node

    node28 = start_node(kind, eval_code=(
        "register(es_labelled, spawn(fun() -> " + setter + ", receive stop -> ok end end))"))
    try:
        store = TraceStore.open(tmp_path / "label.db")
        async with Node() as node:
            conn = await node.connect(node28.name, cookie=node28.cookie)
            plan = CapturePlan(message_procs=(Labelled("worker-7"),))
            s = await CaptureSession.start(conn, store.create_recording("label", spec={}, limits={}), plan)
            worker = await conn.rpc("erlang", "whereis", [A("es_labelled")])
            await conn.send(worker, A("hello"))
            result = await s.stop()
            recs = [e for e in store.recording(result.recording_id).events() if e.kind.name == "RECEIVE"]
            assert [e.payload for e in recs] == [A("hello")]
    finally:
        node28.stop()


@pytest.mark.parametrize("kind", ["erl", "otp28"])
async def test_mcp_tools_and_cli_runs_create_no_atoms(kind, tmp_path, capsys):
    """The MCP tools (a real client session) and CLI runs (each a fresh Python node) with
    unknown names: the node's atom table does not grow."""
    from support.nodes import start_node
    from mcp import Client

    from elixir_scope.cli import main
    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.server import build_server

    target = start_node(kind)
    try:
        config = ServerConfig(store_path=tmp_path / "mcp.db", default_node=target.name, cookie=target.cookie)
        async with Client(build_server(config)) as client:
            async def tools(i: int) -> None:
                r = await client.call_tool("process_details", {"process": f"NoSuch.Proc{i}"})
                assert r.is_error and "no process" in r.content[0].text
                r = await client.call_tool("start_capture", {"state_of": [f"NoSuch.Server{i}"]})
                assert r.is_error and f"no such module `NoSuch.Server{i}`" in r.content[0].text
                r = await client.call_tool("start_capture", {"spec": [f"NoSuch.Mod{i}.run(x)"],
                                                             "messages_of": [f"NoSuch.Worker{i}"]})
                assert r.is_error and "no such module" in r.content[0].text

            await tools(1000)
            async with Node() as node:
                conn = await node.connect(target.name, cookie=target.cookie)
                before = await atom_count(conn)
            for i in range(60):
                await tools(i)
        for i in range(5):  # five CLI runs, each its own Python node
            argv = ["process", f"NoSuch.Cli{i}", "--node", target.name, "--cookie", target.cookie]
            assert await asyncio.to_thread(main, argv) == 1
            assert "no process" in capsys.readouterr().err
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            after = await atom_count(conn)
        assert after - before <= 3, (before, after)
    finally:
        target.stop()
