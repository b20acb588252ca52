"""The Erlang distribution client: Python as a hidden node.

::

    from elixir_scope.instrument.dist import Node
    async with Node() as node:
        conn = await node.connect("app@host", cookie="secret")
        print(await conn.rpc("erlang", "system_info", [Atom("otp_release")]))

See ``node`` (entry point), ``connection`` (send/rpc/monitor/link), ``mailbox``,
``signals`` (the control messages we answer), ``errors`` (the exception tree) and
docs/distribution.md.
"""

from .connection import Connection
from .cookie import Cookie, resolve_cookie
from .errors import (
    AuthenticationFailed,
    ConnectError,
    DistError,
    HandshakeError,
    SimultaneousConnect,
    HostUnreachable,
    InvalidNodeName,
    MailboxClosed,
    NodeDown,
    NodeNotFound,
    NotAllowed,
    RpcError,
    RpcTimeout,
)
from .mailbox import ExitSignal, Mailbox, UndecodableMessage
from .node import Node, split_node_name

__all__ = [
    "AuthenticationFailed",
    "ConnectError",
    "Connection",
    "Cookie",
    "DistError",
    "ExitSignal",
    "HandshakeError",
    "SimultaneousConnect",
    "HostUnreachable",
    "InvalidNodeName",
    "Mailbox",
    "MailboxClosed",
    "Node",
    "NodeDown",
    "NodeNotFound",
    "NotAllowed",
    "RpcError",
    "RpcTimeout",
    "UndecodableMessage",
    "resolve_cookie",
    "split_node_name",
]
