"""Decoding the External Term Format.

Why it looks like this: the decoder sits on the hot path of trace capture (every batch the
tracer agent sends goes through it), so it is one recursive function with the frequent
tags tested first, ``struct.unpack_from`` on the original ``bytes`` (no intermediate
copies), atoms looked up in a cache keyed by their raw bytes, and binaries taken as one
slice (a 1 MB binary is one copy, no per-byte Python work).

Entry points:

- ``decode(data)`` - one whole term (with the 131 version byte); trailing bytes are an error.
- ``decode_one(data, offset)`` - one term starting at ``offset`` (with its 131 byte),
  returning ``(term, new_offset)``: a distribution packet is a control term followed by a
  payload term, back to back.

Every tag a node sends over distribution is understood, plus compressed terms (tag 80)
and the old latin-1 atom, pid, port, reference and float encodings. ``LOCAL_EXT`` (121) is
node-internal and is refused with a clear error.

Bounds (the bytes come from a peer or a file, so they are hostile until decoded):

- A compressed term is only valid right after the version byte (as ``binary_to_term/1``
  has it); it inflates to at most its declared size and at most ``max_inflated`` bytes
  (``MAX_INFLATED_BYTES`` by default), checked while inflating (``zlib.decompressobj`` with
  ``max_length``), so a 2 KB zlib bomb costs at most that many bytes, never gigabytes.
- Nesting deeper than Python's recursion allows is a ``DecodeError``.
- The atom caches are bounded (``_CACHE_LIMIT``, emptied when full), and atoms past
  ``terms.Atom``'s strong table are interned weakly: a million distinct atoms from a peer
  are freed once no term holds them.
- Every failure is a ``DecodeError`` (a ``ValueError``) saying what was wrong and where.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from .terms import Atom, BitBinary, Charlist, ExactKey, Export, Fun, ImproperList, Pid, Port, Ref, freeze

__all__ = ["decode", "decode_one", "inflate", "DecodeError", "MAX_INFLATED_BYTES"]

# The most bytes one compressed term may inflate to (its header may declare less, never more).
# Nothing ElixirScope receives is compressed (the agent and distribution send plain terms), so
# this only has to fit terms a user compresses on purpose; kept small because decoding can
# multiply the inflated size by ~10-30 in Python objects (a list of small integers).
MAX_INFLATED_BYTES = 16 * 1024 * 1024


class DecodeError(ValueError):
    """The bytes are not a valid external term (truncated, unknown tag, trailing data)."""


_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
_i32 = struct.Struct(">i").unpack_from
_f64 = struct.Struct(">d").unpack_from
_pid_tail = struct.Struct(">III").unpack_from
_u32u32 = struct.Struct(">II").unpack_from
_u64u32 = struct.Struct(">QI").unpack_from
_u32u8 = struct.Struct(">IB").unpack_from
_u32u8u8 = struct.Struct(">IIB").unpack_from
_u32x4 = struct.Struct(">IIII").unpack_from

# Building frozen dataclasses through their __init__ costs a Python call per field; the
# decoder sets the slots directly (the values come from the wire and are already typed).
_new = object.__new__
_ref_node = Ref.__dict__["node"].__set__
_ref_creation = Ref.__dict__["creation"].__set__
_ref_ids = Ref.__dict__["ids"].__set__


def _make_ref(node: Atom, creation: int, ids: tuple) -> Ref:
    ref = _new(Ref)
    _ref_node(ref, node)
    _ref_creation(ref, creation)
    _ref_ids(ref, ids)
    return ref

# Atom caches keyed by the raw bytes of the name; true/false map straight to bool.
_UTF8_ATOMS: dict[bytes, Any] = {b"true": True, b"false": False}
_LATIN1_ATOMS: dict[bytes, Any] = {b"true": True, b"false": False}
_CACHE_LIMIT = 100_000


def _reset(cache: dict[bytes, Any]) -> None:
    cache.clear()
    cache[b"true"] = True
    cache[b"false"] = False


def _atom_utf8(raw: bytes) -> Any:
    atom = _UTF8_ATOMS.get(raw)
    if atom is None:
        try:
            atom = Atom(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DecodeError(f"atom name is not valid UTF-8: {raw!r}") from exc
        if len(_UTF8_ATOMS) >= _CACHE_LIMIT:  # start over: keeps the cache bounded and current
            _reset(_UTF8_ATOMS)
        _UTF8_ATOMS[raw] = atom
    return atom


def _atom_latin1(raw: bytes) -> Any:
    atom = _LATIN1_ATOMS.get(raw)
    if atom is None:
        name = raw.decode("latin-1")
        atom = True if name == "true" else False if name == "false" else Atom(name)
        if len(_LATIN1_ATOMS) >= _CACHE_LIMIT:
            _reset(_LATIN1_ATOMS)
        _LATIN1_ATOMS[raw] = atom
    return atom


def _node_atom(data: bytes, pos: int) -> tuple[Atom, int]:
    """The node name inside a pid/port/ref: always an atom (never true/false)."""
    atom, pos = _dec(data, pos)
    if not isinstance(atom, Atom):
        raise DecodeError(f"expected a node name atom inside a pid/port/reference, got {atom!r}")
    return atom, pos


def _map(data: bytes, pos: int, arity: int) -> tuple[dict, int]:
    items, pos = _seq(data, pos, 2 * arity)
    keys = items[::2]
    try:
        d = dict(zip(keys, items[1::2]))
    except TypeError:  # a list or map as a key: use its hashable frozen form
        d = dict(zip(map(freeze, keys), items[1::2]))
    if len(d) != arity:
        # Keys Python merges (1, 1.0, True) but Erlang keeps apart: keep every key exactly.
        d = dict(zip(map(ExactKey, keys), items[1::2]))
    return d, pos


_PID_CACHE: dict[bytes, Pid] = {}


def _pid(data: bytes, start: int) -> tuple[Pid, int]:
    """NEW_PID_EXT at ``start`` (the tag). Pids repeat a lot in traces: cache them by bytes."""
    if data[start + 1] == 119:  # node name as SMALL_ATOM_UTF8 (always, over distribution)
        end = start + 15 + data[start + 2]
        key = data[start:end]
        pid = _PID_CACHE.get(key)
        if pid is None:
            node = _atom_utf8(data[start + 3:end - 12])
            if not isinstance(node, Atom):
                raise DecodeError(f"expected a node name atom inside a pid, got {node!r}")
            pid = Pid(node, *_pid_tail(data, end - 12))
            if len(_PID_CACHE) >= _CACHE_LIMIT:
                _PID_CACHE.clear()
            _PID_CACHE[key] = pid
        return pid, end
    node, pos = _node_atom(data, start + 1)
    i, s, c = _pid_tail(data, pos)
    return Pid(node, i, s, c), pos + 12


def _seq(data: bytes, pos: int, n: int) -> tuple[list, int]:
    """``n`` consecutive terms. Atoms, small integers, binaries and pids - most leaves of a
    trace event - are decoded inline, without a recursive call each."""
    items: list = []
    append = items.append
    atoms = _UTF8_ATOMS
    for _ in range(n):
        tag = data[pos]
        if tag == 119:
            end = pos + 2 + data[pos + 1]
            raw = data[pos + 2:end]
            atom = atoms.get(raw)
            append(atom if atom is not None else _atom_utf8(raw))
            pos = end
        elif tag == 97:
            append(data[pos + 1])
            pos += 2
        elif tag == 104:
            sub, pos = _seq(data, pos + 2, data[pos + 1])
            append(tuple(sub))
        elif tag == 88:
            pid, pos = _pid(data, pos)
            append(pid)
        elif tag == 109:
            (k,) = _u32(data, pos + 1)
            end = pos + 5 + k
            if end > len(data):
                raise DecodeError("truncated binary")
            append(data[pos + 5:end])
            pos = end
        elif tag == 106:
            append([])
            pos += 1
        elif tag == 108:
            (k,) = _u32(data, pos + 1)
            sub, pos = _seq(data, pos + 5, k)
            if data[pos] == 106:
                append(sub)
                pos += 1
            else:
                tail, pos = _dec(data, pos)
                append(ImproperList(sub, tail))
        elif tag == 116:
            (k,) = _u32(data, pos + 1)
            m, pos = _map(data, pos + 5, k)
            append(m)
        elif tag == 107:
            (k,) = _u16(data, pos + 1)
            end = pos + 3 + k
            if end > len(data):
                raise DecodeError("truncated string")
            append(Charlist(data[pos + 3:end]))
            pos = end
        elif tag == 110:  # SMALL_BIG (timestamps)
            end = pos + 3 + data[pos + 1]
            v = int.from_bytes(data[pos + 3:end], "little")
            append(-v if data[pos + 2] else v)
            pos = end
        else:
            x, pos = _dec(data, pos)
            append(x)
    return items, pos


def _dec(data: bytes, pos: int) -> tuple[Any, int]:
    tag = data[pos]
    pos += 1
    if tag == 119:  # SMALL_ATOM_UTF8_EXT
        n = data[pos]
        end = pos + 1 + n
        raw = data[pos + 1:end]
        atom = _UTF8_ATOMS.get(raw)
        if atom is None:
            atom = _atom_utf8(raw)
        return atom, end
    if tag == 97:  # SMALL_INTEGER_EXT
        return data[pos], pos + 1
    if tag == 104:  # SMALL_TUPLE_EXT
        items, pos = _seq(data, pos + 1, data[pos])
        return tuple(items), pos
    if tag == 88:  # NEW_PID_EXT
        return _pid(data, pos - 1)
    if tag == 109:  # BINARY_EXT
        (n,) = _u32(data, pos)
        pos += 4
        end = pos + n
        if end > len(data):
            raise DecodeError("truncated binary")
        return data[pos:end], end
    if tag == 106:  # NIL_EXT
        return [], pos
    if tag == 108:  # LIST_EXT
        (n,) = _u32(data, pos)
        items, pos = _seq(data, pos + 4, n)
        if data[pos] == 106:
            return items, pos + 1
        tail, pos = _dec(data, pos)
        return ImproperList(items, tail), pos
    if tag == 107:  # STRING_EXT
        (n,) = _u16(data, pos)
        pos += 2
        end = pos + n
        if end > len(data):
            raise DecodeError("truncated string")
        return Charlist(data[pos:end]), end
    if tag == 98:  # INTEGER_EXT
        return _i32(data, pos)[0], pos + 4
    if tag == 116:  # MAP_EXT
        (n,) = _u32(data, pos)
        return _map(data, pos + 4, n)
    if tag == 110:  # SMALL_BIG_EXT
        n = data[pos]
        sign = data[pos + 1]
        end = pos + 2 + n
        v = int.from_bytes(data[pos + 2:end], "little")
        return (-v if sign else v), end
    if tag == 90:  # NEWER_REFERENCE_EXT
        (n,) = _u16(data, pos)
        node, pos = _node_atom(data, pos + 2)
        if n == 3:
            creation, *ids = _u32x4(data, pos)
            return _make_ref(node, creation, tuple(ids)), pos + 16
        (creation,) = _u32(data, pos)
        pos += 4
        ids = struct.unpack_from(f">{n}I", data, pos)
        return _make_ref(node, creation, ids), pos + 4 * n
    if tag == 70:  # NEW_FLOAT_EXT
        return _f64(data, pos)[0], pos + 8
    if tag == 105:  # LARGE_TUPLE_EXT
        (n,) = _u32(data, pos)
        items, pos = _seq(data, pos + 4, n)
        return tuple(items), pos
    if tag == 118:  # ATOM_UTF8_EXT
        (n,) = _u16(data, pos)
        end = pos + 2 + n
        return _atom_utf8(data[pos + 2:end]), end
    if tag == 77:  # BIT_BINARY_EXT
        (n,) = _u32(data, pos)
        bits = data[pos + 4]
        pos += 5
        end = pos + n
        if end > len(data):
            raise DecodeError("truncated bit binary")
        if bits == 8 or n == 0:
            return data[pos:end], end
        return BitBinary(data[pos:end], bits), end
    if tag == 111:  # LARGE_BIG_EXT
        (n,) = _u32(data, pos)
        sign = data[pos + 4]
        end = pos + 5 + n
        v = int.from_bytes(data[pos + 5:end], "little")
        return (-v if sign else v), end
    if tag == 112:  # NEW_FUN_EXT: Size counts itself but not the tag
        (size,) = _u32(data, pos)
        end = pos + size
        if end > len(data):
            raise DecodeError("truncated fun")
        return Fun(bytes(data[pos - 1:end])), end
    if tag == 113:  # EXPORT_EXT
        m, pos = _dec(data, pos)
        f, pos = _dec(data, pos)
        a, pos = _dec(data, pos)
        return Export(m, f, a), pos
    if tag == 120:  # V4_PORT_EXT
        node, pos = _node_atom(data, pos)
        i, c = _u64u32(data, pos)
        return Port(node, i, c), pos + 12
    if tag == 89:  # NEW_PORT_EXT
        node, pos = _node_atom(data, pos)
        i, c = _u32u32(data, pos)
        return Port(node, i, c), pos + 8
    if tag == 115:  # SMALL_ATOM_EXT (latin-1)
        n = data[pos]
        end = pos + 1 + n
        return _atom_latin1(data[pos + 1:end]), end
    if tag == 100:  # ATOM_EXT (latin-1)
        (n,) = _u16(data, pos)
        end = pos + 2 + n
        return _atom_latin1(data[pos + 2:end]), end
    if tag == 99:  # FLOAT_EXT: 31 bytes of "%.20e"
        text = data[pos:pos + 31].rstrip(b"\x00")
        try:
            return float(text), pos + 31
        except ValueError as exc:
            raise DecodeError(f"bad FLOAT_EXT text {text!r}") from exc
    if tag == 103:  # PID_EXT
        node, pos = _node_atom(data, pos)
        i, s, c = _u32u8u8(data, pos)
        return Pid(node, i, s, c), pos + 9
    if tag == 102:  # PORT_EXT
        node, pos = _node_atom(data, pos)
        i, c = _u32u8(data, pos)
        return Port(node, i, c), pos + 5
    if tag == 114:  # NEW_REFERENCE_EXT (8-bit creation)
        (n,) = _u16(data, pos)
        node, pos = _node_atom(data, pos + 2)
        creation = data[pos]
        pos += 1
        ids = struct.unpack_from(f">{n}I", data, pos)
        return Ref(node, creation, ids), pos + 4 * n
    if tag == 101:  # REFERENCE_EXT
        node, pos = _node_atom(data, pos)
        i, c = _u32u8(data, pos)
        return Ref(node, c, (i,)), pos + 5
    if tag == 80:
        raise DecodeError(
            f"a compressed term (tag 80) at offset {pos - 1} is nested inside another term; "
            "only a whole term may be compressed (as term_to_binary/2 writes it)")
    if tag == 121:
        raise DecodeError(
            "LOCAL_EXT (121) is node-internal and cannot be decoded outside the node that made it; "
            "ask the node for term_to_binary/1 without the 'local' option"
        )
    if tag == 82:
        raise DecodeError("ATOM_CACHE_REF (82) needs the distribution atom cache, which this client never negotiates")
    raise DecodeError(f"unknown external term tag {tag} at offset {pos - 1}")


def inflate(data: bytes, offset: int, max_inflated: int = MAX_INFLATED_BYTES) -> tuple[bytes, int]:
    """The body of the compressed term whose tag 80 is at ``offset``: ``(inflated, end)``.

    ``UncompressedSize:32`` then a zlib stream. The stream is inflated to at most
    ``min(UncompressedSize, max_inflated)`` bytes plus one (to tell "more than declared"),
    so the cost is bounded before a byte is produced. ``end`` is the offset just past the
    zlib stream. Raises ``DecodeError`` for a bad stream, a size above the cap, or a stream
    that inflates to more or less than declared.
    """
    try:
        (size,) = _u32(data, offset + 1)
    except struct.error as exc:
        raise DecodeError(f"truncated compressed term header at offset {offset}") from exc
    if size > max_inflated:
        raise DecodeError(
            f"compressed term at offset {offset} declares {size} inflated bytes, above the "
            f"{max_inflated}-byte limit (max_inflated); refusing to inflate it")
    z = zlib.decompressobj()
    try:
        inner = z.decompress(data[offset + 5:], size + 1)
    except zlib.error as exc:
        raise DecodeError(f"bad compressed term at offset {offset}: {exc}") from exc
    if len(inner) != size or not z.eof:
        more = "more than" if len(inner) > size or not z.eof else f"{len(inner)} bytes,"
        raise DecodeError(
            f"compressed term at offset {offset} inflates to {more} the {size} bytes its header declares")
    return inner, len(data) - len(z.unused_data)


def decode_one(data: bytes | bytearray | memoryview, offset: int = 0, *,
               max_inflated: int = MAX_INFLATED_BYTES) -> tuple[Any, int]:
    """Decode one term (starting with its 131 version byte) at ``offset``.

    Returns ``(term, new_offset)``; bytes after the term are left alone. A compressed term
    inflates to at most ``max_inflated`` bytes (see ``inflate``).
    """
    if type(data) is not bytes:
        data = bytes(data)
    try:
        if data[offset] != 131:
            raise DecodeError(
                f"expected the version byte 131 at offset {offset}, got {data[offset]} "
                "(is this really term_to_binary output?)"
            )
        if data[offset + 1] == 80:
            inner, end = inflate(data, offset + 1, max_inflated)
            term, used = _dec(inner, 0)
            if used != len(inner):
                raise DecodeError(f"{len(inner) - used} trailing bytes inside the compressed term at offset {offset}")
            return term, end
        term, end = _dec(data, offset + 1)
    except DecodeError:
        raise
    except (IndexError, struct.error) as exc:
        raise DecodeError(f"truncated external term ({len(data) - offset} bytes from offset {offset})") from exc
    except RecursionError as exc:
        raise DecodeError("external term nested too deeply for this decoder") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a 300-character atom, a bitstring with 0 bits
        raise DecodeError(f"invalid external term: {exc}") from exc
    except MemoryError as exc:
        raise DecodeError(f"external term too large to hold in memory ({len(data) - offset} bytes)") from exc
    if end > len(data):
        raise DecodeError(f"truncated external term: needs {end - offset} bytes from offset {offset}, got {len(data) - offset}")
    return term, end


def decode(data: bytes | bytearray | memoryview, *, max_inflated: int = MAX_INFLATED_BYTES) -> Any:
    """Decode exactly one term; trailing bytes are an error (use ``decode_one`` for a
    sequence of terms)."""
    if type(data) is not bytes:
        data = bytes(data)
    term, end = decode_one(data, 0, max_inflated=max_inflated)
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing bytes after the term (at offset {end}); use decode_one")
    return term
