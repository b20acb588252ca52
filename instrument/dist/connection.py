"""One established connection to a remote node: send, rpc, monitors, links, ticks.

Structure, and why it is safe:

- The reader is the transport's ``data_received``: it splits packets, decodes the control
  term and payload, and hands them to ``signals.dispatch`` which, for a message, only
  appends to a mailbox queue. Nothing awaits on the read path.
- rpc goes through the peer's ``rex`` server with ``{'$gen_call', {Pid, Ref}, {call, M, F,
  A, user}}`` to a node-wide rpc pid; replies are matched by ``Ref`` in a dict of futures.
  Calls are independent, so many can be in flight at once (``asyncio.gather``).
- When the connection goes down for any reason (peer closed, killed, tick timeout, our
  ``close()``), every pending rpc fails at once with ``NodeDown``, every mailbox monitoring a
  remote process gets ``'DOWN'`` with ``noconnection``, every linked mailbox an
  ``ExitSignal(..., noconnection)``, and the down callbacks run once.
- Ticks: we send an empty packet every ``net_ticktime / 4`` seconds and declare the peer
  down after ``net_ticktime`` seconds without a byte from it. ``net_ticktime`` is read
  from the peer right after connecting (``net_kernel:get_net_ticktime/0``), so the
  watchdog follows the node's own setting instead of a constant.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable

from ..etf import Atom, DecodeError, Pid, Ref, decode_one, encode
from .control import Flag, Op
from .errors import DistError, NodeDown, RpcError, RpcTimeout
from .handshake import PeerInfo
from .mailbox import ExitSignal, Mailbox, UndecodableMessage
from .transport import DistProtocol

if TYPE_CHECKING:
    from .node import Node

__all__ = ["Connection"]

log = logging.getLogger(__name__)

_EMPTY = Atom("")
_REX = Atom("rex")
_GEN_CALL = Atom("$gen_call")
_CALL = Atom("call")
_USER = Atom("user")
_BADRPC = Atom("badrpc")
_DOWN = Atom("DOWN")
_PROCESS = Atom("process")
_NORMAL = Atom("normal")
_NOCONNECTION = Atom("noconnection")
_TICK = b"\x00\x00\x00\x00"

DEFAULT_NET_TICKTIME = 60.0


class _Expired(Exception):
    """Internal: an rpc's timer fired (turned into RpcTimeout)."""


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(_Expired())


