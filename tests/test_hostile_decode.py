"""Hostile bytes: compression bombs, oversized frames, malformed control messages, bad peer
names, a flood of distinct atoms. Every one ends in a documented error (``DecodeError``,
``BatchFormatError``, ``HandshakeError``, a connection closed with its reason), never in a
``KeyError`` escaping the packet handler or gigabytes of memory.

Distribution cases run on real connections to real nodes (OTP 25 and the OTP 28 runtime):
the hostile packet is fed to the connection's own protocol object, exactly where the socket's
bytes arrive, so the real reader, dispatcher and connection handle it."""

from __future__ import annotations

import asyncio
import gc
import os
import struct
import tracemalloc
import zlib

import pytest

from support.nodes import start_node

from elixir_scope.instrument.dist import HandshakeError, Node, NodeDown
from elixir_scope.instrument.dist.cookie import Cookie
from elixir_scope.instrument.dist.handshake import client_handshake
from elixir_scope.instrument.dist.mailbox import UndecodableMessage
from elixir_scope.instrument.dist.transport import DistProtocol
from elixir_scope.instrument.etf import Atom, DecodeError, decode, decode_one, encode
from elixir_scope.instrument.etf.terms import Atom as AtomType
from elixir_scope.store import etfscan
from elixir_scope.store.errors import BatchFormatError

MB = 1024 * 1024


