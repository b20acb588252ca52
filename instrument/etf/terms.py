"""Python types for the Erlang terms that have no exact Python counterpart.

Why these exist: a debugger must never confuse what the node sent. A generic mapping that
turns atoms into ``str``, binaries into ``str`` or lists of small integers into ``bytes``
loses information, and a term sent back to the node is then a different term. So:

- ``Atom`` is its own type (not a ``str`` subclass): ``Atom("ok") != "ok"``. Atoms are
  interned, so equality and hashing are identity-fast, which the decoder relies on.
- ``Pid``, ``Ref``, ``Port``, ``Export`` are frozen, hashable value objects.
- ``Fun`` keeps the exact bytes the node sent; it re-encodes byte for byte.
- ``BitBinary`` is a bitstring whose last byte holds 1..7 significant bits.
- ``ImproperList`` is ``[a, b | tail]``.
- ``Charlist`` is what ``STRING_EXT`` decodes to: a ``list`` of ints (so it equals the same
  list of ints) with a ``.text`` view.
- ``FrozenList`` / ``FrozenMap`` / ``ExactKey`` are the hashable forms used for map keys that
  Python cannot hash (lists, maps) or would merge (``1`` and ``1.0``); see ``freeze``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = [
    "Atom",
    "Pid",
    "Ref",
    "Port",
    "Fun",
    "Export",
    "BitBinary",
    "ImproperList",
    "Charlist",
    "FrozenList",
    "FrozenMap",
    "ExactKey",
    "freeze",
]


class Atom:
    """An Erlang atom. Interned: ``Atom("ok") is Atom("ok")``.

    Deliberately not a ``str``: ``Atom("ok") != "ok"``, so a binary ``"ok"`` (an Elixir
    string) and the atom ``:ok`` never compare equal. ``str(a)`` is the name,
    ``repr(a)`` is ``Atom('ok')``. ``true``/``false`` are decoded as Python ``bool``; an
    ``Atom("true")`` still encodes to the same atom.
    """

    __slots__ = ("name", "__weakref__")
    # The first ``_STRONG_LIMIT`` atoms are kept for the life of the process (the names a
    # program uses); any further ones (a peer sending a million distinct atoms) are interned
    # weakly, so they are freed when no term holds them and the table cannot grow without
    # bound. Identity still holds: while an atom is alive, ``Atom(name)`` returns it.
    _table: dict[str, "Atom"] = {}
    _overflow: "weakref.WeakValueDictionary[str, Atom]" = weakref.WeakValueDictionary()
    _STRONG_LIMIT = 50_000
    name: str

    def __new__(cls, name: str) -> "Atom":
        atom = cls._table.get(name)
        if atom is not None:
            return atom
        if type(name) is not str:
            if isinstance(name, Atom):
                return name
            raise TypeError(f"Atom name must be a str, got {type(name).__name__}: {name!r}")
        if len(name) > 255:
            raise ValueError(f"an atom has at most 255 characters; got {len(name)}")
        atom = cls._overflow.get(name)
        if atom is not None:
            return atom
        atom = object.__new__(cls)
        object.__setattr__(atom, "name", name)
        if len(cls._table) < cls._STRONG_LIMIT:
            return cls._table.setdefault(name, atom)
        return cls._overflow.setdefault(name, atom)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Atom is immutable")

    def __reduce__(self):
        return (Atom, (self.name,))

    def __copy__(self) -> "Atom":
        return self

    def __deepcopy__(self, memo: dict) -> "Atom":
        return self

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Atom({self.name!r})"

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Atom):
            return self.name < other.name
        return NotImplemented


@dataclass(frozen=True, slots=True)
class Pid:
    """A process identifier. ``str(pid)`` is ``<0.Id.Serial>``, as its own node prints it."""

    node: Atom
    id: int
    serial: int
    creation: int

    def __str__(self) -> str:
        return f"<0.{self.id}.{self.serial}>"


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference. ``ids`` are the 32-bit words as on the wire (first word: 18 bits)."""

    node: Atom
    creation: int
    ids: tuple[int, ...]

    def __str__(self) -> str:
        return "#Ref<0." + ".".join(str(i) for i in reversed(self.ids)) + ">"


@dataclass(frozen=True, slots=True)
class Port:
    """A port identifier."""

    node: Atom
    id: int
    creation: int

    def __str__(self) -> str:
        return f"#Port<0.{self.id}>"


@dataclass(frozen=True, slots=True)
class Export:
    """``fun Module:Function/Arity``."""

    module: Atom
    function: Atom
    arity: int

    def __str__(self) -> str:
        return f"fun {self.module}:{self.function}/{self.arity}"


