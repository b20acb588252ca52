"""Large sub-terms stored once, by content.

Why: a GenServer's state travels in every call's arguments (``handle_call(Req, From, State)``),
in every return (``{reply, R, State}``) and in its ``state`` events; on RabbitMQ that made the
store ~2 KB per event for a state that rarely changes. Ingest therefore splits each large
``call``, ``return`` or ``state`` payload into a *skeleton* — the payload's bytes with its large
elements cut out — and the elements themselves, which go to the ``blobs`` table keyed by a
hash of their bytes (``INSERT OR IGNORE``: an element seen before costs its 24-byte reference
only). States of the ``states`` table are stored the same way, whole. Payloads are byte-exact
after the round trip: readers inflate a skeleton back to the original ETF before anything
looks at it (``Event.payload_bytes`` is always real ETF).

A new element is usually the previous state with one field changed, so it is stored as a
*delta*: ``0x01, base hash (16 bytes), raw deflate of the element with the base element as the
preset dictionary`` (zlib's ``zdict``: tens of bytes for a one-field change, and C-speed both
ways), against the previous new element the writer stored; at most ``MAX_CHAIN`` deltas lead
back to an element stored whole. Reading inflates the chain (cached).

Skeleton layout (docs/event-format.md, "stored payloads")::

    0x00, N, N x (offset:32, length:32, blake2b-128 of the element:16 bytes), remainder

where ``remainder`` is the original bytes without the N elements, and ``offset`` is where each
element starts in the *original* bytes. ETF starts with 131, so a first byte 0 tells the two
apart. Only elements of the top-level list or tuple are cut (a call's arguments, a return
tuple, ``{Phase, State}``), each at least ``MIN_ELEMENT`` bytes, in payloads of at least
``MIN_PAYLOAD`` bytes; send and receive payloads are never cut (causal matching compares their
bytes in SQL).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import OrderedDict
from typing import Callable

from . import etfscan
from .errors import BatchFormatError, StoreCorruptError

MIN_PAYLOAD = 512
MIN_ELEMENT = 256
MARK = 0
DELTA = 1
MAX_CHAIN = 16
_REF = struct.Struct(">II16s")
_U32 = struct.Struct(">I").unpack_from
CUT_KINDS = frozenset({1, 2, 13})  # call, return, state
"""Kinds whose stored payloads may be skeletons."""


def digest(element: bytes) -> bytes:
    return hashlib.blake2b(element, digest_size=16).digest()


def _skeleton(data: bytes, cuts: list[tuple[int, int]]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    refs, blobs, rest, prev = [], [], [], 0
    for off, end in cuts:
        element = data[off:end]
        h = digest(element)
        refs.append(_REF.pack(off, end - off, h))
        blobs.append((h, element))
        rest.append(data[prev:off])
        prev = end
    rest.append(data[prev:])
    return bytes([MARK, len(cuts)]) + b"".join(refs) + b"".join(rest), blobs


def cut(payload: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """(skeleton, [(hash, element)]) for a payload worth cutting, else None. A payload the
    scanner cannot walk is left whole (it is stored as it came)."""
    if len(payload) < MIN_PAYLOAD or payload[0] != 131:
        return None
    tag = payload[1]
    if tag == 108 or tag == 105:  # LIST_EXT / LARGE_TUPLE_EXT: 4-byte count
        n, off = _U32(payload, 2)[0], 6
    elif tag == 104:  # SMALL_TUPLE_EXT
        n, off = payload[2], 3
    else:
        return None
    if n == 0:
        return None
    # The last element needs no walk (a state usually comes last, and walking its bytes in
    # Python would cost more than the rest of ingest): it ends where the tuple ends, or before
    # a proper list's NIL tail. Cutting a byte range is exact whatever the range: inflating
    # puts the same bytes back, so a misjudged end only costs sharing, never correctness.
    last_end = len(payload) - 1 if tag == 108 and payload[-1] == 106 else len(payload)
    cuts = []
    try:
        for _ in range(n - 1):
            end = etfscan.skip(payload, off)
            if end - off >= MIN_ELEMENT and len(cuts) < 254:
                cuts.append((off, end))
            off = end
    except BatchFormatError:
        return None
    if off < last_end and last_end - off >= MIN_ELEMENT:
        cuts.append((off, last_end))
    return _skeleton(payload, cuts) if cuts else None


def cut_whole(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """The same for a whole term with its version byte (a ``states`` row's data): the term
    itself becomes the one element, shared with the payloads that carry the same state."""
    if len(data) < MIN_ELEMENT + 1 or data[0] != 131:
        return None
    return _skeleton(data, [(1, len(data))])


def is_skeleton(data: bytes | None) -> bool:
    return data is not None and len(data) > 0 and data[0] == MARK


def inflate(skeleton: bytes, fetch: Callable[[bytes], bytes | None]) -> bytes:
    """The original bytes of a skeleton; ``fetch(hash)`` returns an element's bytes."""
    n = skeleton[1]
    pos = 2 + n * _REF.size
    out, taken = [], 0  # taken: original bytes emitted so far
    for i in range(n):
        off, length, h = _REF.unpack_from(skeleton, 2 + i * _REF.size)
        take = off - taken
        out.append(skeleton[pos:pos + take])
        pos += take
        element = fetch(h)
        if element is None or len(element) != length:
            raise StoreCorruptError(f"a stored payload refers to element {h.hex()} which is "
                                    f"{'missing' if element is None else 'of the wrong size'}; the "
                                    "store file is damaged (run PRAGMA integrity_check).")
        out.append(element)
        taken = off + length
    out.append(skeleton[pos:])
    return b"".join(out)


class DeltaWriter:
    """A writer's memory of the last element it stored, to store the next one as a delta."""

    def __init__(self) -> None:
        self._base: tuple[bytes, bytes, int] | None = None  # (hash, element, chain length)

    def save(self) -> tuple | None:
        return self._base

    def restore(self, saved: tuple | None) -> None:
        """Forget the elements of a rolled-back transaction: never a delta against those."""
        self._base = saved

    def stored_form(self, h: bytes, element: bytes) -> bytes:
        """What goes into ``blobs.data`` for a new element: a delta against the previous new
        element when that is much smaller, else the element itself."""
        base = self._base
        form, chain = element, 0
        if base is not None and base[2] < MAX_CHAIN and len(element) <= 4 * len(base[1]):
            comp = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=base[1])
            delta = comp.compress(element) + comp.flush()
            if len(delta) + 17 <= len(element) // 2:
                form, chain = bytes([DELTA]) + base[0] + delta, base[2] + 1
        self._base = (h, element, chain)
        return form


