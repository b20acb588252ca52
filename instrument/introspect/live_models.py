"""Typed results of the live tools (``live_procs``, ``live_ets``, ``live_system``,
``live_logs``). Terms that came from the node are ``Shown`` (decoded, with truncation and
redaction flags); names are ``str`` exactly as the node knows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..etf import Pid
from .live_call import Shown


@dataclass(frozen=True)
class ProcessState:
    """``sys:get_state`` of one process. For a gen_statem, ``state_name`` and ``data`` split
    the ``{StateName, Data}`` pair; ``state`` is always the whole term."""

    pid: Pid
    module: str | None
    behaviour: str | None
    state: Shown
    state_name: Any = None
    data: Any = None


@dataclass(frozen=True)
class MailboxPeek:
    """The first messages of a mailbox. ``messages`` is None when the mailbox was too long to
    copy safely (``length`` above the copy limit)."""

    pid: Pid
    length: int
    messages: list[Shown] | None
    copy_limit: int


@dataclass(frozen=True)
class EtsTable:
    id: Any  # the name atom for named tables, else a reference
    name: str
    size: int
    memory_bytes: int
    type: str
    protection: str
    owner: Pid | None
    owner_name: str | None
    named: bool
    keypos: int

    @property
    def ref_text(self) -> str:
        """How to name the table in ets_sample."""
        return self.name if self.named else str(self.id)


@dataclass(frozen=True)
class EtsSample:
    table: EtsTable
    objects: list[Shown]


@dataclass(frozen=True)
class AppEnv:
    application: str
    entries: list[tuple[str, Shown]]  # sorted by key; redacted values are '[REDACTED]'


@dataclass(frozen=True)
class AppSummary:
    application: str
    running: bool
    env_keys: int


@dataclass(frozen=True)
class SchedulerLoad:
    id: int
    type: str  # normal | dirty_cpu | dirty_io
    utilization: float  # 0..1 over the interval


@dataclass(frozen=True)
class SchedulerUsage:
    interval_ms: int
    schedulers: list[SchedulerLoad]
    online: int
    run_queue: int

    def average(self, kind: str = "normal") -> float:
        xs = [s.utilization for s in self.schedulers if s.type == kind]
        return sum(xs) / len(xs) if xs else 0.0


@dataclass(frozen=True)
class AllocatorUsage:
    allocator: str  # binary_alloc, eheap_alloc, ets_alloc, ...
    carriers_bytes: int  # memory the allocator holds from the OS
    blocks_bytes: int  # memory in use by the data it allocated
    instances: int

    @property
    def utilization(self) -> float:
        return self.blocks_bytes / self.carriers_bytes if self.carriers_bytes else 0.0


@dataclass(frozen=True)
class MemoryUsage:
    by_kind: dict[str, int]  # erlang:memory(): total, processes, system, atom, binary, code, ets
    allocators: list[AllocatorUsage]  # largest carriers first


@dataclass(frozen=True)
class PortInfo:
    port: str
    kind: str  # tcp | udp | sctp | the driver name (spawn, efile, forker, fd ...)
    owner: Pid | None
    owner_name: str | None
    local: str | None
    peer: str | None
    os_pid: int | None
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class OpenFile:
    pid: Pid  # the file's io server
    path: str | None
    owner: Pid | None
    owner_name: str | None


@dataclass(frozen=True)
class SocketInfo:
    socket: str
    owner: Pid | None
    owner_name: str | None
    domain: str
    type: str
    protocol: str
    local: str | None
    peer: str | None


@dataclass(frozen=True)
class PortsView:
    ports: list[PortInfo]
    total_ports: int
    files: list[OpenFile]
    total_files: int
    sockets: list[SocketInfo]


@dataclass(frozen=True)
class LogEvent:
    seq: int
    time_us: int  # system time, microseconds since the epoch
    level: str
    pid: Pid | None
    mfa: str | None
    text: str  # formatted on the node, single line, at most 2000 bytes, redacted


@dataclass(frozen=True)
class LogPage:
    events: list[LogEvent]
    matched: int  # events in the ring that pass the filters (after the cursor)
    last_seq: int  # the newest event's number: pass as after_seq to read only newer ones
    held: int
    dropped: int  # older events pushed out of the ring since it started
    capacity: int
    since_us: int  # when the ring started (system time, microseconds)


@dataclass(frozen=True)
class PgScope:
    """A running ``:pg`` scope (the default one is ``pg``) and how many groups it has."""

    name: str
    groups: int


@dataclass(frozen=True)
class PgGroup:
    """One group of a ``:pg`` scope: its name as the node let it out, how many memberships it
    has (a process that joined twice counts twice; members on other nodes count too) and the
    first of its members."""

    group: Shown
    members: int
    first_members: tuple[Pid, ...]


@dataclass(frozen=True)
class PgGroups:
    """Groups of one scope: ``total`` groups exist, ``groups`` holds the first of them (or the
    one asked for)."""

    scope: str
    total: int
    groups: tuple[PgGroup, ...]


@dataclass(frozen=True)
class PgMembership:
    """The groups of one scope a process is in: ``groups`` the first of them, ``count`` how
    many there are; ``partial`` when the scope's groups hold more members than one look reads
    (200,000 member entries), so groups past those were not looked at."""

    scope: str
    groups: tuple[Shown, ...]
    count: int
    partial: bool = False
