"""Which syntax a node's terms are printed in, decided once per node and server.

``ServerConfig.syntax`` ``elixir`` or ``erlang`` forces it; ``auto`` asks the node whether it
runs the ``elixir`` application (``application:which_applications/0``, which creates no atom)
and prints Erlang for a pure Erlang node (RabbitMQ, ejabberd), Elixir otherwise.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.syntax import ELIXIR, TermSyntax, choose

__all__ = ["node_syntax", "runs_elixir"]


async def runs_elixir(conn: Any) -> bool | None:
    """True/False when the node says; None when it could not be asked."""
    try:
        apps = await conn.rpc("application", "which_applications", [], timeout=5.0)
    except Exception:  # the syntax is a nicety: a failure here must not fail the tool
        return None
    return any(isinstance(a, tuple) and a and a[0] == Atom("elixir") for a in apps or [])


async def node_syntax(state: Any, conn: Any) -> TermSyntax:
    """The syntax for ``conn``'s node under ``state.config.syntax`` (cached per node)."""
    choice = getattr(state.config, "syntax", "auto")
    if choice != "auto":
        return choose(choice, node_runs_elixir=None)
    key = f"runs_elixir:{conn.node_name}"
    if key not in state.cache:
        state.cache[key] = await runs_elixir(conn)
    return choose("auto", node_runs_elixir=state.cache[key]) if state.cache[key] is not None else ELIXIR
