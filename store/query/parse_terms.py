"""Parsing of Elixir term patterns and `where` conditions (the lower half of the parser).

`TermParser` holds the token stream and the helpers every rule uses (`peek`, `expect`,
`fail`); `parser.QueryParser` builds the clauses and pipeline on top of it.
"""

from __future__ import annotations

from .errors import QuerySyntaxError
from .lexer import Token
from .nodes import (
    And, Compare, Cond, FieldRef, Not, Or, PAtom, PathIndex, PathKey, Pattern, PBin, PList,
    PMap, PNum, PPid, PTuple, PWild,
)
from .vocab import FIELDS, METADATA_FIELDS, TIME_FIELDS, did_you_mean

__all__ = ["TermParser"]

COMPARE_OPS = ("=", "==", "!=", "<", "<=", ">", ">=", "~", "=~")
#: words that end a condition (the next clause or step begins)
STOP_WORDS = frozenset({
    "where", "in", "of", "on", "last", "from", "to", "within", "same", "then", "without",
    "never", "limit", "and", "or",
})


class TermParser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0

    # ------------------------------------------------------------ stream helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def at_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "OP" and tok.value in ops

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "IDENT" and tok.value in words

    def fail(self, message: str, tok: Token | None = None, suggestion: str | None = None,
             start: int | None = None, end: int | None = None) -> QuerySyntaxError:
        tok = tok or self.peek()
        s = tok.start if start is None else start
        e = tok.end if end is None else end
        return QuerySyntaxError(message, self.text, s, e, suggestion)

    def describe(self, tok: Token) -> str:
        if tok.kind == "EOF":
            return "the end of the query"
        return repr(self.text[tok.start:tok.end])

    def expect_op(self, op: str, what: str, suggestion: str | None = None) -> Token:
        if not self.at_op(op):
            tok = self.peek()
            raise self.fail(f"expected {what}, found {self.describe(tok)}", tok,
                            suggestion or f"add '{op}'")
        return self.advance()

    def expect_word(self, word: str, suggestion: str | None = None) -> Token:
        if not self.at_word(word):
            tok = self.peek()
            raise self.fail(f"expected '{word}', found {self.describe(tok)}", tok,
                            suggestion or f"add '{word}'")
        return self.advance()

    def duration(self, what: str = "a duration") -> int:
        """A DURATION token (`500ms`), or a number followed by a unit word (`500 ms`)."""
        tok = self.peek()
        if tok.kind == "DURATION":
            self.advance()
            return int(tok.value)  # type: ignore[arg-type]
        if tok.kind in ("INT", "FLOAT"):
            from .lexer import DURATION_UNITS

            unit = self.peek(1)
            if unit.kind == "IDENT" and unit.value in DURATION_UNITS:
                self.advance()
                self.advance()
                return int(tok.value * DURATION_UNITS[unit.value])  # type: ignore[operator]
            raise self.fail(f"expected {what} like 500ms, found the bare number {tok.value}", tok,
                            f"add a unit: {tok.value}ms, {tok.value}s, {tok.value}min")
        raise self.fail(f"expected {what} like 500ms, found {self.describe(tok)}", tok,
                        "write a number with a unit: 500ms, 2s, 1min")

    # ------------------------------------------------------------ module paths

    def alias_path(self) -> tuple[str, bool, int]:
        """`MyApp.Cart` → ('Elixir.MyApp.Cart', prefix?, end). Stops before `.lower`/`.*` unless
        `.*` ends the path (then prefix is True)."""
        first = self.advance()
        parts = [str(first.value)]
        end = first.end
        prefix = False
        while self.at_op("."):
            nxt = self.peek(1)
            if nxt.kind == "ALIAS":
                self.advance()
                parts.append(str(self.advance().value))
                end = nxt.end
            elif nxt.kind == "OP" and nxt.value == "*":
                after = self.peek(2)
                if after.kind == "OP" and after.value == "/":
                    break  # `Mod.*/2` is a function wildcard, left to the caller
                self.advance()
                self.advance()
                prefix = True
                end = nxt.end
                break
            else:
                break
        return "Elixir." + ".".join(parts), prefix, end

    # ------------------------------------------------------------ term patterns

    def pattern(self, bare_words: bool = False) -> Pattern:
        """An Elixir term literal used as a pattern. `bare_words` lets `add` mean `:add`
        (for function, kind and similar metadata fields)."""
        tok = self.peek()
        if tok.kind == "ATOM":
            self.advance()
            return PAtom(str(tok.value))
        if tok.kind == "STRING":
            self.advance()
            return PBin(str(tok.value).encode("utf-8"))
        if tok.kind == "CHARLIST":
            self.advance()
            return PList(tuple(PNum(ord(c)) for c in str(tok.value)))
        if tok.kind in ("INT", "FLOAT"):
            self.advance()
            return PNum(tok.value)  # type: ignore[arg-type]
        if tok.kind == "OP" and tok.value == "-":
            self.advance()
            num = self.peek()
            if num.kind not in ("INT", "FLOAT"):
                raise self.fail("expected a number after '-'", num, "write e.g. -1")
            self.advance()
            return PNum(-num.value)  # type: ignore[operator]
        if tok.kind == "PID":
            self.advance()
            return PPid(str(tok.value))
        if tok.kind == "ALIAS":
            name, prefix, _ = self.alias_path()
            return PAtom(name + (".*" if prefix else ""))
        if tok.kind == "IDENT":
            word = str(tok.value)
            if word in ("true", "false", "nil"):
                self.advance()
                return PAtom(word)
            if word.startswith("_"):
                self.advance()
                return PWild()
            if bare_words:
                self.advance()
                return PAtom(word)
            raise self.fail(
                f"'{word}' is not a value (variables are not supported)", tok,
                f"write :{word} for an atom, \"{word}\" for a string, or _ for anything",
            )
        if tok.kind == "OP" and tok.value == "*" and bare_words:
            self.advance()
            return PAtom("*")
        if tok.kind == "OP" and tok.value == "{":
            self.advance()
            items = self._items("}", "a tuple")
            return PTuple(tuple(items))
        if tok.kind == "OP" and tok.value == "[":
            self.advance()
            items: list[Pattern] = []
            tail: Pattern | None = None
            if not self.at_op("]"):
                items.append(self.pattern())
                while self.at_op(","):
                    self.advance()
                    items.append(self.pattern())
                if self.at_op("|"):
                    self.advance()
                    tail = self.pattern()
            self.expect_op("]", "']' to close the list")
            return PList(tuple(items), tail)
        if tok.kind == "OP" and tok.value in ("%{", "%"):
            return self._map()
        if tok.kind == "DURATION":
            raise self.fail("a duration is not a term", tok,
                            "durations compare with the fields time and duration only")
        raise self.fail(f"expected a value (an Elixir term such as :ok, 42, \"text\", "
                        f"{{:error, _}}, %{{key: 1}}), found {self.describe(tok)}", tok,
                        "write a term literal; _ matches anything")

    def _items(self, closer: str, what: str) -> list[Pattern]:
        items: list[Pattern] = []
        if not self.at_op(closer):
            items.append(self.pattern())
            while self.at_op(","):
                self.advance()
                items.append(self.pattern())
        self.expect_op(closer, f"'{closer}' to close {what}")
        return items

    def _map(self) -> PMap:
        tok = self.advance()
        pairs: list[tuple[Pattern, Pattern]] = []
        if tok.value == "%":  # a struct: %MyApp.User{...}
            if self.peek().kind != "ALIAS":
                raise self.fail("expected a struct name after '%'", self.peek(),
                                "write %{key: value} for a map or %MyApp.User{} for a struct")
            name, _, _ = self.alias_path()
            self.expect_op("{", "'{' after the struct name")
            pairs.append((PAtom("__struct__"), PAtom(name)))
        if not self.at_op("}"):
            pairs.append(self._pair())
            while self.at_op(","):
                self.advance()
                pairs.append(self._pair())
        self.expect_op("}", "'}' to close the map")
        return PMap(tuple(pairs))

    def _pair(self) -> tuple[Pattern, Pattern]:
        tok = self.peek()
        nxt = self.peek(1)
        if tok.kind in ("IDENT", "ALIAS") and nxt.kind == "OP" and nxt.value == ":":
            self.advance()
            self.advance()
            return PAtom(str(tok.value)), self.pattern()
        key = self.pattern()
        self.expect_op("=>", "'=>' between a map key and its value",
                       "write %{key: value} for atom keys or %{\"key\" => value}")
        return key, self.pattern()

    # ------------------------------------------------------------ conditions

    def condition(self) -> Cond:
        left = self._and()
        while self.at_word("or"):
            self.advance()
            left = Or(left, self._and())
        return left

    def _and(self) -> Cond:
        left = self._not()
        while self.at_word("and"):
            self.advance()
            left = And(left, self._not())
        return left

    def _not(self) -> Cond:
        if self.at_word("not"):
            self.advance()
            return Not(self._not())
        if self.at_op("("):
            self.advance()
            inner = self.condition()
            self.expect_op(")", "')' to close the parenthesis")
            return inner
        return self.comparison()

    def field_ref(self) -> FieldRef:
        tok = self.peek()
        if tok.kind != "IDENT":
            if tok.kind == "OP" and tok.value in ("&", "|"):
                raise self.fail("unexpected operator", tok, "write 'and' / 'or'")
            raise self.fail(f"expected a field name, found {self.describe(tok)}", tok,
                            "fields: " + ", ".join(FIELDS))
        name = str(tok.value)
        if name not in FIELDS:
            alias = {"args": "args", "arguments": "args", "argument": "arg", "msg": "message",
                     "returned": "return", "result": "return", "mod": "module", "fun": "function",
                     "func": "function", "process": "pid", "registered_name": "name",
                     "ts": "time", "timestamp": "time", "value": "return"}.get(name)
            hint = f"did you mean '{alias}'?" if alias else did_you_mean(name, FIELDS, "fields")
            raise self.fail(f"unknown field '{name}'", tok, hint)
        self.advance()
        path: list[PathIndex | PathKey] = []
        end = tok.end
        if name == "arg":
            if not self.at_op("["):
                raise self.fail("'arg' needs an index", self.peek(),
                                "write arg[0] for the first argument (0-based), or args for all")
            self.advance()
            idx = self.peek()
            if idx.kind != "INT":
                raise self.fail("expected an argument index (0-based integer)", idx,
                                "write arg[0], arg[1], …")
            self.advance()
            end = self.expect_op("]", "']' after the argument index").end
            path.append(PathIndex(int(idx.value)))  # type: ignore[arg-type]
            name = "args"
        while True:
            if self.at_op(".") and self.peek(1).kind in ("IDENT", "ALIAS"):
                self.advance()
                key = self.advance()
                path.append(PathKey(PAtom(str(key.value))))
                end = key.end
            elif self.at_op("["):
                self.advance()
                inner = self.peek()
                if inner.kind == "INT":
                    self.advance()
                    path.append(PathIndex(int(inner.value)))  # type: ignore[arg-type]
                else:
                    path.append(PathKey(self.pattern()))
                end = self.expect_op("]", "']' to close the index").end
            else:
                break
        if path and name in METADATA_FIELDS + TIME_FIELDS + ("changed",):
            raise self.fail(f"the field '{name}' has no parts to index into", tok,
                            f"compare '{name}' directly", start=tok.start, end=end)
        return FieldRef(name, tuple(path), tok.start, end)

    def comparison(self) -> Compare:
        ref = self.field_ref()
        op_tok = self.peek()
        if op_tok.kind == "IDENT" and op_tok.value == "in":
            if ref.name == "changed":
                raise self.fail("'changed' is true or false", op_tok, "write 'changed = true'")
            self.advance()
            self.expect_op("[", "'[' to start the list of values after 'in'")
            values = self._items_bare("]", ref.name in METADATA_FIELDS)
            return Compare(ref, "in", tuple(values), ref.start, self.tokens[self.i - 1].end)
        if not (op_tok.kind == "OP" and op_tok.value in COMPARE_OPS):
            raise self.fail(
                f"expected a comparison after '{self.text[ref.start:ref.end]}', found "
                f"{self.describe(op_tok)}", op_tok,
                "use one of = != < <= > >= ~ (contains) or 'in [..]'",
            )
        self.advance()
        op = {"==": "=", "=~": "~"}.get(str(op_tok.value), str(op_tok.value))
        if ref.name in TIME_FIELDS:
            value: Pattern = PNum(self.duration(f"a {ref.name}"))
        elif ref.name == "changed":
            vtok = self.peek()
            if op not in ("=", "!=") or not (vtok.kind == "IDENT" and vtok.value in ("true", "false")):
                raise self.fail("'changed' is true or false", vtok,
                                "write 'changed = true' (or 'changed = false')")
            self.advance()
            value = PAtom(str(vtok.value))
        else:
            value = self.pattern(bare_words=ref.name in METADATA_FIELDS)
        return Compare(ref, op, value, ref.start, self.tokens[self.i - 1].end)

    def _items_bare(self, closer: str, bare: bool) -> list[Pattern]:
        items: list[Pattern] = []
        if not self.at_op(closer):
            items.append(self.pattern(bare_words=bare))
            while self.at_op(","):
                self.advance()
                items.append(self.pattern(bare_words=bare))
        self.expect_op(closer, f"'{closer}' to close the list")
        return items
