"""Per-file facts: what one file says about processes, topics and tables, before modules from
other files are known. graph.py joins the facts of all files. Plain dataclasses without
tree-sitter nodes, so a file's syntax tree can be freed as soon as its facts are out."""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .model import EtsAccess, Location, SupervisorInfo, TopicUse
from .refs import Ref, Scope, module_name, ref_of, via_tuple
from .syntax import (arg_count, args_of, atom_text, int_literal, keyword, line_of, literal_value, operator, param_index,
                     string_literal, text)


@dataclass(frozen=True, slots=True)
class ProcessCall:
    """A synchronous or asynchronous request to a process (GenServer/gen_statem/Agent)."""

    module: str
    function: str | None
    api: str
    kind: str  # call | cast
    target: Ref
    message: str | None
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Registration:
    """`name: ...` given when `module` starts a process (GenServer/Agent/gen_statem)."""

    module: str
    name: Ref
    line: int


@dataclass(frozen=True, slots=True)
class FunCall:
    """A static function call: `module.function` calls `target.name/arity`."""

    module: str
    function: str
    target: str
    name: str
    arity: int
    imported: bool = False  # a bare call that may come from `import target`


@dataclass(frozen=True, slots=True)
class TopicWrapper:
    """A function that passes one of its parameters as the topic to Registry/PubSub
    (`def publish(topic, msg), do: Registry.dispatch(@bus, topic, ...)`): calls to it with a
    string literal at `index` are topic uses at the call site."""

    module: str
    name: str
    arity: int
    index: int
    action: str
    bus: str
    api: str


@dataclass(frozen=True, slots=True)
class OptionRead:
    """`Keyword.get(opts, :key, default)` / `Map.get(cfg, "key", default)` (piped too) with a
    literal key: the key a function reads with a default, as written."""

    target: str  # "Keyword" | "Map"
    key: str     # the key's text: `:timeout` for an atom, `timeout` for a string
    kind: str    # "atom" | "string"
    module: str
    function: str | None
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class EnvRead:
    """`Application.get_env(:app, :key, default)` (or `compile_env/3`) with literal names and a
    literal default: a setting read where the source says, with the value it falls back to."""

    app: str      # the application's name, without the colon
    key: str      # the key's name, without the colon
    default: object  # the default as a Python value: int, float, bool, str (a string), None (nil)
    default_text: str  # the default as written
    module: str
    function: str | None
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class LiteralCall:
    """A call with string-literal arguments, kept so that calls to topic wrappers defined in
    other files can be resolved once every file has been read."""

    module: str
    function: str | None
    target: str
    name: str
    arity: int
    literals: tuple[tuple[int, str], ...]
    file: str
    line: int


@dataclass(slots=True)
class ModuleFacts:
    name: str
    line: int
    end_line: int
    uses: list[tuple[str, str | None]] = field(default_factory=list)  # (module, option atom)
    imports: list[str] = field(default_factory=list)
    behaviours: list[str] = field(default_factory=list)
    hints: set[str] = field(default_factory=set)  # role hints from calls (e.g. "agent")
    supervisor: SupervisorInfo | None = None
    state_functions: bool = False  # gen_statem callback_mode returns :state_functions
    via_helpers: dict[str, str] = field(default_factory=dict)  # local fn name -> registry
    child_spec: dict[str, str] = field(default_factory=dict)  # `use GenServer, restart: :temporary` -> {"restart": "temporary"}


@dataclass(slots=True)
class FileFacts:
    process_calls: list[ProcessCall] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    topics: list[TopicUse] = field(default_factory=list)
    ets: list[EtsAccess] = field(default_factory=list)
    fun_calls: list[FunCall] = field(default_factory=list)
    registries: dict[str, str] = field(default_factory=dict)  # registry name -> keys
    spawns: list[Location] = field(default_factory=list)  # where processes are started
    config_reads: list[Location] = field(default_factory=list)  # Application.get_env & co.
    option_reads: list[OptionRead] = field(default_factory=list)  # Keyword.get/3, Map.get/3 with a literal key
    env_reads: list[EnvRead] = field(default_factory=list)  # Application.get_env/3 with literal names and default
    wrappers: list[TopicWrapper] = field(default_factory=list)
    literal_calls: list[LiteralCall] = field(default_factory=list)


