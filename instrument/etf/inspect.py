"""Terms as people read them: Elixir's ``inspect/2`` (and Erlang's ``~p``) for decoded ETF terms.

Why this exists: everything ElixirScope shows a person or a model — CLI tables, MCP tool text,
reports — is a term from a live node. Printed as Python reprs (``Atom('ok')``, ``b'abc'``)
they are noise to an Elixir developer; printed as Elixir prints them (``:ok``, ``"abc"``,
``%MyApp.Cart{items: []}``, ``#PID<0.123.0>``) they can be pasted into ``iex``, searched in
source and compared with logs.

Rules follow Elixir 1.14's ``Inspect`` protocol (``tests/test_inspect.py`` checks them against
the real ``IO.inspect`` output of the installed Elixir):

- atoms ``:ok``, ``nil``/``true``/``false``, ``:"with space"``, module aliases ``MyApp.Cart``
  for ``Elixir.``-prefixed atoms;
- binaries as ``"strings"`` when printable UTF-8, else ``<<1, 2>>``; bitstrings
  ``<<1, 2::size(4)>>``;
- printable ASCII charlists as ``'abc'`` (``charlists="sigil"`` gives ``~c"abc"``, as Elixir
  1.15+ prints them);
- keyword lists ``[a: 1]``, maps ``%{a: 1}`` / ``%{"k" => v}``, structs ``%MyApp.User{...}``;
- ``#PID<0.123.0>``, ``#Reference<0.1.2.3>``, ``#Port<0.5>``, ``#Function<...>``, ``&M.f/1``.

Bounds: ``limit`` caps the items shown per collection (``...`` marks the rest, as Elixir
does); ``printable_limit`` caps the characters of a string or charlist (``"abc" <> ...``);
``max_depth`` caps nesting (a deeper collection prints as ``...``); ``max_chars`` caps the
whole text (once spent, every further item prints as ``...``), so ``limit ** depth`` items
never get printed; an integer too long for decimal digits prints as
``«integer of N bits»``. Printing never raises: a term that still cannot be printed (or a
value that is not a term) gives a short ``«unprintable ...»`` text.

The tracer agent's markers (docs/event-format.md) are rendered so they cannot be mistaken for
data: ``'$truncated'`` → ``«truncated»``, ``{'$truncated', What, Size}`` →
``«truncated What: Size bytes»``, ``'[REDACTED]'`` → ``«redacted»``.

``syntax="erlang"`` prints the same terms the way ``io:format("~p")`` does (``ok``,
``<<"abc">>``, ``#{a => 1}``, ``<0.123.0>``). With no ``syntax`` argument the syntax in force
is used: Elixir, unless a caller rendering one recording chose otherwise for the duration of a
block (``instrument.etf.syntax.printing``) - so the many small printers under a tool (event
rows, state texts, diffs, report lines) follow the recording's language without each being
handed it.

This module decides a term's structure, its bounds and the markers; how one atom, string or
number is spelled (quoting, escapes, which binaries are text) is ``spelling``'s. Text that must
be safe on a terminal as a whole (names, report lines) goes through ``visible.visible``.
"""

from __future__ import annotations

