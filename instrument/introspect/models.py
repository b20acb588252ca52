"""Typed results of live introspection. Names are plain ``str`` (an Elixir module name keeps
its ``Elixir.`` prefix, exactly as the node knows it); pids stay ``Pid`` so they can be used
in further calls; ``MFA`` prints as ``module:function/arity``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..etf import Pid

__all__ = [
    "MFA",
    "Memory",
    "Application",
    "NodeInfo",
    "ProcessSummary",
    "ProcessDetails",
    "ChildSpec",
    "SupervisorNode",
]


@dataclass(frozen=True, slots=True)
class MFA:
    module: str
    function: str
    arity: int

    def __str__(self) -> str:
        return f"{self.module}:{self.function}/{self.arity}"


@dataclass(frozen=True, slots=True)
class Memory:
    """``erlang:memory/0`` in bytes."""

    total: int
    processes: int
    processes_used: int
    system: int
    atom: int
    atom_used: int
    binary: int
    code: int
    ets: int


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    description: str
    version: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    otp_release: str
    erts_version: str
    elixir_version: str | None
    system_architecture: str
    uptime_ms: int
    process_count: int
    process_limit: int
    port_count: int
    memory: Memory
    schedulers: int
    schedulers_online: int
    applications: list[Application]
    net_ticktime: int
    native_units_per_second: int  # erlang:convert_time_unit(1, second, native)
    time_offset_native: int  # erlang:time_offset(): system time = monotonic time + offset
    time_warp_mode: str


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    pid: Pid
    registered_name: str | None
    initial_call: MFA | None  # proc_lib:translate_initial_call/1 where it knows better
    current_function: MFA | None
    status: str
    message_queue_len: int
    memory: int
    reductions: int
    behaviour: str | None  # gen_server, supervisor, gen_statem, gen_event, ... or None


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    summary: ProcessSummary
    links: list[Any]  # pids and ports
    monitors: list[Any]  # (process, Pid | {Name, Node}) tuples as the node reports them
    monitored_by: list[Any]
    dictionary_keys: list[Any]
    heap_size: int
    total_heap_size: int
    stack_size: int
    trap_exit: bool
    group_leader: Pid
    priority: str
    current_stacktrace: list[Any] = field(default_factory=list)
    # What the application calls the process when it has no registered name: the OTP 27+
    # process label (proc_lib:set_label/1) or a `process_name` dictionary entry (RabbitMQ).
    label: Any = None

    @property
    def pid(self) -> Pid:
        return self.summary.pid


@dataclass(slots=True)
class ChildSpec:
    """One child as its supervisor reports it. ``id`` is the raw child id term."""

    id: Any
    pid: Pid | None
    status: str  # running | restarting | undefined (not started)
    type: str  # worker | supervisor
    restart: str | None  # permanent | transient | temporary (None when unknown)
    modules: list[str]
    supervisor: "SupervisorNode | None" = None  # the subtree, when type == supervisor


@dataclass(slots=True)
class SupervisorNode:
    pid: Pid
    registered_name: str | None
    module: str | None  # callback module (Supervisor.Default for Elixir's inline supervisors)
    strategy: str | None  # one_for_one | one_for_all | rest_for_one | simple_one_for_one
    kind: str  # supervisor | dynamic_supervisor
    application: str | None  # set on an application's top supervisor
    children: list[ChildSpec]
    truncated: bool = False  # more children than the walk's limit

    def walk(self):
        """This node and every supervisor below it, depth first."""
        yield self
        for child in self.children:
            if child.supervisor is not None:
                yield from child.supervisor.walk()