PROCESS_APIS = {
    "GenServer": ("GenServer", {"call": "call", "cast": "cast", "multi_call": "call", "abcast": "cast"}),
    ":gen_server": ("GenServer", {"call": "call", "cast": "cast"}),
    ":gen_statem": ("gen_statem", {"call": "call", "cast": "cast"}),
    "GenStateMachine": ("gen_statem", {"call": "call", "cast": "cast"}),
    "Agent": ("Agent", {"get": "call", "update": "call", "get_and_update": "call", "cast": "cast"}),
    "Process": ("send", {"send": "send", "send_after": "send"}),
    "Kernel": ("send", {"send": "send"}),
    ":erlang": ("send", {"send": "send", "send_after": "send"}),
}
START_FUNCS = {"start_link", "start"}
PUBSUB_PUBLISH = {"broadcast", "broadcast!", "broadcast_from", "broadcast_from!", "local_broadcast",
                  "local_broadcast_from", "direct_broadcast", "direct_broadcast!"}
ETS_OPS = {"new", "insert", "insert_new", "lookup", "lookup_element", "update_counter", "update_element",
           "delete", "delete_object", "delete_all_objects", "match", "match_object", "select",
           "select_delete", "select_replace", "select_count", "take", "member", "foldl", "foldr",
           "tab2list", "info", "first", "next", "give_away"}


#: Calls that start a process (local `spawn/1` & co. are recognized in extract.py).
SPAWNS = frozenset({("Task", "start"), ("Task", "start_link"), ("Task", "async"), ("Task", "async_stream"),
                    ("Task.Supervisor", "start_child"), ("Task.Supervisor", "async"),
                    ("Task.Supervisor", "async_nolink"), ("DynamicSupervisor", "start_child"),
                    ("Supervisor", "start_child"), ("Process", "spawn"), (":erlang", "spawn"),
                    (":erlang", "spawn_link"), (":erlang", "spawn_monitor"), ("Kernel", "spawn"),
                    ("Kernel", "spawn_link"), (":proc_lib", "spawn_link"), ("GenServer", "start"),
                    ("Agent", "start")})
CONFIG_READS = frozenset({"get_env", "fetch_env", "fetch_env!", "get_all_env", "compile_env", "compile_env!"})
LOCAL_SPAWNS = frozenset({"spawn", "spawn_link", "spawn_monitor"})

INTERESTING_TARGETS = frozenset(set(PROCESS_APIS) | {"Supervisor", "DynamicSupervisor", "Task", "Task.Supervisor",
                                                   "Registry", "Phoenix.PubSub", "Endpoint", ":ets"})


def message_tag(node: Node | None) -> str | None:
    """The tag of a request message: `:total` or the first atom of `{:add, item}`."""
    if node is None:
        return None
    if node.type == "atom":
        return text(node)
    if node.type == "tuple":
        first = next((c for c in node.named_children if c.type != "comment"), None)
        return atom_text(first)
    return None


