"""EPMD, the port mapper: which TCP port a node name listens on.

A client-only hidden node never registers itself, it only asks: ``PORT_PLEASE2_REQ``
(``[len:16][122][name]``) answered by ``[119, Result, Port:16, NodeType, Proto, HighVsn:16,
LowVsn:16, Nlen:16, Name, Elen:16, Extra]`` (Result 0 = found), after which EPMD closes the
socket. When the name is missing, ``NAMES_REQ`` (110) lists what is registered, so the
error can say which names *are* there.

The EPMD port is 4369 unless ``ERL_EPMD_PORT`` says otherwise (as for ``erl`` itself).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from dataclasses import dataclass

from .errors import HandshakeError, HostUnreachable, NodeNotFound

__all__ = ["NodePort", "port_please", "names", "epmd_port"]

PORT_PLEASE2_REQ = 122
PORT2_RESP = 119
NAMES_REQ = 110


def epmd_port() -> int:
    try:
        return int(os.environ.get("ERL_EPMD_PORT", "4369"))
    except ValueError:
        return 4369


@dataclass(frozen=True, slots=True)
class NodePort:
    name: str
    port: int
    node_type: int  # 77 = normal Erlang node, 72 = hidden (C node)
    protocol: int
    highest_version: int
    lowest_version: int


async def _open(host: str, port: int, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError as exc:
        raise HostUnreachable(host, port, "EPMD", f"no answer in {timeout}s") from exc
    except OSError as exc:
        raise HostUnreachable(host, port, "EPMD", exc.strerror or exc) from exc


async def names(host: str, *, port: int | None = None, timeout: float = 5.0) -> dict[str, int]:
    """Every node name registered in EPMD on ``host``, with its port."""
    port = port or epmd_port()
    reader, writer = await _open(host, port, timeout)
    try:
        writer.write(struct.pack(">HB", 1, NAMES_REQ))
        data = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    text = data[4:].decode("utf-8", "replace")
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"name (\S+) at port (\d+)", text)}


async def port_please(host: str, name: str, *, port: int | None = None, timeout: float = 5.0) -> NodePort:
    """Look ``name`` (the part before ``@``) up in EPMD on ``host``."""
    epmd = port or epmd_port()
    reader, writer = await _open(host, epmd, timeout)
    try:
        raw = name.encode("utf-8")
        writer.write(struct.pack(">HB", 1 + len(raw), PORT_PLEASE2_REQ) + raw)
        head = await asyncio.wait_for(reader.readexactly(2), timeout)
        if head[0] != PORT2_RESP:
            raise HandshakeError(f"EPMD on {host}:{epmd} answered with unexpected byte {head[0]}; is that port really EPMD?")
        if head[1] != 0:
            found = await names(host, port=epmd, timeout=timeout)
            raise NodeNotFound(name, host, list(found))
        body = await asyncio.wait_for(reader.readexactly(10), timeout)
        node_port, node_type, proto, high, low, nlen = struct.unpack(">HBBHHH", body)
        _ = await asyncio.wait_for(reader.readexactly(nlen), timeout)
    except asyncio.IncompleteReadError as exc:
        raise HandshakeError(f"EPMD on {host}:{epmd} closed the connection mid-answer") from exc
    except asyncio.TimeoutError as exc:
        raise HostUnreachable(host, epmd, "EPMD", f"no answer in {timeout}s") from exc
    finally:
        writer.close()
    return NodePort(name, node_port, node_type, proto, high, low)
