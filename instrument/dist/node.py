"""The local hidden node: our name, pids, references, mailboxes, and connections.

::

    node = Node()                                   # elixir_scope_<user>_<n>@<short host>
    conn = await node.connect("app@myhost")         # cookie: argument > Node default > env > ~/.erlang.cookie
    await conn.rpc("erlang", "node", [])            # Atom('app@myhost')
    mbox = node.mailbox("inbox")                     # a pid (and a registered name) on our node
    await conn.send(Atom("some_server"), (Atom("hello"), mbox.pid), sender=mbox)
    msg = await mbox.receive(timeout=5)
    await node.close()

The node is *hidden* (it never sets PUBLISHED), never registers in EPMD (it only connects
out), and keeps one connection per remote node; ``node.connections`` maps names to them.

Its default name comes from a small pool per user and host, ``elixir_scope_<user>_<n>`` with
``n < NAME_POOL``: every node name is an atom on the target, created on first contact and kept
for the target's life, so a fresh random name per run would add one atom per CLI run. A lock
file per slot (in the temp directory, per user) keeps two live local processes from sharing a
name; a target still holding a connection from a dead process under the same name is told to
drop it. Only when every slot is taken is a random name used.
"""

from __future__ import annotations

import asyncio
import getpass
import itertools
import os
import re
import secrets
import socket
import tempfile
from pathlib import Path
from typing import IO, Any

from ..etf import Atom, Pid, Ref
from .connection import Connection
from .control import OUR_FLAGS
from .cookie import Cookie, NoCookie, resolve_cookie
from .epmd import epmd_port, port_please
from .errors import ConnectError, HandshakeError, HostUnreachable, InvalidNodeName, NodeDown, SimultaneousConnect
from .handshake import client_handshake
from .mailbox import Mailbox
from .transport import DistProtocol

__all__ = ["Node", "split_node_name", "NAME_POOL"]

NAME_POOL = 32


def _user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return re.sub(r"[^A-Za-z0-9_]", "_", user)[:32] or "user"


def _pooled_name(host: str) -> tuple[str, IO | None]:
    """The first free name of this user's pool on this host, and the open lock file that
    holds it (closing it frees the name); a random name when the pool is exhausted."""
    user = _user()
    try:
        import fcntl
    except ImportError:  # no flock (Windows): names by process id, stable enough
        return f"elixir_scope_{user}_p{os.getpid() % NAME_POOL}@{host}", None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"elixir_scope-{uid}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return f"elixir_scope_{secrets.token_hex(4)}@{host}", None
    for n in range(NAME_POOL):
        try:
            f = open(folder / f"node-{n}.lock", "a+")
        except OSError:
            break
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return f"elixir_scope_{user}_{n}@{host}", f
    return f"elixir_scope_{secrets.token_hex(4)}@{host}", None


def split_node_name(name: str) -> tuple[str, str]:
    """``"app@host"`` -> ``("app", "host")``, or ``InvalidNodeName``."""
    if not isinstance(name, str) or name.count("@") != 1:
        raise InvalidNodeName(str(name), "a node name is 'name@host' with exactly one '@'")
    alive, host = name.split("@")
    if not alive or not host:
        raise InvalidNodeName(name, "a node name is 'name@host' with a non-empty name and host")
    return alive, host


