"""Output models of the live-inspection tools (get_state, peek_mailbox, ETS, logs, schedulers,
memory, ports, application env).

Converted once from ``instrument.introspect``'s dataclasses, in the node's syntax (Elixir or
Erlang, ``mcp_server.syntax``): terms, names and pids are text a person can paste into a shell;
times are ISO 8601 (UTC); no field carries a Python repr.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from elixir_scope.instrument.etf.syntax import TermSyntax

__all__ = [
    "ProcessStateResult", "MailboxResult", "EtsTableRow", "EtsTablesResult", "EtsSampleResult",
    "LogEventRow", "LogsResult", "SchedulerRow", "SchedulerUsageResult", "AllocatorRow",
    "MemoryUsageResult", "PortRow", "PortsResult", "EnvEntry", "AppEnvResult", "AppRow",
    "iso_us", "bytes_text",
]


def iso_us(us: int | None) -> str | None:
    """Microseconds since the epoch as ISO 8601 UTC with milliseconds."""
    if not us:
        return None
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds")


def bytes_text(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class ProcessStateResult(BaseModel):
    """The state of one live process (``sys:get_state``)."""

    node: str
    pid: str
    module: str | None = Field(description="The callback module.")
    behaviour: str | None = Field(description="gen_server, gen_statem, supervisor, ... when known.")
    state: str = Field(description="The whole state as text in the node's syntax.")
    state_name: str | None = Field(default=None, description="gen_statem only: the current state.")
    data: str | None = Field(default=None, description="gen_statem only: the state data.")
    truncated: bool = Field(description="The term was cut on the node to max_bytes ('«truncated»' marks where).")
    redacted: bool = Field(description="Values under sensitive keys were replaced on the node ('«redacted»').")


class MailboxResult(BaseModel):
    """The head of a live process's mailbox."""

    node: str
    pid: str
    length: int = Field(description="Messages waiting in all.")
    messages: list[str] = Field(description="The first messages, oldest first, as text.")
    shown: int
    too_long_to_copy: bool = Field(description="True when the mailbox was too long to copy safely (only its length is given).")


class EtsTableRow(BaseModel):
    table: str = Field(description="How to name the table in ets_sample (its name, or its #Ref<...> id when unnamed).")
    name: str
    size: int = Field(description="Objects in the table.")
    memory_bytes: int
    type: str
    protection: str = Field(description="public / protected can be sampled; private only by its owner.")
    owner: str | None
    owner_name: str | None


class EtsTablesResult(BaseModel):
    node: str
    items: list[EtsTableRow]
    total: int
    next_cursor: str | None = None
    hint: str | None = None


class EtsSampleResult(BaseModel):
    node: str
    table: EtsTableRow
    objects: list[str] = Field(description="The first objects (ets:match_object order), as text.")
    shown: int
    truncated: bool
    redacted: bool


class LogEventRow(BaseModel):
    seq: int = Field(description="Position in the ring; pass the last one as after_seq to read newer events only.")
    time: str | None = Field(description="Wall clock, ISO 8601 UTC.")
    level: str
    pid: str | None
    mfa: str | None = Field(description="Where the event was logged, when the logger knows.")
    text: str


class LogsResult(BaseModel):
    node: str
    events: list[LogEventRow]
    matched: int = Field(description="Events in the ring after after_seq that pass the filters.")
    last_seq: int = Field(description="Newest event number in the ring.")
    next_cursor: str | None = Field(default=None, description="More matching events: pass as after_seq.")
    ring_started: str | None = Field(description="When the log ring began keeping events (nothing before it is available).")
    dropped: int = Field(description="Older events pushed out of the ring (capacity reached).")
    hint: str | None = None


class SchedulerRow(BaseModel):
    id: int
    type: str
    utilization: float = Field(description="Busy fraction over the interval, 0..1.")


class SchedulerUsageResult(BaseModel):
    node: str
    interval_ms: int
    normal_average: float = Field(description="Mean utilization of the normal schedulers, 0..1.")
    dirty_cpu_average: float
    dirty_io_average: float
    online: int
    run_queue: int = Field(description="Processes and ports waiting to run, all run queues.")
    schedulers: list[SchedulerRow]


class AllocatorRow(BaseModel):
    allocator: str
    carriers_bytes: int = Field(description="Memory held from the operating system.")
    blocks_bytes: int = Field(description="Memory in use by allocated data.")
    utilization: float = Field(description="blocks / carriers: low values mean fragmentation.")
    instances: int


class MemoryUsageResult(BaseModel):
    node: str
    by_kind: dict[str, int] = Field(description="erlang:memory(): total, processes, system, atom, binary, code, ets (bytes).")
    allocators: list[AllocatorRow]


class PortRow(BaseModel):
    id: str = Field(description="The port, file io server pid or socket.")
    kind: str = Field(description="tcp, udp, sctp, file, socket, or a driver name (spawn, fd, forker, ...).")
    owner: str | None
    owner_name: str | None
    local: str | None = Field(default=None, description="Local address (sockets) or path (files).")
    peer: str | None = None
    os_pid: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None


class PortsResult(BaseModel):
    node: str
    items: list[PortRow]
    total: int
    counts: dict[str, int] = Field(description="Items by kind, over everything found.")
    next_cursor: str | None = None
    hint: str | None = None


class EnvEntry(BaseModel):
    key: str
    value: str
    truncated: bool = False


class AppRow(BaseModel):
    application: str
    running: bool
    env_keys: int


class AppEnvResult(BaseModel):
    node: str
    application: str | None = Field(description="The application shown, or None for the list of applications.")
    entries: list[EnvEntry] = Field(default_factory=list, description="Sorted by key; sensitive values read «redacted».")
    applications: list[AppRow] = Field(default_factory=list)


def table_row(t, sx: TermSyntax) -> EtsTableRow:
    return EtsTableRow(table=sx.name(t.name) if t.named else str(t.id), name=sx.name(t.name) or t.name,
                       size=t.size, memory_bytes=t.memory_bytes, type=t.type, protection=t.protection,
                       owner=sx.pid(t.owner), owner_name=sx.name(t.owner_name))
