"""What a running server holds between tool calls: the local hidden node, its connections
to target nodes, the trace store, and the captures in flight.

It is created by the server's lifespan and reached from a tool through its ``Context``
(``app_state(ctx)``), never through a module global, so two servers in one process (as in
the tests) never share connections. Everything is opened lazily: ``tools/list`` must answer
in well under a second, before any node or store is touched.

Connections are the local node's, keyed by node name. A tool that names no node uses the
one connected most recently *in the same client session*, or ``ServerConfig.default_node``
(connecting on first use). Over HTTP each MCP session (``Mcp-Session-Id``) has its own current
node (``SessionScope``) - stateless requests of the newest protocol, which carry no session,
one per client address - so one client's ``connect_node`` never redirects another client's
tools; stdio has one client and one scope. The captures a session started and the diagnosis
reports it produced belong to its scope too: ``capture_status`` lists, ``stop_capture`` stops
and ``elixir-scope://reports/{id}`` reads only the caller's own (the recordings themselves are
in the shared store, for every session to read). Every capture the server started is also
kept in ``AppState.running``, so shutdown stops them all, whichever session started them. A connection that went down is dropped by the
node, so the next call reconnects cleanly.

The cookie a connection was made with is remembered (as a redacted ``Cookie``): asking for an
already connected node with a *different* cookie is refused with ``CookieMismatch`` instead of
silently reusing the connection - the node accepted the first cookie, so it would have
refused the second.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import ServerConfig

if TYPE_CHECKING:
    from elixir_scope.instrument.dist import Connection, Node
    from elixir_scope.store import TraceStore

log = logging.getLogger(__name__)


class NoNodeSelected(LookupError):
    """A tool needs a node, none was named, and none is connected or configured."""


class CookieMismatch(PermissionError):
    """``connect_node`` named a node that is connected with another cookie."""

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(
            f"authentication failed, check the cookie: {node} is already connected with a different "
            "cookie, and a node accepts only one cookie from us - this one is wrong. Omit the cookie to "
            "use the existing connection, or disconnect_node first to reconnect with another cookie")


# Diagnosis reports kept per session (the oldest is dropped first; its resource then says so).
MAX_REPORTS = 100


@dataclass
class SessionScope:
    """What one client session owns: its current node, the captures it started (by id) and
    the diagnosis reports it produced (by id, the newest ``MAX_REPORTS``)."""

    current: str | None = None
    captures: dict[int, Any] = field(default_factory=dict)
    reports: OrderedDict[str, Any] = field(default_factory=OrderedDict)

    def keep_report(self, report_id: str, report: Any) -> None:
        self.reports[report_id] = report
        while len(self.reports) > MAX_REPORTS:
            self.reports.popitem(last=False)


# Per-session scopes kept at most (least recently used dropped first; a dropped session's
# tools then fall back to the default node, as for a new session).
MAX_SESSION_SCOPES = 10_000


@dataclass
class AppState:
    """Shared, per-server state; see the module docs."""

    config: ServerConfig
    node_: Node | None = None
    store_: TraceStore | None = None
    # Every capture this server started, whichever session did (stopped at shutdown).
    running: dict[int, Any] = field(default_factory=dict)
    # Heavy objects built on first use by the tools that need them (the knowledge retriever).
    cache: dict[str, Any] = field(default_factory=dict)
    # Store work runs in worker threads (tools.common.in_thread): open the store only once.
    store_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The scope of stdio / in-process clients, and per-HTTP-session scopes by session id.
    scope: SessionScope = field(default_factory=SessionScope)
    session_scopes: OrderedDict[str, SessionScope] = field(default_factory=OrderedDict, repr=False)
    # The cookie each connection was made with (Cookie objects: redacted).
    cookies: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def current(self) -> str | None:
        return self.scope.current

    @current.setter
    def current(self, name: str | None) -> None:
        self.scope.current = name

    @property
    def captures(self) -> dict[int, Any]:
        """The captures of the shared scope (stdio / in-process clients)."""
        return self.scope.captures

    @property
    def reports(self) -> OrderedDict[str, Any]:
        """The diagnosis reports of the shared scope (also served as MCP resources)."""
        return self.scope.reports

    def add_capture(self, capture_id: int, capture: Any, *, scope: SessionScope | None = None) -> None:
        """Register a capture started by ``scope``'s client (default: the shared scope)."""
        (scope or self.scope).captures[capture_id] = capture
        self.running[capture_id] = capture

    def add_report(self, report_id: str, report: Any, *, scope: SessionScope | None = None) -> None:
        (scope or self.scope).keep_report(report_id, report)

    def for_session(self, session_id: str | None) -> "AppState | SessionView":
        """The state as the client session ``session_id`` sees it (None: the shared scope)."""
        if not session_id:
            return self
        scope = self.session_scopes.get(session_id)
        if scope is None:
            scope = self.session_scopes[session_id] = SessionScope()
            while len(self.session_scopes) > MAX_SESSION_SCOPES:
                self.session_scopes.popitem(last=False)
        else:
            self.session_scopes.move_to_end(session_id)
        return SessionView(self, scope)

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

    async def connect(self, name: str, cookie: Any = None, timeout: float = 10.0, *,
                      scope: SessionScope | None = None) -> Connection:
        """Connect (or reuse the live connection) to ``name``; it becomes the current node of
        ``scope`` (default: the shared scope). An explicit ``cookie`` that differs from the one
        a live connection was made with raises ``CookieMismatch``."""
        from elixir_scope.instrument.dist.cookie import NoCookie, resolve_cookie

        live = self.node.connections.get(name)
        if cookie is not None and live is not None and not live.closed.is_set():
            used = self.cookies.get(name)
            if used is not None and resolve_cookie(cookie) != used:
                raise CookieMismatch(name)
        conn = await self.node.connect(name, cookie=cookie or self.config.cookie, timeout=timeout)
        if live is None or live is not conn:
            try:
                self.cookies[name] = resolve_cookie(cookie or self.config.cookie)
            except NoCookie:  # connected without one we can name (cannot happen after a handshake)
                self.cookies.pop(name, None)
        (scope or self.scope).current = name
        return conn

    async def connection(self, name: str | None = None, *, scope: SessionScope | None = None) -> Connection:
        """The connection a tool should use: ``name``, else the current node, else the default.

        A dead connection is dropped by the node itself, so this reconnects transparently."""
        scope = scope or self.scope
        target = name or scope.current or self.config.default_node
        if target is None:
            raise NoNodeSelected(
                "no node is connected: call connect_node with the node's name (name@host) first"
            )
        return await self.connect(target, scope=scope)

    async def disconnect(self, name: str, *, scope: SessionScope | None = None) -> bool:
        conn = self.node_.connections.get(name) if self.node_ is not None else None
        rest = [n for n in self.connected() if n != name]
        for sc in [self.scope, *self.session_scopes.values(), *([scope] if scope else [])]:
            if sc.current == name:
                sc.current = rest[0] if rest else None
        self.cookies.pop(name, None)
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

                from elixir_scope.store import StoreOpenError, StoreReadOnlyError

                path = self.config.resolved_store_path
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.store_ = TraceStore.open(path)
                except (StoreOpenError, StoreReadOnlyError):
                    if not path.exists():
                        raise
                    # a store on read-only media: the history tools still answer (captures
                    # into it then fail with StoreReadOnlyError, which says so)
                    self.store_ = TraceStore.open(path, readonly=True)
            return self.store_

    async def close(self) -> None:
        """Stop captures, close connections and the store; one failure must not skip the rest."""
        for cap in list(self.running.values()):
            try:
                await cap.stop()
            except Exception:
                log.warning("stopping a capture at shutdown failed", exc_info=True)
        self.running.clear()
        for sc in [self.scope, *self.session_scopes.values()]:
            sc.captures.clear()
        if self.node_ is not None:
            await self.node_.close()
            self.node_ = None
        if self.store_ is not None:
            self.store_.close()
            self.store_ = None


