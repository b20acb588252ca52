"""Constants of the distribution protocol: capability flags and control message operations.

Values from ``erts/emulator/beam/dist.h`` and ``erl_dist_protocol.md`` (note: the docs print a
different value for MANDATORY_25_DIGEST than the headers; the header value is used).

Which flags we send, and why (``OUR_FLAGS``):

- the OTP 25 mandatory set (EXTENDED_REFERENCES ... HANDSHAKE_23), without which OTP 25+
  answers ``not_allowed``;
- V4_NC and UNLINK_ID, mandatory from OTP 26;
- MANDATORY_25_DIGEST, the shorthand newer nodes expect;
- DIST_MONITOR(_NAME), SEND_SENDER, SMALL_ATOM_TAGS, BIG_SEQTRACE_LABELS, EXIT_PAYLOAD;
- *not* PUBLISHED (we are a hidden node), *not* DIST_HDR_ATOM_CACHE and FRAGMENTS (so the
  peer uses plain pass-through framing and never fragments), *not* SPAWN and ALIAS (we never
  receive spawn requests; ALIAS_SEND is still accepted and ignored, see docs).
"""

from __future__ import annotations

import enum

__all__ = ["Flag", "Op", "OUR_FLAGS", "REQUIRED_PEER_FLAGS", "flag_names"]


class Flag(enum.IntFlag):
    PUBLISHED = 0x1
    ATOM_CACHE = 0x2
    EXTENDED_REFERENCES = 0x4
    DIST_MONITOR = 0x8
    FUN_TAGS = 0x10
    DIST_MONITOR_NAME = 0x20
    HIDDEN_ATOM_CACHE = 0x40
    NEW_FUN_TAGS = 0x80
    EXTENDED_PIDS_PORTS = 0x100
    EXPORT_PTR_TAG = 0x200
    BIT_BINARIES = 0x400
    NEW_FLOATS = 0x800
    UNICODE_IO = 0x1000
    DIST_HDR_ATOM_CACHE = 0x2000
    SMALL_ATOM_TAGS = 0x4000
    ETS_COMPRESSED = 0x8000
    UTF8_ATOMS = 0x10000
    MAP_TAG = 0x20000
    BIG_CREATION = 0x40000
    SEND_SENDER = 0x80000
    BIG_SEQTRACE_LABELS = 0x100000
    PENDING_CONNECT = 0x200000
    EXIT_PAYLOAD = 0x400000
    FRAGMENTS = 0x800000
    HANDSHAKE_23 = 0x1000000
    UNLINK_ID = 0x2000000
    MANDATORY_25_DIGEST = 0x4000000
    SPAWN = 1 << 32
    NAME_ME = 1 << 33
    V4_NC = 1 << 34
    ALIAS = 1 << 35
    LOCAL_EXT = 1 << 36
    ALTACT_SIG = 1 << 37


MANDATORY_OTP25 = (
    Flag.EXTENDED_REFERENCES
    | Flag.FUN_TAGS
    | Flag.EXTENDED_PIDS_PORTS
    | Flag.UTF8_ATOMS
    | Flag.NEW_FUN_TAGS
    | Flag.BIG_CREATION
    | Flag.NEW_FLOATS
    | Flag.MAP_TAG
    | Flag.EXPORT_PTR_TAG
    | Flag.BIT_BINARIES
    | Flag.HANDSHAKE_23
)
MANDATORY_OTP26 = MANDATORY_OTP25 | Flag.V4_NC | Flag.UNLINK_ID

OUR_FLAGS = (
    MANDATORY_OTP26
    | Flag.MANDATORY_25_DIGEST
    | Flag.DIST_MONITOR
    | Flag.DIST_MONITOR_NAME
    | Flag.SMALL_ATOM_TAGS
    | Flag.SEND_SENDER
    | Flag.BIG_SEQTRACE_LABELS
    | Flag.EXIT_PAYLOAD
)

# What this client needs from the peer: the v6 handshake and the term encodings we decode.
REQUIRED_PEER_FLAGS = MANDATORY_OTP25


def flag_names(flags: int) -> list[str]:
    """Names of the set flags, for messages ("missing HANDSHAKE_23, BIG_CREATION")."""
    return [f.name for f in Flag if f.name and flags & f.value]


class Op(enum.IntEnum):
    """First element of a control message tuple."""

    LINK = 1
    SEND = 2
    EXIT = 3
    UNLINK = 4
    NODE_LINK = 5
    REG_SEND = 6
    GROUP_LEADER = 7
    EXIT2 = 8
    SEND_TT = 12
    EXIT_TT = 13
    REG_SEND_TT = 16
    EXIT2_TT = 18
    MONITOR_P = 19
    DEMONITOR_P = 20
    MONITOR_P_EXIT = 21
    SEND_SENDER = 22
    SEND_SENDER_TT = 23
    PAYLOAD_EXIT = 24
    PAYLOAD_EXIT_TT = 25
    PAYLOAD_EXIT2 = 26
    PAYLOAD_EXIT2_TT = 27
    PAYLOAD_MONITOR_P_EXIT = 28
    SPAWN_REQUEST = 29
    SPAWN_REQUEST_TT = 30
    SPAWN_REPLY = 31
    SPAWN_REPLY_TT = 32
    ALIAS_SEND = 33
    ALIAS_SEND_TT = 34
    UNLINK_ID = 35
    UNLINK_ID_ACK = 36
