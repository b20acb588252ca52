"""Live introspection against the bundled Elixir sample app (examples/sample_app) and a plain
erl node with many processes."""

from __future__ import annotations

import asyncio

import pytest

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Pid
from elixir_scope.instrument.introspect import (
    MFA,
    ProcessNotFound,
    node_info,
    process_details,
    process_overview,
    supervision_trees,
)


@pytest.fixture
async def conn(sample_app_module):
    node = Node()
    c = await node.connect(sample_app_module.name, cookie=sample_app_module.cookie)
    yield c
    await node.close()


async def test_node_info(conn, sample_app_module):
    info = await node_info(conn)
    assert info.name == sample_app_module.name
    assert info.otp_release == "25" and info.erts_version.count(".") >= 1
    assert info.elixir_version and info.elixir_version.startswith("1.")
    assert {"sample_app", "elixir", "kernel", "stdlib"} <= {a.name for a in info.applications}
    assert info.process_count > 10 and info.process_limit > info.process_count
    assert info.memory.total >= info.memory.processes > 0
    assert info.schedulers >= 1 and info.net_ticktime == 60
    assert info.native_units_per_second > 0 and info.uptime_ms >= 0


async def test_process_overview_sorted_with_behaviours(conn):
    for key in ("memory", "reductions", "message_queue_len"):
        top = await process_overview(conn, sort_by=key, limit=15)
        assert len(top) == 15
        values = [getattr(p, key) for p in top]
        assert values == sorted(values, reverse=True)
    everything = await process_overview(conn, sort_by="memory", limit=10_000)
    by_name = {p.registered_name: p for p in everything if p.registered_name}
    inventory = by_name["Elixir.SampleApp.Inventory"]
    assert inventory.behaviour == "gen_server"
    assert inventory.initial_call == MFA("Elixir.SampleApp.Inventory", "init", 1)
    assert inventory.current_function == MFA("gen_server", "loop", 7)
    assert by_name["Elixir.SampleApp.Supervisor"].behaviour == "supervisor"
    assert by_name["Elixir.SampleApp.Carts"].initial_call == MFA("supervisor", "Elixir.SampleApp.Carts", 1)
    assert by_name["Elixir.SampleApp.CartSupervisor"].behaviour == "supervisor"
    assert by_name["code_server"].behaviour is None
    with pytest.raises(ValueError, match="sort_by"):
        await process_overview(conn, sort_by="heap")


async def test_process_details(conn):
    d = await process_details(conn, "SampleApp.Inventory")  # Elixir-style name
    assert d.summary.registered_name == "Elixir.SampleApp.Inventory"
    sup = await conn.rpc("erlang", "whereis", [Atom("Elixir.SampleApp.Supervisor")])
    assert sup in d.links
    assert Atom("$initial_call") in d.dictionary_keys
    assert d.total_heap_size >= d.heap_size > 0 and isinstance(d.group_leader, Pid)
    assert d.trap_exit is False
    same = await process_details(conn, d.pid)
    assert same.summary.registered_name == d.summary.registered_name
    with pytest.raises(ProcessNotFound, match="process_overview"):
        await process_details(conn, "NoSuchProcess")


async def test_supervision_trees(conn):
    trees = {t.application: t for t in await supervision_trees(conn)}
    assert {"sample_app", "kernel", "elixir"} <= set(trees)
    top = trees["sample_app"]
    assert top.registered_name == "Elixir.SampleApp.Supervisor" and top.strategy == "one_for_one"
    ids = {c.id for c in top.children}
    assert {Atom("Elixir.SampleApp.Stats"), Atom("Elixir.SampleApp.Inventory"), Atom("Elixir.SampleApp.Carts")} <= ids
    assert all(c.restart == "permanent" and c.status == "running" for c in top.children)
    carts = next(c for c in top.children if c.id == Atom("Elixir.SampleApp.Carts"))
    assert carts.type == "supervisor" and carts.supervisor.strategy == "rest_for_one"
    dyn = next(c for c in carts.supervisor.children if c.id == Atom("Elixir.SampleApp.CartSupervisor"))
    assert dyn.supervisor.kind == "dynamic_supervisor" and dyn.supervisor.strategy == "one_for_one"
    names = {s.registered_name for s in top.walk()}
    assert {"Elixir.SampleApp.Supervisor", "Elixir.SampleApp.Carts", "Elixir.SampleApp.CartSupervisor"} <= names


