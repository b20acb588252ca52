"""A snapshot of a whole node in one rpc: every process, the applications, and every
application's supervision tree walked recursively.

Why in the agent: the agent-less views in ``instrument/introspect`` need many rpcs (one per
question); ``elixir_scope_agent:snapshot/1`` gathers everything on the node in one call, so
the picture is taken at (nearly) one moment and costs one round trip. The models reuse
``introspect``'s ``MFA`` and ``Application``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .agent import ensure_agent
from .agent.loader import MODULE
from .dist import Connection
from .etf import Atom, Pid
from .introspect._terms import mfa as _mfa
from .introspect._terms import text as _text
from .introspect.models import MFA, Application


@dataclass(frozen=True)
class ProcessSnapshot:
    pid: Pid
    registered_name: str | None
    initial_call: MFA | None
    behaviour: str | None
    status: str
    message_queue_len: int
    memory: int
    reductions: int
    current_function: MFA | None
    links: tuple
    monitors: tuple


@dataclass
class SupTreeNode:
    pid: Any  # Pid, or the atom restarting / undefined
    module: str | None
    type: str  # supervisor | worker
    id: Any = None
    children: list[SupTreeNode] = field(default_factory=list)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True)
class NodeSnapshot:
    node: str
    otp_release: str
    process_count: int
    truncated: bool
    processes: tuple[ProcessSnapshot, ...]
    applications: tuple[Application, ...]
    supervision: dict[str, SupTreeNode]

    def by_name(self, name: str) -> ProcessSnapshot | None:
        return next((p for p in self.processes if p.registered_name == name), None)


def _name(v: Any) -> str | None:
    return v.name if isinstance(v, Atom) and v.name != "undefined" else None


def _proc(m: dict) -> ProcessSnapshot:
    g = {(_text(k)): v for k, v in m.items()}
    return ProcessSnapshot(
        pid=g["pid"], registered_name=_name(g.get("registered_name")), initial_call=_mfa(g.get("initial_call")),
        behaviour=_name(g.get("behaviour")), status=_text(g.get("status", "")),
        message_queue_len=int(g.get("message_queue_len", 0)), memory=int(g.get("memory", 0)),
        reductions=int(g.get("reductions", 0)), current_function=_mfa(g.get("current_function")),
        links=tuple(g.get("links", [])), monitors=tuple(g.get("monitors", [])))


def _tree(m: dict) -> SupTreeNode:
    g = {(_text(k)): v for k, v in m.items()}
    return SupTreeNode(pid=g.get("pid"), module=_name(g.get("module")), type=_text(g.get("type", "")),
                       id=g.get("id"), children=[_tree(c) for c in g.get("children", [])])


async def snapshot(conn: Connection, *, max_processes: int = 100_000, sup_timeout_ms: int = 2000,
                   timeout: float = 60.0) -> NodeSnapshot:
    """Everything about ``conn``'s node at once (loads the agent if needed)."""
    await ensure_agent(conn)
    raw = await conn.rpc(MODULE, "snapshot", [{Atom("max_processes"): max_processes,
                                               Atom("sup_timeout"): sup_timeout_ms}], timeout=timeout)
    g = {(_text(k)): v for k, v in raw.items()}
    apps = tuple(Application(_text(a[Atom("name")]), _text(a[Atom("description")]), _text(a[Atom("vsn")]))
                 for a in g["applications"])
    sup = {_text(s[Atom("application")]): _tree(s[Atom("tree")]) for s in g["supervision"]}
    return NodeSnapshot(node=_text(g["node"]), otp_release=_text(g["otp_release"]),
                        process_count=int(g["process_count"]), truncated=bool(g["truncated"]),
                        processes=tuple(_proc(p) for p in g["processes"]), applications=apps,
                        supervision=sup)