def children_of(list_node: Node | None, scope: Scope) -> tuple[list[str], dict[str, str]]:
    """Child modules of a literal supervisor children list, plus registries it starts
    (`{Registry, keys: :duplicate, name: X}` → {X: ":duplicate"})."""
    children: list[str] = []
    registries: dict[str, str] = {}
    if list_node is None or list_node.type != "list":
        return children, registries
    for item in list_node.named_children:
        head = item
        if item.type == "tuple":
            parts = [c for c in item.named_children if c.type != "comment"]
            if not parts:
                continue
            head = parts[0]
            name = module_name(head, scope) if head.type in ("alias", "identifier") else None
            if name == "Registry" and len(parts) > 1:
                reg = keyword(parts[1:], "name")
                keys = keyword(parts[1:], "keys")
                if reg is not None:
                    registries[module_name(reg, scope) or text(reg)] = atom_text(keys) or "?"
        elif item.type == "call":  # Supervisor.child_spec({Mod, arg}, id: ...)
            inner = args_of(item)
            if inner and inner[0].type == "tuple":
                parts = [c for c in inner[0].named_children if c.type != "comment"]
                head = parts[0] if parts else item
            elif inner:
                head = inner[0]
        name = module_name(head, scope) if head.type in ("alias", "identifier") else None
        if name:
            children.append(name)
    return children, registries


def assigned_list(var: str, within: Node | None) -> Node | None:
    """The list literal assigned to `var` (`children = [...]`) inside a function clause."""
    if within is None:
        return None
    stack = [within]
    while stack:
        node = stack.pop()
        if node.type == "binary_operator":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier" and text(left) == var \
                    and right.type == "list":
                return right
        stack.extend(node.named_children)
    return None


def supervisor_info(args: list[Node], scope: Scope, clause: Node | None) -> tuple[SupervisorInfo, dict[str, str]]:
    if len(args) > 1 and args[-1].type == "identifier":  # opts = [strategy: ...]; start_link(children, opts)
        opts = assigned_list(text(args[-1]), clause)
        if opts is not None:
            args = [*args[:-1], opts]
    strategy = atom_text(keyword(args, "strategy"))
    first = args[0] if args else None
    if first is not None and first.type == "identifier":
        first = assigned_list(text(first), clause)
    children, registries = children_of(first, scope)
    info = SupervisorInfo(strategy=strategy, max_restarts=int_literal(keyword(args, "max_restarts")),
                          max_seconds=int_literal(keyword(args, "max_seconds")), children=tuple(children))
    return info, registries


def interpret_remote(call: Node, target: str, fun: str, scope: Scope, mod: ModuleFacts,
                     function: str | None, clause: Node | None, file: str, out: FileFacts) -> None:
    """Record what a remote call `target.fun(...)` means for processes, topics and tables."""
    if (target, fun) in SPAWNS:
        out.spawns.append(Location(file, line_of(call), mod.name, function))
    elif target == "Application" and fun in CONFIG_READS:
        out.config_reads.append(Location(file, line_of(call), mod.name, function))
        if fun in ("get_env", "compile_env"):
            read = env_read(call, mod, function, file)
            if read is not None:
                out.env_reads.append(read)
    elif target in ("Keyword", "Map") and fun == "get":
        read = option_read(call, target, mod, function, file)
        if read is not None:
            out.option_reads.append(read)
    if target not in INTERESTING_TARGETS and not target.endswith(".Endpoint"):
        return
    args = args_of(call)
    line = line_of(call)
    api = PROCESS_APIS.get(target)
    if api is not None:
        api_name, kinds = api
        if fun in kinds and args:
            msg = args[1] if len(args) > 1 else None
            out.process_calls.append(ProcessCall(mod.name, function, api_name, kinds[fun], ref_of(args[0], scope),
                                                 message_tag(msg), file, line))
            if api_name == "Agent":
                mod.hints.add("agent_client")
        elif fun in START_FUNCS:
            _registration(target, args, scope, mod, line, out)
        return
    if target in ("Supervisor", "DynamicSupervisor"):
        children_form = fun == "start_link" and bool(args) and args[0].type in ("list", "identifier") \
            and text(args[0]) != "__MODULE__"  # start_link(children, opts), not start_link(Mod, arg)
        if fun == "init" or children_form:
            info, regs = supervisor_info(args, scope, clause)
            if fun != "init" and info.strategy is None:
                return
            mod.supervisor = info
            out.registries.update(regs)
            mod.hints.add("supervisor_init" if target == "Supervisor" else "dynamic_supervisor_init")
        return
    if target == "Task.Supervisor" or (target == "Task" and fun in ("async", "async_stream", "start", "start_link")):
        mod.hints.add("task_supervisor_user" if target == "Task.Supervisor" else "task_user")
        return
    if target == "Registry":
        _registry_call(fun, args, scope, mod, function, clause, file, line, out)
        return
    if target == "Phoenix.PubSub" or target.endswith(".Endpoint") or target == "Endpoint":
        _pubsub_call(target, fun, args, scope, mod, function, clause, file, line, out)
        return
    if target == ":ets" and fun in ETS_OPS:
        _ets_call(fun, args, scope, mod, function, file, line, out)


