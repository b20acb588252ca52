"""The vertical slice against a real ``erl`` node: connect as a hidden node, rpc, send and
receive through mailboxes (by pid and by registered name)."""

from __future__ import annotations

import asyncio

import pytest

from elixir_scope.instrument.dist import Node, RpcError, RpcTimeout
from elixir_scope.instrument.etf import Atom, Charlist, Pid


@pytest.fixture
async def conn(erl_node_module):
    node = Node()
    c = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
    yield c
    await node.close()


async def test_connect_as_hidden_node(conn, erl_node_module):
    assert conn.node_name == erl_node_module.name
    assert await conn.rpc("erlang", "node", []) == Atom(erl_node_module.name)
    hidden = await conn.rpc("erlang", "nodes", [Atom("hidden")])
    assert Atom(conn.node.name) in hidden
    assert Atom(conn.node.name) not in await conn.rpc("erlang", "nodes", [])
    assert conn.node.connections[erl_node_module.name] is conn


async def test_rpc_returns_exact_terms(conn):
    assert await conn.rpc("erlang", "system_info", [Atom("otp_release")]) == Charlist.from_text("25")
    assert await conn.rpc("lists", "reverse", [[1, 2, 3]]) == [3, 2, 1]
    assert await conn.rpc(Atom("erlang"), Atom("list_to_binary"), [[104, 105]]) == b"hi"
    assert await conn.rpc("erlang", "is_atom", [Atom("x")]) is True
    # a str goes as a binary
    assert await conn.rpc("erlang", "is_binary", ["héllo"]) is True


async def test_rpc_error_carries_the_reason(conn):
    with pytest.raises(RpcError) as info:
        await conn.rpc("no_such_module", "f", [1])
    reason = info.value.reason
    assert reason[0] == Atom("EXIT") and reason[1][0] == Atom("undef")
    # the message prints the reason as the node would, not as Python's repr of its decoding
    assert "{badrpc, {'EXIT',{undef,[{no_such_module,f,[1]," in str(info.value), str(info.value)


async def test_rpc_timeout(conn):
    with pytest.raises(RpcTimeout):
        await conn.rpc("timer", "sleep", [2000], timeout=0.2)
    # the connection is still usable afterwards
    assert await conn.rpc("erlang", "abs", [-3]) == 3


async def test_pipelined_rpcs(conn):
    results = await asyncio.gather(*(conn.rpc("erlang", "abs", [-i]) for i in range(200)))
    assert results == list(range(200))


async def test_send_to_mailbox_by_pid_and_name(conn):
    node = conn.node
    mbox = node.mailbox("es_inbox")
    assert isinstance(mbox.pid, Pid) and mbox.pid.node == node.atom
    # the remote node sends to our pid, and to our registered name
    await conn.rpc("erlang", "send", [mbox.pid, (Atom("by_pid"), 1)])
    await conn.rpc("erlang", "send", [(Atom("es_inbox"), node.atom), (Atom("by_name"), 2)])
    assert await mbox.receive(timeout=5) == (Atom("by_pid"), 1)
    assert await mbox.receive(timeout=5) == (Atom("by_name"), 2)
    with pytest.raises(asyncio.QueueEmpty):
        mbox.receive_nowait()
    with pytest.raises(asyncio.TimeoutError):
        await mbox.receive(timeout=0.05)


async def test_send_to_remote_registered_name_and_pid(conn):
    """Send to a remote sleeping process (by pid, then by its registered name) and read its
    message queue back: sender and anonymous forms both arrive, in order."""
    node = conn.node
    mbox = node.mailbox()
    sleeper = await conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [30000]])
    assert isinstance(sleeper, Pid)
    await conn.send(sleeper, (Atom("hello"), mbox.pid), sender=mbox)
    await conn.send(sleeper, Atom("anonymous"))
    assert await conn.rpc("erlang", "register", [Atom("es_sleeper"), sleeper]) is True
    await conn.send("es_sleeper", b"by name", sender=mbox)
    await conn.send(Atom("es_sleeper"), [1, 2])
    info = await conn.rpc("erlang", "process_info", [sleeper, Atom("messages")])
    assert info == (Atom("messages"), [(Atom("hello"), mbox.pid), Atom("anonymous"), b"by name", [1, 2]])
    await conn.rpc("erlang", "exit", [sleeper, Atom("kill")])


