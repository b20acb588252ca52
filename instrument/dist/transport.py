"""The socket side of a connection: one ``asyncio.Protocol`` for both phases.

Why a protocol and not ``StreamReader``: after the handshake, packets are handled
synchronously inside ``data_received`` (split, decode, put in a mailbox queue) with no
coroutine switch per packet, which is what keeps trace batches cheap. During the handshake
the same object offers ``await read_exact(n)``; switching to packet mode is a flag, so no
byte the peer sends right after the handshake can be lost between two readers.

Framing after the handshake: ``[Len:32][Data]``; ``Len == 0`` is a tick. A header
declaring more than ``max_packet`` bytes (``MAX_PACKET_BYTES`` by default) closes the
connection at once, before a byte of that packet is buffered: the reason given to the
connection says how big the packet claimed to be and which limit it broke.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Callable

__all__ = ["DistProtocol", "MAX_PACKET_BYTES", "PacketTooLarge"]

_u32 = struct.Struct(">I").unpack_from

# The largest distribution packet accepted. A trace batch is at most batch_size records of
# max_term_bytes each (8 MB with the defaults); rpc results of whole-node surveys stay well
# below this.
MAX_PACKET_BYTES = 256 * 1024 * 1024


class PacketTooLarge(ConnectionError):
    """A packet header declared more bytes than ``max_packet`` (the connection is closed)."""

    def __init__(self, declared: int, limit: int) -> None:
        self.declared, self.limit = declared, limit
        super().__init__(
            f"the peer sent a packet header declaring {declared} bytes, above the {limit}-byte limit "
            "(max_packet); the connection was closed before buffering it - the peer is not a sane "
            "BEAM node or the stream is corrupt")


class DistProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_packet: int = MAX_PACKET_BYTES) -> None:
        self.loop = loop
        self.max_packet = max_packet
        self._refused = False
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._want = 0
        self._read_waiter: asyncio.Future | None = None
        self._eof = False
        self.lost_exc: BaseException | None = None
        self.closed = asyncio.Event()
        # packet mode
        self._on_packet: Callable[[bytes, int, int], None] | None = None
        self._on_lost: Callable[[BaseException | None], None] | None = None
        self.last_rx = loop.time()
        # write flow control
        self._can_write = asyncio.Event()
        self._can_write.set()

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self.last_rx = self.loop.time()
        on_packet = self._on_packet
        if on_packet is None:
            self._buf += data
            w = self._read_waiter
            if w is not None and not w.done() and len(self._buf) >= self._want:
                w.set_result(None)
            return
        buf = self._buf
        pos, n_data = 0, len(data)
        if buf:
            # A packet begun in an earlier read: complete it from the head of ``data`` with
            # one copy (its header checked before a byte more is buffered); the packets after
            # it are read in place below.
            if len(buf) < 4:
                pos = min(4 - len(buf), n_data)
                buf += data[:pos]
                if len(buf) < 4:
                    return
            (n,) = _u32(buf, 0)
            if n > self.max_packet:
                self._refuse(n)
                return
            missing = 4 + n - len(buf)
            if missing > n_data - pos:
                buf += data[pos:] if pos else data
                return
            with memoryview(buf) as have, memoryview(data) as more:
                packet = b"".join((have[4:], more[pos:pos + missing]))
            buf.clear()
            pos += missing
            if n:
                on_packet(packet, 0, n)
        # Whole packets straight from ``data``, with no copy.
        while n_data - pos >= 4:
            (n,) = _u32(data, pos)
            if n > self.max_packet:
                self._refuse(n)
                return
            end = pos + 4 + n
            if end > n_data:
                break
            if n:
                on_packet(data, pos + 4, end)
            pos = end
        if pos < n_data:
            buf += data[pos:] if pos else data

    def _refuse(self, declared: int) -> None:
        """An oversized packet header: drop what is buffered, report, and abort the socket."""
        self._refused = True
        self._buf.clear()
        exc = PacketTooLarge(declared, self.max_packet)
        self.lost_exc = exc
        on_lost, self._on_lost = self._on_lost, None
        if self.transport is not None:
            self.transport.abort()
        if on_lost is not None:
            on_lost(exc)

    def eof_received(self) -> bool | None:
        self._eof = True
        w = self._read_waiter
        if w is not None and not w.done():
            w.set_result(None)
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._eof = True
        if not self._refused:
            self.lost_exc = exc
        w = self._read_waiter
        if w is not None and not w.done():
            w.set_result(None)
        self._can_write.set()
        self.closed.set()
        if self._on_lost is not None:
            self._on_lost(exc)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- handshake phase ---------------------------------------------------------------
    async def read_exact(self, n: int) -> bytes:
        """The next ``n`` bytes; ``EOFError`` when the peer closed first."""
        while len(self._buf) < n:
            if self._eof:
                raise EOFError(f"connection closed after {len(self._buf)} of {n} bytes")
            self._want = n
            self._read_waiter = self.loop.create_future()
            try:
                await self._read_waiter
            finally:
                self._read_waiter = None
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def read_packet16(self) -> bytes:
        (n,) = struct.unpack(">H", await self.read_exact(2))
        return await self.read_exact(n)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        if not self._can_write.is_set():
            await self._can_write.wait()

    # -- packet phase ------------------------------------------------------------------
    def start_packets(self, on_packet: Callable[[bytes, int, int], None], on_lost: Callable[[BaseException | None], None]) -> None:
        """Switch to ``[Len:32]`` packets; bytes already buffered are processed now."""
        self._on_lost = on_lost
        self._on_packet = on_packet
        if self._eof:
            self.loop.call_soon(on_lost, self.lost_exc)
        if self._buf:
            pending = bytes(self._buf)
            self._buf.clear()
            self.data_received(pending)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
