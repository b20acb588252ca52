"""Faults against real nodes: the target killed mid-call, wrong cookie, bad names, missing
nodes, unreachable hosts, restarts under the same name, a frozen peer (tick watchdog), and
several connections at once."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from support.nodes import start_node

from elixir_scope.instrument.dist import (
    AuthenticationFailed,
    ExitSignal,
    HostUnreachable,
    InvalidNodeName,
    Node,
    NodeDown,
    NodeNotFound,
    NotAllowed,
)
from elixir_scope.instrument.dist.control import OUR_FLAGS, Flag
from elixir_scope.instrument.dist.cookie import ENV_VAR, Cookie, NoCookie, resolve_cookie
from elixir_scope.instrument.dist.epmd import port_please
from elixir_scope.instrument.dist.handshake import client_handshake
from elixir_scope.instrument.dist.transport import DistProtocol
from elixir_scope.instrument.etf import Atom


async def test_target_killed_mid_rpc_fails_promptly(erl_node):
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        mbox = node.mailbox()
        remote = await conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [Atom("infinity")]])
        ref = await conn.monitor(mbox, remote)
        await conn.link(mbox, remote)
        downs = []
        conn.add_down_callback(downs.append)
        call = asyncio.ensure_future(conn.rpc("timer", "sleep", [60_000], timeout=120))
        await asyncio.sleep(0.2)
        erl_node.kill()
        # NodeDown long before the rpc's own 120 s timeout (pytest-timeout guards a hang)
        with pytest.raises(NodeDown):
            await asyncio.wait_for(call, 30)
        assert conn.closed.is_set() and downs == [conn]
        assert erl_node.name not in node.connections
        got = {await mbox.receive(timeout=5), await mbox.receive(timeout=5)}
        assert got == {(Atom("DOWN"), ref, Atom("process"), remote, Atom("noconnection")),
                       ExitSignal(remote, Atom("noconnection"))}
        with pytest.raises(NodeDown):
            await conn.rpc("erlang", "node", [])
        with pytest.raises(NodeDown):
            await conn.send(remote, Atom("x"))


async def test_wrong_cookie(erl_node_module):
    async with Node() as node:
        with pytest.raises(AuthenticationFailed, match="authentication failed, check the cookie") as info:
            await node.connect(erl_node_module.name, cookie="definitely-wrong-cookie")
        assert "definitely-wrong-cookie" not in str(info.value)
        assert "definitely-wrong-cookie" not in repr(info.value)


@pytest.mark.parametrize("bad", ["nohost", "a@b@c", "@host", "name@"])
async def test_invalid_node_name(bad):
    async with Node() as node:
        with pytest.raises(InvalidNodeName, match="name@host"):
            await node.connect(bad, cookie="x")
    with pytest.raises(InvalidNodeName):
        Node(name="no_at_sign")


async def test_unknown_node_lists_epmd_names(erl_node_module):
    host = erl_node_module.host
    async with Node() as node:
        with pytest.raises(NodeNotFound) as info:
            await node.connect(f"no_such_node_xyz@{host}", cookie="x")
    assert erl_node_module.sname in info.value.available
    assert erl_node_module.sname in str(info.value)


async def test_unreachable_host_and_port():
    async with Node() as node:
        with pytest.raises(HostUnreachable, match="check the host name"):
            await node.connect("app@no-such-host.invalid", cookie="x", timeout=10)
        with pytest.raises(HostUnreachable):
            await node.connect("app@127.0.0.1", cookie="x", port=1, timeout=5)


async def test_not_allowed_names_the_flags(erl_node_module):
    """A client without the flags OTP 25 requires is refused; the error says what we offered."""
    info = await port_please(erl_node_module.host, erl_node_module.sname)
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: DistProtocol(loop), erl_node_module.host, info.port)
    try:
        with pytest.raises(NotAllowed, match="not_allowed") as err:
            await client_handshake(proto, our_name=f"es_flags_{os.getpid()}@{erl_node_module.host}",
                                   our_creation=7, cookie=Cookie(erl_node_module.cookie),
                                   target=erl_node_module.name, flags=OUR_FLAGS & ~(Flag.HANDSHAKE_23 | Flag.MANDATORY_25_DIGEST))
        assert "cannot handle" in str(err.value)
    finally:
        proto.abort()


async def test_node_restarted_under_same_name_reconnects():
    first = start_node("erl")
    try:
        async with Node() as node:
            conn = await node.connect(first.name, cookie=first.cookie)
            creation1 = conn.peer_creation
            first.stop(graceful=True)
            await asyncio.wait_for(conn.closed.wait(), 30)
            second = start_node("erl", sname=first.sname, cookie=first.cookie)
            try:
                conn2 = await node.connect(second.name, cookie=second.cookie)
                assert conn2 is not conn and conn2.peer_creation != creation1
                assert await conn2.rpc("erlang", "node", []) == Atom(second.name)
                assert node.connections[second.name] is conn2
            finally:
                second.stop()
    finally:
        first.stop()


async def test_several_nodes_at_once(erl_node_module, otp28_node):
    async with Node() as node:
        c1, c2 = await asyncio.gather(
            node.connect(erl_node_module.name, cookie=erl_node_module.cookie),
            node.connect(otp28_node.name, cookie=otp28_node.cookie),
        )
        r1, r2 = await asyncio.gather(
            c1.rpc("erlang", "system_info", [Atom("otp_release")]),
            c2.rpc("erlang", "system_info", [Atom("otp_release")]),
        )
        assert (r1.text, r2.text) == ("25", "28")
        assert set(node.connections) == {erl_node_module.name, otp28_node.name}
        # connecting again returns the live connection
        assert await node.connect(erl_node_module.name, cookie=erl_node_module.cookie) is c1
        await c1.close()
        assert set(node.connections) == {otp28_node.name}
        assert await c2.rpc("erlang", "abs", [-2]) == 2


async def test_watchdog_follows_peer_ticktime_and_our_ticks_keep_it_alive():
    target = start_node("erl", extra_args=["-kernel", "net_ticktime", "4"])
    try:
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            assert conn.net_ticktime == 4.0
            # idle for longer than the peer's ticktime: our ticks keep the peer from dropping us
            await asyncio.sleep(6)
            assert await conn.rpc("erlang", "abs", [-1]) == 1
            # freeze the peer: no ticks arrive, and the watchdog declares it down
            os.kill(target.pid, signal.SIGSTOP)
            try:
                await asyncio.wait_for(conn.closed.wait(), 30)
                assert conn.down_reason == Atom("net_tick_timeout")
            finally:
                os.kill(target.pid, signal.SIGCONT)
    finally:
        target.stop()


def test_cookie_resolution_order(tmp_path, monkeypatch):
    (tmp_path / ".erlang.cookie").write_text("from_file\n")
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_cookie(None, None, home=tmp_path) == Cookie("from_file")
    monkeypatch.setenv(ENV_VAR, "from_env")
    assert resolve_cookie(None, None, home=tmp_path) == Cookie("from_env")
    assert resolve_cookie(None, "node_default", home=tmp_path) == Cookie("node_default")
    assert resolve_cookie("argument", "node_default", home=tmp_path) == Cookie("argument")
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(NoCookie, match=ENV_VAR):
        resolve_cookie(None, home=tmp_path / "empty")
    c = Cookie("s3cret")
    assert "s3cret" not in repr(c) and "s3cret" not in str(c)
    assert "s3cret" not in repr(Node(cookie="s3cret").__dict__)



async def test_local_close_fails_inflight_rpc_and_runs_callbacks(erl_node_module):
    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        downs = []
        conn.add_down_callback(downs.append)
        call = asyncio.ensure_future(conn.rpc("timer", "sleep", [30_000], timeout=60))
        await asyncio.sleep(0.1)
        await conn.close()
        with pytest.raises(NodeDown, match="closed locally"):
            await asyncio.wait_for(call, 10)
        assert downs == [conn] and conn.down_reason == "closed locally"
        late = []
        conn.add_down_callback(late.append)  # already down: called soon
        await asyncio.sleep(0)
        assert late == [conn]
        # the node is still reachable through a new connection
        again = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        assert again is not conn and await again.rpc("erlang", "abs", [-4]) == 4


async def test_frozen_node_times_out_with_a_clear_error():
    target = start_node("erl")
    try:
        os.kill(target.pid, signal.SIGSTOP)
        try:
            async with Node() as node:
                with pytest.raises(HostUnreachable, match="frozen or overloaded"):
                    await node.connect(target.name, cookie=target.cookie, timeout=1.0)
        finally:
            os.kill(target.pid, signal.SIGCONT)
    finally:
        target.stop()


async def test_blocked_event_loop_is_not_mistaken_for_a_dead_peer(erl_node_module):
    """If our own loop was blocked, unread bytes may be waiting: the watchdog must not count
    that as the peer's silence. (Our watchdog is set tighter than the peer's ticks here so the
    peer itself never drops us during the block.)"""
    import time

    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        conn.net_ticktime = 2.0
        time.sleep(3)  # block the loop for longer than our watchdog allows
        assert await conn.rpc("erlang", "abs", [-5]) == 5
        assert not conn.closed.is_set()


async def test_cookie_from_environment_and_node_default(erl_node_module, monkeypatch):
    monkeypatch.setenv(ENV_VAR, erl_node_module.cookie)
    async with Node() as node:
        conn = await node.connect(erl_node_module.name)
        assert await conn.rpc("erlang", "abs", [-1]) == 1
    monkeypatch.setenv(ENV_VAR, "wrong")
    async with Node(cookie=erl_node_module.cookie) as node:  # the node default beats the env
        assert await (await node.connect(erl_node_module.name)).rpc("erlang", "abs", [-2]) == 2
    async with Node(cookie="wrong-too") as node:  # the argument beats both
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        assert await conn.rpc("erlang", "abs", [-3]) == 3