async def test_async_iteration_and_close(conn):
    node = conn.node
    mbox = node.mailbox()
    for i in range(3):
        await conn.rpc("erlang", "send", [mbox.pid, i])
    got = []
    async for msg in mbox:
        got.append(msg)
        if len(got) == 3:
            mbox.close()
    assert got == [0, 1, 2]
    assert mbox.closed


async def test_large_binary_message(conn):
    mbox = conn.node.mailbox()
    blob = await conn.rpc("crypto", "strong_rand_bytes", [1 << 20])
    assert isinstance(blob, bytes) and len(blob) == 1 << 20
    await conn.rpc("erlang", "send", [mbox.pid, (Atom("blob"), blob)])
    tag, back = await mbox.receive(timeout=10)
    assert back == blob


async def test_many_messages_arrive_in_order(conn):
    """A burst from the node (as trace batches arrive): all delivered, in order, drainable at once."""
    from test_dist_helpers import eval_erl

    mbox = conn.node.mailbox()
    n = 5000
    await eval_erl(conn, "lists:foreach(fun(I) -> To ! {es_batch, I, <<0:800>>} end, lists:seq(1, N)), ok.",
                   To=mbox.pid, N=n)
    got = []
    while len(got) < n:
        got.append(await mbox.receive(timeout=10))
        got.extend(mbox.drain())
    assert [m[1] for m in got] == list(range(1, n + 1))


async def test_one_reader_per_mailbox(conn):
    mbox = conn.node.mailbox()
    first = asyncio.ensure_future(mbox.receive(timeout=5))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await mbox.receive(timeout=1)
    await conn.rpc("erlang", "send", [mbox.pid, Atom("x")])
    assert await first == Atom("x")


async def test_pid_of_another_node_is_refused(conn):
    stranger = Pid(Atom("other@host"), 1, 0, 1)
    with pytest.raises(ValueError, match="other@host"):
        await conn.send(stranger, Atom("x"))
    with pytest.raises(ValueError, match="other@host"):
        await conn.monitor(conn.node.mailbox(), stranger)


async def test_connection_for_a_remote_pid(conn):
    node = conn.node
    remote = await conn.rpc("erlang", "whereis", [Atom("rex")])
    assert node.connection_for(remote) is conn
    assert node.connection_for(conn.node_name) is conn
    from elixir_scope.instrument.dist import NodeDown

    with pytest.raises(NodeDown, match="not connected"):
        node.connection_for(Pid(Atom("other@host"), 1, 0, 1))


async def test_undecodable_message_is_delivered_not_dropped(conn):
    """A term nested deeper than Python's recursion limit: the mailbox gets the raw bytes and
    the connection stays up."""
    from test_dist_helpers import eval_erl

    from elixir_scope.instrument.dist import UndecodableMessage
    from elixir_scope.instrument.etf import DecodeError, decode

    mbox = conn.node.mailbox()
    code = "To ! lists:foldl(fun(_, Acc) -> {Acc} end, leaf, lists:seq(1, 5000)), ok."
    await eval_erl(conn, code, To=mbox.pid)
    msg = await mbox.receive(timeout=10)
    assert isinstance(msg, UndecodableMessage) and "nested too deeply" in msg.error
    assert msg.data[:1] == b"\x83" and msg.data.count(b"h\x01") == 5000
    with pytest.raises(DecodeError):
        decode(msg.data)
    assert await conn.rpc("erlang", "abs", [-6]) == 6
    # an rpc whose result cannot be decoded fails at once (not at its timeout)
    with pytest.raises(DecodeError, match="cannot be decoded"):
        await eval_erl(conn, "lists:foldl(fun(_, Acc) -> {Acc} end, leaf, lists:seq(1, 5000)).", timeout=60)
