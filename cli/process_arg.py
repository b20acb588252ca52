"""How the live commands (``state``, ``mailbox``, ``process``) take a process: a pid, a
registered name, a via / global name tuple, or ``--via REGISTRY KEY`` for an Elixir Registry::

    elixir-scope state SampleApp.Cart
    elixir-scope state '{:via, Registry, {MyApp.Registry, "user-42"}}'
    elixir-scope state --via MyApp.Registry '"user-42"'      # the key as an Elixir literal
    elixir-scope mailbox --via MyApp.Registry '{:user, 42}'
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import CliError

HELP = ('registered name (SampleApp.Cart, :logger), pid (<0.123.0>) or via/global name '
        "('{:via, Registry, {MyApp.Registry, \"user-42\"}}', '{:global, :name}')")


def add_process_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("process", nargs="?", help=HELP)
    p.add_argument("--via", nargs=2, metavar=("REGISTRY", "KEY"),
                   help="an Elixir Registry and a key in it, the key as an Elixir literal: "
                        "--via MyApp.Registry '\"user-42\"' (a string needs its quotes), 42, :alice, '{:user, 42}'")


def process_of(args: argparse.Namespace) -> Any:
    """The process the command names (text, or a ``ViaName`` for ``--via``)."""
    from elixir_scope.mcp_server.targets import named_process

    registry, key = args.via if args.via else (None, None)
    if registry is None and not (args.process or "").strip():
        raise CliError("name a process: a registered name (SampleApp.Cart), a pid (<0.123.0>), a via tuple "
                       "('{:via, Registry, {MyApp.Registry, \"user-42\"}}') or --via REGISTRY KEY",
                       "e.g. elixir-scope state --via MyApp.Registry '\"user-42\"'")
    try:
        return named_process(args.process, registry, key)
    except ValueError as exc:
        raise CliError(str(exc).replace("registry + key", "--via REGISTRY KEY"),
                       "e.g. elixir-scope state --via MyApp.Registry '\"user-42\"'") from exc


def process_text(who: Any) -> str:
    """The process as the user named it, for titles."""
    if isinstance(who, str):
        return who.strip()
    from elixir_scope.instrument.introspect.via import name_text

    return name_text(who)
