"""Encoding Python values to the External Term Format.

The mapping is exact in both directions (see docs/distribution.md) with one documented
one-way convenience: a Python ``str`` is sent as a UTF-8 binary (an Elixir string) and comes
back as ``bytes``. ``None`` is refused: Erlang has no null, and guessing ``nil`` (Elixir) or
``undefined`` (Erlang) would silently change meaning.

Always produced: SMALL_ATOM_UTF8/ATOM_UTF8, NEW_PID, NEWER_REFERENCE, NEW_PORT (V4_PORT for
64-bit ids), NEW_FLOAT, SMALL/INTEGER/SMALL_BIG/LARGE_BIG, STRING for lists of bytes
shorter than 65536 (as the node itself does), LIST, MAP, BINARY, BIT_BINARY, EXPORT, and
funs as their original bytes.
"""

from __future__ import annotations

import struct
from typing import Any

from .terms import Atom, BitBinary, Charlist, ExactKey, Export, FrozenList, FrozenMap, Fun, ImproperList, Pid, Port, Ref

__all__ = ["encode", "encode_into", "EncodeError"]


class EncodeError(TypeError):
    """The Python value has no Erlang term counterpart."""


_p_u32 = struct.Struct(">I").pack
_p_i32 = struct.Struct(">i").pack
_p_u16 = struct.Struct(">H").pack
_p_f64 = struct.Struct(">Bd").pack
_p_pid = struct.Struct(">III").pack
_p_u32u32 = struct.Struct(">II").pack
_p_u64u32 = struct.Struct(">QI").pack

_ATOM_BYTES: dict[Atom, bytes] = {}
_TRUE = b"\x77\x04true"
_FALSE = b"\x77\x05false"


def _atom_bytes(atom: Atom) -> bytes:
    enc = _ATOM_BYTES.get(atom)
    if enc is None:
        raw = atom.name.encode("utf-8")
        if len(raw) < 256:
            enc = b"\x77" + bytes([len(raw)]) + raw
        else:
            enc = b"\x76" + _p_u16(len(raw)) + raw
        if len(_ATOM_BYTES) < 100_000:
            _ATOM_BYTES[atom] = enc
    return enc