async def test_dynamic_children_have_restart_types(conn):
    # a temporary Agent under the app's DynamicSupervisor: its restart type comes from the
    # supervisor's state (DynamicSupervisor has no get_childspec)
    dyn = await conn.rpc("erlang", "whereis", [Atom("Elixir.SampleApp.CartSupervisor")])
    spec = {Atom("id"): Atom("probe"), Atom("restart"): Atom("temporary"),
            Atom("start"): (Atom("Elixir.Agent"), Atom("start_link"), [Atom("erlang"), Atom("make_ref"), []])}
    ok, child = await conn.rpc("Elixir.DynamicSupervisor", "start_child", [dyn, spec])
    assert ok == Atom("ok")
    try:
        trees = {t.application: t for t in await supervision_trees(conn)}
        sups = {s.registered_name: s for s in trees["sample_app"].walk()}
        dyn_children = {c.pid: c for c in sups["Elixir.SampleApp.CartSupervisor"].children}
        assert dyn_children[child].restart == "temporary"
    finally:
        await conn.rpc("Elixir.DynamicSupervisor", "terminate_child", [dyn, child])


async def test_overview_over_many_processes(erl_node_module):
    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        pids = await asyncio.gather(*(conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [60_000]])
                                      for _ in range(1000)))
        # one of them gets a big mailbox
        for i in range(50):
            await conn.send(pids[7], i)
        top = await process_overview(conn, sort_by="message_queue_len", limit=5)
        assert top[0].pid == pids[7] and top[0].message_queue_len == 50
        assert top[0].initial_call == MFA("timer", "sleep", 1)
        for p in pids:
            await conn.send(p, Atom("x"))  # keep nothing around: kill them
        await asyncio.gather(*(conn.rpc("erlang", "exit", [p, Atom("kill")]) for p in pids))


@pytest.mark.parametrize("kind", ["erl", "otp28"])
async def test_plain_erlang_nodes(kind):
    from support.nodes import start_node

    target = start_node(kind)
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            info = await node_info(conn)
            assert info.elixir_version is None and info.otp_release == ("28" if kind == "otp28" else "25")
            trees = {t.application: t for t in await supervision_trees(conn)}
            assert trees["kernel"].registered_name == "kernel_sup"
            assert trees["kernel"].strategy == "one_for_all"
            rex = next(c for c in trees["kernel"].children if c.id == Atom("rex"))
            assert rex.restart == "permanent" and rex.type == "worker"
            top = await process_overview(conn, limit=5)
            assert len(top) == 5
            d = await process_details(conn, "rex")
            assert d.summary.behaviour == "gen_server"
    finally:
        target.stop()


async def test_supervision_children_in_start_order_with_the_strategy_meaning(conn):
    from elixir_scope.mcp_server.live_models import supervisor_model, tree_outline

    trees = {t.application: t for t in await supervision_trees(conn)}
    top = trees["sample_app"]
    assert [c.id.name for c in top.children] == [
        "Elixir.SampleApp.Stats", "Elixir.SampleApp.Pricing", "Elixir.SampleApp.Inventory",
        "Elixir.SampleApp.Carts", "Elixir.SampleApp.Ticker", "Elixir.SampleApp.WorkloadSupervisor"]
    outline = tree_outline(supervisor_model(top))
    assert "a crashed child is restarted alone" in outline[0]
    carts = next(line for line in outline if line.lstrip().startswith("SampleApp.Carts"))
    assert "restarts itself and the children listed after it" in carts
