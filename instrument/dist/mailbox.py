"""Mailboxes: the Python side's processes.

A mailbox has a pid (and optionally a registered name) on our hidden node; remote processes
send to it, link to it and monitor it as if it were a process. Delivery is a deque append
plus waking at most one waiter, so the connection's reader does no more per message than
decode and put.

Exit signals never kill anything on the Python side: they arrive as ``ExitSignal`` objects
in the mailbox (like a process with ``trap_exit``). Closing a mailbox is its "process
exit" with reason ``normal``: linked processes get an exit signal, monitoring processes get
``'DOWN'``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..etf import Atom, Pid, Ref
from .errors import MailboxClosed

if TYPE_CHECKING:
    from .connection import Connection
    from .node import Node

__all__ = ["Mailbox", "ExitSignal", "UndecodableMessage"]

_NORMAL = Atom("normal")


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """An exit signal delivered to a mailbox instead of killing it.

    ``linked`` is True for a linked process that exited (EXIT), False for ``exit/2`` sent
    to us (EXIT2)."""

    from_pid: Pid
    reason: Any
    linked: bool = True


@dataclass(frozen=True, slots=True)
class UndecodableMessage:
    """A message that arrived but could not be decoded here; ``data`` is its external term
    format (with the 131 byte), ``error`` says why. Delivered instead of dropping it."""

    data: bytes
    error: str


class Mailbox:
    """A local process: ``await receive()``, ``receive_nowait()``, ``async for msg in mbox``."""

    def __init__(self, node: "Node", pid: Pid, name: Atom | None) -> None:
        self.node = node
        self.pid = pid
        self.name = name
        self._queue: deque = deque()
        self._waiter: asyncio.Future | None = None
        self._closed = False
        # links: remote pid -> connection; monitors we hold: ref -> (connection, target)
        self._links: dict[Pid, "Connection"] = {}
        self._monitors: dict[Ref, tuple["Connection", Any]] = {}
        # remote processes monitoring us: ref -> (connection, their pid, how they named us)
        self._monitored_by: dict[Ref, tuple["Connection", Pid, Any]] = {}

    def __repr__(self) -> str:
        name = f" {self.name}" if self.name is not None else ""
        return f"<Mailbox {self.pid}{name}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def _deliver(self, msg: Any) -> None:
        if self._closed:
            return
        self._queue.append(msg)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def receive(self, timeout: float | None = None) -> Any:
        """The next message; ``asyncio.TimeoutError`` after ``timeout`` seconds."""
        q = self._queue
        if q:
            return q.popleft()
        if self._closed:
            raise MailboxClosed(self.pid)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not q:
            if self._closed:
                raise MailboxClosed(self.pid)
            if self._waiter is not None:
                raise RuntimeError(
                    f"another task is already waiting in {self}.receive(); a mailbox has one reader "
                    "(open one mailbox per consumer)"
                )
            self._waiter = loop.create_future()
            try:
                if deadline is None:
                    await self._waiter
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise asyncio.TimeoutError(f"no message in {self} within {timeout}s")
                    await asyncio.wait_for(self._waiter, left)
            finally:
                self._waiter = None
        return q.popleft()

    def receive_nowait(self) -> Any:
        """The next message if there is one, else ``asyncio.QueueEmpty``."""
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            raise MailboxClosed(self.pid)
        raise asyncio.QueueEmpty()

    def drain(self, limit: int | None = None) -> list:
        """Every queued message (up to ``limit``) at once, without waiting: batch consumers
        avoid one await per message."""
        q = self._queue
        n = len(q) if limit is None else min(limit, len(q))
        return [q.popleft() for _ in range(n)]

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except MailboxClosed:
            raise StopAsyncIteration from None

    def close(self, reason: Any = _NORMAL) -> None:
        """Exit this "process": links get an exit signal with ``reason``, monitors get DOWN."""
        if self._closed:
            return
        self._closed = True
        self.node._unregister(self)
        for remote, conn in list(self._links.items()):
            conn._mailbox_exited_link(self, remote, reason)
        self._links.clear()
        for ref, (conn, target) in list(self._monitors.items()):
            conn._mailbox_dropped_monitor(self, ref, target)
        self._monitors.clear()
        for ref, (conn, their_pid, as_named) in list(self._monitored_by.items()):
            conn._mailbox_exited_monitor(self, ref, their_pid, as_named, reason)
        self._monitored_by.clear()
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def __aenter__(self) -> "Mailbox":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