def _int(n: int, out: bytearray) -> None:
    if 0 <= n < 256:
        out += b"\x61" + bytes((n,))
    elif -2147483648 <= n <= 2147483647:
        out += b"\x62" + _p_i32(n)
    else:
        sign = 1 if n < 0 else 0
        mag = -n if sign else n
        raw = mag.to_bytes((mag.bit_length() + 7) // 8, "little")
        if len(raw) < 256:
            out += bytes((0x6E, len(raw), sign)) + raw
        else:
            out += b"\x6f" + _p_u32(len(raw)) + bytes((sign,)) + raw


def _list(items, out: bytearray, tail: Any = None, improper: bool = False) -> None:
    n = len(items)
    if not improper:
        if n == 0:
            out.append(106)
            return
        if n < 65536 and all(type(x) is int and 0 <= x < 256 for x in items):
            out += b"\x6b" + _p_u16(n) + bytes(items)
            return
    out += b"\x6c" + _p_u32(n)
    for x in items:
        _enc(x, out)
    if improper:
        _enc(tail, out)
    else:
        out.append(106)


def _enc(term: Any, out: bytearray) -> None:
    t = type(term)
    if t is Atom:
        out += _atom_bytes(term)
    elif t is int:
        _int(term, out)
    elif t is tuple:
        n = len(term)
        if n < 256:
            out += bytes((0x68, n))
        else:
            out += b"\x69" + _p_u32(n)
        for x in term:
            _enc(x, out)
    elif t is bytes:
        out += b"\x6d" + _p_u32(len(term))
        out += term
    elif t is list or t is Charlist:
        _list(term, out)
    elif t is str:
        raw = term.encode("utf-8")
        out += b"\x6d" + _p_u32(len(raw))
        out += raw
    elif t is Pid:
        out += b"\x58" + _atom_bytes(_node(term.node)) + _p_pid(term.id, term.serial, term.creation)
    elif t is dict:
        out += b"\x74" + _p_u32(len(term))
        for k, v in term.items():
            _enc(k, out)
            _enc(v, out)
    elif t is float:
        out += _p_f64(70, term)
    elif t is bool:
        out += _TRUE if term else _FALSE
    elif t is Ref:
        ids = term.ids
        out += b"\x5a" + _p_u16(len(ids))
        out += _atom_bytes(_node(term.node))
        out += _p_u32(term.creation)
        out += struct.pack(f">{len(ids)}I", *ids)
    elif t is Port:
        node = _atom_bytes(_node(term.node))
        if term.id < 2**32:
            out += b"\x59" + node + _p_u32u32(term.id, term.creation)
        else:
            out += b"\x78" + node + _p_u64u32(term.id, term.creation)
    elif t is BitBinary:
        out += b"\x4d" + _p_u32(len(term.data)) + bytes((term.bits,))
        out += term.data
    elif t is ImproperList:
        if isinstance(term.tail, list) and not isinstance(term.tail, FrozenList):
            raise EncodeError(
                "ImproperList.tail is a list, which would make a proper list; "
                "append the items instead (ImproperList is only for non-list tails)"
            )
        if not term.items:
            raise EncodeError("ImproperList needs at least one item before the tail")
        _list(term.items, out, term.tail, improper=True)
    elif t is Fun:
        out += term.raw
    elif t is Export:
        out += b"\x71" + _atom_bytes(_node(term.module)) + _atom_bytes(_node(term.function))
        out += b"\x61" + bytes((term.arity,))
    elif t is FrozenList:
        _list(list(term), out)
    elif t is FrozenMap:
        items = list(term.items())
        out += b"\x74" + _p_u32(len(items))
        for k, v in items:
            _enc(k, out)
            _enc(v, out)
    elif t is ExactKey:
        _enc(term.term, out)
    elif term is None:
        raise EncodeError(
            "None has no Erlang counterpart; use Atom('nil') for Elixir nil or Atom('undefined') "
            "for the Erlang convention"
        )
    else:
        _enc_subclass(term, out)


def _node(atom: Any) -> Atom:
    if type(atom) is not Atom:
        raise EncodeError(f"expected an Atom here (node, module or function name), got {atom!r}")
    return atom


def _enc_subclass(term: Any, out: bytearray) -> None:
    """Subclasses of the built-in types (IntEnum, str enums, OrderedDict, bytearray ...)."""
    if isinstance(term, bool):
        out += _TRUE if term else _FALSE
    elif isinstance(term, int):
        _int(int(term), out)
    elif isinstance(term, (bytearray, memoryview)):
        raw = bytes(term)
        out += b"\x6d" + _p_u32(len(raw))
        out += raw
    elif isinstance(term, bytes):
        out += b"\x6d" + _p_u32(len(term))
        out += term
    elif isinstance(term, str):
        _enc(str(term), out)
    elif isinstance(term, float):
        out += _p_f64(70, float(term))
    elif isinstance(term, tuple):
        _enc(tuple(term), out)
    elif isinstance(term, list):
        _list(list(term), out)
    elif isinstance(term, dict):
        _enc(dict(term), out)
    else:
        raise EncodeError(
            f"cannot encode a {type(term).__name__} as an Erlang term: {term!r:.80}. Use Atom, int, "
            "float, bytes, str (sent as a binary), tuple, list, dict, Pid, Ref, Port, BitBinary, "
            "ImproperList, Export or Fun"
        )


def encode_into(term: Any, out: bytearray) -> None:
    """Append ``term``'s encoding *without* the 131 version byte to ``out``."""
    try:
        _enc(term, out)
    except RecursionError as exc:
        raise EncodeError("term nested too deeply to encode") from exc


def encode(term: Any) -> bytes:
    """The external term format of ``term``, starting with the version byte 131."""
    out = bytearray(b"\x83")
    encode_into(term, out)
    return bytes(out)
