"""The UI server's configuration: one frozen value object, validated before anything binds.

The rules are the MCP HTTP transport's (mcp_server/config.py, mcp_server/transports.py):
loopback by default; bound anywhere else, the server needs an explicit list of allowed Host
values. Unlike the MCP transport, the UI always has a token — a browser page cannot be
protected by a header the user types, so the token travels in the URL the command prints
(and then in a same-site cookie), generated fresh unless one is given.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from elixir_scope.mcp_server.config import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8766


class UiConfigError(ValueError):
    """The UI configuration is unsafe or inconsistent; the message says what to change."""


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class UiConfig:
    store_path: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = field(default_factory=new_token, repr=False)
    # Extra Host header values (``name:port`` or ``name:*``) accepted besides loopback names.
    allowed_hosts: tuple[str, ...] = ()
    # Extra Origin header values accepted (requests without Origin are accepted).
    allowed_origins: tuple[str, ...] = ()
    # Node name and cookie for the live view (None: the live view asks for a node).
    default_node: str | None = None
    cookie: str | None = field(default=None, repr=False)
    open_browser: bool = False

    def with_(self, **changes) -> "UiConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UiConfigError(f"port {self.port} is not a TCP port; use 1..65535 (0: any free port)")
        if len(self.token) < 16:
            raise UiConfigError("the token must have at least 16 characters; leave it out to get "
                                "a fresh random one")
        if not is_loopback(self.host) and not self.allowed_hosts:
            raise UiConfigError(
                f"binding the UI to {self.host} exposes recordings beyond this machine: also pass "
                "--allowed-host NAME:PORT for every Host name browsers will use (DNS-rebinding "
                "protection), or keep the default 127.0.0.1")

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{port if port is not None else self.port}/?token={self.token}"