def _registration(target: str, args: list[Node], scope: Scope, mod: ModuleFacts, line: int, out: FileFacts) -> None:
    if target == ":gen_statem":
        # :gen_statem.start_link({:local, name}, Mod, args, opts)
        if len(args) >= 2 and args[0].type == "tuple":
            parts = [c for c in args[0].named_children if c.type != "comment"]
            owner = module_name(args[1], scope) or mod.name
            if len(parts) == 2:
                out.registrations.append(Registration(owner, ref_of(parts[1], scope), line))
        return
    name = keyword(args, "name")
    if name is None:
        return
    if target == "Agent":
        owner = mod.name
        mod.hints.add("agent")
    else:
        owner = (module_name(args[0], scope) if args else None) or mod.name
    out.registrations.append(Registration(owner, ref_of(name, scope), line))


def _topic_use(node: Node, action: str, bus: str, api: str, scope: Scope, mod: ModuleFacts, function: str | None,
               clause: Node | None, file: str, line: int, out: FileFacts) -> None:
    ref = ref_of(node, scope)
    if ref.kind == "string":
        out.topics.append(TopicUse(ref.value, action, bus, api, mod.name, function, file, line))
    elif ref.kind == "var" and clause is not None and function:
        index = param_index(clause, ref.value)
        if index is not None:
            name, _, arity = function.rpartition("/")
            out.wrappers.append(TopicWrapper(mod.name, name, int(arity), index, action, bus, api))


def _registry_call(fun: str, args: list[Node], scope: Scope, mod: ModuleFacts, function: str | None,
                   clause: Node | None, file: str, line: int, out: FileFacts) -> None:
    mod.hints.add("registry_user")
    if fun == "start_link":
        reg = keyword(args, "name")
        if reg is not None:
            out.registries[module_name(reg, scope) or text(reg)] = atom_text(keyword(args, "keys")) or "?"
        return
    action = {"register": "subscribe", "dispatch": "publish"}.get(fun)
    if action is None or len(args) < 2:
        return
    bus = _bus(args[0], scope)
    _topic_use(args[1], action, bus, "Registry", scope, mod, function, clause, file, line, out)


def _bus(node: Node, scope: Scope) -> str:
    ref = ref_of(node, scope)
    return ref.value if ref.kind in ("module", "atom") else text(node)


def _pubsub_call(target: str, fun: str, args: list[Node], scope: Scope, mod: ModuleFacts, function: str | None,
                 clause: Node | None, file: str, line: int, out: FileFacts) -> None:
    if target == "Phoenix.PubSub":
        if fun == "subscribe":
            action, index = "subscribe", 1
        elif fun in PUBSUB_PUBLISH:
            action, index = "publish", 2 if fun.startswith("broadcast_from") else 1
        else:
            return
        if len(args) <= index:
            return
        bus = _bus(args[0], scope)
        api = "Phoenix.PubSub"
    else:  # MyAppWeb.Endpoint.broadcast(topic, event, payload) / .subscribe(topic)
        if fun == "subscribe":
            action, index = "subscribe", 0
        elif fun in PUBSUB_PUBLISH:
            action, index = "publish", 1 if fun.startswith("broadcast_from") else 0
        else:
            return
        if len(args) <= index:
            return
        bus, api = target, "Endpoint"
    mod.hints.add("pubsub_user")
    _topic_use(args[index], action, bus, api, scope, mod, function, clause, file, line, out)


