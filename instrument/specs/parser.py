"""Parse trace spec tokens into a small syntax tree (Elixir or Erlang flavour).

Elixir (rexbug-like)::   MyApp.Cart.add(item, price) when price > 100 :: return
Erlang (redbug-like)::   cart:add(X, Y) when Y > 100 -> return

Tree nodes are tuples: ``("var", name)``, ``("wild",)``, ``("lit", value)``,
``("tuple", [..])``, ``("list", [..], tail)``, ``("map", [(key, value)])``,
``("op", op, left, right)``, ``("not", expr)``, ``("neg", expr)``, ``("call", name, [args])``,
``("in", expr, [values])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..etf import Atom, Charlist
from .errors import SpecError
from .scanner import Token, scan, unquote

_HINT_SHAPE = ("write Module.function/arity, Module.function(args) when guard :: return "
               "(Elixir) or module:function/arity, module:function(Args) when Guard -> return (Erlang)")


def _alias(parts: list[str]) -> str:
    """An Elixir alias as the module atom: ``MyApp.Bus`` and ``Elixir.MyApp.Bus`` are both
    ``:"Elixir.MyApp.Bus"`` (Elixir itself reads a leading ``Elixir.`` as the prefix)."""
    if parts and parts[0] == "Elixir" and len(parts) > 1:
        parts = parts[1:]
    return "Elixir." + ".".join(parts)


@dataclass

class ParsedSpec:
    syntax: str  # "elixir" | "erlang"
    module: str
    function: str | None = None
    arity: int | None = None
    args: list | None = None
    guard: Any = None
    actions: list[str] = field(default_factory=list)


def detect_syntax(text: str) -> str:
    """Erlang specs start with an atom (``cart:add``, ``'Elixir.Foo':bar``); Elixir ones with an
    alias (``MyApp.Cart``) or an atom literal (``:ets``)."""
    s = text.lstrip()
    if s[:1] == "'" or (s[:1].islower() and s[:1].isalpha()):
        return "erlang"
    return "elixir"


class Parser:
    def __init__(self, text: str, syntax: str | None = None) -> None:
        self.text = text
        self.syntax = syntax or detect_syntax(text)
        if self.syntax not in ("elixir", "erlang"):
            raise SpecError(f"unknown syntax {self.syntax!r}", hint="use 'elixir' or 'erlang'")
        self.toks = scan(text, self.syntax)
        if self.toks[0].kind == "end":
            raise SpecError("empty trace spec", text=text, pos=0, hint=_HINT_SHAPE)
        self.i = 0

    # -- helpers --------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, n: int = 1) -> Token:
        return self.toks[min(self.i + n, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg: str, hint: str = "", tok: Token | None = None) -> SpecError:
        t = tok or self.tok
        return SpecError(msg, text=self.text, pos=t.pos, hint=hint)

    def expect(self, value: str, hint: str = "") -> Token:
        if self.tok.value != value or self.tok.kind not in ("op", "name"):
            got = self.tok.value or "end of spec"
            raise self.error(f"expected {value!r}, got {got!r}", hint)
        return self.take()

    def is_op(self, *values: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in values

    def is_word(self, *values: str) -> bool:
        return self.tok.kind == "name" and self.tok.value in values

    # -- the spec ------------------------------------------------------------------------
    def parse(self) -> ParsedSpec:
        spec = self.parse_elixir_head() if self.syntax == "elixir" else self.parse_erlang_head()
        if self.is_op("/"):
            self.take()
            if self.tok.kind != "int":
                raise self.error("expected an arity (an integer) after '/'", _HINT_SHAPE)
            spec.arity = int(self.take().value)
        elif self.is_op("("):
            if spec.function is None:
                raise self.error("arguments need a function name before them", _HINT_SHAPE)
            self.take()
            spec.args = self.sequence(")", self.pattern)
            spec.arity = len(spec.args)
        if self.is_word("when"):
            if spec.args is None:
                raise self.error("a guard needs an argument list to refer to",
                                 "name the arguments: Mod.fun(a, b) when b > 1")
            self.take()
            spec.guard = self.guard_top()
        if self.is_op("::", "->"):
            sep = self.take()
            want = "::" if self.syntax == "elixir" else "->"
            if sep.value != want:
                raise self.error(f"{self.syntax} specs put actions after {want!r}", tok=sep)
            spec.actions = self.actions()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.value!r}", _HINT_SHAPE)
        return spec

    def parse_elixir_head(self) -> ParsedSpec:
        t = self.tok
        if t.kind == "colonatom":
            self.take()
            module = unquote(t.value[1:]) if t.value[1] == '"' else t.value[1:]
        elif t.kind == "name" and t.value[0].isupper():
            parts = [self.take().value]
            while self.is_op(".") and self.peek().kind == "name" and self.peek().value[0].isupper():
                self.take()
                parts.append(self.take().value)
            module = _alias(parts)
        elif t.kind == "name" and t.value == "_":
            self.take()
            module = "_"
        else:
            raise self.error("expected a module (MyApp.Cart or :ets)", _HINT_SHAPE)
        spec = ParsedSpec("elixir", module)
        if self.is_op("."):
            self.take()
            if self.tok.kind != "name" or self.tok.value[0].isupper():
                raise self.error("expected a function name after '.'", _HINT_SHAPE)
            spec.function = self.take().value
        return spec

    def parse_erlang_head(self) -> ParsedSpec:
        module = self.erlang_atom("a module name")
        spec = ParsedSpec("erlang", module)
        if self.is_op(":"):
            self.take()
            spec.function = self.erlang_atom("a function name")
        return spec

    def erlang_atom(self, what: str) -> str:
        t = self.tok
        if t.kind == "qatom":
            self.take()
            return unquote(t.value)
        if t.kind == "name" and (t.value[0].islower() or t.value == "_"):
            self.take()
            return t.value
        raise self.error(f"expected {what} (an atom)", _HINT_SHAPE)

    def actions(self) -> list[str]:
        acts = []
        while True:
            if self.tok.kind != "name":
                raise self.error("expected an action", "the supported action is: return")
            name = self.take()
            if name.value != "return":
                raise self.error(f"unknown action {name.value!r}", "the supported action is: return", tok=name)
            acts.append(name.value)
            if not self.is_op(";", ","):
                return acts
            self.take()

    def sequence(self, close: str, item) -> list:
        items = []
        if self.is_op(close):
            self.take()
            return items
        while True:
            items.append(item())
            if self.is_op(","):
                self.take()
                continue
            self.expect(close, f"close with {close!r}")
            return items

    # -- patterns ------------------------------------------------------------------------
    def pattern(self) -> tuple:
        t = self.tok
        if t.kind == "name":
            v = t.value
            if v == "_" or (v.startswith("_") and len(v) > 1):
                self.take()
                return ("wild",)
            if self.syntax == "elixir":
                if v in ("nil", "true", "false"):
                    self.take()
                    return ("lit", {"nil": Atom("nil"), "true": True, "false": False}[v])
                if v[0].islower():
                    self.take()
                    return ("var", v)
                if v[0].isupper():  # an alias is an atom: MyApp.Bus is :"Elixir.MyApp.Bus"
                    parts = [self.take().value]
                    while self.is_op(".") and self.peek().kind == "name" and self.peek().value[0].isupper():
                        self.take()
                        parts.append(self.take().value)
                    return ("lit", Atom(_alias(parts)))
            else:
                if v[0].isupper():
                    self.take()
                    return ("var", v)
                self.take()
                return ("lit", True if v == "true" else False if v == "false" else Atom(v))
        return self.literal_or_compound(self.pattern)

    def number(self, t: Token) -> int | float:
        if t.kind == "int":
            if len(t.value.lstrip("-")) > 100:
                raise self.error("an integer literal of more than 100 digits is not a sensible trace pattern")
            return int(t.value)
        value = float(t.value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(f"the float {t.value} is out of range (the BEAM has no infinite floats)")
        return value

    def literal_or_compound(self, sub) -> tuple:
        t = self.tok
        if t.kind in ("int", "float"):
            self.take()
            return ("lit", self.number(t))
        if self.is_op("-") and self.peek().kind in ("int", "float"):
            self.take()
            return ("lit", -self.number(self.take()))
        if t.kind == "str":
            self.take()
            s = unquote(t.value)
            return ("lit", s.encode() if self.syntax == "elixir" else Charlist(ord(c) for c in s))
        if t.kind == "colonatom" and self.syntax == "elixir":
            self.take()
            return ("lit", Atom(unquote(t.value[1:]) if t.value[1] == '"' else t.value[1:]))
        if t.kind == "qatom" and self.syntax == "erlang":
            self.take()
            return ("lit", Atom(unquote(t.value)))
        if self.is_op("<<") and self.syntax == "erlang":
            self.take()
            if self.tok.kind != "str":
                raise self.error("only <<\"text\">> binaries are supported in specs")
            s = unquote(self.take().value)
            self.expect(">>")
            return ("lit", s.encode())
        if self.is_op("{"):
            self.take()
            return ("tuple", self.sequence("}", sub))
        if self.is_op("["):
            self.take()
            items, tail = [], None
            if self.is_op("]"):
                self.take()
                return ("list", items, None)
            while True:
                items.append(sub())
                if self.is_op(","):
                    self.take()
                    continue
                if self.is_op("|"):
                    self.take()
                    tail = sub()
                self.expect("]", "close the list with ']'")
                return ("list", items, tail)
        if (self.is_op("%") and self.syntax == "elixir") or (self.is_op("#") and self.syntax == "erlang"):
            self.take()
            self.expect("{", "a map is %{key: value} (Elixir) or #{key => Value} (Erlang)")
            return ("map", self.sequence("}", lambda: self.map_pair(sub)))
        raise self.error(f"unexpected {t.value or 'end of spec'!r} in an argument pattern",
                         "patterns are variables, _, literals, tuples, lists and maps")

    def map_pair(self, sub) -> tuple:
        if self.syntax == "elixir" and self.tok.kind == "name" and self.peek().value == ":":
            key = ("lit", Atom(self.take().value))
            self.take()
            return (key, sub())
        key = self.literal_or_compound(sub) if self.tok.kind != "name" else self.pattern()
        if key[0] != "lit":
            raise self.error("map keys in a spec must be literals")
        if not self.is_op("=>", ":="):
            raise self.error("expected '=>' in a map pair")
        self.take()
        return (key, sub())

    # -- guards --------------------------------------------------------------------------
    def guard_top(self) -> tuple:
        if self.syntax == "erlang":
            alts = [self.guard_seq()]
            while self.is_op(";"):
                self.take()
                alts.append(self.guard_seq())
            return _fold("orelse", alts)
        return self.g_or()

    def guard_seq(self) -> tuple:
        items = [self.g_or()]
        while self.is_op(","):
            self.take()
            items.append(self.g_or())
        return _fold("andalso", items)

    def g_or(self) -> tuple:
        left = self.g_and()
        while self.is_word("or", "orelse") or self.is_op("||"):
            self.take()
            left = ("op", "orelse", left, self.g_and())
        return left

    def g_and(self) -> tuple:
        left = self.g_cmp()
        while self.is_word("and", "andalso") or self.is_op("&&"):
            self.take()
            left = ("op", "andalso", left, self.g_cmp())
        return left

    _CMP: ClassVar[dict[str, dict[str, str]]] = {"elixir": {"==": "==", "!=": "/=", "===": "=:=", "!==": "=/=", "<": "<", ">": ">",
                       "<=": "=<", ">=": ">="},
            "erlang": {"==": "==", "/=": "/=", "=:=": "=:=", "=/=": "=/=", "<": "<", ">": ">",
                       "=<": "=<", ">=": ">="}}

    def g_cmp(self) -> tuple:
        left = self.g_add()
        table = self._CMP[self.syntax]
        if self.tok.kind == "op" and self.tok.value in table:
            op = table[self.take().value]
            return ("op", op, left, self.g_add())
        if self.tok.kind == "op" and self.tok.value in ("<=", "=<", "!=", "/=", "===", "!==", "=:=", "=/="):
            raise self.error(f"{self.tok.value!r} is not a {self.syntax} comparison",
                             "Elixir: == != === !== < > <= >=; Erlang: == /= =:= =/= < > =< >=")
        if self.is_word("in") and self.syntax == "elixir":
            self.take()
            lst = self.literal_or_compound(self.g_primary)
            if lst[0] != "list" or lst[2] is not None or any(x[0] != "lit" for x in lst[1]):
                raise self.error("'in' needs a literal list: x in [1, 2, 3]")
            return ("in", left, [x[1] for x in lst[1]])
        return left

    def g_add(self) -> tuple:
        left = self.g_mul()
        while self.is_op("+", "-"):
            op = self.take().value
            left = ("op", op, left, self.g_mul())
        return left

    def g_mul(self) -> tuple:
        left = self.g_unary()
        while self.is_op("*", "/") or self.is_word("div", "rem"):
            op = self.take().value
            left = ("op", op, left, self.g_unary())
        return left

    def g_unary(self) -> tuple:
        if self.is_word("not") or self.is_op("!"):
            self.take()
            return ("not", self.g_unary())
        if self.is_op("-") and self.peek().kind not in ("int", "float"):
            self.take()
            return ("neg", self.g_unary())
        return self.g_primary()

    def g_primary(self) -> tuple:
        t = self.tok
        if self.is_op("("):
            self.take()
            e = self.g_or()
            self.expect(")")
            return e
        if t.kind == "name" and self.peek().value == "(" and self.peek().kind == "op":
            self.take()
            self.take()
            return ("call", t.value, self.sequence(")", self.g_or))
        if t.kind == "name" and (self.syntax == "elixir" and t.value[0].islower() and t.value not in ("nil", "true", "false")
                                 or self.syntax == "erlang" and t.value[0].isupper()):
            self.take()
            return ("var", t.value)
        return self.pattern_literal()

    def pattern_literal(self) -> tuple:
        p = self.pattern() if self.tok.kind == "name" else self.literal_or_compound(self.g_or)
        if p[0] == "wild":
            raise self.error("'_' cannot be used in a guard")
        return p


def _fold(op: str, items: list) -> tuple:
    out = items[0]
    for it in items[1:]:
        out = ("op", op, out, it)
    return out


def parse(text: str, syntax: str | None = None) -> ParsedSpec:
    return Parser(text, syntax).parse()
