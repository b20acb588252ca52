"""Monitors, links and exit signals in both directions against real OTP 25 and OTP 28 nodes,
and the answers to control messages a node sends (monitor of an unknown pid, unlink ids,
exits with payloads)."""

from __future__ import annotations

import asyncio

import pytest

from support.nodes import start_node
from test_dist_helpers import eval_erl

from elixir_scope.instrument.dist import ExitSignal, Node
from elixir_scope.instrument.etf import Atom, Pid

DOWN, PROCESS = Atom("DOWN"), Atom("process")


@pytest.fixture(scope="module", params=["erl", "otp28"])
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


async def sleeper(conn) -> Pid:
    return await conn.rpc("erlang", "spawn", [Atom("timer"), Atom("sleep"), [Atom("infinity")]])


# -- we monitor them -------------------------------------------------------------------------
async def test_monitor_remote_pid_that_dies(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    ref = await conn.monitor(mbox, p)
    await conn.rpc("erlang", "exit", [p, Atom("boom")])
    assert await mbox.receive(timeout=5) == (DOWN, ref, PROCESS, p, Atom("boom"))


async def test_monitor_by_registered_name(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    await conn.rpc("erlang", "register", [Atom("es_mon_target"), p])
    ref = await conn.monitor(mbox, "es_mon_target")
    await conn.rpc("erlang", "exit", [p, Atom("kill")])
    assert await mbox.receive(timeout=5) == (DOWN, ref, PROCESS, (Atom("es_mon_target"), conn.peer_atom), Atom("killed"))


async def test_monitor_dead_pid_gives_noproc(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    await conn.rpc("erlang", "exit", [p, Atom("kill")])
    ref = await conn.monitor(mbox, p)
    assert await mbox.receive(timeout=5) == (DOWN, ref, PROCESS, p, Atom("noproc"))


async def test_demonitor_stops_down(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    ref = await conn.monitor(mbox, p)
    await conn.demonitor(mbox, ref)
    await conn.rpc("erlang", "exit", [p, Atom("kill")])
    await conn.rpc("erlang", "send", [mbox.pid, Atom("marker")])
    assert await mbox.receive(timeout=5) == Atom("marker")
    # the node forgot the monitor too
    assert await conn.rpc("erlang", "is_process_alive", [p]) is False


# -- they monitor us -------------------------------------------------------------------------
WATCH = """
Watcher = spawn(fun() ->
    Ref = erlang:monitor(process, Target),
    Fwd ! {monitoring, self(), Ref},
    receive M -> Fwd ! {got, M} end
end),
ok.
"""


async def test_remote_monitor_gets_down_when_mailbox_closes(conn):
    target = conn.node.mailbox()
    fwd = conn.node.mailbox()
    await eval_erl(conn, WATCH, Target=target.pid, Fwd=fwd.pid)
    _, watcher, ref = await fwd.receive(timeout=5)
    # the MONITOR_P arrived before the reply that carries the same ordering guarantee
    await conn.rpc("erlang", "send", [fwd.pid, Atom("sync")])
    assert await fwd.receive(timeout=5) == Atom("sync")
    assert ref in target._monitored_by
    target.close()
    assert await fwd.receive(timeout=5) == (Atom("got"), (DOWN, ref, PROCESS, target.pid, Atom("normal")))


async def test_remote_monitor_of_unknown_local_pid_gets_noproc(conn):
    fwd = conn.node.mailbox()
    ghost = conn.node.mailbox()
    ghost.close()  # a pid of our node that no longer exists
    await eval_erl(conn, WATCH, Target=ghost.pid, Fwd=fwd.pid)
    _, _, ref = await fwd.receive(timeout=5)
    assert await fwd.receive(timeout=5) == (Atom("got"), (DOWN, ref, PROCESS, ghost.pid, Atom("noproc")))


async def test_remote_monitor_by_name_then_demonitor(conn):
    target = conn.node.mailbox("es_watched")
    fwd = conn.node.mailbox()
    code = """
    spawn(fun() ->
        Ref = erlang:monitor(process, {es_watched, Node}),
        Fwd ! {monitoring, Ref},
        receive stop -> erlang:demonitor(Ref), Fwd ! demonitored end
    end), ok.
    """
    await eval_erl(conn, code, Node=conn.node.atom, Fwd=fwd.pid)
    _, ref = await fwd.receive(timeout=5)
    await conn.rpc("erlang", "send", [fwd.pid, Atom("sync")])
    await fwd.receive(timeout=5)
    assert ref in target._monitored_by
    watcher_ref = target._monitored_by[ref]
    await conn.send(watcher_ref[1], Atom("stop"))
    assert await fwd.receive(timeout=5) == Atom("demonitored")
    await conn.rpc("erlang", "send", [fwd.pid, Atom("sync")])
    await fwd.receive(timeout=5)
    assert ref not in target._monitored_by


# -- links -----------------------------------------------------------------------------------
async def test_link_to_remote_then_it_dies(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    await conn.link(mbox, p)
    links = await conn.rpc("erlang", "process_info", [p, Atom("links")])
    assert links == (Atom("links"), [mbox.pid])
    await conn.rpc("erlang", "exit", [p, Atom("crash")])
    assert await mbox.receive(timeout=5) == ExitSignal(p, Atom("crash"))
    assert not mbox._links


async def test_link_to_dead_remote_gives_noproc(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    await conn.rpc("erlang", "exit", [p, Atom("kill")])
    await conn.link(mbox, p)
    assert await mbox.receive(timeout=5) == ExitSignal(p, Atom("noproc"))


async def test_unlink_then_remote_dies_quietly(conn):
    mbox = conn.node.mailbox()
    p = await sleeper(conn)
    await conn.link(mbox, p)
    await conn.unlink(mbox, p)
    links = await conn.rpc("erlang", "process_info", [p, Atom("links")])
    assert links == (Atom("links"), [])
    await conn.rpc("erlang", "exit", [p, Atom("crash")])
    await conn.rpc("erlang", "send", [mbox.pid, Atom("marker")])
    assert await mbox.receive(timeout=5) == Atom("marker")


async def test_remote_links_to_us_and_exits_with_a_big_reason(conn):
    mbox = conn.node.mailbox()
    code = """
    spawn(fun() -> link(Target), Target ! linked, receive go -> exit({boom, lists:seq(1, 300)}) end end), ok.
    """
    await eval_erl(conn, code, Target=mbox.pid)
    assert await mbox.receive(timeout=5) == Atom("linked")
    (remote,) = mbox._links
    await conn.send(remote, Atom("go"))
    sig = await mbox.receive(timeout=5)
    assert sig == ExitSignal(remote, (Atom("boom"), list(range(1, 301))))


async def test_remote_unlinks_and_we_ack(conn):
    mbox = conn.node.mailbox()
    code = """
    spawn(fun() -> link(Target), Target ! linked,
                   receive go -> unlink(Target), Target ! unlinked,
                                 receive stop -> exit(crash) end end end), ok.
    """
    await eval_erl(conn, code, Target=mbox.pid)
    assert await mbox.receive(timeout=5) == Atom("linked")
    (remote,) = mbox._links
    await conn.send(remote, Atom("go"))
    assert await mbox.receive(timeout=5) == Atom("unlinked")
    assert not mbox._links
    await conn.send(remote, Atom("stop"))
    await conn.rpc("erlang", "send", [mbox.pid, Atom("marker")])
    assert await mbox.receive(timeout=5) == Atom("marker")  # no exit signal: the link is gone


async def test_remote_trapping_exits_sees_our_mailbox_close(conn):
    target = conn.node.mailbox()
    fwd = conn.node.mailbox()
    code = """
    spawn(fun() -> process_flag(trap_exit, true), link(Target), Fwd ! linked,
                   receive M -> Fwd ! {got, M} end end), ok.
    """
    await eval_erl(conn, code, Target=target.pid, Fwd=fwd.pid)
    assert await fwd.receive(timeout=5) == Atom("linked")
    await conn.rpc("erlang", "send", [fwd.pid, Atom("sync")])
    await fwd.receive(timeout=5)
    target.close(Atom("shutdown"))
    assert await fwd.receive(timeout=5) == (Atom("got"), (Atom("EXIT"), target.pid, Atom("shutdown")))


async def test_remote_link_to_unknown_local_pid_gets_noproc(conn):
    fwd = conn.node.mailbox()
    ghost = conn.node.mailbox()
    ghost.close()
    code = """
    spawn(fun() -> process_flag(trap_exit, true), link(Target),
                   receive M -> Fwd ! {got, M} end end), ok.
    """
    await eval_erl(conn, code, Target=ghost.pid, Fwd=fwd.pid)
    assert await fwd.receive(timeout=5) == (Atom("got"), (Atom("EXIT"), ghost.pid, Atom("noproc")))


async def test_exit2_is_delivered_not_fatal(conn):
    mbox = conn.node.mailbox()
    code = "P = spawn(fun() -> exit(Target, go_away) end), P."
    p = await eval_erl(conn, code, Target=mbox.pid)
    assert await mbox.receive(timeout=5) == ExitSignal(p, Atom("go_away"), linked=False)
    assert not mbox.closed


async def test_message_to_unknown_local_pid_is_dropped(conn):
    ghost = conn.node.mailbox()
    ghost.close()
    await conn.rpc("erlang", "send", [ghost.pid, Atom("lost")])
    assert await conn.rpc("erlang", "abs", [-1]) == 1  # the connection survives


async def test_send_sender_to_remote_shows_our_pid(conn):
    mbox = conn.node.mailbox()
    code = """
    spawn(fun() -> Fwd ! {me, self()}, receive {From, Msg} -> From ! {echo, Msg} end end), ok.
    """
    await eval_erl(conn, code, Fwd=mbox.pid)
    _, echo = await mbox.receive(timeout=5)
    await conn.send(echo, (mbox.pid, b"ping"), sender=mbox)
    assert await asyncio.wait_for(mbox.receive(), 5) == (Atom("echo"), b"ping")
