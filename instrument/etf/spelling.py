"""How the pieces of a printed term are spelled, in Elixir and in Erlang: which atoms print
bare and which need quotes, module aliases, keyword keys, escapes inside quoted text, which
binaries and charlists are printable text, and floats.

``inspect`` decides a term's structure, its bounds and the tracer agent's markers; this module
spells one atom, one string or one number, following Elixir 1.14's ``Inspect`` protocol and
Erlang's ``~p`` (``tests/test_inspect.py`` checks both against the real runtimes).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata

__all__ = [
    "ASCII_PRINTABLE",
    "alias_name",
    "elixir_atom",
    "elixir_fun_name",
    "elixir_key",
    "erlang_atom",
    "escape",
    "float_text",
    "printable_utf8",
    "utf8_prefix",
]


_ELIXIR_PLAIN_ATOM = re.compile(r"[a-zA-Z_][a-zA-Z0-9_@]*[?!]?\Z")
_ELIXIR_ALIAS = re.compile(r"[A-Z][a-zA-Z0-9_]*(\.[A-Z][a-zA-Z0-9_]*)*\Z")
_ELIXIR_OPERATORS = frozenset(
    "+ - * / ++ -- ** ! ^ & && || &&& ||| <<< >>> <<~ ~>> <~ ~> <~> <|> < > <= >= == != === !== "
    "=~ |> . .. ... <- -> \\\\ :: @ = | ~~~ ^^^ %{} {} % <<>> +++ ---".split()
)
_ERLANG_PLAIN_ATOM = re.compile(r"[a-z][a-zA-Z0-9_@]*\Z")
_ERLANG_RESERVED = frozenset(
    "after and andalso band begin bnot bor bsl bsr bxor case catch cond div end fun if let not "
    "of or orelse receive rem try when xor maybe else".split()
)
# Escapes Elixir (and Erlang) print by name inside strings and charlists.
_ESCAPES = {
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\b": "\\b", "\f": "\\f",
    "\x1b": "\\e", "\x7f": "\\d", "\x07": "\\a",
}
# Character codes of a charlist that prints as text.
ASCII_PRINTABLE = frozenset(range(32, 127)) | {ord(c) for c in _ESCAPES}
# ASCII bytes that make a binary non-printable (everything else ASCII prints or escapes).
_ASCII_UNPRINTABLE = re.compile(rb"[\x00-\x06\x0e-\x1a\x1c-\x1f]")
# Characters that need an escape inside quotes (checked before the slow per-character path).
_NEEDS_ESCAPE = {q: re.compile(r"[\\%s\x00-\x1f\x7f]|#\{" % re.escape(q)) for q in ("\"", "'")}


def alias_name(name: str) -> str | None:
    """The Elixir alias an ``Elixir.``-prefixed atom name stands for (``MyApp.Cart``), else None."""
    if name.startswith("Elixir.") and _ELIXIR_ALIAS.match(name[7:]):
        return name[7:]
    return None


def elixir_atom(name: str) -> str:
    """An atom as Elixir prints it: ``nil``, ``MyApp.Cart``, ``:ok``, ``:+``, ``:"with space"``."""
    if name == "nil":
        return "nil"
    alias = alias_name(name)
    if alias is not None:
        return alias
    if _ELIXIR_PLAIN_ATOM.match(name) or name in _ELIXIR_OPERATORS:
        return ":" + name
    return ':"' + escape(name, '"') + '"'


def erlang_atom(name: str) -> str:
    """An atom as Erlang's ``~p`` prints it: ``ok``, ``'Elixir.MyApp.Cart'``, ``'receive'``."""
    if _ERLANG_PLAIN_ATOM.match(name) and name not in _ERLANG_RESERVED:
        return name
    return "'" + escape(name, "'") + "'"


def elixir_fun_name(name: str) -> str:
    """A function name after the dot of an Elixir capture: ``add``, ``+``, ``"with space"``."""
    if _ELIXIR_PLAIN_ATOM.match(name) or name in _ELIXIR_OPERATORS:
        return name
    return '"' + escape(name, '"') + '"'


def elixir_key(name: str) -> str | None:
    """``a:`` for an atom as a keyword or map key, or None when it must be printed ``:a =>``
    (a module alias)."""
    if alias_name(name) is not None:
        return None
    if _ELIXIR_PLAIN_ATOM.match(name):
        return name + ":"
    return '"' + escape(name, '"') + '":'


def utf8_prefix(b: bytes) -> bytes:
    """``b`` without a UTF-8 sequence cut short at its end."""
    for back in range(1, min(4, len(b)) + 1):
        byte = b[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for its lead byte
        if byte < 0x80:
            return b
        need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return b if need <= back else b[:-back]
    return b


def printable_utf8(b: bytes) -> str | None:
    if b.isascii():  # the common case, answered without a per-character loop
        return None if _ASCII_UNPRINTABLE.search(b) else b.decode("ascii")
    try:
        text = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for ch in text:
        if ch in _ESCAPES:
            continue
        o = ord(ch)
        if 0x20 <= o < 0x7F:
            continue
        if o < 0xA0 or unicodedata.category(ch) in ("Cc", "Cs", "Cn"):
            return None
    return text


def escape(text: str, quote: str, interpolation: bool = False) -> str:
    """``text`` inside ``quote``s: backslash, the quote, the named escapes (``\\n``), other control
    characters as ``\\xNN``, and with ``interpolation`` ``#{`` as ``\\#{``. A state holding
    kilobytes of text with a newline or a quote is printed for every callback the facts compare,
    so each kind of character is replaced in one C pass (``str.replace``; ``str.translate`` with
    multi-character replacements looks each character up in a dict, ~10x slower), backslashes
    first: no replacement writes a character a later one replaces."""
    fast = _NEEDS_ESCAPE.get(quote)
    if fast is not None and not fast.search(text):
        return text
    out = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    for ch, esc in _ESCAPES.items():
        if ch in out:
            out = out.replace(ch, esc)
    if _UNNAMED_CONTROL.search(out):
        out = _UNNAMED_CONTROL.sub(_hex_escape, out)
    # no escape writes a "#" or a "{": every "#{" left is one of the text's own
    return out.replace("#{", "\\#{") if interpolation else out


# control characters without a named escape (those are in _ESCAPES), written \xNN
_UNNAMED_CONTROL = re.compile("[%s]" % "".join(f"\\x{o:02x}" for o in range(0x20) if chr(o) not in _ESCAPES))


def _hex_escape(m: re.Match) -> str:
    return f"\\x{ord(m.group()):02X}"


def float_text(x: float) -> str:
    """Shortest round-trip digits, written as Elixir does (``1.0e20``, ``0.1``)."""
    if math.isnan(x) or math.isinf(x):
        return repr(x)  # not produced by the BEAM; shown plainly rather than crashing
    s = repr(x)
    if "e" not in s:
        return s
    mantissa, exp = s.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exp)}"
