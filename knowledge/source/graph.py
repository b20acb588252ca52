"""The static interaction graph: who calls which process, and call cycles between servers.

Targets of `GenServer.call/cast` (and `:gen_statem`, `Agent`) are resolved to modules through
the names processes register under when they start (`name: __MODULE__`, `name: :inventory`,
`name: {:via, Registry, {Reg, key}}`, a local `via/1` helper, `{:local, name}` for
gen_statem). See CallEdge.resolution for how sure each edge is.

A call cycle is reported when server A, while handling a message (any code reachable from its
callbacks, across function calls into other modules' client APIs), makes a synchronous call to
server B, and B's callbacks can likewise reach a synchronous call back to A. If both requests
are in flight at once, each process waits for the other until the call times out (default
5 s): the classic GenServer deadlock. A server reaching a synchronous call to itself is
reported separately (self_call); it always times out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .facts import FileFacts, FunCall, ModuleFacts, ProcessCall
from .model import CallEdge, Flag, FlagKind, Location, ModuleInfo, RoleKind
from .otp import SERVER_CALLBACKS
from .refs import Ref

SERVER_ROLES = frozenset({RoleKind.GENSERVER, RoleKind.GEN_STATEM, RoleKind.AGENT, RoleKind.PHOENIX_CHANNEL,
                          RoleKind.PHOENIX_LIVE_VIEW})


@dataclass(frozen=True, slots=True)
class NameTable:
    """Registered process names → server module."""

    by_name: dict[tuple[str, str], str]  # (kind, value) -> module
    via: dict[str, list[tuple[str | None, str]]]  # registry -> [(key, module)]
    names_of: dict[str, list[str]]  # module -> names as written


def name_table(facts: FileFacts, module_facts: dict[str, ModuleFacts]) -> NameTable:
    by_name: dict[tuple[str, str], str] = {}
    via: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    names_of: dict[str, list[str]] = defaultdict(list)
    for reg in facts.registrations:
        ref = reg.name
        if ref.kind == "local":
            helper = module_facts.get(reg.module)
            registry = helper.via_helpers.get(ref.value) if helper else None
            if registry is None:
                continue
            ref = Ref("via", registry, None)
        if ref.kind == "via":
            via[ref.value].append((ref.key, reg.module))
            label = f"{{:via, Registry, {{{ref.value}, {ref.key or '_'}}}}}"
        elif ref.kind in ("atom", "module"):
            by_name[(ref.kind, ref.value)] = reg.module
            label = ref.value
        else:
            continue
        if label not in names_of[reg.module]:
            names_of[reg.module].append(label)
    return NameTable(by_name, dict(via), dict(names_of))


def resolve(call: ProcessCall, names: NameTable, servers: set[str], module_facts: dict[str, ModuleFacts]
            ) -> tuple[str | None, str]:
    """(target module or None, resolution) for one process call."""
    ref = call.target
    if ref.kind == "local" and ref.value == "self":
        return call.module, "exact"  # GenServer.call(self(), ...): the calling process itself
    if ref.kind == "local":
        helper = module_facts.get(call.module)
        registry = helper.via_helpers.get(ref.value) if helper else None
        if registry is not None:
            ref = Ref("via", registry, None)
    if ref.kind == "module":
        owner = names.by_name.get(("module", ref.value))
        if owner is not None:
            return owner, "exact" if owner == ref.value else "registered_name"
        if ref.value in servers:
            return ref.value, "exact"
    elif ref.kind == "atom":
        owner = names.by_name.get(("atom", ref.value))
        if owner is not None:
            return owner, "registered_name"
    elif ref.kind == "via":
        entries = names.via.get(ref.value, [])
        exact = {m for k, m in entries if ref.key is not None and k == ref.key}
        if len(exact) == 1:
            return exact.pop(), "via"
        owners = {m for _, m in entries}
        if len(owners) == 1:
            return owners.pop(), "via"
        if call.module in owners:
            return call.module, "via"
    elif ref.kind == "var" and call.module in servers and call.kind != "send":
        # `def add(server, x), do: GenServer.call(server, ...)` inside the server's own module:
        # the client API of that server.
        return call.module, "inferred"
    return None, "unresolved"


def build_edges(facts: FileFacts, names: NameTable, servers: set[str],
                module_facts: dict[str, ModuleFacts]) -> list[CallEdge]:
    edges = []
    for call in facts.process_calls:
        target, how = resolve(call, names, servers, module_facts)
        ref = call.target
        if ref.kind == "via":
            text = f"{{:via, Registry, {{{ref.value}, {ref.key or '_'}}}}}"
        elif ref.kind == "local":
            text = f"{ref.value}(...)"
        else:
            text = ref.value
        edges.append(CallEdge(call.module, call.function, target, text or call.target.kind, call.kind,
                              call.message, how, call.file, call.line, call.api))
    return edges


class FunctionGraph:
    """Static calls between functions, keyed "Mod.name/arity"."""

    def __init__(self, modules: Iterable[ModuleInfo], calls: Iterable[FunCall]) -> None:
        self.known: set[str] = set()
        by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
        for mod in modules:
            for fn in mod.functions:
                key = f"{mod.name}.{fn.key}"
                self.known.add(key)
                by_name[(mod.name, fn.name)].append(key)
        self.out: dict[str, set[str]] = defaultdict(set)
        for c in calls:
            if not c.function:
                continue
            target = f"{c.target}.{c.name}/{c.arity}"
            if target not in self.known:
                if c.imported:
                    continue  # not defined by that import (Kernel, a dependency, another import)
                same = by_name.get((c.target, c.name), [])
                if len(same) != 1:
                    continue  # a default-argument arity is resolved only when unambiguous
                target = same[0]
            self.out[f"{c.module}.{c.function}"].add(target)

    def pairs(self) -> list[tuple[str, str]]:
        return sorted((a, b) for a, targets in self.out.items() for b in targets)

    def path_to(self, start: str, goal: set[str]) -> dict[str, list[str]]:
        """For each function in `goal` reachable from `start`, one shortest call path."""
        found: dict[str, list[str]] = {}
        parent: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            nxt = []
            for node in frontier:
                if node in goal and node not in found:
                    path, cur = [], node
                    while cur is not None:
                        path.append(cur)
                        cur = parent[cur]
                    found[node] = path[::-1]
                for t in self.out.get(node, ()):
                    if t not in parent:
                        parent[t] = node
                        nxt.append(t)
            frontier = nxt
        return found


@dataclass(frozen=True, slots=True)
class ServerHop:
    source: str
    target: str
    path: tuple[str, ...]  # callback ... function making the call
    edge: CallEdge


def server_hops(modules: list[ModuleInfo], edges: list[CallEdge], graph: FunctionGraph) -> list[ServerHop]:
    """Synchronous calls reachable from each server's callbacks."""
    sync_by_fn: dict[str, list[CallEdge]] = defaultdict(list)
    for e in edges:
        if e.kind == "call" and e.target and e.function and e.resolution != "inferred":
            sync_by_fn[f"{e.caller}.{e.function}"].append(e)
    goal = set(sync_by_fn)
    hops: dict[tuple[str, str], ServerHop] = {}
    for mod in modules:
        if not any(r in SERVER_ROLES for r in mod.roles):
            continue
        for fn in mod.functions:
            if fn.name not in SERVER_CALLBACKS:
                continue
            start = f"{mod.name}.{fn.key}"
            for fkey, path in graph.path_to(start, goal).items():
                for e in sync_by_fn[fkey]:
                    hop = ServerHop(mod.name, e.target or "", tuple(path), e)
                    old = hops.get((hop.source, hop.target))
                    if old is None or len(hop.path) < len(old.path):
                        hops[(hop.source, hop.target)] = hop
    return sorted(hops.values(), key=lambda h: (h.source, h.target))


