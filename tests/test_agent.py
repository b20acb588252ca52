"""The tracer agent on real nodes: loading (compile on the target, on the OTP 28 runtime
without a compiler, stale versions), cleanup after kill -9 of the Python process, trace
sessions next to another tracer on OTP 28, refusal next to one on OTP 25, node snapshots."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from elixir_scope.instrument.agent import (
    AgentLoadError,
    agent_source,
    agent_version,
    ensure_agent,
)
from elixir_scope.instrument.agent.loader import MODULE, compile_on, load_beam
from elixir_scope.instrument.capture import CapturePlan, TracerBusyError
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.snapshot import snapshot
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import REPO, start_node

A = Atom


@pytest.fixture(scope="module")
def otp28_module():
    node = start_node("otp28")
    yield node
    node.stop()


async def test_loads_by_compiling_on_the_target_and_twice_is_harmless(erl_node):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        first = await ensure_agent(conn, use_prebuilt=False)
        assert (first.how, first.version, first.replaced) == ("target_compile", agent_version(), None)
        again = await ensure_agent(conn)
        assert again.how == "already_loaded"
        assert await conn.rpc(MODULE, "version", []) == agent_version()
        # nothing on the target's disk: the code path entry is the bare name we gave load_binary
        where = await conn.rpc("code", "which", [A(MODULE)])
        assert "".join(map(chr, where)) == f"{MODULE}.erl"
        assert not os.path.exists(os.path.join(REPO, f"{MODULE}.beam"))


async def test_a_stale_version_is_replaced(erl_node):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        old = agent_source().replace(f"version() -> {agent_version()}.".encode(), b"version() -> 1.")
        await load_beam(conn, await compile_on(conn, old))
        assert await conn.rpc(MODULE, "version", []) == 1
        res = await ensure_agent(conn)
        assert (res.replaced, res.version) == (1, agent_version())
        assert await conn.rpc(MODULE, "version", []) == agent_version()


async def test_bad_source_gives_a_clear_error(erl_node):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        with pytest.raises(AgentLoadError, match="did not compile|failed"):
            await compile_on(conn, b"-module(elixir_scope_agent).\nbroken(( -> .\n")


async def test_loads_on_otp28_without_compiler(otp28_module, erl_node_module):
    async with Node() as node:
        conn = await node.connect(otp28_module.name, cookie=otp28_module.cookie)
        assert await conn.rpc("code", "which", [A("compile")]) == A("non_existing")
        res = await ensure_agent(conn, force_reload=True, use_prebuilt=False)
        assert res.how == "local_erlc"
        # a connected node with a compiler and an older OTP compiles it instead
        peer = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        res = await ensure_agent(conn, peers=[peer], force_reload=True, use_prebuilt=False)
        assert res.how == "peer_compile"
        assert await conn.rpc(MODULE, "version", []) == agent_version()


_CHILD = textwrap.dedent("""
    import asyncio, sys, tempfile
    from elixir_scope.instrument.capture import CapturePlan, Registered
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.specs import compile_spec
    from elixir_scope.instrument.session import capture
    from elixir_scope.store import TraceStore

    async def main(name, cookie, db):
        node = Node()
        conn = await node.connect(name, cookie=cookie)
        plan = CapturePlan(specs=(compile_spec("lists:seq(A, B) when B > 100000 -> return"),),
                           message_procs=(Registered("es_victim"),), lifecycle_procs="all")
        s = await capture(conn, TraceStore.open(db), "doomed", plan)
        print("AGENT", s.agent, s.mode, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
""")


async def _cleanup_after_kill9(target, tmp_path):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        victim = await conn.rpc("erlang", "spawn", [A("timer"), A("sleep"), [A("infinity")]])
        await conn.rpc("erlang", "register", [A("es_victim"), victim])
        child = subprocess.Popen([sys.executable, "-c", _CHILD, target.name, target.cookie, str(tmp_path / "k.db")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
        try:
            line = ""
            for _ in range(200):
                line = child.stdout.readline()
                if line.startswith("AGENT") or not line:
                    break
            assert line.startswith("AGENT"), line + child.stdout.read()
            mode = line.split()[-1]
            # while it runs, flags and patterns are set
            assert (await conn.rpc("erlang", "trace_info", [victim, A("flags")]))[1] != [] or mode == "session"
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        # the agent notices the dropped connection (noconnection) and cleans up
        for _ in range(100):
            running = await conn.rpc("erlang", "processes", [])
            infos = [await conn.rpc("erlang", "process_info", [p, A("current_function")]) for p in running]
            if not any(isinstance(i, tuple) and i[1][0] == A(MODULE) for i in infos):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the agent process is still alive after its owner was killed")
        assert await conn.rpc("erlang", "trace_info", [victim, A("flags")]) == (A("flags"), [])
        assert await conn.rpc("erlang", "trace_info", [(A("lists"), A("seq"), 2), A("traced")]) == (A("traced"), False)
        assert await conn.rpc("erlang", "trace_info", [A("new"), A("flags")]) == (A("flags"), [])
        return conn, mode


async def test_kill9_of_python_removes_every_flag_and_pattern_otp25(erl_node, tmp_path):
    _, mode = await _cleanup_after_kill9(erl_node, tmp_path)
    assert mode == "classic"


async def test_kill9_of_python_removes_every_flag_and_pattern_otp28(otp28_node, tmp_path):
    async with Node() as node:
        conn = await node.connect(otp28_node.name, cookie=otp28_node.cookie)
        await ensure_agent(conn)
    _, mode = await _cleanup_after_kill9(otp28_node, tmp_path)
    assert mode == "session"
    async with Node() as node:
        conn = await node.connect(otp28_node.name, cookie=otp28_node.cookie)
        sessions = await conn.rpc("trace", "session_info", [A("all")])
        assert not any(isinstance(s, tuple) and s[0] == A("elixir_scope") for s in sessions), sessions


async def _legacy_tracer(conn):
    """What dbg does: a tracer process with call flags on every process and a pattern."""
    tracer = await conn.rpc("erlang", "spawn", [A("timer"), A("sleep"), [A("infinity")]])
    await conn.rpc("erlang", "trace", [A("new"), True, [A("call"), (A("tracer"), tracer)]])
    await conn.rpc("erlang", "trace_pattern", [(A("lists"), A("reverse"), 1), True, [A("local")]])
    return tracer


async def test_otp28_capture_coexists_with_another_tracer(otp28_node, tmp_path):
    async with Node() as node:
        conn = await node.connect(otp28_node.name, cookie=otp28_node.cookie)
        tracer = await _legacy_tracer(conn)
        store = TraceStore.open(tmp_path / "s.db")
        rec = store.create_recording("coexist", spec={}, limits={})
        plan = CapturePlan(specs=(compile_spec("lists:seq(A, B) when B > 50 -> return"),))
        s = await CaptureSession.start(conn, rec, plan, CaptureLimits(max_seconds=20))
        assert s.mode == "session"
        await conn.rpc("lists", "seq", [1, 60])
        result = await s.stop()
        assert result.end_reason == "stopped"
        kinds = [e.kind.name.lower() for e in store.recording(result.recording_id).events()]
        assert kinds.count("call") >= 1 and kinds.count("return") >= 1
        # the other tracer's settings are untouched
        assert await conn.rpc("erlang", "trace_info", [A("new"), A("tracer")]) == (A("tracer"), tracer)
        assert await conn.rpc("erlang", "trace_info", [(A("lists"), A("reverse"), 1), A("traced")]) == (A("traced"), A("local"))


async def test_otp25_refuses_when_a_tracer_is_active(erl_node, tmp_path):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        tracer = await _legacy_tracer(conn)
        store = TraceStore.open(tmp_path / "s.db")
        rec = store.create_recording("refused", spec={}, limits={})
        plan = CapturePlan(specs=(compile_spec("lists:seq(A, B) when B > 100000"),))
        with pytest.raises(TracerBusyError, match="a tracer is already active .*stop it or use force"):
            await CaptureSession.start(conn, rec, plan)
        # nothing of ours was left behind, theirs is intact
        assert await conn.rpc("erlang", "trace_info", [(A("lists"), A("seq"), 2), A("traced")]) == (A("traced"), False)
        assert await conn.rpc("erlang", "trace_info", [A("new"), A("tracer")]) == (A("tracer"), tracer)


async def test_snapshot_of_the_sample_app(sample_app_module):
    async with Node() as node:
        conn = await node.connect(sample_app_module.name, cookie=sample_app_module.cookie)
        snap = await snapshot(conn)
        assert snap.process_count == len(snap.processes) and not snap.truncated
        inv = snap.by_name("Elixir.SampleApp.Inventory")
        assert inv is not None and inv.status and inv.memory > 0 and inv.links
        assert inv.initial_call.module == "Elixir.SampleApp.Inventory"
        assert inv.behaviour in ("Elixir.GenServer", "gen_server")
        assert "sample_app" in {a.name for a in snap.applications}
        tree = snap.supervision["sample_app"]
        names = {n.module for n in tree.walk()}
        assert {"Elixir.SampleApp.Inventory", "Elixir.SampleApp.Carts"} <= names
        carts = next(n for n in tree.walk() if n.module == "Elixir.SampleApp.Carts")
        assert carts.type == "supervisor" and len(carts.children) == 2


async def test_otp25_refuses_when_dbg_is_active(erl_node, tmp_path):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        assert (await conn.rpc("dbg", "tracer", []))[0] == A("ok")
        await conn.rpc("dbg", "p", [A("new"), [A("call")]])
        try:
            store = TraceStore.open(tmp_path / "s.db")
            rec = store.create_recording("refused", spec={}, limits={})
            with pytest.raises(TracerBusyError, match="dbg/recon"):
                await CaptureSession.start(conn, rec, CapturePlan(lifecycle_procs="all"))
            assert (await conn.rpc("dbg", "get_tracer", []))[0] == A("ok")
        finally:
            await conn.rpc("dbg", "stop", [])
        # with dbg gone, the same capture starts
        rec = store.create_recording("after dbg", spec={}, limits={})
        s = await CaptureSession.start(conn, rec, CapturePlan(lifecycle_procs="all"))
        assert (await s.stop()).end_reason == "stopped"
