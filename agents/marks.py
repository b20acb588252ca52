"""Resource and supervision observations kept in a recording as ``mark`` events: how the
capture writes them (:func:`resource_mark`, :func:`supervisor_mark`) and how a
:class:`~elixir_scope.agents.view.RecordingView` reads them back as typed values
(:func:`parse_resources`, :func:`parse_supervisor`). The formats are documented in
docs/event-format.md ("Marks written by a diagnosis").

Every variable text travels as a binary (a pid as ``<0.123.0>``, a name as the node spells
it, ``Elixir.Geo.Resolver``); the only atoms are the two tags and ``undefined`` — a mark goes
through the agent on the target, and must create no atom there. A mark is trimmed (lowest
ranked rows first) to fit ``budget`` bytes, so the agent never has to truncate it
(``max_term_bytes``); how many rows there were is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from elixir_scope.instrument.etf import Atom, encode
from elixir_scope.instrument.resources import ResourceSnapshot
from elixir_scope.instrument.supervisors import SupervisorFacts

RESOURCES_TAG = "es_resources"
SUPERVISOR_TAG = "es_supervisor"
_UNDEF = Atom("undefined")


# ---------------------------------------------------------------------------------- writing

def _bin(value: str | None) -> bytes | Atom:
    return _UNDEF if value is None else value.encode()


def _num(value: int | None) -> int | Atom:
    return _UNDEF if value is None else int(value)


def _fits(term: Any, budget: int) -> bool:
    return len(encode(term)) <= budget


def resource_mark(snap: ResourceSnapshot, budget: int = 3800) -> tuple:
    """``{es_resources, {ProcessCount, AtomCount, PortCount, [{Type, Bytes}]}, Procs, Tables}``."""
    node = snap.node
    totals = (node.process_count, node.atom_count, node.port_count,
              [(k.encode(), v) for k, v in node.memory.items()])
    procs = [(str(p.pid).encode(), _bin(p.registered_name), _bin(p.module), _bin(p.current), p.memory,
              p.heap_bytes, _num(p.binary_bytes), _num(p.binaries), p.queue_len, p.reductions) for p in snap.processes]
    tables = [(e.name.encode(), _bin(str(e.owner) if e.owner else None), e.size, e.memory) for e in snap.ets]
    term = (Atom(RESOURCES_TAG), totals, procs, tables)
    while not _fits(term, budget) and (procs or tables):
        if len(procs) >= len(tables) and procs:
            procs.pop()
        else:
            tables.pop()
        term = (Atom(RESOURCES_TAG), totals, procs, tables)
    return term


def supervisor_mark(phase: str, sup: SupervisorFacts, budget: int = 3800) -> tuple:
    """``{es_supervisor, Phase, {Pid, Name, Module, Kind, Strategy, Intensity, Period,
    ChildCount, Error, [{Id, Pid, Status, Restart, Shutdown, Type, Module}]}}`` (Module: the
    child's first callback module, ``<<>>`` when dynamic)."""
    if phase not in ("start", "end"):
        raise ValueError(f"phase must be 'start' or 'end', not {phase!r}")
    children = [(c.id.encode(), _bin(str(c.pid) if c.pid else None), c.status.encode(), _bin(c.restart),
                 c.shutdown if isinstance(c.shutdown, int) else _bin(c.shutdown), c.type.encode(),
                 _bin(c.modules[0] if c.modules and c.modules[0] != "dynamic" else None))
                for c in sup.children]

    def build() -> tuple:
        return (Atom(SUPERVISOR_TAG), phase.encode(),
                (str(sup.pid).encode(), _bin(sup.registered_name), _bin(sup.module), sup.kind.encode(),
                 _bin(sup.strategy), _num(sup.intensity), _num(sup.period), sup.child_count,
                 _bin(sup.error), children))

    term = build()
    while children and not _fits(term, budget):
        children.pop()
        term = build()
    return term


# ---------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class ProcessResource:
    """One process's figures in one resource sample. ``proc`` is the view's process key."""

    proc: int
    pid: str
    name: str | None          # registered name as the view shows it: "Geo.Resolver", "code_server"
    module: str | None        # the initial call's module, as the node names it: "Elixir.Geo.Resolver"
    current: str | None       # current function: "gen_server.loop/7"
    memory: int               # bytes
    heap_bytes: int
    binary_bytes: int | None  # off-heap binaries it refers to, summed (None: not listed, a very large process)
    binaries: int | None
    queue_len: int
    reductions: int


@dataclass(frozen=True)
class EtsResource:
    name: str                 # ":price_book" for a named table
    owner: int | None         # the view's process key of the owner
    owner_pid: str | None
    size: int
    memory: int               # bytes


@dataclass(frozen=True)
class ResourceSample:
    """What the periodic sampler saw at ``ts`` (node time of the mark)."""

    event_id: int
    ts: int
    process_count: int
    atom_count: int
    port_count: int
    memory: dict[str, int]    # erlang:memory() totals: total, processes, binary, ets, atom, code, system
    processes: list[ProcessResource]
    ets: list[EtsResource]

    def process(self, proc: int) -> ProcessResource | None:
        return next((p for p in self.processes if p.proc == proc), None)

    def table(self, name: str) -> EtsResource | None:
        return next((t for t in self.ets if t.name == name), None)


@dataclass(frozen=True)
class SupervisedChild:
    id: str                   # as Elixir prints it: "Feeds.Sessions"
    proc: int | None          # the view's process key (None when not running)
    pid: str | None
    status: str               # running | restarting | undefined
    restart: str | None       # permanent | transient | temporary
    shutdown: int | str | None  # ms, "brutal_kill", "infinity"
    type: str                 # worker | supervisor
    module: str | None = None  # its callback module as the node names it ("Elixir.Foo"), when known

    @property
    def label(self) -> str:
        """How a person knows the child: its id, or — a DynamicSupervisor's children have none
        (``:undefined``) — its module and pid ("Shop.Cart <0.212.0>")."""
        if self.id not in ("undefined", "?", ""):
            return self.id
        name = (self.module or "").removeprefix("Elixir.") or "a child"
        return f"{name} {self.pid}" if self.pid else name


@dataclass(frozen=True)
class SupervisorInfo:
    """One supervisor as read from the live node at the start or the end of the capture."""

    event_id: int
    ts: int
    phase: str                # start | end
    proc: int
    pid: str
    name: str | None          # "Feeds.Supervisor"
    module: str | None        # callback module as the node names it
    kind: str                 # supervisor | dynamic_supervisor | unknown (its state was not read)
    strategy: str | None
    intensity: int | None
    period: int | None
    child_count: int          # all its children (``children`` may hold fewer)
    children: list[SupervisedChild] = field(default_factory=list)
    error: str | None = None

    def child_by_id(self, child_id: str) -> SupervisedChild | None:
        return next((c for c in self.children if c.id == child_id), None)

    def child_of(self, proc: int) -> SupervisedChild | None:
        return next((c for c in self.children if c.proc == proc), None)


def _text(x: Any) -> str | None:
    if isinstance(x, bytes):
        return x.decode(errors="replace")
    return None


def _short(name: str | None) -> str | None:
    if name is None:
        return None
    return name[len("Elixir."):] if name.startswith("Elixir.") else name


def _int(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0


def _opt_int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def parse_resources(event_id: int, ts: int, term: Any, pid_key: Callable[[str], int]) -> ResourceSample | None:
    """A resource sample from an ``es_resources`` mark; None when the term is not one."""
    if not (isinstance(term, tuple) and len(term) == 4 and isinstance(term[0], Atom)
            and term[0].name == RESOURCES_TAG and isinstance(term[1], tuple) and len(term[1]) == 4):
        return None
    pc, ac, prc, mem = term[1]
    memory = {_text(k): _int(v) for k, v in (i for i in mem if isinstance(i, tuple) and len(i) == 2)
              if _text(k)} if isinstance(mem, list) else {}
    procs = []
    for row in term[2] if isinstance(term[2], list) else []:
        if not (isinstance(row, tuple) and len(row) == 10 and isinstance(row[0], bytes)):
            continue
        pid = row[0].decode()
        mem_bytes, heap, bin_bytes, bins, queue, reductions = row[4:]
        procs.append(ProcessResource(pid_key(pid), pid, _short(_text(row[1])), _text(row[2]), _text(row[3]),
                                     _int(mem_bytes), _int(heap), _opt_int(bin_bytes), _opt_int(bins), _int(queue),
                                     _int(reductions)))
    tables = []
    for row in term[3] if isinstance(term[3], list) else []:
        if not (isinstance(row, tuple) and len(row) == 4 and isinstance(row[0], bytes)):
            continue
        owner = _text(row[1])
        tables.append(EtsResource(row[0].decode(errors="replace"), pid_key(owner) if owner else None, owner,
                                  _int(row[2]), _int(row[3])))
    return ResourceSample(event_id, ts, _int(pc), _int(ac), _int(prc), memory, procs, tables)


def parse_supervisor(event_id: int, ts: int, term: Any, pid_key: Callable[[str], int]) -> SupervisorInfo | None:
    """A supervisor's facts from an ``es_supervisor`` mark; None when the term is not one."""
    if not (isinstance(term, tuple) and len(term) == 3 and isinstance(term[0], Atom)
            and term[0].name == SUPERVISOR_TAG and isinstance(term[2], tuple) and len(term[2]) == 10
            and isinstance(term[2][0], bytes)):
        return None
    pid_b, name, module, kind, strategy, intensity, period, count, error, rows = term[2]
    children = []
    for row in rows if isinstance(rows, list) else []:
        if not (isinstance(row, tuple) and len(row) in (6, 7)):
            continue
        cpid = _text(row[1])
        shutdown = row[4] if isinstance(row[4], int) else _text(row[4])
        children.append(SupervisedChild(_text(row[0]) or "?", pid_key(cpid) if cpid else None, cpid,
                                        _text(row[2]) or "?", _text(row[3]), shutdown, _text(row[5]) or "?",
                                        (_text(row[6]) or None) if len(row) >= 7 else None))
    pid = pid_b.decode()
    return SupervisorInfo(event_id, ts, _text(term[1]) or "?", pid_key(pid), pid, _short(_text(name)),
                          _text(module), _text(kind) or "supervisor", _text(strategy), _opt_int(intensity),
                          _opt_int(period), _int(count), children, _text(error))
