"""Decoded ETF terms as Elixir *source*: expressions that evaluate back to the same term.

``etf.inspect`` prints terms for people (and shortens them); this module writes terms into
code — a generated ExUnit test has to rebuild the exact recorded state and messages, so
every rendering here round-trips: ``Code.eval_string(render(t)) == t`` on a real node
(``tests/test_replay_literal.py`` checks it, property-based).

Terms that have no literal — pids, references, ports, local funs — become stand-in
variables (``pid_1``, ``ref_1`` …). The same recorded pid always becomes the same variable,
so identity inside the term survives (a map keyed by monitor refs keeps distinct keys).
``Literal.bindings`` gives the lines that bind them, each with a comment saying what it
stands for and why it is only a stand-in::

    lit = Literal()
    lit.render({Atom("ok"), pid})          # '{:ok, pid_1}'
    lit.bindings                           # [Binding('pid_1', 'spawn(fn -> ... end)', '#PID<0.150.0> ...')]

Rules (Elixir 1.14 syntax): ``nil``/``true``/``false``; ``:atom`` or ``:"quoted atom"``;
``Module.Alias`` for ``Elixir.``-prefixed atoms; integers; floats always with a ``.`` and
an exponent as ``1.0e16``; binaries as ``"strings"`` when valid UTF-8 (escaping ``"``, ``\\``,
``#{`` and control characters), else ``<<1, 2>>``; bitstrings ``<<1, 5::size(3)>>``;
charlists of printable ASCII as ``~c"abc"`` (valid on every Elixir version), other lists as
``[...]``; keyword lists ``[a: 1]``; improper lists ``[1 | 2]``; maps ``%{a: 1}`` or
``%{"k" => v}``; structs ``%Mod{field: v}`` (``__struct__``/``__exception__`` left to the
struct's defaults — the struct module must be loaded where the code compiles); external funs
``&Mod.fun/2``.

A truncated term (``'$truncated'``, from a capture's ``max_term_bytes``) cannot be written
back: ``LiteralError`` says so. A redacted value (``'[REDACTED]'``) is written as that atom
and listed in ``Literal.redacted`` so a generator can warn.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .etf import (
    Atom,
    BitBinary,
    Charlist,
    ExactKey,
    Export,
    FrozenList,
    FrozenMap,
    Fun,
    ImproperList,
    Pid,
    Port,
    Ref,
)

__all__ = ["Literal", "Binding", "LiteralError", "render", "atom_source", "module_source"]

TRUNCATED = Atom("$truncated")
REDACTED = Atom("[REDACTED]")

_PLAIN_ATOM = re.compile(r"^[a-z_][a-zA-Z0-9_@]*[?!]?$")
_ALIAS_PART = re.compile(r"^[A-Z][a-zA-Z0-9_]*$")
_KEY_ATOM = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_@]*[?!]?$")
# Atoms Elixir reads differently or reserves: always quote them.
_RESERVED = {"true", "false", "nil", "when", "and", "or", "not", "in", "fn", "do", "end",
             "catch", "rescue", "after", "else"}


class LiteralError(ValueError):
    """The term cannot be written as Elixir source (the message says where and why)."""


@dataclass(frozen=True)
class Binding:
    """``name = expr`` to put before the code that uses ``name``; ``stands_for`` is the
    recorded term it replaces (for a comment)."""

    name: str
    expr: str
    stands_for: str

    @property
    def line(self) -> str:
        return f"{self.name} = {self.expr}"


@dataclass
class Literal:
    """A renderer that remembers the stand-ins it introduced (shared across calls, so one
    pid used in the state and in a message is one variable)."""

    structs: bool = True  # False: write structs as %{__struct__: Mod, ...} (no compile-time check)
    bindings: list[Binding] = field(default_factory=list)
    redacted: int = 0
    _names: dict[Any, str] = field(default_factory=dict)

    def render(self, term: Any) -> str:
        return self._term(term, "")

    # -- stand-ins ------------------------------------------------------------------
    def _stand_in(self, term: Any, kind: str, expr: str, shown: str) -> str:
        name = self._names.get(term)
        if name is None:
            name = f"{kind}_{sum(1 for b in self.bindings if b.name.startswith(kind + '_')) + 1}"
            self._names[term] = name
            self.bindings.append(Binding(name, expr, shown))
        return name

    # -- dispatch ----------------------------------------------------------------------
    def _term(self, t: Any, path: str) -> str:
        tt = type(t)
        if t is TRUNCATED or (tt is tuple and len(t) == 3 and t[0] is TRUNCATED):
            raise LiteralError(
                f"the term was truncated by the capture at {path or 'the top'}; it cannot be "
                "written back as code. Record again with a larger max_term_bytes")
        if tt is bool:
            return "true" if t else "false"
        if tt is Atom:
            if t is REDACTED:
                self.redacted += 1
            return atom_source(t)
        if tt is int:
            return str(t)
        if tt is float:
            return _float(t)
        if tt is bytes:
            return _binary(t)
        if tt is BitBinary:
            return _bitstring(t)
        if tt is tuple:
            return "{" + ", ".join(self._term(x, f"{path}{{{i}}}") for i, x in enumerate(t)) + "}"
        if tt is Charlist or tt is list or tt is FrozenList:
            return self._list(list(t), path)
        if tt is ImproperList:
            head = ", ".join(self._term(x, f"{path}[{i}]") for i, x in enumerate(t.items))
            return f"[{head} | {self._term(t.tail, path + '|')}]"
        if tt is dict:
            return self._map(list(t.items()), path)
        if tt is FrozenMap:
            return self._map(list(t.items()), path)
        if tt is ExactKey:
            return self._term(t.term, path)
        if tt is Export:
            if _PLAIN_ATOM.match(t.function.name) and t.function.name not in _RESERVED:
                return f"&{module_source(t.module)}.{t.function.name}/{t.arity}"
            return f"Function.capture({module_source(t.module)}, {atom_source(t.function)}, {t.arity})"
        if tt is Pid:
            return self._stand_in(t, "pid", "spawn(fn -> Process.sleep(:infinity) end)",
                                     f"#PID<{t.id}.{t.serial}> of {t.node}")
        if tt is Ref:
            return self._stand_in(t, "ref", "make_ref()", str(t).replace("#Ref", "#Reference"))
        if tt is Port:
            return self._stand_in(t, "port", 'Port.open({:spawn, "cat"}, [])', str(t))
        if tt is Fun:
            args = ", ".join(f"_a{i}" for i in range(t.arity))
            body = f'raise "ElixirScope: stands for an anonymous function of {_safe_module(t)}; it cannot be rebuilt"'
            return self._stand_in(t, "fun", f"fn {args} -> {body} end" if args else f"fn -> {body} end",
                                     f"#Function<{_safe_module(t)}/{t.arity}>")
        raise LiteralError(f"cannot write a {tt.__name__} at {path or 'the top'} as Elixir source: {t!r}")

    def _list(self, items: list, path: str) -> str:
        if not items:
            return "[]"
        if all(type(x) is int and 32 <= x < 127 for x in items):
            return '~c"' + _escape("".join(map(chr, items))) + '"'
        if all(type(x) is tuple and len(x) == 2 and type(x[0]) is Atom and _keyword_key(x[0]) for x in items):
            return "[" + ", ".join(
                f"{_keyword_key(k)} {self._term(v, f'{path}[{k.name}]')}" for k, v in items) + "]"
        return "[" + ", ".join(self._term(x, f"{path}[{i}]") for i, x in enumerate(items)) + "]"

    def _map(self, pairs: list[tuple[Any, Any]], path: str) -> str:
        if any(_key(k) is TRUNCATED for k, _ in pairs):
            raise LiteralError(
                f"the map at {path or 'the top'} was truncated by the capture (entries dropped); "
                "it cannot be written back as code. Record again with a larger max_term_bytes")
        struct = next((v for k, v in pairs if _key(k) is Atom("__struct__")), None)
        prefix = "%{"
        if self.structs and type(struct) is Atom and struct.name.startswith("Elixir.") and _is_alias(struct.name[7:]):
            prefix = "%" + module_source(struct) + "{"
            pairs = [(k, v) for k, v in pairs if _key(k) not in (Atom("__struct__"), Atom("__exception__"))]
        if not pairs:
            return prefix + "}"
        keys = [_key(k) for k, _ in pairs]
        if all(type(k) is Atom and _keyword_key(k) for k in keys):
            body = ", ".join(f"{_keyword_key(k)} {self._term(v, f'{path}.{k.name}')}"
                             for k, (_, v) in zip(keys, pairs))
        else:
            body = ", ".join(f"{self._term(k, path + '<key>')} => {self._term(v, f'{path}[{i}]')}"
                             for i, (k, v) in enumerate(pairs))
        return prefix + body + "}"


def render(term: Any) -> str:
    """One term as source, refusing stand-ins (for terms known to hold none)."""
    lit = Literal()
    out = lit.render(term)
    if lit.bindings:
        names = ", ".join(b.stands_for for b in lit.bindings)
        raise LiteralError(f"the term holds values with no literal ({names}); use Literal() and its bindings")
    return out


def _key(k: Any) -> Any:
    return k.term if type(k) is ExactKey else k


def _is_alias(text: str) -> bool:
    return bool(text) and all(_ALIAS_PART.match(p) for p in text.split("."))


def module_source(a: Atom) -> str:
    """``'Elixir.Foo.Bar'`` → ``Foo.Bar``; an Erlang module → ``:lists``."""
    if a.name.startswith("Elixir.") and _is_alias(a.name[7:]):
        return a.name[7:]
    return atom_source(a)


def atom_source(a: Atom) -> str:
    name = a.name
    if name in ("nil", "true", "false"):
        return name
    if name.startswith("Elixir.") and _is_alias(name[7:]):
        return name[7:]
    if _PLAIN_ATOM.match(name) and name not in _RESERVED:
        return ":" + name
    return ':"' + _escape(name) + '"'


def _keyword_key(a: Atom) -> str | None:
    """``a:`` / ``"with space":`` for keyword syntax, or None when the atom cannot be a key."""
    name = a.name
    if _KEY_ATOM.match(name) and not name[0].isupper():
        return name + ":"
    return '"' + _escape(name) + '":'


def _safe_module(f: Fun) -> str:
    try:
        return module_source(f.module)
    except Exception:  # an odd encoding only loses the comment text, never the code
        return "?"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f",
            "\v": "\\v", "\b": "\\b", "\a": "\\a", "\x1b": "\\e"}


def _escape(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "#" and text[i + 1:i + 2] == "{":
            out.append("\\#")
        elif ord(ch) < 32 or ord(ch) == 127 or 0x80 <= ord(ch) < 0xA0 or not ch.isprintable():
            out.append("\\u{%X}" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def _binary(b: bytes) -> str:
    try:
        text = b.decode("utf-8")
    except UnicodeDecodeError:
        return "<<" + ", ".join(map(str, b)) + ">>"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return "<<" + ", ".join(map(str, b)) + ">>"
    return '"' + _escape(text) + '"'


def _bitstring(b: BitBinary) -> str:
    whole = list(b.data[:-1])
    last = b.data[-1] >> (8 - b.bits)
    return "<<" + ", ".join([*map(str, whole), f"{last}::size({b.bits})"]) + ">>"


def _float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise LiteralError(f"{x} is not an Erlang float")
    text = repr(x)
    mant, _, exp = text.partition("e")
    if "." not in mant:
        mant += ".0"
    return f"{mant}e{int(exp)}" if exp else mant
