"""Typed results of the source analysis.

Everything the analysis hands out is one of these frozen dataclasses: callers (the diagnosis
agent, the MCP tools, the CLI) never see tree-sitter nodes or string-keyed dicts. Locations
are 1-based line numbers, the way an editor and a stack trace show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RoleKind(StrEnum):
    """An OTP or framework role a module plays, detected from `use` / `@behaviour` / calls."""

    GENSERVER = "genserver"
    SUPERVISOR = "supervisor"
    DYNAMIC_SUPERVISOR = "dynamic_supervisor"
    APPLICATION = "application"
    AGENT = "agent"
    TASK = "task"
    TASK_SUPERVISOR_USER = "task_supervisor_user"
    GEN_STATEM = "gen_statem"
    REGISTRY_USER = "registry_user"
    PUBSUB_USER = "pubsub_user"
    PHOENIX_CONTROLLER = "phoenix_controller"
    PHOENIX_CHANNEL = "phoenix_channel"
    PHOENIX_LIVE_VIEW = "phoenix_live_view"
    PHOENIX_LIVE_COMPONENT = "phoenix_live_component"
    ECTO_SCHEMA = "ecto_schema"
    ECTO_REPO = "ecto_repo"


class FlagKind(StrEnum):
    """What a flag warns about; docs/source-analysis.md explains each one."""

    CALL_CYCLE = "call_cycle"
    SELF_CALL = "self_call"
    ETS_READ_MODIFY_WRITE = "ets_read_modify_write"
    TOPIC_WITHOUT_SUBSCRIBER = "topic_without_subscriber"
    TOPIC_WITHOUT_PUBLISHER = "topic_without_publisher"


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int
    module: str | None = None
    function: str | None = None  # "name/arity"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.module and self.function:
            return f"{where} ({self.module}.{self.function})"
        if self.module:
            return f"{where} ({self.module})"
        return where


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """One function (all clauses of one name/arity), with the complexity figures of
    complexity.py. `lines` sums the clause spans; `calls` counts call expressions in the bodies
    (a size measure that ignores blank lines and comments)."""

    name: str
    arity: int
    kind: str  # def | defp | defmacro | defmacrop | defguard | defguardp
    clauses: int
    complexity: int
    nesting: int
    lines: int
    line: int
    calls: int = 0
    # reaches itself through calls in tail position (knowledge/source/tailcalls.py): a loop
    # whose returns must not be traced (each traced call would keep a stack frame)
    tail_recursive: bool = False

    @property
    def public(self) -> bool:
        return self.kind in ("def", "defmacro", "defguard")

    @property
    def key(self) -> str:
        return f"{self.name}/{self.arity}"


@dataclass(frozen=True, slots=True)
class SupervisorInfo:
    strategy: str | None
    max_restarts: int | None = None
    max_seconds: int | None = None
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str
    file: str
    line: int
    end_line: int
    roles: tuple[RoleKind, ...]
    callbacks: tuple[str, ...]  # "handle_call/3", ... the role callbacks this module defines
    functions: tuple[FunctionInfo, ...]
    uses: tuple[str, ...] = ()  # resolved `use` targets, e.g. "GenServer", "ShopWeb"
    supervisor: SupervisorInfo | None = None
    registered_names: tuple[str, ...] = ()  # names the module's processes register under
    child_spec: tuple[tuple[str, str], ...] = ()  # options its `use` gives its child_spec/1: (("restart", "temporary"),)

    @property
    def complexity(self) -> int:
        """Module complexity: the sum of its functions' complexities."""
        return sum(f.complexity for f in self.functions)

    @property
    def max_complexity(self) -> int:
        return max((f.complexity for f in self.functions), default=0)

    def function(self, name: str, arity: int | None = None) -> FunctionInfo | None:
        for fn in self.functions:
            if fn.name == name and (arity is None or fn.arity == arity):
                return fn
        return None


@dataclass(frozen=True, slots=True)
class CallEdge:
    """A `GenServer.call/cast` (or `:gen_statem`/`Agent` equivalent, or a plain `send`) from
    one function to a process. `resolution` says how the target was found: exact (`__MODULE__` or a module
    alias that is a server), registered_name (an atom from `name: ...`), via (a
    `{:via, Registry, ...}` name), inferred (a pid variable in a server's own client API) or
    unresolved (`target` is None)."""

    caller: str
    function: str | None
    target: str | None
    target_text: str
    kind: str  # call | cast | send (send/2, Process.send_after/3)
    message: str | None  # first atom of the message, e.g. ":checkout"
    resolution: str
    file: str
    line: int
    api: str = "GenServer"


