"""Reading a term a person or a model typed: an Elixir (or Erlang) literal -> a decoded term.

``elixir_literal`` writes terms as Elixir source; this is the other direction, for the few
places where a user names something by a term (a Registry key, a ``:global`` name)::

    parse_literal('"user-42"')            # b'user-42'
    parse_literal("{:user, 42}")          # (Atom('user'), 42)
    parse_literal("{user, <<\\"a\\">>}")     # Erlang: (Atom('user'), b'a')

It reuses the trace-spec scanner and pattern parser (``instrument.specs``), so the accepted
forms are those of a spec argument: atoms (``:ok``, ``MyApp.Mod``, ``nil``/``true``/``false``),
integers, floats, strings (binaries in Elixir, charlists in Erlang), tuples, lists and maps.
Variables and ``_`` are refused: a literal names one term. The result may hold atoms the target
does not have: send it with ``names.literal_term`` so they travel as names, never as atoms.
"""

from __future__ import annotations

from typing import Any

from .etf import FrozenMap
from .specs.errors import SpecError
from .specs.parser import Parser, detect_syntax

__all__ = ["LiteralSyntaxError", "parse_literal", "MAX_LITERAL_CHARS"]

#: longest literal accepted (a name, not a document)
MAX_LITERAL_CHARS = 2000

_FORMS = ('a string key needs its quotes ("user-42"); other literals: 42, :alice, '
          'MyApp.Worker, {:user, 42}, [1, 2], %{id: 7}')


class LiteralSyntaxError(ValueError):
    """Text that is not a literal term; the message says where and what would be one."""


def parse_literal(text: str, syntax: str | None = None) -> Any:
    """The term ``text`` writes (Elixir syntax, or Erlang where that is what it is written in)."""
    if not isinstance(text, str) or not text.strip():
        raise LiteralSyntaxError(f"an empty literal: write a term, e.g. {_FORMS}")
    if len(text) > MAX_LITERAL_CHARS:
        raise LiteralSyntaxError(f"a literal of {len(text)} characters is too long (at most {MAX_LITERAL_CHARS})")
    tries = [syntax] if syntax else ["elixir", "erlang"] if detect_syntax(text) == "elixir" else ["erlang", "elixir"]
    first: Exception | None = None
    for flavour in tries:
        try:
            return _parse(text, flavour)
        except (SpecError, LiteralSyntaxError) as exc:
            first = first or exc
    msg = first.message if isinstance(first, SpecError) else str(first)
    raise LiteralSyntaxError(f"{text.strip()!r} is not a literal term: {msg}; {_FORMS}") from first


def _parse(text: str, syntax: str) -> Any:
    p = Parser(text, syntax)
    tree = p.pattern()
    if p.tok.kind != "end":
        raise p.error(f"unexpected {p.tok.value!r} after the literal")
    return _term(tree)


def _term(node: tuple) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "tuple":
        return tuple(_term(x) for x in node[1])
    if kind == "list":
        if node[2] is not None:
            raise LiteralSyntaxError("an improper list [a | b] is not supported")
        return [_term(x) for x in node[1]]
    if kind == "map":
        return FrozenMap({_term(k): _term(v) for k, v in node[1]})
    if kind == "var":
        raise LiteralSyntaxError(f"{node[1]} is a variable, not a value")
    if kind == "wild":
        raise LiteralSyntaxError("_ matches anything; name one value")
    raise LiteralSyntaxError(f"a {kind} is not a literal")
