"""Which syntax a node's terms are printed in, decided once per node and server.

``ServerConfig.syntax`` ``elixir`` or ``erlang`` forces it; ``auto`` asks the node whether it
runs the ``elixir`` application (``application:which_applications/0``, which creates no atom)
and prints Erlang for a pure Erlang node (RabbitMQ, ejabberd), Elixir otherwise.

A recording is printed in the language of the node it was made on, told by the names it holds
(``store.language``: a pure Erlang node has no ``Elixir.`` module) unless forced the same way;
``recording_syntax`` gives it, and the tools render inside ``printing(...)`` so every term,
registered name and MFA of the result follows.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.syntax import ELIXIR, TermSyntax, choose

__all__ = ["node_syntax", "runs_elixir", "recording_syntax"]


async def runs_elixir(conn: Any, timeout: float = 5.0) -> bool | None:
    """True/False when the node says (within ``timeout`` s); None when it could not be asked."""
    try:
        apps = await conn.rpc("application", "which_applications", [], timeout=timeout)
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


def recording_syntax(choice: str, rec: Any) -> TermSyntax:
    """The syntax a recording prints in: ``choice`` (``ServerConfig.syntax`` / ``--syntax``)
    when explicit, else by the names the recording holds (Elixir when it holds none)."""
    if choice != "auto":
        return choose(choice, node_runs_elixir=None)
    from elixir_scope.store.language import recording_runs_elixir

    runs = recording_runs_elixir(rec)
    return choose("auto", node_runs_elixir=runs) if runs is not None else ELIXIR
