"""Server configuration: one small value object, and the one place the environment is read.

Why a value object: the transports, the auth layer, the tools and the command line all need
the same few settings, and passing one frozen ``ServerConfig`` keeps them honest (no module
globals, no ``os.environ`` lookups scattered through tool code). ``ServerConfig.from_env``
is the only function in ElixirScope's consumers that reads environment variables; the
command line builds on it and overrides fields from its flags.

Environment variables (all optional):

==============================  ===========================================================
``ELIXIR_SCOPE_STORE``          trace store file (default ``~/.elixir-scope/traces.db``)
``ELIXIR_SCOPE_NODE``           node to connect to when a tool names none
``ELIXIR_SCOPE_COOKIE``         distribution cookie (default: ``~/.erlang.cookie``)
``ELIXIR_SCOPE_COOKIE_FILE``    a file holding the cookie (used when ELIXIR_SCOPE_COOKIE is unset)
``ELIXIR_SCOPE_TOKEN``          bearer token the HTTP transport requires
``ELIXIR_SCOPE_ALLOW_MUTATIONS`` ``1`` registers the tools that change the target
``ANTHROPIC_API_KEY``           lets the diagnosis have Claude write its narrative (optional)
``ANTHROPIC_BASE_URL``          another Anthropic-compatible endpoint (optional)
``ELIXIR_SCOPE_MODEL``          the Claude model for the narrative (optional)
``ELIXIR_SCOPE_SYNTAX``         ``elixir``, ``erlang`` or ``auto`` (default: by the node)
``ELIXIR_SCOPE_START_CACHE``    folder of the stdio start cache (default
                                ``~/.elixir-scope/mcp-start``); ``off`` disables it
``ELIXIR_SCOPE_SETUP_TIMEOUT``  seconds the agent's setup on a node (trace flags and
                                patterns) may take, 0.1-600 (default 15); a busy node may need more
==============================  ===========================================================

``validate()`` refuses the unsafe combination before anything binds a socket: an HTTP
server bound to a non-loopback address must have a bearer token *and* an explicit list of
allowed Host values, because DNS-rebinding protection is otherwise off.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from elixir_scope.instrument.agent.attach import AttachTimeouts
    from elixir_scope.instrument.dist.cookie import Cookie

Transport = Literal["stdio", "http"]
SYNTAXES = ("auto", "elixir", "erlang")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_PATH = "/mcp"
DEFAULT_STORE = Path("~/.elixir-scope/traces.db")
DEFAULT_START_CACHE = Path("~/.elixir-scope/mcp-start")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class ConfigError(ValueError):
    """The configuration is unsafe or inconsistent; the message says what to change."""


def _setup_timeout(text: str | None) -> "AttachTimeouts | None":
    """``ELIXIR_SCOPE_SETUP_TIMEOUT``: the default attach timeouts with that setup time."""
    if text is None or not text.strip():
        return None
    from elixir_scope.instrument.agent.attach import DEFAULT_TIMEOUTS

    try:
        return DEFAULT_TIMEOUTS.with_setup(float(text))
    except ValueError:
        raise ConfigError(f"ELIXIR_SCOPE_SETUP_TIMEOUT={text!r} is not a number of seconds from 0.1 to 600 "
                          "(how long the agent's setup on a node may take); set e.g. 60, or unset it for "
                          "the default 15") from None


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# A bearer token guarding a non-loopback bind must not be guessable.
MIN_TOKEN_CHARS = 16


def _cookie_file(path: str | None) -> "Cookie | None":
    """The cookie of ``$ELIXIR_SCOPE_COOKIE_FILE`` (a ``Cookie``: redacted in every repr)."""
    if not path:
        return None
    from elixir_scope.instrument.dist.cookie import read_cookie_file

    return read_cookie_file(path)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ServerConfig:
    """Everything the MCP server (and the command line) is configured with."""

    transport: Transport = "stdio"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    path: str = DEFAULT_PATH
    # Bearer token required on every HTTP request when set (always required off-loopback).
    token: str | None = field(default=None, repr=False)
    # Extra Host header values (``name:port`` or ``name:*``) accepted on HTTP.
    allowed_hosts: tuple[str, ...] = ()
    # Extra Origin header values accepted on HTTP (requests without Origin are accepted).
    allowed_origins: tuple[str, ...] = ()
    store_path: Path = DEFAULT_STORE
    # Node a tool uses when it names none and nothing is connected yet.
    default_node: str | None = None
    cookie: "str | Cookie | None" = field(default=None, repr=False)
    # HTTP sessions one client address may hold; one more closes that client's oldest.
    max_sessions_per_client: int = 32
    # Tools that change the target (eval, send, kill) are registered only when True.
    allow_mutations: bool = False
    # Items per page for listing tools; a model asks for the next page with the cursor.
    page_size: int = 50
    # The knowledge base's vector index folder (None: the knowledge package's default).
    knowledge_dir: Path | None = None
    # Optional: Claude writes the diagnosis narrative when a key is set (templated otherwise).
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    llm_model: str | None = None
    # How terms, names, MFAs and pids are printed: auto (Erlang for a node without the
    # elixir application, else Elixir), elixir or erlang.
    syntax: str = "auto"
    # OTLP endpoints off this machine the export_recording tool may send to (loopback
    # endpoints are always allowed); $ELIXIR_SCOPE_OTLP_ENDPOINTS, comma-separated.
    otlp_endpoints: tuple[str, ...] = ()
    # stdio only: where the answers to initialize and tools/list are kept so the next start
    # can give them while the server still loads (mcp_server/start_cache.py); None: off.
    start_cache_dir: Path | None = DEFAULT_START_CACHE
    # How long attaching to a node may wait: loading the agent, starting a capture, the agent's
    # setup on the node (an instrument.agent.AttachTimeouts; None: its defaults, 20/45/15 s).
    attach_timeouts: "AttachTimeouts | None" = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Defaults overridden by ``ELIXIR_SCOPE_*`` variables (see the module docs)."""
        env = os.environ if environ is None else environ
        store = env.get("ELIXIR_SCOPE_STORE")
        start_cache = (env.get("ELIXIR_SCOPE_START_CACHE") or "").strip()
        return cls(
            store_path=Path(store) if store else DEFAULT_STORE,
            default_node=env.get("ELIXIR_SCOPE_NODE") or None,
            cookie=env.get("ELIXIR_SCOPE_COOKIE") or _cookie_file(env.get("ELIXIR_SCOPE_COOKIE_FILE")),
            token=env.get("ELIXIR_SCOPE_TOKEN") or None,
            allow_mutations=_truthy(env.get("ELIXIR_SCOPE_ALLOW_MUTATIONS")),
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
            llm_model=env.get("ELIXIR_SCOPE_MODEL") or None,
            syntax=(env.get("ELIXIR_SCOPE_SYNTAX") or "auto").strip().lower(),
            otlp_endpoints=tuple(u.strip() for u in (env.get("ELIXIR_SCOPE_OTLP_ENDPOINTS") or "").split(",")
                                 if u.strip()),
            start_cache_dir=(None if start_cache.lower() in {"off", "0", "false", "no"}
                             else Path(start_cache) if start_cache else DEFAULT_START_CACHE),
            attach_timeouts=_setup_timeout(env.get("ELIXIR_SCOPE_SETUP_TIMEOUT")),
        )

    def with_(self, **changes: object) -> ServerConfig:
        """A copy with the given fields changed; ``None`` values leave a field alone."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def resolved_store_path(self) -> Path:
        return self.store_path.expanduser()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def validate(self) -> ServerConfig:
        """Refuse unsafe settings with a message that says what to add; returns self."""
        if self.transport not in ("stdio", "http"):
            raise ConfigError(f"unknown transport {self.transport!r}: use 'stdio' or 'http'")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range 1-65535")
        if not self.path.startswith("/"):
            raise ConfigError(f"HTTP path {self.path!r} must start with '/'")
        if self.syntax not in SYNTAXES:
            raise ConfigError(f"unknown syntax {self.syntax!r}: use auto, elixir or erlang")
        if self.page_size < 1:
            raise ConfigError("page size must be at least 1")
        if self.max_sessions_per_client < 1:
            raise ConfigError("max_sessions_per_client must be at least 1")
        if self.transport == "http" and not is_loopback(self.host):
            missing = []
            if not self.token:
                missing.append("a bearer token (--token or ELIXIR_SCOPE_TOKEN)")
            if not self.allowed_hosts:
                missing.append(f"the Host values clients will use (--allowed-host NAME:{self.port}, once per name)")
            if missing:
                raise ConfigError(
                    f"refusing to serve HTTP on non-loopback address {self.host}: "
                    f"it needs {' and '.join(missing)}"
                )
            if len(self.token) < MIN_TOKEN_CHARS:
                raise ConfigError(
                    f"refusing to serve HTTP on non-loopback address {self.host}: the bearer token has "
                    f"{len(self.token)} characters, at least {MIN_TOKEN_CHARS} are needed (e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
                )
        return self