def _ets_call(fun: str, args: list[Node], scope: Scope, mod: ModuleFacts, function: str | None, file: str,
              line: int, out: FileFacts) -> None:
    if not args:
        return
    ref = ref_of(args[0], scope)
    table = ref.value if ref.kind in ("atom", "module") else "?"
    options: tuple[str, ...] = ()
    if fun == "new" and len(args) > 1 and args[1].type == "list":
        options = tuple(text(c) for c in args[1].named_children if c.type != "comment")
        if ":named_table" not in options and not any(o.startswith("named_table") for o in options):
            table = "?"
    out.ets.append(EtsAccess(table, fun, mod.name, function, file, line, options))


def note_via_helper(tuple_node: Node, scope: Scope, mod: ModuleFacts, function_name: str | None) -> None:
    """A function whose body builds a via-tuple names processes through that registry."""
    if function_name is None:
        return
    via = via_tuple(tuple_node, scope)
    if via is not None:
        mod.via_helpers.setdefault(function_name, via.value)


def option_read(call: Node, target: str, mod: ModuleFacts, function: str | None, file: str) -> OptionRead | None:
    """An :class:`OptionRead` for `target.get(container, key, default)` — or
    `container |> target.get(key, default)` — whose key is an atom or string literal."""
    args = args_of(call)
    parent = call.parent
    right = parent.child_by_field_name("right") if parent is not None and parent.type == "binary_operator" else None
    piped = right is not None and right.start_byte == call.start_byte and operator(parent) == "|>"
    if len(args) == 3 and not piped:
        key = args[1]
    elif len(args) == 2 and piped:
        key = args[0]
    else:
        return None
    atom = atom_text(key)
    if atom is not None and not atom.startswith(':"'):
        return OptionRead(target, atom, "atom", mod.name, function, file, line_of(call))
    lit = string_literal(key)
    if lit is not None and "*" not in lit:
        return OptionRead(target, lit, "string", mod.name, function, file, line_of(call))
    return None


def env_read(call: Node, mod: ModuleFacts, function: str | None, file: str) -> EnvRead | None:
    """An :class:`EnvRead` for `Application.get_env(:app, :key, default)` with atom literals for
    the names and a literal default; None for anything else (a computed name or default)."""
    args = args_of(call)
    if len(args) != 3:
        return None
    app, key = atom_text(args[0]), atom_text(args[1])
    if app is None or key is None or app.startswith(':"') or key.startswith(':"'):
        return None
    lit = literal_value(args[2])
    if lit is None:
        return None
    return EnvRead(app[1:], key[1:], lit[0], lit[1], mod.name, function, file, line_of(call))


def literal_call(call: Node, target: str, name: str, mod: ModuleFacts, function: str | None, file: str
                 ) -> LiteralCall | None:
    """A LiteralCall for a call with string-literal arguments (interpolations become `*`)."""
    literals = []
    for i, arg in enumerate(args_of(call)):
        lit = string_literal(arg)
        if lit is not None:
            literals.append((i, lit))
    if not literals:
        return None
    return LiteralCall(mod.name, function, target, name, arg_count(call), tuple(literals), file, line_of(call))


def local_send(call: Node, scope: Scope, mod: ModuleFacts, function: str | None, file: str, out: FileFacts) -> None:
    """`send(dest, msg)`: a message to a process, resolved like a GenServer target."""
    args = args_of(call)
    if len(args) >= 2:
        out.process_calls.append(ProcessCall(mod.name, function, "send", "send", ref_of(args[0], scope),
                                             message_tag(args[1]), file, line_of(call)))