@dataclass(frozen=True, slots=True)
class Fun:
    """A local fun, kept opaque: ``raw`` is the exact external encoding (tag byte included,
    no 131 version byte), re-encoded byte for byte. ``module``/``arity`` are read from it
    for display; calling it is the node's business."""

    raw: bytes

    @property
    def arity(self) -> int:
        return self.raw[5]  # NEW_FUN_EXT: tag, size:32, arity:8

    @property
    def module(self) -> "Atom":
        from .decode import decode_one

        # tag, size:32, arity:8, uniq:16 bytes, index:32, numfree:32, then Module.
        mod, _ = decode_one(b"\x83" + self.raw[30:], 0)
        return mod

    def __str__(self) -> str:
        return f"#Fun<{self.module}>"


@dataclass(frozen=True, slots=True)
class BitBinary:
    """A bitstring: ``data`` whose last byte has ``bits`` (1..7) significant high bits.
    The unused low bits are cleared, as the node does, so equal bitstrings compare equal."""

    data: bytes
    bits: int

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise TypeError(f"BitBinary.data must be bytes, got {type(self.data).__name__}")
        if not 1 <= self.bits <= 7:
            raise ValueError(
                f"BitBinary.bits must be 1..7 (a whole last byte is a plain binary: use bytes); got {self.bits}"
            )
        data = bytes(self.data)
        if not data:
            raise ValueError("BitBinary needs at least one byte of data")
        mask = (0xFF << (8 - self.bits)) & 0xFF
        if data[-1] & ~mask:
            data = data[:-1] + bytes([data[-1] & mask])
        object.__setattr__(self, "data", data)

    @property
    def bit_size(self) -> int:
        return (len(self.data) - 1) * 8 + self.bits


@dataclass(slots=True)
class ImproperList:
    """``[items... | tail]`` where ``tail`` is not a list."""

    items: list
    tail: Any

    def __hash__(self) -> int:
        return hash((ImproperList, tuple(self.items), self.tail))


class Charlist(list):
    """A list of character codes, as ``STRING_EXT`` carries it (Erlang ``"abc"``, Elixir
    ``'abc'``). It *is* a list of ints, so ``Charlist("hi") == [104, 105]``; ``.text``
    gives the characters. Build one from text with ``Charlist.from_text("hi")``."""

    __slots__ = ()

    @classmethod
    def from_text(cls, text: str) -> "Charlist":
        return cls(map(ord, text))

    @property
    def text(self) -> str:
        return "".join(map(chr, self))

    def __repr__(self) -> str:
        if self and all(32 <= c < 127 or c in (9, 10, 13) for c in self):
            return f"Charlist.from_text({self.text!r})"
        return f"Charlist({list(self)!r})"


class FrozenList(tuple):
    """A hashable stand-in for a list used inside a map key. Encodes as a list.
    Compares equal only to another ``FrozenList`` (never to a tuple, which is a different
    Erlang term)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is FrozenList and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((FrozenList, tuple(self)))

    def thaw(self) -> list:
        return list(self)

    def __repr__(self) -> str:
        return f"FrozenList({list(self)!r})"


class FrozenMap:
    """A hashable stand-in for a map used inside a map key. Encodes as a map."""

    __slots__ = ("_items", "_hash")

    def __init__(self, mapping: dict | Iterable[tuple[Any, Any]] = ()) -> None:
        pairs = mapping.items() if isinstance(mapping, dict) else mapping
        items = frozenset((freeze(k), freeze(v)) for k, v in pairs)
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_hash", hash((FrozenMap, items)))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("FrozenMap is immutable")

    def items(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def thaw(self) -> dict:
        return dict(self._items)

    def __eq__(self, other: object) -> bool:
        return type(other) is FrozenMap and self._items == other._items

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self._items)!r})"


class ExactKey:
    """A map key compared by its exact Erlang identity (its encoding).

    Python merges ``1``, ``1.0`` and ``True`` as dict keys; Erlang maps do not
    (``#{1 => a, 1.0 => b}`` has two keys). The decoder wraps *every* key of such a map in
    ``ExactKey`` so no key is lost; ``.term`` is the original key. Encodes as that key.
    """

    __slots__ = ("term", "_enc")

    def __init__(self, term: Any) -> None:
        from .encode import encode

        object.__setattr__(self, "term", term)
        object.__setattr__(self, "_enc", encode(term))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("ExactKey is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is ExactKey and self._enc == other._enc

    def __hash__(self) -> int:
        return hash(self._enc)

    def __repr__(self) -> str:
        return f"ExactKey({self.term!r})"


def freeze(term: Any) -> Any:
    """The hashable form of a term, for use as a map key: lists become ``FrozenList``,
    maps ``FrozenMap``, and containers are frozen deeply. Hashable terms are returned as is.
    Look up a map decoded with a list key as ``m[freeze([1, 2])]``."""
    t = type(term)
    if t is list or t is Charlist:
        return FrozenList(freeze(x) for x in term)
    if t is dict:
        return FrozenMap(term)
    if t is tuple:
        return tuple(freeze(x) for x in term)
    if t is ImproperList:
        return ImproperList(FrozenList(freeze(x) for x in term.items), freeze(term.tail))
    return term

