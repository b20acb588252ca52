"""What a running server holds between tool calls: the local hidden node, its connections
to target nodes, the trace store, and the captures in flight.

It is created by the server's lifespan and reached from a tool through its ``Context``
(``app_state(ctx)``), never through a module global, so two servers in one process (as in
the tests) never share connections. Everything is opened lazily: ``tools/list`` must answer
in well under a second, before any node or store is touched.

Connections are the local node's, keyed by node name. A tool that names no node uses the
one connected most recently, or ``ServerConfig.default_node`` (connecting on first use). A
connection that went down is dropped by the node, so the next call reconnects cleanly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import ServerConfig

if TYPE_CHECKING:
    from elixir_scope.instrument.dist import Connection, Node
    from elixir_scope.store import TraceStore

log = logging.getLogger(__name__)


class NoNodeSelected(LookupError):
    """A tool needs a node, none was named, and none is connected or configured."""


@dataclass
class AppState:
    """Shared, per-server state; see the module docs."""

    config: ServerConfig
    node_: Node | None = None
    current: str | None = None
    store_: TraceStore | None = None
    captures: dict[int, Any] = field(default_factory=dict)
    # Heavy objects built on first use by the tools that need them (the knowledge retriever).
    cache: dict[str, Any] = field(default_factory=dict)
    # Diagnosis reports of this server session, by id (also served as MCP resources).
    reports: dict[str, Any] = field(default_factory=dict)
    # Store work runs in worker threads (tools.common.in_thread): open the store only once.
    store_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- nodes ---------------------------------------------------------------------------
    @property
    def node(self) -> Node:
        """The local hidden node, created on first use."""
        if self.node_ is None:
            from elixir_scope.instrument.dist import Node

            self.node_ = Node()
        return self.node_

    def connected(self) -> list[str]:
        return sorted(self.node_.connections) if self.node_ is not None else []

    async def connect(self, name: str, cookie: str | None = None, timeout: float = 10.0) -> Connection:
        """Connect (or reuse the live connection) to ``name``; it becomes the current node."""
        conn = await self.node.connect(name, cookie=cookie or self.config.cookie, timeout=timeout)
        self.current = name
        return conn

    async def connection(self, name: str | None = None) -> Connection:
        """The connection a tool should use: ``name``, else the current node, else the default.

        A dead connection is dropped by the node itself, so this reconnects transparently."""
        target = name or self.current or self.config.default_node
        if target is None:
            raise NoNodeSelected(
                "no node is connected: call connect_node with the node's name (name@host) first"
            )
        return await self.connect(target)

    async def disconnect(self, name: str) -> bool:
        conn = self.node_.connections.get(name) if self.node_ is not None else None
        if self.current == name:
            rest = [n for n in self.connected() if n != name]
            self.current = rest[0] if rest else None
        if conn is None:
            return False
        await conn.close()
        return True

    # -- store ---------------------------------------------------------------------------
    def store(self) -> TraceStore:
        """The trace store, opened on first use (creating its folder)."""
        with self.store_lock:
            if self.store_ is None:
                from elixir_scope.store import TraceStore

                path = self.config.resolved_store_path
                path.parent.mkdir(parents=True, exist_ok=True)
                self.store_ = TraceStore.open(path)
            return self.store_

    async def close(self) -> None:
        """Stop captures, close connections and the store; one failure must not skip the rest."""
        for cap in list(self.captures.values()):
            try:
                await cap.stop()
            except Exception:
                log.warning("stopping a capture at shutdown failed", exc_info=True)
        self.captures.clear()
        if self.node_ is not None:
            await self.node_.close()
            self.node_ = None
        if self.store_ is not None:
            self.store_.close()
            self.store_ = None


def app_state(ctx: Any) -> AppState:
    """The server's shared state, from the lifespan (``ctx`` is the tool's ``Context``)."""
    return ctx.request_context.lifespan_context
