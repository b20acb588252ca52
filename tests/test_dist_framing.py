"""Packet framing of a live connection: ``[Len:32][Data]`` packets arrive in reads cut
anywhere (inside a header, inside a body, on a boundary, several packets and a tick in one
read); every message is delivered once, whole and in order, whatever the cuts.

DistProtocol reads whole packets in place and completes a packet begun in an earlier read
with one copy (instrument/dist/transport.py); these tests pin what it delivers for every kind
of cut, on a real connection to a real node, and that the real node's large messages (larger
than one socket read) arrive intact.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from support.nodes import start_node

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist, Pid, encode


@pytest.fixture(scope="module")
def target():
    node = start_node("erl")
    yield node
    node.stop()


def _reg_send(name: str, sender: Pid, msg) -> bytes:
    """One distribution packet: REG_SEND {6, From, '', Name} and the message."""
    body = b"p" + encode((6, sender, Atom(""), Atom(name))) + encode(msg)
    return len(body).to_bytes(4, "big") + body


TICK = b"\x00\x00\x00\x00"


def _stream(name: str, sender: Pid) -> tuple[bytes, list]:
    msgs = [(Atom("m"), i, bytes([i % 251]) * size)
            for i, size in enumerate([0, 1, 3, 4, 5, 100, 4096, 70_000, 2, 300_000, 7])]
    parts = []
    for i, m in enumerate(msgs):
        parts.append(_reg_send(name, sender, m))
        if i % 3 == 1:
            parts.append(TICK)
    return b"".join(parts), msgs


def _cuts(total: int, rng: random.Random) -> list[list[int]]:
    """Ways to cut a stream of ``total`` bytes into reads."""
    ways = [[1] * min(total, 40_000) + ([total - 40_000] if total > 40_000 else []),  # byte by byte, then the rest
            [2, 3, 1, 5] * 3 + [total - 33],  # inside the first headers
            [total]]  # all in one read
    for _ in range(6):
        sizes, left = [], total
        while left > 0:
            n = min(left, rng.choice([1, 2, 3, 4, 5, 7, 64, 1000, 65_536, 262_144]))
            sizes.append(n)
            left -= n
        ways.append(sizes)
    return ways


async def test_packets_cut_anywhere_arrive_whole_and_in_order(target):
    rng = random.Random(13)
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        mbox = node.mailbox("es_framing_test")
        sender = Pid(Atom(target.name), 77, 0, 1)
        stream, msgs = _stream("es_framing_test", sender)
        proto = conn._proto
        for sizes in _cuts(len(stream), rng):
            pos = 0
            for n in sizes:
                proto.data_received(stream[pos:pos + n])
                pos += n
            assert pos == len(stream)
            assert not proto._buf, f"bytes left over after whole packets (cuts {sizes[:12]}...)"
            got = mbox.drain()
            assert got == msgs, f"cuts {sizes[:12]}...: {len(got)} messages, {len(msgs)} sent"
        # the connection is still fine after all that
        assert await conn.rpc("erlang", "node", []) == Atom(target.name)
        mbox.close()


async def test_large_messages_from_the_node_arrive_intact(target):
    """Messages larger than a socket read (256 KB), sent back to back by the node: each is
    completed across reads and the ones after it are read in place."""
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        mbox = node.mailbox("es_framing_big")
        sizes = [5, 400_000, 3, 1_000_000, 17, 262_140, 262_144, 9]
        code = ("[ {es_framing_big, '%s'} ! {big, I, binary:copy(<<(I rem 251)>>, S)} "
                "|| {I, S} <- lists:zip(lists:seq(1, %d), %s) ], ok."
                % (node.name, len(sizes), "[" + ",".join(map(str, sizes)) + "]"))
        tokens = await conn.rpc("erl_scan", "string", [Charlist(map(ord, code))])
        exprs = await conn.rpc("erl_parse", "parse_exprs", [tokens[1]])
        assert (await conn.rpc("erl_eval", "exprs", [exprs[1], []]))[1] == Atom("ok")
        got = []
        for _ in sizes:
            got.append(await asyncio.wait_for(mbox.receive(), 30))
        assert [(m[1], len(m[2])) for m in got] == list(zip(range(1, len(sizes) + 1), sizes))
        assert all(m[2] == bytes([m[1] % 251]) * len(m[2]) for m in got)
        mbox.close()
