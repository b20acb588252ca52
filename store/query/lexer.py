"""Tokens of the query language.

The lexer knows no keywords: words such as `where`, `then` or `by` are plain `IDENT` tokens and
the parser reads them in context. That keeps field names like `state` or `node` usable both as
clause words and as fields, and lets the parser say "did you mean …" about any word.

Token kinds::

    IDENT     lower-case word: where, calls, add, arg, handle_call?, app@host (a node name)
    ALIAS     capitalised word: MyApp (module paths are ALIAS '.' ALIAS … in the parser)
    ATOM      :ok  :"with spaces"  :handle_call  (value without the colon)
    STRING    "text"  (Elixir escapes \\n \\t \\" \\\\)
    CHARLIST  'text'
    INT       42  1_000
    FLOAT     1.5
    DURATION  500ms  2s  1.5min  10us  (value in nanoseconds, kept exact as int)
    PID       <0.123.0>
    OP        | , . / [ ] { } ( ) %{ % => = == != < <= > >= ~ =~ * - :
    EOF
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import QuerySyntaxError

__all__ = ["Token", "tokenize", "DURATION_UNITS", "MAX_NUMBER_DIGITS", "MAX_EXPONENT"]

# A number literal has at most this many digits and an exponent of at most this size: a
# duration of 1e999999999s or a 5,000-digit integer is a mistake (or an attack), never a query.
MAX_NUMBER_DIGITS = 40
MAX_EXPONENT = 30


def _check_number(text: str, raw: str, start: int, end: int) -> None:
    mantissa, _, exp = raw.lower().partition("e")
    digits = sum(c.isdigit() for c in mantissa)
    if digits > MAX_NUMBER_DIGITS:
        raise QuerySyntaxError(f"number with {digits} digits is too long (at most {MAX_NUMBER_DIGITS})",
                               text, start, end, "write a smaller number")
    if exp:
        try:
            e = int(exp)
        except ValueError:
            e = MAX_EXPONENT + 1
        if abs(e) > MAX_EXPONENT:
            raise QuerySyntaxError(f"exponent {exp} is out of range (at most {MAX_EXPONENT})",
                                   text, start, end, "write a number between 1e-30 and 1e30")

#: nanoseconds per unit; the first spelling of each is the one the docs use
DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "sec": 1_000_000_000,
    "m": 60_000_000_000,
    "min": 60_000_000_000,
    "h": 3_600_000_000_000,
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object
    start: int
    end: int

    @property
    def text(self) -> str:
        return str(self.value)


_NUMBER = re.compile(r"\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?")
_UNIT = re.compile(r"(?:ns|us|µs|ms|sec|min|s|m|h)(?![A-Za-z0-9_])")
_IDENT = re.compile(r"[a-z_][A-Za-z0-9_]*[?!]?(?:@[A-Za-z0-9_\-.]*[A-Za-z0-9_])?")
_ALIAS = re.compile(r"[A-Z][A-Za-z0-9_]*")
_PID = re.compile(r"<(\d+)\.(\d+)\.(\d+)>")
_ATOM_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*[?!]?")
_OPS = ("%{", "=>", "==", "!=", "<=", ">=", "=~", "|", ",", ".", "/", "[", "]", "{", "}", "(", ")",
        "%", "=", "<", ">", "~", "*", "-", ":")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "e": "\x1b"}


def _read_quoted(text: str, pos: int, quote: str) -> tuple[str, int]:
    """Read a quoted literal starting at `pos` (on the quote); return (value, end offset)."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QuerySyntaxError(
        f"unterminated {'string' if quote == chr(34) else 'charlist'}",
        text, pos, len(text), f"close it with {quote}",
    )


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; raise `QuerySyntaxError` at the first character that fits none."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":  # comment to end of line
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if "0" <= ch <= "9":
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group().replace("_", "")
            end = m.end()
            _check_number(text, raw, i, end)
            unit = _UNIT.match(text, end)
            if unit:
                factor = DURATION_UNITS[unit.group()]
                if "." in raw or "e" in raw.lower():
                    from decimal import Decimal

                    ns = int(Decimal(raw) * factor)
                else:
                    ns = int(raw) * factor
                tokens.append(Token("DURATION", ns, i, unit.end()))
                i = unit.end()
                continue
            word_m = re.match(r"[A-Za-z_µ]+", text[end:])
            if word_m:
                word = word_m.group()
                raise QuerySyntaxError(
                    f"unknown duration unit '{word}'", text, end, end + len(word),
                    "use one of ns, us, ms, s, min, h (e.g. 500ms, 2s, 1min)",
                )
            if "." in raw or "e" in raw.lower():
                tokens.append(Token("FLOAT", float(raw), i, end))
            else:
                tokens.append(Token("INT", int(raw), i, end))
            i = end
            continue
        if ch == "<":
            m = _PID.match(text, i)
            if m:
                tokens.append(Token("PID", m.group(), i, m.end()))
                i = m.end()
                continue
        if ch == ":" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == '"':
                value, end = _read_quoted(text, i + 1, '"')
                tokens.append(Token("ATOM", value, i, end))
                i = end
                continue
            m = _ATOM_BARE.match(text, i + 1)
            if m:
                tokens.append(Token("ATOM", m.group(), i, m.end()))
                i = m.end()
                continue
        if ch == '"':
            value, end = _read_quoted(text, i, '"')
            tokens.append(Token("STRING", value, i, end))
            i = end
            continue
        if ch == "'":
            value, end = _read_quoted(text, i, "'")
            tokens.append(Token("CHARLIST", value, i, end))
            i = end
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(Token("IDENT", m.group(), i, m.end()))
            i = m.end()
            continue
        m = _ALIAS.match(text, i)
        if m:
            tokens.append(Token("ALIAS", m.group(), i, m.end()))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                tokens.append(Token("OP", op, i, i + len(op)))
                i += len(op)
                break
        else:
            hint = "remove it"
            if ch == "&":
                hint = "write 'and'"
            elif ch == "'":
                hint = "use double quotes for strings"
            elif ch == ":":
                hint = "an atom needs a name after the colon, e.g. :ok"
            raise QuerySyntaxError(f"unexpected character {ch!r}", text, i, i + 1, hint)
    tokens.append(Token("EOF", "", n, n))
    return tokens
