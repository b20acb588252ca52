"""Tokens of a trace spec, in Elixir or Erlang syntax (scan -> parse -> generate)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SpecError

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?)
  | (?P<int>\d+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<qatom>'(?:[^'\\]|\\.)*')
  | (?P<colonatom>:(?:[a-z_][\w@]*[?!]?|"(?:[^"\\]|\\.)*"))
  | (?P<name>[A-Za-z_][\w@]*[?!]?)
  | (?P<op>::|:=|<<|>>|===|!==|=:=|=/=|==|!=|/=|=<|<=|>=|=>|->|\|\||&&|[<>+\-*/=!|,;.(){}\[\]%\#:])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # int float str qatom colonatom name op end
    value: str
    pos: int


def scan(text: str, syntax: str = "elixir") -> list[Token]:
    """Tokens of ``text``; ``:name`` is one atom token in Elixir, ``:`` then a name in Erlang."""
    out: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is not None and m.lastgroup == "colonatom" and syntax == "erlang":
            out.append(Token("op", ":", i))
            i += 1
            continue
        if m is None:
            raise SpecError(f"unexpected character {text[i]!r}", text=text, pos=i,
                            hint="a spec looks like MyApp.Cart.add/2 or cart:add(X, Y) when Y > 1")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, m.group(), i))
        i = m.end()
    out.append(Token("end", "", len(text)))
    return out


def unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