class Connection:
    """A live link to one node. Made by ``Node.connect``; closed by ``close()``."""

    def __init__(self, node: "Node", proto: DistProtocol, peer: PeerInfo) -> None:
        self.node = node
        self.node_name: str = peer.name
        self.peer_atom = Atom(peer.name)
        self.peer_flags: int = peer.flags
        self.peer_creation: int = peer.creation
        self._proto = proto
        self.loop = proto.loop
        self.closed = asyncio.Event()
        self.down_reason: Any = None
        self.net_ticktime = DEFAULT_NET_TICKTIME
        self._down_callbacks: list[Callable[["Connection"], Any]] = []
        self._rpc_pending: dict[Ref, asyncio.Future] = {}
        self._links: set[tuple[Pid, Pid]] = set()  # (local pid, remote pid)
        self._monitors: dict[Ref, tuple[Mailbox, Any]] = {}  # monitors our mailboxes hold
        self._monitored: dict[Ref, Mailbox] = {}  # remote monitors on our mailboxes
        self._unlink_id = 0
        self._ticker: asyncio.Task | None = None
        self._last_tx = self.loop.time()
        self.use_unlink_id = bool(peer.flags & Flag.UNLINK_ID)

    def __repr__(self) -> str:
        state = f"down: {self.down_reason}" if self.closed.is_set() else "up"
        return f"<Connection {self.node.name} -> {self.node_name} ({state})>"

    # -- lifecycle ----------------------------------------------------------------------
    def _start(self) -> None:
        from .signals import Dispatcher

        dispatcher = Dispatcher(self)
        self._proto.start_packets(dispatcher.on_packet, self._on_lost)
        self._ticker = self.loop.create_task(self._tick_loop(), name=f"dist-tick {self.node_name}")

    async def _read_ticktime(self, timeout: float = 5.0) -> None:
        """Adopt the peer's net_ticktime so the watchdog matches the node's own rules (asked
        within ``timeout`` s; a node whose rpc does not answer keeps the default)."""
        try:
            value = await self.rpc("net_kernel", "get_net_ticktime", [], timeout=timeout)
        except DistError as exc:
            log.debug("could not read net_ticktime from %s (%s); keeping %ss", self.node_name, exc, self.net_ticktime)
            return
        if isinstance(value, tuple) and len(value) == 2:  # {ongoing_change_to, T}
            value = value[1]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            self.net_ticktime = float(value)

    @property
    def tick_interval(self) -> float:
        return self.net_ticktime / 4

    async def _tick_loop(self) -> None:
        proto = self._proto
        last_wake = self.loop.time()
        try:
            while not self.closed.is_set():
                period = min(self.tick_interval, 1.0)
                await asyncio.sleep(period)
                now = self.loop.time()
                stalled = now - last_wake > period + self.tick_interval
                last_wake = now
                if now - self._last_tx >= self.tick_interval:
                    self._write(_TICK)
                if stalled:
                    # Our own event loop was blocked: bytes may be waiting unread, so silence
                    # says nothing about the peer. Look again on the next round.
                    continue
                if now - proto.last_rx > self.net_ticktime:
                    self._go_down(Atom("net_tick_timeout"), abort=True)
                    return
        except asyncio.CancelledError:
            pass

    def add_down_callback(self, cb: Callable[["Connection"], Any]) -> None:
        """``cb(connection)`` runs once when the connection goes down (at once if it already is)."""
        if self.closed.is_set():
            self.loop.call_soon(cb, self)
        else:
            self._down_callbacks.append(cb)

    def _on_lost(self, exc: BaseException | None) -> None:
        if exc is not None:
            reason: Any = f"connection lost: {exc}"
        else:
            reason = "connection closed by the peer"
        self._go_down(reason)

    def _go_down(self, reason: Any, abort: bool = False) -> None:
        if self.closed.is_set():
            return
        self.down_reason = reason
        self.closed.set()
        if abort:
            self._proto.abort()
        else:
            self._proto.close()
        if self._ticker is not None and self._ticker is not asyncio.current_task():
            self._ticker.cancel()
        err = NodeDown(self.node_name, reason)
        for fut in self._rpc_pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._rpc_pending.clear()
        for ref, (mbox, target) in self._monitors.items():
            mbox._monitors.pop(ref, None)
            mbox._deliver((_DOWN, ref, _PROCESS, self._down_object(target), _NOCONNECTION))
        self._monitors.clear()
        for local, remote in self._links:
            mbox = self.node._mailboxes.get(local)
            if mbox is not None:
                mbox._links.pop(remote, None)
                mbox._deliver(ExitSignal(remote, _NOCONNECTION))
        self._links.clear()
        for ref, mbox in self._monitored.items():
            mbox._monitored_by.pop(ref, None)
        self._monitored.clear()
        self.node._connection_down(self)
        for cb in self._down_callbacks:
            try:
                cb(self)
            except Exception:  # a callback's bug must not stop the others
                log.exception("down callback %r failed", cb)
        self._down_callbacks.clear()

    async def close(self) -> None:
        """Disconnect cleanly (links and monitors are signalled ``noconnection``, as in Erlang)."""
        self._go_down("closed locally")
        await self._proto.closed.wait()

    # -- writing ------------------------------------------------------------------------
    def _check_up(self) -> None:
        if self.closed.is_set():
            raise NodeDown(self.node_name, self.down_reason)

    def _write(self, data: bytes) -> None:
        self._last_tx = self.loop.time()
        self._proto.write(data)

    def _send_control(self, ctrl: tuple, msg: Any = None, has_msg: bool = False) -> None:
        self._check_up()
        body = b"p" + encode(ctrl)
        if has_msg:
            body += encode(msg)
        self._write(len(body).to_bytes(4, "big") + body)

    def _remote_pid(self, pid: Pid) -> Pid:
        if pid.node is not self.peer_atom:
            raise ValueError(
                f"{pid} lives on {pid.node}, not on {self.node_name}; use node.connections[{str(pid.node)!r}]"
            )
        return pid

    async def send(self, to: Pid | Atom | str, term: Any, *, sender: Mailbox | None = None) -> None:
        """Send ``term`` to a remote pid, or to a name registered on that node."""
        if isinstance(to, Pid):
            self._remote_pid(to)
            if sender is not None:
                self._send_control((Op.SEND_SENDER.value, sender.pid, to), term, True)
            else:
                self._send_control((Op.SEND.value, _EMPTY, to), term, True)
        else:
            name = to if isinstance(to, Atom) else Atom(to)
            from_pid = sender.pid if sender is not None else self.node._anonymous_pid
            self._send_control((Op.REG_SEND.value, from_pid, _EMPTY, name), term, True)
        await self._proto.drain()

    # -- rpc ----------------------------------------------------------------------------
    async def rpc(self, module: str | Atom, function: str | Atom, args: list, *, timeout: float = 5.0) -> Any:
        """``module:function(args...)`` on the node (through ``rex``; group leader ``user``).

        Raises ``RpcError`` for ``{badrpc, Reason}``, ``RpcTimeout``, ``NodeDown``, and
        ``etf.DecodeError`` when the result arrived but cannot be decoded here."""
        m = module if isinstance(module, Atom) else Atom(module)
        f = function if isinstance(function, Atom) else Atom(function)
        if not isinstance(args, list):
            raise TypeError(f"rpc args must be a list of arguments, got {type(args).__name__}")
        self._check_up()
        ref = self.node.make_ref()
        fut = self.loop.create_future()
        self._rpc_pending[ref] = fut
        rpc_pid = self.node._rpc_pid
        try:
            self._send_control(
                (Op.REG_SEND.value, rpc_pid, _EMPTY, _REX),
                (_GEN_CALL, (rpc_pid, ref), (_CALL, m, f, args, _USER)),
                True,
            )
            await self._proto.drain()
            # A timer that fails the future is cheaper than asyncio.wait_for's extra task.
            timer = self.loop.call_later(timeout, _expire, fut)
            try:
                result = await fut
            finally:
                timer.cancel()
        except _Expired:
            if self.closed.is_set():
                raise NodeDown(self.node_name, self.down_reason) from None
            raise RpcTimeout(m, f, len(args), self.node_name, timeout) from None
        finally:
            self._rpc_pending.pop(ref, None)
        if type(result) is tuple and len(result) == 2 and result[0] is _BADRPC:
            raise RpcError(m, f, len(args), result[1])
        return result

    def _rpc_reply(self, msg: Any) -> None:
        if type(msg) is tuple and len(msg) == 2:
            fut = self._rpc_pending.get(msg[0])
            if fut is not None and not fut.done():
                fut.set_result(msg[1])
        elif isinstance(msg, UndecodableMessage) and msg.data[1:3] == b"h\x02":
            # {Ref, Result} whose Result we cannot read: fail that call now rather than let
            # it run into its timeout.
            try:
                ref, _ = decode_one(b"\x83" + msg.data[3:])
            except DecodeError:
                return
            fut = self._rpc_pending.get(ref)
            if fut is not None and not fut.done():
                fut.set_exception(DecodeError(f"the rpc's result arrived but cannot be decoded: {msg.error}"))

    # -- monitors -----------------------------------------------------------------------
    async def monitor(self, mbox: Mailbox, target: Pid | Atom | str) -> Ref:
        """Monitor a remote process (pid or registered name); ``'DOWN'`` goes to ``mbox`` as
        ``(Atom('DOWN'), ref, Atom('process'), pid_or_{name, node}, reason)``."""
        if isinstance(target, Pid):
            self._remote_pid(target)
        else:
            target = target if isinstance(target, Atom) else Atom(target)
        ref = self.node.make_ref()
        self._send_control((Op.MONITOR_P.value, mbox.pid, target, ref))
        self._monitors[ref] = (mbox, target)
        mbox._monitors[ref] = (self, target)
        await self._proto.drain()
        return ref

    async def demonitor(self, mbox: Mailbox, ref: Ref, *, flush: bool = False) -> None:
        """Stop monitoring; with ``flush`` also drop a ``'DOWN'`` for ``ref`` already queued."""
        entry = self._monitors.pop(ref, None)
        mbox._monitors.pop(ref, None)
        if entry is not None and not self.closed.is_set():
            self._send_control((Op.DEMONITOR_P.value, mbox.pid, entry[1], ref))
            await self._proto.drain()
        if flush:
            kept = [m for m in mbox._queue if not (type(m) is tuple and len(m) == 5 and m[0] is _DOWN and m[1] == ref)]
            mbox._queue.clear()
            mbox._queue.extend(kept)

    def _down_object(self, target: Any) -> Any:
        return target if isinstance(target, Pid) else (target, self.peer_atom)

    def _mailbox_dropped_monitor(self, mbox: Mailbox, ref: Ref, target: Any) -> None:
        if self._monitors.pop(ref, None) is not None and not self.closed.is_set():
            self._send_control((Op.DEMONITOR_P.value, mbox.pid, target, ref))

    def _mailbox_exited_monitor(self, mbox: Mailbox, ref: Ref, their_pid: Pid, as_named: Any, reason: Any) -> None:
        if self._monitored.pop(ref, None) is not None and not self.closed.is_set():
            self._send_control((Op.MONITOR_P_EXIT.value, as_named, their_pid, ref, reason))

    # -- links --------------------------------------------------------------------------
    async def link(self, mbox: Mailbox, remote: Pid) -> None:
        """Link ``mbox`` and a remote process; its exit arrives as an ``ExitSignal``."""
        if not isinstance(remote, Pid):
            raise TypeError(f"link needs a Pid, got {remote!r}")
        self._remote_pid(remote)
        self._send_control((Op.LINK.value, mbox.pid, remote))
        self._links.add((mbox.pid, remote))
        mbox._links[remote] = self
        await self._proto.drain()

    async def unlink(self, mbox: Mailbox, remote: Pid) -> None:
        self._links.discard((mbox.pid, remote))
        mbox._links.pop(remote, None)
        if self.closed.is_set():
            return
        if self.use_unlink_id:
            self._unlink_id += 1
            self._send_control((Op.UNLINK_ID.value, self._unlink_id, mbox.pid, remote))
        else:
            self._send_control((Op.UNLINK.value, mbox.pid, remote))
        await self._proto.drain()

    def _mailbox_exited_link(self, mbox: Mailbox, remote: Pid, reason: Any) -> None:
        if (mbox.pid, remote) in self._links:
            self._links.discard((mbox.pid, remote))
            if not self.closed.is_set():
                self._send_control((Op.EXIT.value, mbox.pid, remote, reason))