@dataclass(frozen=True, slots=True)
class TopicUse:
    """A publish or subscribe on a Registry or Phoenix.PubSub topic. `topic` is the literal
    (module attributes resolved) with each interpolation replaced by `*`."""

    topic: str
    action: str  # publish | subscribe
    bus: str  # the registry / pubsub server name as written, resolved through aliases
    api: str  # Registry | Phoenix.PubSub | Endpoint
    module: str
    function: str | None
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class EtsAccess:
    table: str  # ":name", or "?" when the table is a variable the analysis could not resolve
    op: str  # new | insert | lookup | update_counter | ...
    module: str
    function: str | None
    file: str
    line: int
    options: tuple[str, ...] = ()  # for `new`: the options as written


@dataclass(frozen=True, slots=True)
class InteractionGraph:
    edges: tuple[CallEdge, ...]
    topics: tuple[TopicUse, ...]
    ets: tuple[EtsAccess, ...]
    function_calls: tuple[tuple[str, str], ...] = ()  # ("Mod.f/1", "Other.g/2") static calls
    spawns: tuple[Location, ...] = ()  # spawn/1, Task.start, DynamicSupervisor.start_child, ...
    config_reads: tuple[Location, ...] = ()  # Application.get_env/fetch_env!/compile_env ...
    option_reads: tuple = ()  # facts.OptionRead: Keyword.get/3, Map.get/3 with a literal key
    env_reads: tuple = ()  # facts.EnvRead: Application.get_env/3 with literal names and default

    @property
    def ets_tables(self) -> dict[str, tuple[EtsAccess, ...]]:
        out: dict[str, list[EtsAccess]] = {}
        for access in self.ets:
            out.setdefault(access.table, []).append(access)
        return {k: tuple(v) for k, v in out.items()}

    def server_edges(self) -> set[tuple[str, str]]:
        return {(e.caller, e.target) for e in self.edges if e.target}


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    message: str
    locations: tuple[Location, ...]
    severity: str = "warning"  # warning | info
    modules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParseProblem:
    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class SourceAnalysis:
    root: str
    modules: tuple[ModuleInfo, ...]
    graph: InteractionGraph
    flags: tuple[Flag, ...]
    errors: tuple[ParseProblem, ...]
    files: int  # files analyzed (not counting the skipped ones in `errors`)
    lines: int  # lines in the analyzed files
    # ``Module.fun/arity`` → the return shapes its ``@spec`` allows (specs.py), read from the
    # same syntax trees as the rest: the diagnosis's contracts need no second parse
    return_specs: dict[str, list[str]] = field(default_factory=dict)
    # how functions write and read keyed stores, literal lookup tables, the registries started
    # and the functions that treat one as unique (stores.py), from the same syntax trees
    stores: dict = field(default_factory=dict)

    def module(self, name: str) -> ModuleInfo | None:
        for mod in self.modules:
            if mod.name == name:
                return mod
        return None

    def flags_of(self, kind: FlagKind) -> list[Flag]:
        return [f for f in self.flags if f.kind == kind]

    def option_keys(self, limit: int = 12) -> list[list[str]]:
        """The literal keys the application reads with a default through ``Keyword.get/3`` /
        ``Map.get/3``, as ``[target, key text, "atom" | "string"]``, each once, the first ``limit``."""
        out = list(dict.fromkeys((r.target, r.key, r.kind) for r in self.graph.option_reads))
        return [list(x) for x in out[:limit]]

    def env_reads(self, limit: int = 40) -> list[dict]:
        """The application settings the sources read with a literal default (``app``, ``key``,
        ``default``, ``default_text``, ``module``, ``function``, ``file``, ``line``), each
        (module, function, app, key) once, the first ``limit``: for the ``config_default`` facts
        about reads made before a capture started (agents/evidence/config.py)."""
        out: dict[tuple, dict] = {}
        for r in self.graph.env_reads:
            k = (r.module, r.function, r.app, r.key)
            if k not in out and len(out) < limit:
                out[k] = {"app": r.app, "key": r.key, "default": r.default, "default_text": r.default_text,
                          "module": r.module, "function": r.function, "file": r.file, "line": r.line}
        return list(out.values())

    def tail_loops(self) -> list[str]:
        """Every tail-recursive function as ``Module.fun/arity`` (a spec's function form)."""
        return [f"{m.name}.{f.key}" for m in self.modules for f in m.functions if f.tail_recursive]


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something to trace first for a symptom: a function (`function`/`arity` set) or a whole
    module/process (`function` None). `spec` is an ElixirScope trace spec in Elixir syntax."""

    module: str
    function: str | None
    arity: int | None
    spec: str
    score: float
    reasons: tuple[str, ...] = field(default_factory=tuple)
