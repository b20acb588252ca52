"""Names, MFAs, pids and terms in the syntax the user speaks: Elixir or Erlang.

``inspect`` prints a whole term; this module adds the pieces that tools print on their own -
a module or registered name, ``module:function/arity``, a pid - and picks the syntax once per
node: a node that runs the ``elixir`` application speaks Elixir, a pure Erlang node (RabbitMQ,
ejabberd) speaks Erlang, and ``--syntax`` overrides both.

=================  ==========================  =============================
what               elixir                      erlang
=================  ==========================  =============================
module / name      ``SampleApp.Cart``          ``'Elixir.SampleApp.Cart'``
                   ``:logger``                 ``logger``
MFA                ``SampleApp.Cart.add/3``    ``'Elixir.SampleApp.Cart':add/3``
                   ``:gen_server.loop/7``      ``gen_server:loop/7``
pid                ``#PID<0.123.0>``           ``<0.123.0>``
term               ``%{a: 1}``                 ``#{a => 1}``
=================  ==========================  =============================

::

    s = TermSyntax("erlang")
    s.mfa("rabbit_channel", "handle_cast", 2)  # 'rabbit_channel:handle_cast/2'

A tool that renders one recording prints everything in that recording's language for the
duration of a block::

    with printing(ERLANG):
        rows = [event_row(e) for e in events]   # terms, names and MFAs in Erlang syntax

``printing`` sets a context variable (``inspect.PRINT_SYNTAX``) that ``inspect`` and the
store's ``MFA`` read when given no syntax; it is restored when the block ends and does not
leak into other tasks (each asyncio task and each ``to_thread`` job has its own context).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from .inspect import PRINT_SYNTAX, Syntax, inspect
from .terms import Atom, Pid

__all__ = ["TermSyntax", "Syntax", "SyntaxChoice", "ELIXIR", "ERLANG", "choose", "printing", "in_force"]

SyntaxChoice = Literal["auto", "elixir", "erlang"]


@dataclass(frozen=True)
class TermSyntax:
    """Printing in one syntax, bounded like ``inspect`` (``limit`` items per collection,
    ``printable_limit`` characters per string)."""

    syntax: Syntax = "elixir"
    limit: int = 50
    printable_limit: int = 4096

    @property
    def erlang(self) -> bool:
        return self.syntax == "erlang"

    def term(self, value: Any, *, limit: int | None = None, printable_limit: int | None = None) -> str:
        return inspect(value, limit=self.limit if limit is None else limit,
                       printable_limit=self.printable_limit if printable_limit is None else printable_limit,
                       syntax=self.syntax)

    def name(self, name: str | Atom | None) -> str | None:
        """A module or registered name (``None`` stays ``None``)."""
        if name is None:
            return None
        return inspect(name if isinstance(name, Atom) else Atom(name), syntax=self.syntax)

    def module(self, module: str | Atom) -> str:
        """A module in call position: Elixir ``SampleApp.Cart`` / ``:lists``, Erlang ``lists``."""
        return self.name(module) or ""

    def function(self, function: str | Atom) -> str:
        text = inspect(function if isinstance(function, Atom) else Atom(function), syntax=self.syntax)
        if self.erlang:
            return text
        # Elixir: a plain function name prints bare after the dot (:add -> add, :"a b" -> "a b")
        return text[1:] if text.startswith(":") else text

    def mfa(self, module: str | Atom, function: str | Atom, arity: int) -> str:
        sep = ":" if self.erlang else "."
        return f"{self.module(module)}{sep}{self.function(function)}/{arity}"

    def pid(self, pid: Pid | str | None) -> str | None:
        if pid is None:
            return None
        text = str(pid)
        if self.erlang:
            return text.removeprefix("#PID")
        return text if text.startswith("#PID") else f"#PID{text}"


ELIXIR = TermSyntax("elixir")
ERLANG = TermSyntax("erlang")


def choose(choice: SyntaxChoice, *, node_runs_elixir: bool | None) -> TermSyntax:
    """The syntax for a node: ``choice`` when explicit; with ``auto``, Erlang for a node known
    not to run Elixir, else Elixir."""
    if choice == "erlang" or (choice == "auto" and node_runs_elixir is False):
        return ERLANG
    return ELIXIR


def in_force() -> TermSyntax:
    """The syntax of the enclosing ``printing`` block (Elixir outside any)."""
    return ERLANG if PRINT_SYNTAX.get() == "erlang" else ELIXIR


@contextmanager
def printing(syntax: TermSyntax) -> Iterator[TermSyntax]:
    """Print in ``syntax`` wherever no syntax is passed explicitly, until the block ends."""
    token = PRINT_SYNTAX.set(syntax.syntax)
    try:
        yield syntax
    finally:
        PRINT_SYNTAX.reset(token)
