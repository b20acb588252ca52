"""What the application on a node is made of, for planning a capture: its own modules (not
OTP's or Elixir's), its GenServers, its ETS tables with their owners, its registries and the
keys registered in them. (What is sampled while recording: :mod:`.resources`; the
supervisors' facts: :mod:`.supervisors`.)

All of it over rpc with standard functions and export funs (no code loaded, a handful of
round trips), like :mod:`~elixir_scope.instrument.introspect`, which it builds on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .dist import Connection
from .etf import Atom, Export, Pid
from .introspect import ProcessSummary, process_overview
from .names import existing_atom

# Modules that are never "the application": the tooling itself and interactive shells.
_TOOLING = ("elixir_scope_agent", "Elixir.IEx", "Elixir.Mix", "Elixir.Hex", "Elixir.ExUnit")
# Modules Elixir compiles a script's top-level code into (`elixir_compiler_0`, ...): they have
# no source file of their own and are gone at the next purge — tracing them records nothing.
_SCRIPT_MODULE = re.compile(r"elixir_compiler_\d+\Z")


def _text(x) -> str:
    if isinstance(x, Atom):
        return x.name
    if isinstance(x, bytes):
        return x.decode(errors="replace")
    if isinstance(x, list):
        return "".join(chr(c) for c in x if isinstance(c, int))
    return str(x)


def elixir_name(module: str) -> str:
    return module[len("Elixir."):] if module.startswith("Elixir.") else ":" + module


@dataclass
class EtsTable:
    name: str              # as an Elixir literal: ":page_views"
    owner: Pid | None
    owner_module: str | None
    named: bool
    protection: str
    size: int


@dataclass
class AppSurvey:
    node: str
    modules: list[str] = field(default_factory=list)            # "Elixir.MyApp.Cart", "my_mod"
    processes: list[ProcessSummary] = field(default_factory=list)
    genservers: dict[str, list[str]] = field(default_factory=dict)  # Elixir module name → processes
    ets: list[EtsTable] = field(default_factory=list)
    registries: list[str] = field(default_factory=list)         # Elixir names
    process_count: int = 0
    agents: list[str] = field(default_factory=list)              # modules whose closures start Agents


MAX_CODE_DIRS = 20     # directories of the application's .beam files listed
MAX_UNLOADED = 100     # modules not loaded yet that are checked and listed


async def app_modules(conn: Connection, *, timeout: float = 10.0) -> list[str]:
    """Modules that belong to the application: not under the OTP root, not Elixir's own, not
    tooling, not a script's top-level code (``elixir_compiler_N``). Modules compiled in memory
    (``elixir -r``, ``Code.eval``) count. The loaded ones first (sorted), then those of the
    application not loaded yet (:func:`_unloaded`). ``timeout``: seconds each rpc may wait."""
    loaded, paths = await _loaded_app_modules(conn, timeout)
    return loaded + await _unloaded(conn, set(loaded), paths, timeout)


async def _unloaded(conn: Connection, loaded: set[str], paths: list[str], timeout: float) -> list[str]:
    """The application's modules not loaded yet: a node in interactive mode (``mix run``,
    ``iex -S mix``, ``elixir -pa ebin``) loads a module at its first call, so a pure helper no
    process has called yet is not among the loaded ones — and a capture planned from those alone
    never traces it. These are the ``.beam`` files beside the loaded application modules' own
    whose name is already an atom on the node (loaded code refers to it; a module nothing refers
    to cannot be called). Read-only: ``file:list_dir/1`` and ``binary_to_existing_atom``; nothing
    is loaded here and no atom is made (the capture's agent loads a traced module, as a call to
    it would)."""
    dirs = sorted({p.rsplit("/", 1)[0] for p in paths if p.endswith(".beam") and "/" in p})[:MAX_CODE_DIRS]
    out: list[str] = []
    for d in dirs:
        try:
            listed = await conn.rpc("file", "list_dir", [d.encode()], timeout=timeout)
        except Exception:   # noqa: BLE001 - an unreadable directory lists nothing
            continue
        if not (isinstance(listed, tuple) and len(listed) == 2 and listed[0] == Atom("ok")):
            continue
        for f in sorted(_text(x) for x in listed[1]):
            name = f[:-len(".beam")] if f.endswith(".beam") else None
            if not name or name in loaded or name in out or name.startswith(_TOOLING) or _SCRIPT_MODULE.match(name):
                continue
            if len(out) >= MAX_UNLOADED:
                return out
            if await existing_atom(conn, name) is not None:
                out.append(name)
    return out


async def _loaded_app_modules(conn: Connection, timeout: float) -> tuple[list[str], list[str]]:
    """(the loaded application modules, sorted; the paths of their .beam files)."""
    loaded = await conn.rpc("code", "all_loaded", [], timeout=timeout)
    root = _text(await conn.rpc("code", "root_dir", [], timeout=min(timeout, 5.0)))
    elixir_dir = await conn.rpc("code", "lib_dir", [Atom("elixir")], timeout=min(timeout, 5.0))
    elixir_root = _text(elixir_dir).rsplit("/lib/", 1)[0] if not isinstance(elixir_dir, tuple) else None
    out, paths = [], []
    for mod, path in loaded:
        name, where = _text(mod), _text(path) if not isinstance(path, Atom) else path.name
        if name.startswith(_TOOLING) or where in ("preloaded", "cover_compiled") or _SCRIPT_MODULE.match(name):
            continue
        if where.startswith(root) or (elixir_root and where.startswith(elixir_root)):
            continue
        if "/lib/elixir/" in where or "/lib/erlang/" in where:
            continue
        out.append(name)
        paths.append(where)
    return sorted(out), paths


async def ets_tables(conn: Connection, owners: dict[Pid, str], *, timeout: float = 10.0) -> list[EtsTable]:
    tabs = await conn.rpc("ets", "all", [], timeout=timeout)
    infos = await conn.rpc("lists", "map", [Export(Atom("ets"), Atom("info"), 1), tabs], timeout=timeout)
    out = []
    for tab, info in zip(tabs, infos):
        if not isinstance(info, list):
            continue  # deleted meanwhile
        d = {k.name: v for k, v in info if isinstance(k, Atom)}
        owner = d.get("owner")
        if owner not in owners:
            continue
        named = d.get("named_table") is True
        name = d.get("name")
        literal = (":" + name.name) if isinstance(name, Atom) and named else repr(tab)
        out.append(EtsTable(literal, owner, owners.get(owner), named,
                            _text(d.get("protection", "")), int(d.get("size", 0))))
    return out


async def survey(conn: Connection, *, limit: int = 5000, timeout: float = 10.0) -> AppSurvey:
    """The application's modules, GenServers, ETS tables and registries on ``conn``'s node.
    ``timeout``: seconds each rpc may wait (past it :class:`~.dist.RpcTimeout`); the small
    ones wait at most 5 s, the process listing three times as long (it walks every process)."""
    modules = await app_modules(conn, timeout=timeout)
    mods = set(modules)
    procs = await process_overview(conn, sort_by="memory", limit=limit, timeout=3 * timeout)
    gens: dict[str, list[str]] = {}
    owners: dict[Pid, str] = {}
    registries = []
    agents: list[str] = []
    for p in procs:
        ic = p.initial_call
        if ic is None:
            continue
        # supervisors translate to {supervisor, CallbackModule, 1}
        if "Elixir.Registry.Supervisor" in (ic.module, ic.function) and p.registered_name:
            registries.append(elixir_name(p.registered_name))
        if ic.module in mods:
            owners[p.pid] = elixir_name(ic.module)
            if p.behaviour == "gen_server" and str(ic.function).startswith("-"):
                # an Agent: Agent.Server runs it, its initial call is the module's start closure
                agents.append(elixir_name(ic.module))
            if p.behaviour in ("gen_server", "gen_statem"):
                gens.setdefault(elixir_name(ic.module), []).append(
                    elixir_name(p.registered_name) if p.registered_name else str(p.pid))
    tables = await ets_tables(conn, owners, timeout=timeout)
    count = await conn.rpc("erlang", "system_info", [Atom("process_count")], timeout=min(timeout, 5.0))
    return AppSurvey(conn.node_name, modules, procs, gens, tables, sorted(set(registries)), int(count),
                     sorted(set(agents)))


async def registry_keys(conn: Connection, registry: str) -> list:
    """Every key registered in an Elixir ``Registry`` (``Registry.select/2``)."""
    name = await existing_atom(conn, "Elixir." + registry if registry[:1].isupper() else registry.lstrip(":"))
    if name is None:  # no such registry: the name is not even an atom there (none is created)
        return []
    spec = [((Atom("$1"), Atom("_"), Atom("_")), [], [Atom("$1")])]
    keys = await conn.rpc("Elixir.Registry", "select", [name, spec], timeout=5.0)
    return sorted(set(keys), key=repr) if isinstance(keys, list) else []

