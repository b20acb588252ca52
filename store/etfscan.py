"""Walk External Term Format bytes without building Python terms.

The store compares and slices payloads far more often than it needs their values: a
``receive`` is matched to a ``send`` by the *bytes* of the message (the send's payload is
``{Msg, To}``, so the message is a slice of it), a ``state`` payload ``{Phase, State}`` is
split into its phase and the state's own bytes, a ``handle_call`` argument is compared with a
mailbox message. A full decode costs 20–60 µs per term in Python; skipping costs a few µs.

Both sides come from ``term_to_binary/1`` on the same node, so equal terms have equal bytes
(the same encoder walks the same term). That is what makes byte identity a sound test here.
Across nodes of different releases it is not (OTP 25 writes latin-1 atoms, OTP 26+ UTF-8
ones): ``canonical`` re-encodes every atom one way before such a comparison.

Stored payloads may come from an imported file, so they are treated as hostile: every
malformed input raises ``BatchFormatError`` (cut short, unknown tag, nested too deeply, not
UTF-8), and a compressed payload inflates through ``etf.decode.inflate`` - at most its declared
size and at most ``MAX_INFLATED_BYTES``.
"""

from __future__ import annotations

import struct

from .errors import BatchFormatError

VERSION = 131
_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from

# tag -> fixed number of bytes after the tag (terms with no nested terms and a fixed size)
_FIXED = {97: 1, 98: 4, 99: 31, 70: 8, 106: 0}
_ATOM16 = (100, 118)   # ATOM_EXT, ATOM_UTF8_EXT: 2-byte length
_ATOM8 = (115, 119)    # SMALL_ATOM_EXT, SMALL_ATOM_UTF8_EXT: 1-byte length


def skip(buf: bytes, off: int) -> int:
    """Offset just past the term starting at ``off`` (no version byte)."""
    try:
        end = _skip(buf, off)
    except (IndexError, struct.error) as exc:
        raise BatchFormatError(f"ETF term at offset {off} is cut short ({len(buf)} bytes)") from exc
    except RecursionError as exc:
        raise BatchFormatError(f"ETF term at offset {off} is nested too deeply to scan") from exc
    if end > len(buf):
        raise BatchFormatError(f"ETF term at offset {off} is cut short: it needs {end - off} bytes, "
                               f"{len(buf) - off} are there")
    return end


def _skip(buf: bytes, off: int) -> int:
    tag = buf[off]
    off += 1
    fixed = _FIXED.get(tag)
    if fixed is not None:
        return off + fixed
    if tag == 104:  # SMALL_TUPLE
        n = buf[off]
        off += 1
        for _ in range(n):
            off = _skip(buf, off)
        return off
    if tag == 105:  # LARGE_TUPLE
        n = _U32(buf, off)[0]
        off += 4
        for _ in range(n):
            off = _skip(buf, off)
        return off
    if tag == 108:  # LIST: n elements + tail
        n = _U32(buf, off)[0]
        off += 4
        for _ in range(n + 1):
            off = _skip(buf, off)
        return off
    if tag == 109:  # BINARY
        return off + 4 + _U32(buf, off)[0]
    if tag == 107:  # STRING (list of bytes)
        return off + 2 + _U16(buf, off)[0]
    if tag in _ATOM16:
        return off + 2 + _U16(buf, off)[0]
    if tag in _ATOM8:
        return off + 1 + buf[off]
    if tag == 116:  # MAP
        n = _U32(buf, off)[0]
        off += 4
        for _ in range(2 * n):
            off = _skip(buf, off)
        return off
    if tag == 110:  # SMALL_BIG
        return off + 2 + buf[off]
    if tag == 111:  # LARGE_BIG
        return off + 5 + _U32(buf, off)[0]
    if tag == 77:  # BIT_BINARY
        return off + 5 + _U32(buf, off)[0]
    if tag == 88:  # NEW_PID: node, id, serial, creation(4)
        return _skip(buf, off) + 12
    if tag == 103:  # PID
        return _skip(buf, off) + 9
    if tag == 89:  # NEW_PORT
        return _skip(buf, off) + 8
    if tag == 120:  # V4_PORT
        return _skip(buf, off) + 12
    if tag == 102:  # PORT
        return _skip(buf, off) + 5
    if tag == 90:  # NEWER_REFERENCE: len(2), node, creation(4), ids
        n = _U16(buf, off)[0]
        return _skip(buf, off + 2) + 4 + 4 * n
    if tag == 114:  # NEW_REFERENCE
        n = _U16(buf, off)[0]
        return _skip(buf, off + 2) + 1 + 4 * n
    if tag == 101:  # REFERENCE
        return _skip(buf, off) + 5
    if tag == 113:  # EXPORT: M, F, A
        for _ in range(3):
            off = _skip(buf, off)
        return off
    if tag == 112:  # NEW_FUN: Size includes itself
        return off + _U32(buf, off)[0]
    if tag == 117:  # FUN (old)
        nfree = _U32(buf, off)[0]
        off += 4
        for _ in range(4 + nfree):
            off = _skip(buf, off)
        return off
    raise BatchFormatError(f"unknown ETF tag {tag} at offset {off - 1}")


