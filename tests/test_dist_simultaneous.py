"""A peer that is setting up its own connection to our name answers our handshake ``nok``
(instrument/dist/handshake.py): a target whose agent still sends to a previous Python owner's pid
auto-connects to the name a new Python node takes over (tests/test_agent_shards.py's disconnect
test failed so in CI). We take no incoming connections, so its attempt fails on its own and
``Node.connect`` tries again: it connects once the peer stops trying, and says what happened
when the peer never stops."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.dist import Node, SimultaneousConnect
from elixir_scope.instrument.dist import node as dist_node
from elixir_scope.instrument.etf import Atom


async def _eval(conn, code: str):
    ok, tokens, _ = await conn.rpc("erl_scan", "string", [list(code.encode())])
    _, exprs = await conn.rpc("erl_parse", "parse_exprs", [tokens])
    return (await conn.rpc("erl_eval", "exprs", [exprs, []]))[1]


def _spinner(name: str, ms: int | None) -> str:
    """A process on the target that keeps auto-connecting to ``name`` (for ``ms``, or until killed)."""
    more = "true" if ms is None else f"erlang:monotonic_time(millisecond) - T0 < {ms}"
    return (f"N = '{name}', T0 = erlang:monotonic_time(millisecond), "
            f"P = spawn(fun() -> L = fun L() -> case {more} of true -> net_kernel:connect_node(N), L(); "
            f"false -> ok end end, L() end), register(es_spinner, P), ok.")


async def test_connect_waits_out_a_peer_connecting_to_our_name(erl_node):
    async with Node() as helper, Node() as ours:
        conn = await helper.connect(erl_node.name, cookie=erl_node.cookie)
        assert await _eval(conn, _spinner(ours.name, 250)) == Atom("ok")
        # the peer answers nok while its own attempts are pending (9 in 10 first tries here)
        back = await ours.connect(erl_node.name, cookie=erl_node.cookie)
        assert await back.rpc("erlang", "node", []) == Atom(erl_node.name)


async def test_a_peer_that_never_stops_connecting_is_a_clear_error(erl_node, monkeypatch):
    monkeypatch.setattr(dist_node, "SIMULTANEOUS_RETRIES", (0.01, 0.01))
    async with Node() as helper, Node() as ours:
        conn = await helper.connect(erl_node.name, cookie=erl_node.cookie)
        assert await _eval(conn, _spinner(ours.name, None)) == Atom("ok")
        try:
            failures = 0
            # the spinner is between attempts now and then (on a loaded machine, five connects in a
            # row once all landed there): one nok is enough
            for _ in range(40):
                try:
                    c = await ours.connect(erl_node.name, cookie=erl_node.cookie)
                    await c.close()
                except SimultaneousConnect as exc:
                    failures += 1
                    assert "connecting to us at the same time (nok)" in str(exc)
                    break
            assert failures >= 1
        finally:
            await conn.rpc("erlang", "exit", [await conn.rpc("erlang", "whereis", [Atom("es_spinner")]), Atom("kill")])