import struct
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from .spelling import (
    ASCII_PRINTABLE,
    alias_name,
    elixir_atom,
    elixir_fun_name,
    elixir_key,
    erlang_atom,
    escape,
    float_text,
    printable_utf8,
    utf8_prefix,
)
from .terms import (
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

__all__ = ["inspect", "InspectOptions"]

Syntax = Literal["elixir", "erlang"]

# The syntax ``inspect`` uses when given none (set for a block by ``syntax.printing``).
PRINT_SYNTAX: ContextVar[Syntax] = ContextVar("elixir_scope_print_syntax", default="elixir")

TRUNCATED = Atom("$truncated")
REDACTED = Atom("[REDACTED]")


@dataclass(frozen=True)
class InspectOptions:
    """How much to show and in which syntax (defaults match Elixir's ``inspect/2``)."""

    limit: int = 50
    printable_limit: int = 4096
    syntax: Syntax = "elixir"
    charlists: Literal["quotes", "sigil"] = "quotes"
    max_depth: int = 64
    max_chars: int = 256_000


# Integers longer than this print as «integer of N bits» (CPython refuses to turn ints of
# more than 4300 digits into text, and such a number is not readable anyway).
_MAX_INT_BITS = 4096


def inspect(
    term: Any,
    *,
    limit: int = 50,
    printable_limit: int = 4096,
    syntax: Syntax | None = None,
    charlists: Literal["quotes", "sigil"] = "quotes",
    max_depth: int = 64,
    max_chars: int = 256_000,
) -> str:
    """``term`` as Elixir's ``inspect/2`` would print it (single line); see the module docs.
    Never raises. ``syntax`` None: the syntax in force (module docs)."""
    opts = InspectOptions(max(limit, 0), max(printable_limit, 0), syntax or PRINT_SYNTAX.get(), charlists,
                          max(max_depth, 1), max(max_chars, 16))
    try:
        return _Printer(opts).term(term)
    except (RecursionError, MemoryError) as exc:
        return f"«unprintable term: {type(exc).__name__}»"
    except Exception as exc:  # a value that is not a term, or a bug: diagnostics must still print
        return f"«unprintable {type(term).__name__}: {type(exc).__name__}»"


class _Printer:
    def __init__(self, opts: InspectOptions) -> None:
        self.o = opts
        self.ex = opts.syntax == "elixir"
        self.depth = 0
        self.budget = opts.max_chars
        # exact-type fast path for the terms that dominate real payloads
        self._fast = {Atom: self.atom, bytes: self.binary, tuple: self.tuple, list: self.list,
                      dict: self._dict, int: self.integer, Pid: self._pid}

    def _dict(self, d: dict) -> str:
        return self.map(list(d.items()))

    def _pid(self, p: Pid) -> str:
        return f"#PID<0.{p.id}.{p.serial}>" if self.ex else f"<0.{p.id}.{p.serial}>"

    # -- dispatch ------------------------------------------------------------------------
    def term(self, t: Any) -> str:
        fast = self._fast.get(type(t))
        if fast is not None:
            return fast(t)
        if t is True:
            return "true"
        if t is False:
            return "false"
        if t is None:
            return "nil" if self.ex else "undefined"
        if isinstance(t, Atom):
            return self.atom(t)
        if isinstance(t, int):
            return self.integer(t)
        if isinstance(t, float):
            return float_text(t)
        if isinstance(t, (bytes, bytearray, memoryview)):
            return self.binary(bytes(t))
        if isinstance(t, str):  # a Python-side string: shown like the binary it stands for
            return self.binary(t.encode("utf-8"))
        if isinstance(t, tuple) and not isinstance(t, FrozenList):
            return self.tuple(t)
        if isinstance(t, Charlist):
            return self.charlist(t)
        if isinstance(t, (list, FrozenList)):
            return self.list(list(t))
        if isinstance(t, dict):
            return self.map(list(t.items()))
        if isinstance(t, FrozenMap):
            return self.map(list(t.items()))
        if isinstance(t, ExactKey):
            return self.term(t.term)
        if isinstance(t, Pid):
            return f"#PID<0.{t.id}.{t.serial}>" if self.ex else f"<0.{t.id}.{t.serial}>"
        if isinstance(t, Ref):
            ids = ".".join(str(i) for i in reversed(t.ids))
            return f"#Reference<0.{ids}>" if self.ex else f"#Ref<0.{ids}>"
        if isinstance(t, Port):
            return f"#Port<0.{t.id}>"
        if isinstance(t, Export):
            if self.ex:
                return f"&{self.module(t.module)}.{elixir_fun_name(t.function.name)}/{t.arity}"
            return f"fun {self.atom(t.module)}:{self.atom(t.function)}/{t.arity}"
        if isinstance(t, Fun):
            return self.fun(t)
        if isinstance(t, BitBinary):
            return self.bitstring(t)
        if isinstance(t, ImproperList):
            return self.improper(t)
        text = repr(t)  # not an Erlang term; never raise while printing diagnostics
        return text if len(text) <= 200 else text[:200] + "..."

    def integer(self, n: int) -> str:
        if -(1 << _MAX_INT_BITS) < n < (1 << _MAX_INT_BITS):
            return str(n)
        return f"«integer of {n.bit_length()} bits»" if n > 0 else f"«negative integer of {n.bit_length()} bits»"

    # -- atoms ---------------------------------------------------------------------------
    def atom(self, a: Atom) -> str:
        if a is TRUNCATED:
            return "«truncated»"
        if a is REDACTED:
            return "«redacted»"
        return elixir_atom(a.name) if self.ex else erlang_atom(a.name)

    def module(self, a: Atom) -> str:
        """A module name in Elixir call position: ``String``, ``:lists``."""
        alias = alias_name(a.name)
        return alias if alias is not None else self.atom(a)

    def key(self, a: Atom) -> str | None:
        """``a:`` for a keyword/map key, or None when it must be printed ``:a =>``."""
        if a is TRUNCATED or a is REDACTED:
            return None
        return elixir_key(a.name)

    # -- binaries ------------------------------------------------------------------------
    def binary(self, b: bytes) -> str:
        if len(b) > 4 * self.o.printable_limit + 4:
            # only the shown prefix is examined (cut at a character boundary), so a 1 GB
            # binary costs what its first few KB cost; it is judged printable by that prefix
            head = b[: 4 * self.o.printable_limit + 4]
            text = printable_utf8(utf8_prefix(head))
            if text is not None and len(text) > self.o.printable_limit:
                body = escape(text[: self.o.printable_limit], '"', interpolation=self.ex)
                return f'"{body}" <> ...' if self.ex else f'<<"{body}"...>>'
            return self.bytes_list(list(b[: self.o.limit + 1]), None)
        text = printable_utf8(b)
        if text is not None:
            cut = len(text) > self.o.printable_limit
            body = escape(text[: self.o.printable_limit], '"', interpolation=self.ex)
            if self.ex:
                return f'"{body}"' + (" <> ..." if cut else "")
            return f'<<"{body}"' + ("...>>" if cut else ">>")
        return self.bytes_list(list(b), None)

    def bytes_list(self, values: list[int], last: tuple[int, int] | None) -> str:
        sep = ", " if self.ex else ","
        shown = values[: self.o.limit]
        parts = [str(v) for v in shown]
        if last is not None and len(values) < self.o.limit:
            value, bits = last
            parts.append(f"{value}::size({bits})" if self.ex else f"{value}:{bits}")
        if len(values) > self.o.limit or (last is not None and len(values) >= self.o.limit):
            parts.append("...")
        return "<<" + sep.join(parts) + ">>"

    def bitstring(self, b: BitBinary) -> str:
        whole = list(b.data[:-1])
        last = b.data[-1] >> (8 - b.bits)
        return self.bytes_list(whole, (last, b.bits))

    # -- collections ---------------------------------------------------------------------
    def _items(self, items: list[Any], render) -> list[str]:
        if self.depth >= self.o.max_depth:
            return ["..."] if items else []
        self.depth += 1
        out = []
        try:
            for x in items[: self.o.limit]:
                if self.budget <= 0:
                    out.append("...")
                    return out
                before = self.budget
                text = render(x)
                # nested collections charged their own items already: charge the rest
                self.budget -= max(len(text) - (before - self.budget), 0) + 2
                out.append(text)
        finally:
            self.depth -= 1
        if len(items) > self.o.limit:
            out.append("...")
        return out

    def tuple(self, t: tuple) -> str:
        if len(t) > self.o.limit + 1:
            t = t[: self.o.limit + 1]  # _items shows `limit` and an ellipsis
        if len(t) == 3 and t[0] is TRUNCATED:
            what, size = t[1], t[2]
            what_s = what.name if isinstance(what, Atom) else self.term(what)
            return f"«truncated {what_s}: {self.term(size)} bytes»"
        sep = ", " if self.ex else ","
        return "{" + sep.join(self._items(list(t), self.term)) + "}"

    def charlist(self, items: list[int]) -> str:
        if items and all(isinstance(c, int) and c in ASCII_PRINTABLE for c in items):
            text = "".join(map(chr, items))
            cut = len(text) > self.o.printable_limit
            if not self.ex:
                body = escape(text[: self.o.printable_limit], '"')
                return f'"{body}"' + ("..." if cut else "")
            if self.o.charlists == "sigil":
                body = escape(text[: self.o.printable_limit], '"', interpolation=True)
                return f'~c"{body}"' + (" ++ ..." if cut else "")
            body = escape(text[: self.o.printable_limit], "'", interpolation=True)
            return f"'{body}'" + (" ++ ..." if cut else "")
        return self.plain_list(list(items))

    def list(self, items: list[Any]) -> str:
        if items and all(type(c) is int for c in items):
            if all(c in ASCII_PRINTABLE for c in items):
                # only the shown part is turned into text (a 10-million-element charlist
                # costs its prefix)
                return self.charlist(items[: self.o.printable_limit + 1])
            return self.plain_list(items)
        if self.ex and items and all(
            type(x) is tuple and len(x) == 2 and isinstance(x[0], Atom) and self.key(x[0])
            for x in items
        ):
            return "[" + ", ".join(self._items(items, lambda kv: f"{self.key(kv[0])} {self.term(kv[1])}")) + "]"
        return self.plain_list(items)

    def plain_list(self, items: list[Any]) -> str:
        sep = ", " if self.ex else ","
        return "[" + sep.join(self._items(items, self.term)) + "]"

    def improper(self, il: ImproperList) -> str:
        sep = ", " if self.ex else ","
        bar = " | " if self.ex else "|"
        parts = self._items(list(il.items), self.term)
        if len(il.items) > self.o.limit:
            return "[" + sep.join(parts) + "]"
        return "[" + sep.join(parts) + bar + self.term(il.tail) + "]"

    def map(self, pairs: list[tuple[Any, Any]]) -> str:
        pairs = [(k.term if isinstance(k, ExactKey) else k, v) for k, v in pairs]
        if not self.ex:
            body = self._items(pairs, lambda kv: f"{self.term(kv[0])} => {self.term(kv[1])}")
            return "#{" + ",".join(body) + "}"
        struct_name = None
        for k, v in pairs:
            if isinstance(k, Atom) and k.name == "__struct__" and isinstance(v, Atom):
                struct_name = self.module(v)
        if struct_name is not None:
            fields = [(k, v) for k, v in pairs if not (isinstance(k, Atom) and k.name == "__struct__")]
            return f"%{struct_name}{{" + ", ".join(self._items(fields, self.map_entry_keyword_or_arrow(fields))) + "}"
        return "%{" + ", ".join(self._items(pairs, self.map_entry_keyword_or_arrow(pairs))) + "}"

    def map_entry_keyword_or_arrow(self, pairs: list[tuple[Any, Any]]):
        keyword = all(isinstance(k, Atom) and self.key(k) for k, _ in pairs)
        if keyword:
            return lambda kv: f"{self.key(kv[0])} {self.term(kv[1])}"
        return lambda kv: f"{self.term(kv[0])} => {self.term(kv[1])}"

    # -- funs ----------------------------------------------------------------------------
    def fun(self, f: Fun) -> str:
        try:
            module = f.module
            (index,) = struct.unpack_from(">I", f.raw, 22)
        except Exception:
            return "#Function<?>" if self.ex else "#Fun<?>"
        if self.ex:
            return f"#Function<{index}/{f.arity} in {self.module(module)}>"
        return f"#Fun<{self.atom(module)}.{index}/{f.arity}>"