def _zeros_stream(total: int) -> bytes:
    """A zlib stream that inflates to ``total`` zero bytes (a few KB per GB)."""
    z = zlib.compressobj(9)
    chunk = bytes(MB)
    parts = [z.compress(chunk) for _ in range(total // MB)]
    parts.append(z.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb_stream() -> bytes:
    return _zeros_stream(512 * MB)


def _compressed(declared: int, stream: bytes) -> bytes:
    return b"\x83\x50" + declared.to_bytes(4, "big") + stream


def _peak(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_bomb_declaring_a_small_size_inflates_no_further(bomb_stream):
    data = _compressed(100, bomb_stream)
    assert len(data) < 1 * MB  # a small file ...
    with pytest.raises(DecodeError, match="inflates to more than the 100 bytes"):
        decode(data)
    # ... that costs next to nothing to refuse (the whole stream is 512 MB of zeros)
    peak = _peak(lambda: pytest.raises(DecodeError, decode, data))
    assert peak < 4 * MB


def test_bomb_declaring_a_huge_size_is_refused_before_inflating(bomb_stream):
    data = _compressed(0xFFFF_FFFF, bomb_stream)
    with pytest.raises(DecodeError, match="above the .*-byte limit"):
        decode(data)
    peak = _peak(lambda: pytest.raises(DecodeError, decode, data))
    assert peak < 4 * MB
    # the cap is configurable
    small = _compressed(8 * MB, _zeros_stream(8 * MB))
    with pytest.raises(DecodeError, match="max_inflated"):
        decode(small, max_inflated=1 * MB)


def test_compressed_terms_only_at_the_top(bomb_stream):
    inner = encode((Atom("ok"), b"x" * 100))[1:]
    good = _compressed(len(inner), zlib.compress(inner))
    assert decode(good) == (Atom("ok"), b"x" * 100)
    # a compressed term inside a tuple (binary_to_term refuses it too)
    nested = b"\x83\x68\x01" + good[1:]
    with pytest.raises(DecodeError, match="nested inside another term"):
        decode(nested)


def test_stored_payload_bomb_is_a_batch_format_error(bomb_stream):
    with pytest.raises(BatchFormatError, match="inflates to more than"):
        etfscan.tuple_elements(_compressed(64, bomb_stream))
    with pytest.raises(BatchFormatError, match="limit"):
        etfscan.body(_compressed(0xFFFF_FFF0, bomb_stream))
    peak = _peak(lambda: pytest.raises(BatchFormatError, etfscan.body, _compressed(64, bomb_stream)))
    assert peak < 4 * MB


@pytest.mark.parametrize("data", [
    b"\x83", b"\x83\x68", b"\x83\x69\xff\xff\xff\xff", b"\x83\x64\x00\x02\xff\xfe",
    b"\x83\x77\x02\xff\xfe", b"\x83\x6c\x00\x00\x00\x05\x61", b"\x83" + b"\x68\x01" * 5000 + b"\x6a",
    b"\x83\x6d\xff\xff\xff\xff", b"\x83\x50\x00\x00", b"\x83\x50\x00\x00\x00\x10notzlib",
])
def test_etfscan_raises_only_batch_format_error(data):
    for fn in (etfscan.body, etfscan.tuple_elements, etfscan.list_elements, etfscan.atom_text,
               lambda d: etfscan.skip(d, 1)):
        try:
            fn(data)
        except BatchFormatError:
            pass


def test_a_million_distinct_atoms_do_not_stay_in_memory():
    """The decoder's caches are bounded and atoms past Atom's strong table are weak."""
    def flood(start: int) -> None:
        for i in range(start, start + 200_000):
            name = f"hostile_atom_{i}".encode()
            decode(b"\x83\x77" + bytes([len(name)]) + name)

    flood(0)  # fill every strong table first
    gc.collect()
    before = len(AtomType._overflow)
    peak = _peak(lambda: flood(10_000_000))
    gc.collect()
    # the 200k atoms of the second flood are not all still interned ...
    assert len(AtomType._overflow) - before < 120_000
    # ... and a live atom is still unique
    a = decode(b"\x83\x77\x0fhostile_atom_77")
    assert a is Atom("hostile_atom_77") and a == decode(b"\x83\x77\x0fhostile_atom_77")
    assert peak < 200 * MB


# --- real connections ---------------------------------------------------------------------

@pytest.fixture(scope="module", params=["erl", "otp28"])
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


def _packet(ctrl_and_payload: bytes) -> bytes:
    body = b"p" + ctrl_and_payload
    return len(body).to_bytes(4, "big") + body


async def test_oversized_frame_header_closes_the_connection_at_once(target):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        pending = asyncio.ensure_future(conn.rpc("timer", "sleep", [30_000], timeout=60))
        await asyncio.sleep(0.05)
        proto = conn._proto
        # 4 GB declared, first bytes of it arrive: nothing is buffered, the connection goes down
        proto.data_received(b"\xff\xff\xff\xf0" + b"p" + bytes(1000))
        assert len(proto._buf) == 0
        await asyncio.wait_for(conn.closed.wait(), 10)
        assert "above the" in str(conn.down_reason) and "max_packet" in str(conn.down_reason)
        with pytest.raises(NodeDown, match="max_packet"):
            await asyncio.wait_for(pending, 10)
        assert target.name not in node.connections
        # and a fresh connection works
        conn2 = await node.connect(target.name, cookie=target.cookie)
        assert await conn2.rpc("erlang", "node", []) == Atom(target.name)


async def test_a_frame_in_pieces_is_checked_before_buffering(target):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        proto = conn._proto
        proto.max_packet = 1000
        proto.data_received(b"\x00\x00")       # half a header: kept
        proto.data_received(b"\x10\x00p")      # 4096 declared: refused
        await asyncio.wait_for(conn.closed.wait(), 10)
        assert "4096 bytes" in str(conn.down_reason)


@pytest.mark.parametrize("ctrl", [
    {Atom("op"): 2},                       # a map as control message
    (2,),                                  # too short for SEND
    (Atom("send"), 1, 2),                  # op not a number
    (1, b"not a pid"),                     # LINK with the wrong arity
    (19, Atom("a"), [1, 2], Atom("r")),    # MONITOR_P to an unhashable target
    [],                                    # not a tuple
])
async def test_malformed_control_message_closes_cleanly(target, ctrl):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        loop = asyncio.get_running_loop()
        errors: list = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        try:
            conn._proto.data_received(_packet(encode(ctrl) + encode(Atom("payload"))))
            await asyncio.wait_for(conn.closed.wait(), 10)
        finally:
            loop.set_exception_handler(None)
        assert str(conn.down_reason).startswith("protocol error")
        assert errors == []


async def test_compression_bomb_message_arrives_as_undecodable_and_the_connection_lives(target, bomb_stream):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        mbox = node.mailbox()
        ctrl = encode((2, Atom(""), mbox.pid))
        conn._proto.data_received(_packet(ctrl + _compressed(1000, bomb_stream)))
        msg = await mbox.receive(timeout=5)
        assert isinstance(msg, UndecodableMessage) and "inflates to more than" in msg.error
        assert not conn.closed.is_set()
        assert await conn.rpc("erlang", "node", []) == Atom(target.name)
        # a real compressed message from the node still decodes
        await conn.rpc("erlang", "send", [mbox.pid, (Atom("z"), b"y" * 5000)])
        assert await mbox.receive(timeout=5) == (Atom("z"), b"y" * 5000)


# --- a hostile peer during the handshake ---------------------------------------------------

async def test_non_utf8_peer_name_is_a_handshake_error():
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = struct.unpack(">H", await reader.readexactly(2))[0]
        await reader.readexactly(n)
        writer.write(struct.pack(">H", 3) + b"sok")
        name = b"\xff\xfe@host"
        body = b"N" + struct.pack(">QIIH", (1 << 64) - 1, 1, 1, len(name)) + name
        writer.write(struct.pack(">H", len(body)) + body)
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: DistProtocol(loop), "127.0.0.1", port)
    try:
        with pytest.raises(HandshakeError, match="not valid UTF-8"):
            await client_handshake(proto, our_name=f"es_h_{os.getpid()}@localhost", our_creation=1,
                                   cookie=Cookie("c"), target="fake@localhost")
    finally:
        proto.abort()
        server.close()
        await server.wait_closed()


def test_decode_one_never_raises_anything_else():
    cases = [b"", b"\x83\x50", b"\x83\x50\xff", b"\x83\x6e\xff\x00", b"\x83\x76\x01\x00" + b"a" * 256,
             b"\x83\x4d\x00\x00\x00\x01\x00\x00", b"\x83\x63" + b"1e99999" + bytes(24)]
    for data in cases:
        try:
            decode_one(data)
        except DecodeError:
            pass


# --- fuzzing the packet handler on a real connection --------------------------------------

def test_packet_handler_fuzz_raises_nothing(target):
    """Random control tuples (operation numbers 0-40, random arities and element types) fed to
    a live connection: the handler delivers, answers, ignores or closes the connection with a
    reason - no exception ever reaches the event loop. Only atoms and pids that already exist
    on the node are used, so nothing the fuzz sends back creates an atom there."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    async def reconnect(node):
        # the node may not have noticed our abort yet ("already has a connection"): retry
        for _ in range(100):
            try:
                return await node.connect(target.name, cookie=target.cookie)
            except HandshakeError:
                await asyncio.sleep(0.05)
        return await node.connect(target.name, cookie=target.cookie)

    async def scenario(ctrls: list) -> list:
        errors: list = []
        async with Node() as node:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _l, c: errors.append(c))
            try:
                conn = await node.connect(target.name, cookie=target.cookie)
                mbox = node.mailbox()
                for ctrl, payload in ctrls:
                    if conn.closed.is_set():
                        assert str(conn.down_reason).startswith("protocol error"), conn.down_reason
                        conn = await reconnect(node)
                    body = encode(ctrl) + (encode(payload) if payload is not None else b"")
                    conn._proto.data_received(_packet(body))
                    await asyncio.sleep(0)
                mbox.close()
            finally:
                loop.set_exception_handler(None)
        return errors

    existing = [Atom("ok"), Atom("error"), Atom("noproc"), Atom("normal"), Atom(""), Atom("rex")]
    leaves = st.one_of(st.integers(-5, 40), st.sampled_from(existing), st.binary(max_size=6))
    elems = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6)

    tuples = st.integers(0, 40).flatmap(lambda op: st.lists(elems, max_size=5).map(lambda rest: (op, *rest)))
    odd = st.one_of(st.dictionaries(st.sampled_from(existing), leaves, max_size=2), st.lists(leaves, max_size=3), leaves)

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.one_of(tuples, tuples, odd), st.one_of(st.none(), elems)), min_size=1, max_size=4))
    def run(ctrls):
        assert asyncio.run(scenario(ctrls)) == []

    run()