def body(data: bytes) -> bytes:
    """The term bytes after the version byte, decompressing a compressed term."""
    if not data or data[0] != VERSION:
        raise BatchFormatError("ETF data does not start with the version byte 131")
    if len(data) < 2:
        raise BatchFormatError("ETF data holds only the version byte, no term")
    if data[1] == 80:  # compressed: 4-byte size + zlib, inflated with a bound
        from elixir_scope.instrument.etf.decode import DecodeError, inflate

        try:
            inner, end = inflate(data, 1)
        except DecodeError as exc:
            raise BatchFormatError(str(exc)) from exc
        if not inner:
            raise BatchFormatError("compressed ETF data inflates to nothing")
        return inner
    return data[1:]


def tuple_elements(data: bytes) -> list[bytes]:
    """Each element of a top-level tuple as standalone ETF (with version byte)."""
    b = body(data)
    if b[0] == 104 and len(b) >= 2:
        n, off = b[1], 2
    elif b[0] == 105 and len(b) >= 5:
        n, off = _U32(b, 1)[0], 5
    else:
        raise BatchFormatError(f"expected an ETF tuple, found tag {b[0]}")
    out = []
    for _ in range(n):
        end = skip(b, off)
        out.append(b"\x83" + b[off:end])
        off = end
    return out


def list_elements(data: bytes) -> list[bytes] | None:
    """Elements of a top-level proper list as standalone ETF; None if not a list.
    A STRING_EXT list (small integers) is expanded to SMALL_INTEGER elements so that it
    compares equal to the same elements encoded elsewhere."""
    b = body(data)
    tag = b[0]
    if tag == 106:
        return []
    if tag == 107:
        n = _U16(b, 1)[0] if len(b) >= 3 else 0
        if len(b) < 3 + n:
            raise BatchFormatError(f"ETF string is cut short ({len(b)} bytes)")
        return [bytes((VERSION, 97, c)) for c in b[3:3 + n]]
    if tag != 108:
        return None
    if len(b) < 5:
        raise BatchFormatError(f"ETF list header is cut short ({len(b)} bytes)")
    n, off = _U32(b, 1)[0], 5
    out = []
    for _ in range(n):
        end = skip(b, off)
        out.append(b"\x83" + b[off:end])
        off = end
    return out


def atom_text(data: bytes) -> str | None:
    """The atom's name if ``data`` (standalone ETF) is an atom, else None."""
    b = body(data)
    tag = b[0]
    try:
        if tag in _ATOM16:
            n = _U16(b, 1)[0]
            return b[3:3 + n].decode("utf-8" if tag == 118 else "latin-1")
        if tag in _ATOM8:
            return b[2:2 + b[1]].decode("utf-8" if tag == 119 else "latin-1")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise BatchFormatError(f"malformed ETF atom: {exc}") from exc
    return None


def canonical(data: bytes) -> bytes:
    """``data`` (standalone ETF) with every atom re-encoded one way (UTF-8, SMALL_ATOM_UTF8_EXT
    or ATOM_UTF8_EXT by length), so equal terms encoded by *different* releases compare equal
    byte for byte: OTP 25's ``term_to_binary`` writes latin-1 ``ATOM_EXT`` atoms where OTP 26+
    writes UTF-8 ones. Everything else is copied as it is (both releases encode it alike)."""
    b = body(data)
    out = bytearray(b"\x83")
    try:
        end = _canon(b, 0, out)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise BatchFormatError(f"ETF term is cut short or malformed: {exc}") from exc
    except RecursionError as exc:
        raise BatchFormatError("ETF term is nested too deeply") from exc
    if end != len(b):
        raise BatchFormatError(f"ETF term ends at {end} of {len(b)} bytes")
    return bytes(out)


def _canon_atom(text: bytes, latin1: bool, out: bytearray) -> None:
    raw = text.decode("latin-1").encode("utf-8") if latin1 else text
    if len(raw) < 256:
        out += bytes((119, len(raw)))
    else:
        out += b"\x76" + struct.pack(">H", len(raw))
    out += raw


def _canon(buf: bytes, off: int, out: bytearray) -> int:
    tag = buf[off]
    if tag in _ATOM16:
        n = _U16(buf, off + 1)[0]
        _canon_atom(buf[off + 3:off + 3 + n], tag == 100, out)
        return off + 3 + n
    if tag in _ATOM8:
        n = buf[off + 1]
        _canon_atom(buf[off + 2:off + 2 + n], tag == 115, out)
        return off + 2 + n
    if tag in (104, 105, 108, 116):  # tuples, lists, maps: header, then the elements
        if tag == 104:
            n, head = buf[off + 1], 2
        else:
            n, head = _U32(buf, off + 1)[0], 5
        out += buf[off:off + head]
        off += head
        for _ in range(n * 2 if tag == 116 else n + 1 if tag == 108 else n):
            off = _canon(buf, off, out)
        return off
    if tag in (88, 103, 89, 120, 102, 101):  # pid / port / old ref: node atom + fixed bytes
        out.append(tag)
        end = _canon(buf, off + 1, out)
        stop = _skip(buf, off)
        out += buf[end:stop]
        return stop
    if tag in (90, 114):  # NEWER / NEW_REFERENCE: length, node atom, creation and ids
        out += buf[off:off + 3]
        end = _canon(buf, off + 3, out)
        stop = _skip(buf, off)
        out += buf[end:stop]
        return stop
    if tag == 113:  # EXPORT: M, F, A
        out.append(tag)
        off += 1
        for _ in range(3):
            off = _canon(buf, off, out)
        return off
    stop = _skip(buf, off)  # no atoms inside (or a fun, copied as it is)
    out += buf[off:stop]
    return stop
