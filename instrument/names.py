"""Names a user or a model typed, sent to the target without creating atoms there.

Every atom inside a term sent to a node is created on that node when the term is decoded, and
the atom table is never collected: sending ``Atom(name)`` for a typed name, once per call, can
fill the table and crash the node. So a typed name travels as a binary:

- to the agent, as ``{'$es_name', <<"Name">>}`` (:func:`name_term`); the agent resolves it
  with ``binary_to_existing_atom/2`` and reports names the node does not know;
- for agent-less calls, :func:`existing_atom` asks the node (``erlang:binary_to_existing_atom/2``
  over rpc) whether the atom exists, and only then is the ``Atom`` used in a request.

An unknown name is an :class:`UnknownNameError` naming it and the node.
"""

from __future__ import annotations

from typing import Any

from .dist import Connection
from .dist.errors import DistError, RpcError
from .etf import Atom, FrozenMap, Pid

__all__ = ["UnknownNameError", "display_name", "existing_atom", "literal_term", "name_term", "unknown_names",
           "whereis"]

_NAME_TAG = Atom("$es_name")
_UTF8 = Atom("utf8")


class UnknownNameError(DistError, LookupError):
    """A module, function or process the node does not know (nothing was created there)."""

    def __init__(self, names: list[tuple[str, str]], node: str) -> None:
        self.names = names
        self.node = node
        shown = ", ".join(f"no such {kind} `{display_name(n)}`" for kind, n in names[:10])
        more = f" (and {len(names) - 10} more)" if len(names) > 10 else ""
        super().__init__(f"{shown}{more} on node {node}: a module must be loaded (or loadable) "
                         "there, a function exist in it, a process be registered under that name")


def display_name(name: str) -> str:
    """``Elixir.Foo.Bar`` -> ``Foo.Bar``; Erlang names as they are."""
    return name.removeprefix("Elixir.")


def name_term(name: str) -> tuple:
    """A typed name as the agent expects it: ``{'$es_name', <<"Name">>}``."""
    if not isinstance(name, str):
        raise TypeError(f"a name is a str, got {type(name).__name__}")
    return (_NAME_TAG, name.encode("utf-8"))


def literal_term(term: Any) -> Any:
    """A typed literal (a Registry key, a match-spec constant) with every atom inside as a name
    term, for the agent to resolve (``resolve_literals``: an atom the node lacks becomes a
    value equal to nothing there)."""
    if isinstance(term, Atom):
        return name_term(term.name)
    if isinstance(term, tuple):
        return tuple(literal_term(x) for x in term)
    if isinstance(term, list):
        return [literal_term(x) for x in term]
    if isinstance(term, (dict, FrozenMap)):
        return {_hashable(literal_term(k)): literal_term(v) for k, v in term.items()}
    return term


def _hashable(key: Any) -> Any:
    return FrozenMap(key) if isinstance(key, dict) else key


async def existing_atom(conn: Connection, name: str | Atom, *, timeout: float = 5.0) -> Atom | None:
    """``Atom(name)`` if the node already has that atom, else None. Creates nothing there."""
    if isinstance(name, Atom):
        name = name.name
    raw = name.encode("utf-8")
    if not raw or len(raw) > 1020:  # longer than any atom can be
        return None
    try:
        found = await conn.rpc("erlang", "binary_to_existing_atom", [raw, _UTF8], timeout=timeout)
    except RpcError:
        return None
    if isinstance(found, Atom):
        return found
    if isinstance(found, bool):  # the codec maps true/false to bool
        return Atom("true" if found else "false")
    return None


async def whereis(conn: Connection, name: str | Atom, *, timeout: float = 5.0) -> Pid | None:
    """The pid registered under ``name`` on the node, or None (unknown name included)."""
    atom = await existing_atom(conn, name, timeout=timeout)
    if atom is None:
        return None
    found = await conn.rpc("erlang", "whereis", [atom], timeout=timeout)
    return found if isinstance(found, Pid) else None


def unknown_names(raw: Any) -> list[tuple[str, str]]:
    """The agent's ``[{Kind, Name}]`` report as ``[(kind, name)]`` text pairs."""
    out: list[tuple[str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, tuple) and len(item) == 2:
            kind, name = item
            out.append((_text(kind), _text(name)))
    return out


def _text(v: Any) -> str:
    if isinstance(v, Atom):
        return v.name
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, tuple):  # {Module, Function}
        return ".".join(_text(x) for x in v) if len(v) == 2 else repr(v)
    return repr(v)
