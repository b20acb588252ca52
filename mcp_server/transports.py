"""Transports and HTTP auth: stdio for desktop clients, streamable HTTP for everything else.

Safety rules (DESIGN decision 8), enforced here and in ``ServerConfig.validate``:

- HTTP binds to 127.0.0.1 unless told otherwise, with DNS-rebinding protection on: a request
  whose ``Host`` is not a loopback name with the server's own port (or an explicitly allowed
  one) gets 421, one whose ``Origin`` is foreign gets 403 - and a loopback origin on *another*
  port (another local web app) is foreign unless allowed with ``--allowed-origin``. Requests
  without ``Origin`` (non-browser clients) pass.
- Bound anywhere else, the server refuses to start unless it has a bearer token of at least
  16 characters *and* an explicit list of allowed Host values; protection then stays on with
  exactly those hosts.
- Sessions are capped per client address with eviction of that client's oldest session
  (``http_sessions``), so one client cannot lock everyone else out.
- With a token, every request must carry ``Authorization: Bearer <token>``; otherwise 401
  with ``WWW-Authenticate: Bearer`` (``BearerGuard``, an ASGI middleware in front of the whole
  app). Tokens are compared in constant time.

Why not the SDK's OAuth support (``AuthSettings``): it publishes OAuth protected-resource
metadata (``/.well-known/oauth-protected-resource``) naming an authorization server, and a
static token has none - a client that follows the metadata finds a 404. A shared bearer token
is not OAuth, so no metadata is published and the 401 names no ``resource_metadata``.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from .config import ServerConfig, is_loopback

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


def loopback_hosts(port: int) -> list[str]:
    """Host header values of a loopback server: its own port only."""
    return [f"{name}:{port}" for name in LOOPBACK_NAMES]


def loopback_origins(port: int) -> list[str]:
    """Browser origins accepted by a loopback server: pages served on *its own* port only.
    Another local web app (``http://localhost:3000``) is a different origin; allow it
    explicitly with ``--allowed-origin`` if it should talk to this server."""
    return [f"http://{name}:{port}" for name in LOOPBACK_NAMES]


class BearerGuard:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``.

    A missing, malformed or wrong token gets 401 with ``WWW-Authenticate: Bearer`` and a
    JSON-RPC error body that says what to send; nothing behind the guard runs. The
    comparison is constant-time (``hmac.compare_digest`` on bytes). Non-HTTP scopes (the
    ASGI lifespan) pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries the server's token."""
        if not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        raw = headers.get(b"authorization")
        authorization = raw.decode("latin-1") if raw is not None else None
        if self.accepts(authorization):
            await self.app(scope, receive, send)
            return
        why = ("no Authorization header" if authorization is None
               else "the bearer token is wrong" if authorization.lower().startswith("bearer ")
               else "the Authorization header is not 'Bearer <token>'")
        error = "invalid_request" if authorization is None else "invalid_token"
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
            "code": -32001,
            "message": f"unauthorized: {why}; send 'Authorization: Bearer <token>' with the token "
                       "the server was started with (ELIXIR_SCOPE_TOKEN or --token)"}}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", f'Bearer realm="elixir-scope", error="{error}"'.encode()),
        ]})
        await send({"type": "http.response.body", "body": body})


def security_settings(config: ServerConfig) -> TransportSecuritySettings:
    """Host/Origin validation, always on: loopback names plus whatever was allowed explicitly."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = list(config.allowed_hosts)
    origins = list(config.allowed_origins)
    if is_loopback(config.host):
        hosts = loopback_hosts(config.port) + hosts
        origins = loopback_origins(config.port) + origins
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def http_app(server: MCPServer, config: ServerConfig) -> ASGIApp:
    """The ASGI app for streamable HTTP at ``config.path``, with the security settings and,
    when the server has a token, the ``BearerGuard`` in front of everything."""
    from .http_sessions import install

    app = server.streamable_http_app(
        streamable_http_path=config.path,
        transport_security=security_settings(config),
        host=config.host,
    )
    install(server, max_per_client=config.max_sessions_per_client)
    return BearerGuard(app, config.token) if config.token else app


def serve(server: MCPServer, config: ServerConfig) -> None:
    """Run ``server`` on the configured transport until interrupted (blocking)."""
    config.validate()
    if config.transport == "stdio":
        import anyio

        from .stdio_guard import run_stdio

        anyio.run(run_stdio, server)  # the SDK's stdio, plus -32700/-32600 answers for bad lines
        return
    import anyio
    import uvicorn

    app = http_app(server, config)
    uv = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning")
    )
    anyio.run(uv.serve)