class SessionView:
    """``AppState`` as one HTTP client session sees it: its own current node, captures and
    reports; everything else (node, connections, store, caches) shared."""

    __slots__ = ("_shared", "_scope")

    def __init__(self, shared: AppState, scope: SessionScope) -> None:
        self._shared = shared
        self._scope = scope

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared, name)

    @property
    def current(self) -> str | None:
        return self._scope.current

    @current.setter
    def current(self, name: str | None) -> None:
        self._scope.current = name

    @property
    def captures(self) -> dict[int, Any]:
        return self._scope.captures

    @property
    def reports(self) -> OrderedDict[str, Any]:
        return self._scope.reports

    def add_capture(self, capture_id: int, capture: Any) -> None:
        self._shared.add_capture(capture_id, capture, scope=self._scope)

    def add_report(self, report_id: str, report: Any) -> None:
        self._shared.add_report(report_id, report, scope=self._scope)

    async def connect(self, name: str, cookie: Any = None, timeout: float = 10.0) -> Connection:
        return await self._shared.connect(name, cookie, timeout, scope=self._scope)

    async def connection(self, name: str | None = None) -> Connection:
        return await self._shared.connection(name, scope=self._scope)

    async def disconnect(self, name: str) -> bool:
        return await self._shared.disconnect(name, scope=self._scope)


def _session_id(ctx: Any) -> str | None:
    """Whose scope a request uses: its HTTP ``Mcp-Session-Id`` (stateful sessions), else for
    stateless HTTP requests the client's address (requests of the newest protocol carry no
    session), else None (stdio and in-process clients: one client, the shared scope)."""
    try:
        request = ctx.request_context.request
    except Exception:
        return None
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    sid = headers.get("mcp-session-id")
    if sid:
        return "session:" + sid
    client = getattr(request, "client", None)
    return "address:" + (client.host if client is not None else "?")


def app_state(ctx: Any) -> AppState | SessionView:
    """The server's state as this request's client session sees it (``ctx`` is the tool's
    ``Context``): shared, except the current node, captures and reports, which are per HTTP
    session."""
    shared: AppState = ctx.request_context.lifespan_context
    return shared.for_session(_session_id(ctx))
