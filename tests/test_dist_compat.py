"""The same client against every kind of target: Erlang/OTP 25 (``erl``), Elixir 1.14 on
OTP 25, and the bare Erlang/OTP 28 runtime. Connect, rpc, send/receive, monitor, link."""

from __future__ import annotations

import pytest

from support.nodes import start_node

from elixir_scope.instrument.dist import ExitSignal, Node
from elixir_scope.instrument.etf import Atom, Pid

KINDS = ["erl", "elixir", "otp28"]


@pytest.fixture(scope="module", params=KINDS)
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


@pytest.fixture
async def conn(target):
    node = Node()
    c = await node.connect(target.name, cookie=target.cookie)
    yield c
    await node.close()


async def test_connect_and_rpc(conn, target):
    assert await conn.rpc("erlang", "node", []) == Atom(target.name)
    release = (await conn.rpc("erlang", "system_info", [Atom("otp_release")])).text
    assert release == ("28" if target.kind == "otp28" else "25")
    assert Atom(conn.node.name) in await conn.rpc("erlang", "nodes", [Atom("hidden")])
    if target.kind == "elixir":
        version = await conn.rpc("Elixir.System", "version", [])
        assert isinstance(version, bytes) and version.startswith(b"1.")
        # an Elixir string is a binary; a keyword list is a list of tuples
        assert await conn.rpc("Elixir.String", "upcase", ["héllo"]) == "HÉLLO".encode()
        assert await conn.rpc("Elixir.Keyword", "get", [[(Atom("a"), 1)], Atom("a")]) == 1


async def test_send_receive_monitor_link(conn):
    mbox = conn.node.mailbox("es_compat")
    await conn.rpc("erlang", "send", [(Atom("es_compat"), conn.node.atom), Atom("by_name")])
    await conn.rpc("erlang", "send", [mbox.pid, Atom("by_pid")])
    assert [await mbox.receive(timeout=5), await mbox.receive(timeout=5)] == [Atom("by_name"), Atom("by_pid")]

    p = await conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [Atom("infinity")]])
    assert isinstance(p, Pid)
    ref = await conn.monitor(mbox, p)
    await conn.link(mbox, p)
    await conn.send(p, Atom("hello"), sender=mbox)
    assert await conn.rpc("erlang", "process_info", [p, Atom("messages")]) == (Atom("messages"), [Atom("hello")])
    await conn.rpc("erlang", "exit", [p, Atom("bye")])
    got = [await mbox.receive(timeout=5), await mbox.receive(timeout=5)]
    assert (Atom("DOWN"), ref, Atom("process"), p, Atom("bye")) in got
    assert ExitSignal(p, Atom("bye")) in got


async def test_unlink_uses_unlink_id(conn):
    mbox = conn.node.mailbox()
    p = await conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [Atom("infinity")]])
    await conn.link(mbox, p)
    await conn.unlink(mbox, p)
    assert await conn.rpc("erlang", "process_info", [p, Atom("links")]) == (Atom("links"), [])
    await conn.rpc("erlang", "exit", [p, Atom("kill")])