def _hop_text(h: ServerHop) -> str:
    chain = " → ".join(h.path)
    return f"{chain} → {h.edge.api}.call({h.edge.target_text}) at {h.edge.file}:{h.edge.line}"


def _locs(h: ServerHop, where: dict[str, tuple[str, int]]) -> tuple[Location, ...]:
    """The callback where the hop starts, the functions on the way, and the call site."""
    out = []
    for key in h.path:
        file, line = where.get(key, (h.edge.file, h.edge.line))
        mod, fn = _split_key(key)
        out.append(Location(file, line, mod, fn))
    call_site = Location(h.edge.file, h.edge.line, h.edge.caller, h.edge.function)
    if call_site not in out:
        out.append(call_site)
    return tuple(out)


def _split_key(key: str) -> tuple[str, str]:
    """"Shop.Cart.handle_call/3" → ("Shop.Cart", "handle_call/3")."""
    name_arity = key.rsplit("/", 1)
    module, _, name = name_arity[0].rpartition(".")
    return module, f"{name}/{name_arity[1]}"


def function_lines(modules: Iterable[ModuleInfo]) -> dict[str, tuple[str, int]]:
    return {f"{m.name}.{f.key}": (m.file, f.line) for m in modules for f in m.functions}


def cycle_flags(hops: list[ServerHop], where: dict[str, tuple[str, int]]) -> list[Flag]:
    flags = []
    adj: dict[str, dict[str, ServerHop]] = defaultdict(dict)
    for h in hops:
        if h.source == h.target:
            flags.append(Flag(FlagKind.SELF_CALL,
                              f"{h.source} makes a synchronous call to itself while handling a message "
                              f"({_hop_text(h)}): the call can only time out.",
                              _locs(h, where), "warning", (h.source,)))
        else:
            adj[h.source][h.target] = h
    for scc in _sccs(adj):
        members = sorted(scc)
        cycle_hops = [adj[a][b] for a in members for b in members if b in adj.get(a, {})]
        text = "; ".join(_hop_text(h) for h in cycle_hops)
        flags.append(Flag(FlagKind.CALL_CYCLE,
                          f"synchronous call cycle between {', '.join(members)}: {text}. If these requests "
                          f"overlap, each server waits on the other until the call times out (deadlock).",
                          tuple(loc for h in cycle_hops for loc in _locs(h, where)), "warning",
                          tuple(members)))
    return flags


def _sccs(adj: dict[str, dict[str, ServerHop]]) -> list[set[str]]:
    """Tarjan's strongly connected components with two or more members (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    nodes = sorted(set(adj) | {t for ts in adj.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(adj.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(adj.get(nxt, {})))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    result.append(comp)
    return result
