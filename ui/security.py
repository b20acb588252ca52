"""Who may talk to the UI server: the MCP HTTP transport's Host/Origin rules plus a token.

- Host and Origin are checked exactly as the MCP streamable-HTTP transport checks them (the
  MCP SDK's ``TransportSecurityMiddleware`` with the loopback lists of
  ``mcp_server/transports.py`` plus the explicitly allowed values): a foreign ``Host`` gets
  421 (DNS rebinding), a foreign ``Origin`` 403. Requests without ``Origin`` pass.
- The page ``/`` needs ``?token=…`` (the URL ``elixir-scope ui`` prints) or the cookie it
  sets; the JSON API needs that cookie or ``Authorization: Bearer <token>``. The cookie is
  ``HttpOnly`` and ``SameSite=Strict``, so another site's page cannot ride on it. Tokens are
  compared in constant time. Static assets (the package's own JS/CSS) need no token.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from elixir_scope.mcp_server.config import is_loopback
from elixir_scope.mcp_server.transports import loopback_hosts, loopback_origins

from .config import UiConfig

COOKIE = "es_ui_token"


def security_settings(config: UiConfig) -> TransportSecuritySettings:
    hosts, origins = list(config.allowed_hosts), list(config.allowed_origins)
    if is_loopback(config.host) or config.host in ("0.0.0.0", "::"):
        # the same rule as the MCP transport: loopback names on this server's own port only
        hosts = loopback_hosts(config.port) + hosts
        origins = loopback_origins(config.port) + origins
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


class UiGuard:
    """ASGI middleware enforcing the rules of the module docstring."""

    def __init__(self, app: ASGIApp, config: UiConfig) -> None:
        self.app = app
        self.token = config.token.encode()
        self.checks = TransportSecurityMiddleware(security_settings(config))

    def _ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = await self.checks.validate_request(request, is_post=False)
        if refused is not None:
            await refused(scope, receive, send)
            return
        path = scope.get("path", "/")
        if path.startswith("/static/") or path == "/favicon.ico":
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie(request.headers.get("cookie", ""))
        from_cookie = cookie[COOKIE].value if COOKIE in cookie else None
        auth = request.headers.get("authorization", "")
        from_header = auth[7:] if auth.lower().startswith("bearer ") else None
        from_query = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        if path.startswith("/api/"):
            if self._ok(from_cookie) or self._ok(from_header):
                await self.app(scope, receive, send)
            else:
                await _deny(send, "this API needs the UI token: open the URL `elixir-scope ui` "
                            "printed (it sets a cookie), or send Authorization: Bearer <token>")
            return
        if self._ok(from_query):
            await self.app(scope, receive, _with_cookie(send, self.token.decode()))
        elif self._ok(from_cookie):
            await self.app(scope, receive, send)
        else:
            await _deny(send, "open the URL printed by `elixir-scope ui` (it carries ?token=...)",
                        html=True)


def _with_cookie(send: Send, token: str) -> Send:
    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"set-cookie", f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _deny(send: Send, why: str, html: bool = False) -> None:
    if html:
        body = f"<!doctype html><title>ElixirScope</title><p>401: {why}</p>".encode()
        ctype = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": why}).encode()
        ctype = b"application/json"
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
