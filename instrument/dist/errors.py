"""Errors of the distribution client: one hierarchy, each message says what happened and
what to do about it. Lower-level errors (``OSError``, timeouts, decode errors) are
translated at the boundary and chained (``raise NodeDown(...) from exc``).

::

    DistError
    ├── ConnectError                 the connection could not be set up
    │   ├── InvalidNodeName          "app" instead of "app@host"
    │   ├── HostUnreachable          no route / DNS failure / EPMD not listening
    │   ├── NodeNotFound             EPMD on the host does not know the name (lists the names it has)
    │   ├── AuthenticationFailed     the peer closed the socket at the challenge: wrong cookie
    │   ├── NotAllowed               the peer refused our capability flags (or net_kernel:allow/1)
    │   └── HandshakeError           anything else the handshake did not like
    ├── NodeDown                     an established connection was lost (in-flight calls fail with it)
    ├── RpcError                     the remote call failed: {badrpc, Reason} (``.reason``)
    ├── RpcTimeout                   no reply within the timeout (the call may still run remotely)
    └── MailboxClosed                receive() on a closed mailbox

Cookies never appear in any message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DistError",
    "ConnectError",
    "InvalidNodeName",
    "HostUnreachable",
    "NodeNotFound",
    "AuthenticationFailed",
    "NotAllowed",
    "HandshakeError",
    "NodeDown",
    "RpcError",
    "RpcTimeout",
    "MailboxClosed",
]


class DistError(Exception):
    """Base of every error raised by ``elixir_scope.instrument.dist``."""


class ConnectError(DistError):
    """Setting up a connection to a node failed."""


class InvalidNodeName(ConnectError, ValueError):
    def __init__(self, name: str, why: str = "a node name is 'name@host'") -> None:
        self.name = name
        super().__init__(f"invalid node name {name!r}: {why} (for example 'app@localhost' or 'app@{_example_host()}')")


class HostUnreachable(ConnectError):
    def __init__(self, host: str, port: int, what: str, cause: BaseException | str) -> None:
        self.host, self.port = host, port
        super().__init__(
            f"cannot reach {what} at {host}:{port} ({cause}); check the host name, that the node's "
            "machine is up and that no firewall blocks the port"
            + ("; start EPMD with 'epmd -daemon' or pass port= for a node started without EPMD" if "EPMD" in what else "")
        )


class NodeNotFound(ConnectError):
    def __init__(self, name: str, host: str, available: list[str]) -> None:
        self.name, self.host, self.available = name, host, list(available)
        have = ", ".join(sorted(available)) if available else "none"
        super().__init__(
            f"no node named {name!r} is registered in EPMD on {host} (names there: {have}); "
            "check the spelling of the node name, or that the node was started with -sname/-name"
        )


class AuthenticationFailed(ConnectError):
    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(
            f"authentication failed, check the cookie: {node} closed the connection at the challenge, "
            "which is what a node does when the cookie differs (pass cookie=, set ELIXIR_SCOPE_COOKIE, "
            "or check ~/.erlang.cookie / the node's -setcookie)"
        )


class NotAllowed(ConnectError):
    def __init__(self, node: str, detail: str, missing: list[str] | None = None) -> None:
        self.node, self.missing = node, list(missing or [])
        super().__init__(f"{node} refused the connection (not_allowed): {detail}")


class HandshakeError(ConnectError):
    """The handshake failed for a reason other than the cookie, flags or name."""


class SimultaneousConnect(HandshakeError):
    """The peer answered ``nok``: it is setting up a connection to our name itself (a node
    auto-connecting to a name this process took over, e.g. to reach a previous owner's pid).
    We take no incoming connections, so that attempt fails on its own: ``Node.connect``
    tries again a few times before it raises this."""


class NodeDown(DistError):
    def __init__(self, node: str, reason: Any) -> None:
        self.node, self.reason = node, reason
        super().__init__(f"connection to {node} is down ({reason}); reconnect with Node.connect() when the node is back")


class RpcError(DistError):
    def __init__(self, module: Any, function: Any, arity: int, reason: Any) -> None:
        self.reason = reason
        self.mfa = (module, function, arity)
        from ..etf.inspect import inspect   # here: the error classes load before the term printer

        def name(x: Any) -> str:
            return x if isinstance(x, str) else inspect(x, syntax="erlang", max_chars=80)

        # printed as the node would (an Erlang term), not as Python's repr of its decoding
        why = inspect(reason, syntax="erlang", max_chars=500, printable_limit=400)
        super().__init__(f"rpc {name(module)}:{name(function)}/{arity} failed: {{badrpc, {why[:600]}}}")


class RpcTimeout(DistError):
    def __init__(self, module: Any, function: Any, arity: int, node: str, timeout: float) -> None:
        self.mfa = (module, function, arity)
        super().__init__(
            f"rpc {module}:{function}/{arity} on {node} did not answer within {timeout}s; it may still be "
            "running there. Raise timeout= for slow calls, or check the node's load"
        )


class MailboxClosed(DistError):
    def __init__(self, pid: Any) -> None:
        super().__init__(f"mailbox {pid} is closed; open a new one with Node.mailbox()")


def _example_host() -> str:
    import socket

    return socket.gethostname().split(".")[0]