SIMULTANEOUS_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Pauses (seconds) before each new attempt after a peer answered ``nok`` (SimultaneousConnect)."""


class Node:
    """A Python hidden Erlang node."""

    def __init__(self, name: str | None = None, cookie: str | Cookie | None = None) -> None:
        self._name_lock: IO | None = None
        if name is None:
            name, self._name_lock = _pooled_name(socket.gethostname().split(".")[0])
        split_node_name(name)
        self.name = name
        self.atom = Atom(name)
        self.creation = secrets.randbits(32) or 1
        self._cookie = cookie if isinstance(cookie, Cookie) or cookie is None else Cookie(cookie)
        self._mailboxes: dict[Pid, Mailbox] = {}
        self._names: dict[Atom, Mailbox] = {}
        self._pid_ids = itertools.count(1)
        self._ref_ids = itertools.count(1)
        self._ref_salt = secrets.randbits(32)
        self._rpc_pid = self._new_pid()
        self._anonymous_pid = self._new_pid()
        self.connections: dict[str, Connection] = {}
        self._connecting: dict[str, asyncio.Future] = {}

    def __repr__(self) -> str:
        return f"<Node {self.name} connections={sorted(self.connections)}>"

    # -- identities ------------------------------------------------------------------------
    def _new_pid(self) -> Pid:
        n = next(self._pid_ids)
        # 15 bits of id and 13 of serial, as every node version accepts.
        return Pid(self.atom, n & 0x7FFF, (n >> 15) & 0x1FFF, self.creation)

    def make_ref(self) -> Ref:
        n = next(self._ref_ids)
        return Ref(self.atom, self.creation, (n & 0x3FFFF, (n >> 18) & 0xFFFFFFFF, self._ref_salt))

    # -- mailboxes -------------------------------------------------------------------------
    def mailbox(self, name: str | Atom | None = None) -> Mailbox:
        """A new mailbox (a pid on this node), optionally registered under ``name`` so remote
        processes can send to ``{Name, ThisNode}``."""
        reg = None
        if name is not None:
            reg = name if isinstance(name, Atom) else Atom(name)
            if reg in self._names:
                raise ValueError(f"a mailbox named {reg} already exists on {self.name}; close it or pick another name")
        mbox = Mailbox(self, self._new_pid(), reg)
        self._mailboxes[mbox.pid] = mbox
        if reg is not None:
            self._names[reg] = mbox
        return mbox

    def whereis(self, name: str | Atom) -> Mailbox | None:
        return self._names.get(name if isinstance(name, Atom) else Atom(name))

    def _unregister(self, mbox: Mailbox) -> None:
        self._mailboxes.pop(mbox.pid, None)
        if mbox.name is not None and self._names.get(mbox.name) is mbox:
            del self._names[mbox.name]

    # -- connections -----------------------------------------------------------------------
    async def connect(
        self, target: str, *, cookie: str | Cookie | None = None, port: int | None = None, timeout: float = 5.0
    ) -> Connection:
        """Connect to ``target`` ("app@host"), or return the live connection to it.

        ``port`` skips EPMD (for nodes started with ``-erl_epmd_port``/without EPMD)."""
        alive, host = split_node_name(target)
        existing = self.connections.get(target)
        if existing is not None and not existing.closed.is_set():
            return existing
        pending = self._connecting.get(target)
        if pending is not None:
            return await asyncio.shield(pending)
        try:
            secret = resolve_cookie(cookie, self._cookie)
        except NoCookie as exc:
            raise ConnectError(str(exc)) from None
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._connecting[target] = fut
        try:
            conn = await asyncio.wait_for(self._connect(target, alive, host, secret, port, timeout), timeout)
        except asyncio.TimeoutError:
            exc: BaseException = HostUnreachable(
                host, port or epmd_port(), f"node {target}" if port else "EPMD / the node",
                f"the EPMD lookup and handshake did not finish within {timeout}s; is the node frozen or overloaded?",
            )
            fut.set_exception(exc)
            fut.exception()
            raise exc from None
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            self._connecting.pop(target, None)
        fut.set_result(conn)
        return conn

    async def _connect(self, target: str, alive: str, host: str, secret: Cookie, port: int | None, timeout: float) -> Connection:
        # a peer answering nok is setting up its own connection to our name, which fails on its
        # own (we take none): try again, a few times, within connect()'s timeout
        for pause in SIMULTANEOUS_RETRIES:
            try:
                return await self._connect_once(target, alive, host, secret, port, timeout)
            except SimultaneousConnect:
                await asyncio.sleep(pause)
        return await self._connect_once(target, alive, host, secret, port, timeout)

    async def _connect_once(self, target: str, alive: str, host: str, secret: Cookie, port: int | None,
                            timeout: float) -> Connection:
        if port is None:
            port = (await port_please(host, alive, timeout=timeout)).port
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: DistProtocol(loop), host, port)
        except OSError as exc:
            raise HostUnreachable(host, port, f"node {target}", exc.strerror or exc) from exc
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        try:
            peer = await client_handshake(
                proto, our_name=self.name, our_creation=self.creation, cookie=secret, target=target, flags=OUR_FLAGS,
                replace_stale=self._name_lock is not None,
            )
        except BaseException:
            proto.abort()
            raise
        if peer.name != target:
            proto.abort()
            raise HandshakeError(f"connected to port {port} expecting {target}, but the node there is {peer.name}")
        conn = Connection(self, proto, peer)
        self.connections[target] = conn
        conn._start()
        # at most half of connect()'s timeout: a node whose rpc hangs is still connected, with
        # the default tick time, instead of the whole connect timing out on this question
        await conn._read_ticktime(min(5.0, timeout / 2))
        if conn.closed.is_set():
            raise NodeDown(target, conn.down_reason)
        return conn

    def connection_for(self, where: Pid | Ref | Atom | str) -> Connection:
        """The live connection to the node a pid/ref belongs to (or to a node name), so code
        holding only a remote pid can send to it: ``node.connection_for(pid).send(pid, msg)``."""
        node = where.node if isinstance(where, (Pid, Ref)) else where
        name = node.name if isinstance(node, Atom) else str(node)
        conn = self.connections.get(name)
        if conn is None or conn.closed.is_set():
            known = ", ".join(sorted(self.connections)) or "none"
            raise NodeDown(name, f"not connected (connected nodes: {known}); call Node.connect({name!r}) first")
        return conn

    def _connection_down(self, conn: Connection) -> None:
        if self.connections.get(conn.node_name) is conn:
            del self.connections[conn.node_name]

    async def close(self) -> None:
        """Close every mailbox (signalling links and monitors) and every connection."""
        for mbox in list(self._mailboxes.values()):
            mbox.close()
        await asyncio.gather(*(c.close() for c in list(self.connections.values())), return_exceptions=True)
        if self._name_lock is not None:
            self._name_lock.close()
            self._name_lock = None

    async def __aenter__(self) -> "Node":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
