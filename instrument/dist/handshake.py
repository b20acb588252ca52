"""The version-6 distribution handshake, client side, as a hidden node.

::

    us   -> 'N' Flags:64 Creation:32 Nlen:16 Name            (send_name)
    peer -> 's' Status                                        ok | ok_simultaneous | nok | not_allowed | alive
    peer -> 'N' Flags:64 Challenge:32 Creation:32 Nlen:16 Name
    us   -> 'r' OurChallenge:32 Digest:16                     MD5(cookie ++ str(Challenge))
    peer -> 'a' Digest:16                                     MD5(cookie ++ str(OurChallenge))

Every handshake packet has a 2-byte length. A peer that dislikes our cookie (or our name)
does not say so: it closes the socket after our challenge reply, which is translated into
``AuthenticationFailed`` because the cookie is by far the likeliest cause.
"""

from __future__ import annotations

import hmac
import secrets
import struct
from dataclasses import dataclass

from .control import OUR_FLAGS, REQUIRED_PEER_FLAGS, flag_names
from .cookie import Cookie
from .errors import AuthenticationFailed, HandshakeError, NotAllowed, SimultaneousConnect
from .transport import DistProtocol

__all__ = ["PeerInfo", "client_handshake"]


@dataclass(frozen=True, slots=True)
class PeerInfo:
    name: str
    flags: int
    creation: int


def _packet16(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


async def client_handshake(
    proto: DistProtocol, *, our_name: str, our_creation: int, cookie: Cookie, target: str, flags: int = OUR_FLAGS,
    replace_stale: bool = False,
) -> PeerInfo:
    """``replace_stale``: our name is ours alone (a locked pool name), so a connection the
    peer still has under it belongs to a dead process: tell the peer to drop it (status
    ``alive`` answered ``true``) instead of failing."""
    raw_name = our_name.encode("utf-8")
    proto.write(_packet16(b"N" + struct.pack(">QIH", flags, our_creation, len(raw_name)) + raw_name))
    try:
        status = await proto.read_packet16()
    except EOFError as exc:
        raise HandshakeError(
            f"{target} closed the connection before answering our name {our_name!r}. A node drops a peer whose "
            "host name style differs from its own: for a node started with -name (long names) create "
            "Node(name='x@full.host.name'); for -sname use a short host. It may also be shutting down"
        ) from exc
    if not status.startswith(b"s"):
        raise HandshakeError(f"{target} sent {status[:1]!r} where the status 's' was expected; is this port a BEAM node?")
    st = status[1:].decode("latin-1")
    if st == "not_allowed":
        raise NotAllowed(
            target,
            f"we offered the flags {', '.join(flag_names(flags))}; either the node needs a flag we did not offer "
            "(its log says 'cannot handle [...]' with the names) or net_kernel:allow/1 on the node excludes "
            f"{our_name!r}",
        )
    if st == "alive" and replace_stale:
        proto.write(_packet16(b"strue"))
    elif st == "alive":
        proto.write(_packet16(b"sfalse"))
        raise HandshakeError(
            f"{target} already has a connection from a node named {our_name!r}; use another local node name"
        )
    if st == "nok":
        raise SimultaneousConnect(f"{target} is connecting to us at the same time (nok); retry the connect")
    if st not in ("ok", "ok_simultaneous", "alive"):
        raise HandshakeError(f"{target} answered the handshake with an unexpected status {st!r}")

    try:
        challenge = await proto.read_packet16()
    except EOFError as exc:
        raise HandshakeError(f"{target} closed the connection after status {st!r}") from exc
    if challenge[:1] != b"N" or len(challenge) < 19:
        raise HandshakeError(
            f"{target} sent an old-style challenge {challenge[:1]!r}; only OTP 23+ (handshake version 6) is supported"
        )
    peer_flags, peer_challenge, peer_creation, nlen = struct.unpack_from(">QIIH", challenge, 1)
    try:
        peer_name = challenge[19:19 + nlen].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HandshakeError(f"{target} sent a node name that is not valid UTF-8 ({challenge[19:19 + nlen][:64]!r}); "
                             "it is not a BEAM node, or the stream is corrupt") from exc
    if len(peer_name) > 255 or "@" not in peer_name:
        raise HandshakeError(f"{target} sent an invalid node name {peer_name[:64]!r} in its challenge "
                             "(a node name is name@host, at most 255 characters)")
    missing = REQUIRED_PEER_FLAGS & ~peer_flags
    if missing:
        names = flag_names(missing)
        raise NotAllowed(target, f"the node lacks the capability flags {', '.join(names)} that this client needs (OTP 23+)", names)

    ours = secrets.randbits(32)
    proto.write(_packet16(b"r" + struct.pack(">I", ours) + cookie.digest(peer_challenge)))
    try:
        ack = await proto.read_packet16()
    except EOFError as exc:
        raise AuthenticationFailed(target) from exc
    if ack[:1] != b"a" or len(ack) != 17:
        raise HandshakeError(f"{target} sent {ack[:1]!r} where the challenge ack 'a' was expected")
    if not hmac.compare_digest(ack[1:], cookie.digest(ours)):
        raise HandshakeError(
            f"{target} answered our challenge with a wrong digest: it does not share our cookie, or it is not "
            "the node we think it is"
        )
    return PeerInfo(peer_name, peer_flags, peer_creation)
