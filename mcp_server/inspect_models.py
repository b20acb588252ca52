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


# -- conversions, shared by the MCP tools and the command line ------------------------------
def state_result(node: str, st, sx: TermSyntax) -> ProcessStateResult:
    return ProcessStateResult(
        node=node, pid=sx.pid(st.pid), module=sx.name(st.module), behaviour=st.behaviour,
        state=sx.term(st.state.term, limit=200, printable_limit=2000),
        state_name=sx.term(st.state_name) if st.state_name is not None else None,
        data=sx.term(st.data, limit=200, printable_limit=2000) if st.data is not None else None,
        truncated=st.state.truncated, redacted=st.state.redacted)


def mailbox_result(node: str, peek, sx: TermSyntax, budget: int) -> MailboxResult:
    from .budget import fit

    texts = [sx.term(m.term, limit=30, printable_limit=300) for m in peek.messages or []]
    texts = texts[:fit(texts, budget)]
    return MailboxResult(node=node, pid=sx.pid(peek.pid), length=peek.length, messages=texts,
                         shown=len(texts), too_long_to_copy=peek.messages is None)


def sample_result(node: str, sample, sx: TermSyntax, budget: int) -> EtsSampleResult:
    from .budget import fit

    texts = [sx.term(o.term, limit=30, printable_limit=300) for o in sample.objects]
    texts = texts[:fit(texts, budget)]
    return EtsSampleResult(node=node, table=table_row(sample.table, sx), objects=texts, shown=len(texts),
                           truncated=any(o.truncated for o in sample.objects),
                           redacted=any(o.redacted for o in sample.objects))


def log_row(e, sx: TermSyntax) -> LogEventRow:
    mfa = None
    if e.mfa:
        mod, rest = e.mfa.split(":", 1)
        fun, arity = rest.rsplit("/", 1)
        mfa = sx.mfa(mod, fun, int(arity))
    return LogEventRow(seq=e.seq, time=iso_us(e.time_us), level=e.level, pid=sx.pid(e.pid), mfa=mfa, text=e.text)


def scheduler_result(node: str, u) -> SchedulerUsageResult:
    return SchedulerUsageResult(
        node=node, interval_ms=u.interval_ms, normal_average=round(u.average("normal"), 4),
        dirty_cpu_average=round(u.average("dirty_cpu"), 4), dirty_io_average=round(u.average("dirty_io"), 4),
        online=u.online, run_queue=u.run_queue,
        schedulers=[SchedulerRow(id=s.id, type=s.type, utilization=round(s.utilization, 4)) for s in u.schedulers])


def memory_result(node: str, m) -> MemoryUsageResult:
    rows = [AllocatorRow(allocator=a.allocator, carriers_bytes=a.carriers_bytes, blocks_bytes=a.blocks_bytes,
                         utilization=round(a.utilization, 4), instances=a.instances) for a in m.allocators]
    return MemoryUsageResult(node=node, by_kind=m.by_kind, allocators=rows)


def port_rows(view, sx: TermSyntax) -> list[PortRow]:
    rows = [PortRow(id=p.port, kind=p.kind, owner=sx.pid(p.owner), owner_name=sx.name(p.owner_name), local=p.local,
                    peer=p.peer, os_pid=p.os_pid, bytes_in=p.bytes_in, bytes_out=p.bytes_out) for p in view.ports]
    rows += [PortRow(id=sx.pid(f.pid), kind="file", owner=sx.pid(f.owner), owner_name=sx.name(f.owner_name),
                     local=f.path) for f in view.files]
    rows += [PortRow(id=s.socket, kind="socket", owner=sx.pid(s.owner), owner_name=sx.name(s.owner_name),
                     local=s.local, peer=s.peer) for s in view.sockets]
    return rows


def filter_ports(rows: list[PortRow], kind: str) -> list[PortRow]:
    if kind == "sockets":
        return [r for r in rows if r.kind in ("tcp", "udp", "sctp", "socket")]
    if kind == "files":
        return [r for r in rows if r.kind == "file"]
    if kind == "programs":
        return [r for r in rows if r.os_pid is not None]
    return rows


def env_entries(env, sx: TermSyntax) -> list[EnvEntry]:
    return [EnvEntry(key=k, value=sx.term(v.term, limit=50, printable_limit=500), truncated=v.truncated)
            for k, v in env.entries]
