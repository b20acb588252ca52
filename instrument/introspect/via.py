"""Processes named the way an Elixir application names them: through a ``Registry`` or ``:global``.

Most dynamic processes of an Elixir app are reached by a via-name,
``{:via, Registry, {MyApp.Registry, "user-42"}}``, not a registered atom. The live tools take
the same tuple as text, or a ``ViaName`` built from a registry name and a key literal::

    parse_process_name('{:via, Registry, {MyApp.Registry, "user-42"}}')  # ViaName('Elixir.MyApp.Registry', b'user-42')
    parse_process_name("{:global, :ledger}")                                # GlobalName(Atom('ledger'))
    via_name("MyApp.Registry", '{:user, 42}')                             # ViaName(..., (Atom('user'), 42))

Erlang spelling works too (``{via, 'Elixir.Registry', {'Elixir.MyApp.Registry', <<"k">>}}``,
``{global, ledger}``). Nothing typed becomes an atom on the node: the registry name travels as a
binary, the key with its atoms as names (``names.literal_term``); the agent reads the registry's
own ETS tables with bounded selects. An atom the node does not have is in no key, so such a key
is "no such key", not a new atom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..etf import Atom
from ..literal_text import LiteralSyntaxError, parse_literal
from ..names import literal_term

__all__ = ["ViaName", "GlobalName", "ProcessName", "parse_process_name", "via_name", "via_request", "name_text"]

_REGISTRY = Atom("Elixir.Registry")
_FORMS = ('name a process by {:via, Registry, {MyApp.Registry, "key"}} or {:global, name} '
          "(or a registered name / pid)")


@dataclass(frozen=True)
class ViaName:
    """``{:via, Registry, {registry, key}}``: ``registry`` the module atom's text
    (``Elixir.MyApp.Registry``), ``key`` the parsed key term."""

    registry: str
    key: Any


@dataclass(frozen=True)
class GlobalName:
    """``{:global, name}``: ``name`` the parsed name term."""

    name: Any


ProcessName = ViaName | GlobalName


def _registry_text(registry: str) -> str:
    name = registry.strip().removeprefix(":")
    if not name:
        raise ValueError("name the Registry, e.g. MyApp.Registry")
    if name[:1].isupper() and not name.startswith("Elixir."):
        name = "Elixir." + name
    return name


def via_name(registry: str, key: str | int) -> ViaName:
    """A ``ViaName`` from a registry name (``MyApp.Registry``) and a key written as an Elixir
    literal (``"user-42"`` with its quotes, ``42``, ``{:user, 42}``); an int key as is."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise ValueError(f"a Registry key is an Elixir literal as text (e.g. '\"user-42\"'), got {key!r}")
    term = key if isinstance(key, int) else parse_literal(key)
    return ViaName(_registry_text(registry), term)


def parse_process_name(text: str) -> ProcessName | None:
    """The via or global name ``text`` writes, or None when it is not a tuple (a registered
    name or pid is for the caller). A tuple of another shape is a ``LiteralSyntaxError``."""
    t = text.strip()
    if not t.startswith("{"):
        return None
    term = parse_literal(t)
    if isinstance(term, tuple) and len(term) == 2 and term[0] == Atom("global"):
        return GlobalName(term[1])
    if isinstance(term, tuple) and len(term) == 3 and term[0] == Atom("via"):
        if term[1] != _REGISTRY:
            raise LiteralSyntaxError(f"via module {_show(term[1])} is not supported: only Elixir's "
                                     "Registry is read on the node; " + _FORMS)
        inner = term[2]
        if not (isinstance(inner, tuple) and len(inner) == 2 and isinstance(inner[0], Atom)):
            raise LiteralSyntaxError("a Registry via-name is {:via, Registry, {RegistryName, key}}")
        return ViaName(inner[0].name, inner[1])
    raise LiteralSyntaxError(f"{t!r} is not a process name: {_FORMS}")


def via_request(name: ProcessName) -> tuple:
    """The process reference the agent's ``live_proc`` takes for ``name``."""
    if isinstance(name, ViaName):
        return (Atom("via"), name.registry.encode("utf-8"), literal_term(name.key))
    return (Atom("global"), literal_term(name.name))


def name_text(name: ProcessName) -> str:
    """``name`` as a person would write it (Elixir syntax)."""
    from ..elixir_literal import render

    if isinstance(name, ViaName):
        return f"{{:via, Registry, {{{_show(Atom(name.registry))}, {render(name.key)}}}}}"
    return f"{{:global, {render(name.name)}}}"


def _show(a: Any) -> str:
    from ..elixir_literal import render

    return render(a)
