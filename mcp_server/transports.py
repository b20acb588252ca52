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
  with ``WWW-Authenticate``. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from .config import ServerConfig, is_loopback

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


def loopback_hosts(port: int) -> list[str]:
    """Host header values of a loopback server: its own port only."""
    return [f"{name}:{port}" for name in LOOPBACK_NAMES]


def loopback_origins(port: int) -> list[str]:
    """Browser origins accepted by a loopback server: pages served on *its own* port only.
    Another local web app (``http://localhost:3000``) is a different origin; allow it
    explicitly with ``--allowed-origin`` if it should talk to this server."""
    return [f"http://{name}:{port}" for name in LOOPBACK_NAMES]


class StaticTokenVerifier:
    """Accepts exactly one bearer token (the one the server was started with)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="elixir-scope-client", scopes=[])
        return None


def auth_kwargs(config: ServerConfig) -> dict[str, Any]:
    """``MCPServer`` constructor arguments for bearer auth (empty when no token is set)."""
    if config.transport != "http" or not config.token:
        return {}
    from mcp.server.auth.settings import AuthSettings

    base = config.url.removesuffix(config.path)
    return {
        "token_verifier": StaticTokenVerifier(config.token),
        "auth": AuthSettings(issuer_url=base, resource_server_url=config.url, validate_token_resource=False),
    }


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


def http_app(server: MCPServer, config: ServerConfig) -> Starlette:
    """The ASGI app for streamable HTTP at ``config.path``, with the security settings."""
    from .http_sessions import install

    app = server.streamable_http_app(
        streamable_http_path=config.path,
        transport_security=security_settings(config),
        host=config.host,
    )
    install(server, max_per_client=config.max_sessions_per_client)
    return app


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
