"""HTTP sessions capped per client, with eviction instead of lock-out.

The SDK's session manager has one global cap (10,000 sessions): a single client that opens
sessions in a loop fills it, and from then on every other client gets 503 until the idle
timeout (30 minutes) frees room. Here:

- each client (its address; behind a proxy, the proxy) holds at most
  ``max_per_client`` sessions: opening one more closes *that client's* oldest session;
- when the whole server holds ``max_total`` sessions, opening one more closes the oldest
  session of the client that holds the most.

So a flooding client only ever evicts itself (and, at the global cap, the biggest holder),
and a new client can always open a session. An evicted session's id answers 404, which MCP
clients handle by initializing a new session.

Why a subclass put in place after the app is built: ``streamable_http_app`` creates its
session manager internally and offers no factory; ``install`` swaps the class of that one
instance (same state, two methods overridden).
"""

from __future__ import annotations

import contextvars
import logging
from collections import OrderedDict
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["ClientCappedSessionManager", "install", "MAX_PER_CLIENT", "MAX_TOTAL"]

log = logging.getLogger(__name__)

MAX_PER_CLIENT = 32
MAX_TOTAL = 10_000

_client: contextvars.ContextVar[str] = contextvars.ContextVar("es_http_client", default="?")


class ClientCappedSessionManager(StreamableHTTPSessionManager):
    max_per_client: int
    max_total: int
    _by_client: dict[str, OrderedDict[str, None]]

    async def _handle_stateful_request(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        token = _client.set(str(client[0]) if client else "?")
        try:
            await super()._handle_stateful_request(scope, receive, send)
        finally:
            _client.reset(token)

    def _admit_session(self, requestor: Any) -> Any:
        live = self._server_instances
        for sessions in self._by_client.values():  # forget sessions that ended on their own
            for sid in [s for s in sessions if s not in live]:
                del sessions[sid]
        who = _client.get()
        mine = self._by_client.setdefault(who, OrderedDict())
        while len(mine) >= self.max_per_client:
            self._evict(next(iter(mine)), who, "its client opened more than "
                        f"{self.max_per_client} sessions")
        while len(live) >= self.max_total:
            biggest = max(self._by_client, key=lambda c: len(self._by_client[c]))
            if not self._by_client[biggest]:
                break
            self._evict(next(iter(self._by_client[biggest])), biggest,
                        f"the server holds {self.max_total} sessions")
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id is not None:
            mine[transport.mcp_session_id] = None
        return transport

    def _evict(self, session_id: str, client: str, why: str) -> None:
        self._by_client[client].pop(session_id, None)
        transport = self._server_instances.pop(session_id, None)
        self._session_owners.pop(session_id, None)
        log.warning("closing the oldest HTTP session of %s: %s", client, why)
        if transport is not None and not transport.is_terminated and self._task_group is not None:
            self._task_group.start_soon(transport.terminate)


def install(server: Any, *, max_per_client: int = MAX_PER_CLIENT, max_total: int = MAX_TOTAL) -> None:
    """Make the session manager of ``server`` (after ``streamable_http_app``) client-capped."""
    manager = server.session_manager
    manager.__class__ = ClientCappedSessionManager
    manager.max_per_client = max_per_client
    manager.max_total = max_total
    manager.max_sessions = None  # the caps above replace the SDK's global lock-out
    manager._by_client = {}
