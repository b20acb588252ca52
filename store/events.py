"""Typed trace events as consumers read them from the store.

An :class:`Event` is one record of docs/event-format.md plus where it was stored. The payload
stays raw ETF bytes until someone asks for ``.payload``; it is then decoded once with
``elixir_scope.instrument.etf.decode`` and cached on the object. Names (``pid_text``, ``mfa``,
``wall_time``) come from the recording's interned tables through a small shared
:class:`EventContext`, so building thousands of events costs no extra queries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from elixir_scope.instrument.etf.inspect import PRINT_SYNTAX
from elixir_scope.instrument.etf.syntax import ERLANG

FLAG_TRUNCATED = 0x01
FLAG_REDACTED = 0x02


class EventKind(enum.IntEnum):
    """Record kinds, codes as in docs/event-format.md (the ``Kind`` byte)."""

    CALL = 1
    RETURN = 2
    EXCEPTION = 3
    SEND = 4
    SEND_DEAD = 5
    RECEIVE = 6
    SPAWN = 7
    EXIT = 8
    LINK = 9
    UNLINK = 10
    REGISTER = 11
    UNREGISTER = 12
    STATE = 13
    GAP = 14
    MARK = 15
    SPAWNED = 16
    GETTING_LINKED = 17
    GETTING_UNLINKED = 18

    @property
    def aux_is_mfa(self) -> bool:
        """Whether ``aux`` indexes ``functions`` (call/return/exception/state)."""
        return self in _MFA_KINDS

    @property
    def aux_is_pid(self) -> bool:
        """Whether ``aux`` indexes ``processes`` (send, spawn, links, spawned)."""
        return self in _PID_KINDS

    @classmethod
    def parse(cls, value: "EventKind | int | str") -> "EventKind":
        """Accept a kind, its code, or its name (``'call'``, ``'CALL'``); clear error otherwise."""
        if isinstance(value, EventKind):
            return value
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                raise ValueError(f"unknown event kind code {value}; valid codes are 1..18") from None
        try:
            return cls[str(value).upper()]
        except KeyError:
            names = ", ".join(k.name.lower() for k in cls)
            raise ValueError(f"unknown event kind {value!r}; valid kinds: {names}") from None


_MFA_KINDS = frozenset({EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION, EventKind.STATE})
_PID_KINDS = frozenset({
    EventKind.SEND, EventKind.SPAWN, EventKind.LINK, EventKind.UNLINK, EventKind.SPAWNED,
    EventKind.GETTING_LINKED, EventKind.GETTING_UNLINKED,
})


@dataclass(frozen=True, slots=True)
class MFA:
    module: str
    function: str
    arity: int

    def __str__(self) -> str:
        """``SampleApp.Cart.add/3`` / ``lists:seq/2``; in an Erlang ``printing`` block
        (``instrument.etf.syntax``) always ``mod:fun/arity`` (``'Elixir.SampleApp.Cart':add/3``)."""
        if PRINT_SYNTAX.get() == "erlang":
            return ERLANG.mfa(self.module, self.function, self.arity)
        mod = self.module[7:] if self.module.startswith("Elixir.") else self.module
        sep = "." if self.module.startswith("Elixir.") else ":"
        return f"{mod}{sep}{self.function}/{self.arity}"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One interned process of a node in a recording."""

    node_id: int
    idx: int
    pid_text: str
    reg_name: str | None
    initial_call: MFA | None
    born_ts: int | None = None
    died_ts: int | None = None
    #: what the application calls it (process label, process_name, Registry names; store/app_names.py)
    app_names: tuple = ()

    @property
    def label(self) -> str:
        return f"{self.pid_text} ({self.reg_name})" if self.reg_name else self.pid_text


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A traced node of a recording. ``time_offset`` turns the node's ``ts`` into the common
    clock of the recording (this host's system time): the node's own ``erlang:time_offset()``
    minus its measured ``clock_skew`` (0 when not probed); ``node_time_offset`` is the raw value
    the node reported. ``clock_error`` bounds the skew estimate (native units, None when not
    probed). ``end_reason`` / ``end_detail``: how this node's part of the capture ended."""

    id: int
    recording_id: int
    name: str
    otp_release: str
    time_unit: int
    time_offset: int
    mono_at_start: int | None
    node_time_offset: int | None = None
    clock_skew: int | None = None
    clock_error: int | None = None
    clock_skew_start: int | None = None
    clock_skew_end: int | None = None
    end_reason: str | None = None
    end_detail: str | None = None


class EventContext:
    """Interned names of one recording, shared by the events read from it.

    ``payload_loader`` rebuilds payloads the events table does not hold (large states, kept
    in ``states`` as full snapshots or deltas)."""

    __slots__ = ("nodes", "processes", "functions", "payload_loader")

    def __init__(self, nodes: dict[int, NodeInfo], processes: dict[tuple[int, int], ProcessInfo],
                 functions: dict[tuple[int, int], MFA],
                 payload_loader: Callable[["Event"], Any] | None = None) -> None:
        self.nodes = nodes
        self.processes = processes
        self.functions = functions
        self.payload_loader = payload_loader


_UNSET = object()


def decode_term(data: bytes) -> Any:
    """Decode one ETF term (with its 131 version byte) using the project's codec."""
    from elixir_scope.instrument.etf import decode  # imported lazily: the hot path never needs it

    return decode(data)


@dataclass(slots=True, eq=False)
class Event:
    """One stored trace record. ``payload_bytes`` is None only for large ``state`` events
    (rebuilt from the states table on access to ``.payload``)."""

    id: int
    recording_id: int
    node_id: int
    kind: EventKind
    flags: int
    ts: int
    uniq: int
    pid: int
    aux: int
    payload_bytes: bytes | None
    ctx: EventContext | None = field(default=None, repr=False)
    _payload: Any = field(default=_UNSET, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and other.id == self.id and other.recording_id == self.recording_id

    def __hash__(self) -> int:
        return hash((self.recording_id, self.id))

    @property
    def payload(self) -> Any:
        """The decoded payload term (see the kind table in docs/event-format.md), cached."""
        if self._payload is _UNSET:
            if self.payload_bytes is not None:
                self._payload = decode_term(self.payload_bytes)
            elif self.ctx is not None and self.ctx.payload_loader is not None:
                self._payload = self.ctx.payload_loader(self)
            else:
                raise LookupError(f"event {self.id} has no stored payload and no loader")
        return self._payload

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TRUNCATED)

    @property
    def redacted(self) -> bool:
        return bool(self.flags & FLAG_REDACTED)

    @property
    def process(self) -> ProcessInfo | None:
        return self.ctx.processes.get((self.node_id, self.pid)) if self.ctx else None

    @property
    def pid_text(self) -> str:
        proc = self.process
        return proc.pid_text if proc else f"#{self.pid}"

    @property
    def aux_process(self) -> ProcessInfo | None:
        """The other process for send/spawn/link/spawned kinds (None if aux is 0 or unknown)."""
        if not self.kind.aux_is_pid or not self.aux or self.ctx is None:
            return None
        return self.ctx.processes.get((self.node_id, self.aux))

    @property
    def mfa(self) -> MFA | None:
        """(module, function, arity) for call/return/exception/state events (None otherwise
        and for checkpoints)."""
        if not self.kind.aux_is_mfa or not self.aux or self.ctx is None:
            return None
        return self.ctx.functions.get((self.node_id, self.aux))

    @property
    def node(self) -> NodeInfo | None:
        return self.ctx.nodes.get(self.node_id) if self.ctx else None

    @property
    def wall_time(self) -> datetime | None:
        """UTC wall-clock time: ``ts + time_offset`` in the node's native unit."""
        node = self.node
        if node is None:
            return None
        native = self.ts + node.time_offset
        secs, rem = divmod(native, node.time_unit)
        return datetime.fromtimestamp(secs, tz=timezone.utc) + timedelta(
            microseconds=rem * 1_000_000 // node.time_unit)

    def __str__(self) -> str:
        what = self.mfa or self.aux_process
        return f"#{self.id} {self.kind.name.lower()} {self.pid_text}" + (f" {what}" if what else "")
