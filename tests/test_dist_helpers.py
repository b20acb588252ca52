"""A test helper: evaluate Erlang expressions on a real node over rpc.

Funs cannot be sent over rpc, but ``erl_scan``/``erl_parse``/``erl_eval`` (stdlib, present
even on the bare OTP 28 runtime without the compiler) can run a snippet that builds them on
the node. Tests use it to make the remote side link, monitor, trap exits, or produce terms.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.dist import Connection
from elixir_scope.instrument.etf import Atom, Charlist


async def eval_erl(conn: Connection, code: str, timeout: float = 10.0, **bindings: Any) -> Any:
    """Evaluate ``code`` (Erlang expressions ending with '.') with ``bindings`` (``Name=value``)
    on the node and return the value."""
    ok, tokens, _ = await conn.rpc("erl_scan", "string", [Charlist.from_text(code)])
    assert ok == Atom("ok"), tokens
    ok, exprs = await conn.rpc("erl_parse", "parse_exprs", [tokens])
    assert ok == Atom("ok"), exprs
    value = await conn.rpc("erl_eval", "exprs", [exprs, [(Atom(k), v) for k, v in sorted(bindings.items())]],
                           timeout=timeout)
    assert value[0] == Atom("value"), value
    return value[1]


async def test_eval_erl(erl_node_module):
    from elixir_scope.instrument.dist import Node

    async with Node() as node:
        conn = await node.connect(erl_node_module.name, cookie=erl_node_module.cookie)
        assert await eval_erl(conn, "X + 1.", X=41) == 42
        assert await eval_erl(conn, "F = fun(Y) -> Y * 2 end, F(21).") == 42