def _undelta(data: bytes, fetch: Callable[[bytes], bytes | None]) -> bytes | None:
    base = fetch(data[1:17])
    if base is None:
        return None
    d = zlib.decompressobj(-15, zdict=base)
    return d.decompress(data[17:]) + d.flush()


class BlobCache:
    """Reads elements for ``inflate`` through a query function, with a small LRU cache (the
    same state is asked for again and again while paging through a recording)."""

    def __init__(self, query_one: Callable, size: int = 256) -> None:
        self._query_one = query_one
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = size

    def fetch(self, h: bytes) -> bytes | None:
        hit = self._cache.get(h)
        if hit is not None:
            self._cache.move_to_end(h)
            return hit
        row = self._query_one("SELECT data FROM blobs WHERE hash = ?", (h,))
        if row is None:
            return None
        data = row[0]
        if data[:1] == bytes([DELTA]):
            data = _undelta(data, self.fetch)
            if data is None:
                return None
        self._cache[h] = data
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return data

    def real(self, data: bytes | None) -> bytes | None:
        """``data`` itself if it is plain ETF (or None), else its inflated bytes."""
        if data is None or not data or data[0] != MARK:
            return data
        return inflate(data, self.fetch)


def referenced(skeleton: bytes) -> list[bytes]:
    """The element hashes a skeleton refers to (export copies those and their delta bases)."""
    return [_REF.unpack_from(skeleton, 2 + i * _REF.size)[2] for i in range(skeleton[1])]


def delta_base(data: bytes) -> bytes | None:
    """The hash a stored element is a delta against, or None if it is stored whole."""
    return data[1:17] if data[:1] == bytes([DELTA]) else None
