"""Resource samples taken while a diagnosis records: which processes hold memory, heap,
binaries, mailboxes and reductions; which ETS tables grow; and the node's totals (process,
atom and port counts, ``erlang:memory()``).

How it stays cheap and bounded, with no code on the node: funs cannot be sent, but export
funs can, and ``lists:zipwith(fun erlang:apply/2, [Fun...], [Args...])`` runs several standard
calls in one round trip. Three per sample, whatever the process count:
1. ``erlang:processes/0``, ``ets:all/0``, ``erlang:memory/0`` and ``erlang:system_info/1``
   (process, atom and port counts, word size);
2. ``lists:zipwith(fun erlang:process_info/2, ...)`` — three numbers of every process (memory,
   mailbox length, reductions) — and ``lists:map(fun ets:info/1, Tables)``;
3. for the candidates only — the top ``top`` by memory, by memory growth, by mailbox length and
   by reductions since the previous sample, then the processes already followed, at most
   ``max_watch`` — their heap, name, current function and binaries (``process_info(P,
   binary)``, summed here; not for a process above ``binary_list_max_memory``, whose list would
   be large), and, once per process, the initial call as ``proc_lib`` translates
   it. The ``ets_top`` largest tables by memory are kept.

A :class:`ResourceSampler` keeps following the processes it has seen, so their figures form
a time series across samples even when they drop out of the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dist import Connection
from .etf import Atom, Export, Pid
from .introspect._terms import mfa, proplist

__all__ = ["ProcessFigures", "EtsFigures", "NodeFigures", "ResourceSnapshot", "ResourceSampler"]

_A = Atom
_INFO2 = Export(_A("erlang"), _A("process_info"), 2)
_APPLY = Export(_A("erlang"), _A("apply"), 2)
_COUNTS = ("process_count", "atom_count", "port_count", "wordsize")
_RANK_ITEMS = [_A("memory"), _A("message_queue_len"), _A("reductions")]
_DETAIL_ITEMS = [_A("registered_name"), _A("memory"), _A("total_heap_size"), _A("message_queue_len"),
                 _A("reductions"), _A("current_function"), _A("initial_call")]
_MEMORY_TYPES = ("total", "processes", "system", "atom", "binary", "code", "ets")
#: Above this much process memory its binaries are not listed: the list (one tuple per binary,
#: each one's ProcBin taking ~48 bytes of heap) would be a large reply built on the target.
BINARY_LIST_MAX_MEMORY = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    pid: Pid
    registered_name: str | None   # as the node names it: "Elixir.MyApp.Cache"
    module: str | None            # the initial call's module (as proc_lib translates it)
    current: str | None           # the current function: "gen_server.loop/7"
    memory: int                   # bytes (process_info memory: heap, stack, mailbox, internal)
    heap_bytes: int               # total_heap_size in bytes
    binary_bytes: int | None      # sum of the sizes of the off-heap binaries it refers to (None: not listed)
    binaries: int | None          # how many such binaries (None: not listed)
    queue_len: int
    reductions: int


@dataclass(frozen=True, slots=True)
class EtsFigures:
    name: str                     # ":price_book" for a named table, else its name without the colon
    owner: Pid | None
    size: int                     # objects
    memory: int                   # bytes


@dataclass(frozen=True, slots=True)
class NodeFigures:
    process_count: int
    atom_count: int
    port_count: int
    memory: dict[str, int]        # erlang:memory() totals in bytes: total, processes, binary, ets, ...


@dataclass(frozen=True, slots=True)
class ResourceSnapshot:
    processes: list[ProcessFigures]
    ets: list[EtsFigures]
    node: NodeFigures
    queues: list[tuple[Pid, int]] = field(default_factory=list)  # the longest mailboxes (non-empty), longest first


def _fun(mod: str, fun: str, arity: int) -> Export:
    return Export(_A(mod), _A(fun), arity)


def _int(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0


@dataclass
class ResourceSampler:
    """Takes :class:`ResourceSnapshot` s of one node, following the processes it has seen.

    ``top``: candidates per ranking (memory, memory growth, mailbox length, reductions since the
    last sample); ``max_watch``: how many processes are described per sample (this sample's
    candidates first, then those followed before); ``ets_top``: tables per sample.
    """

    conn: Connection
    top: int = 4
    max_watch: int = 20
    ets_top: int = 12
    queues_top: int = 10
    binary_list_max_memory: int = BINARY_LIST_MAX_MEMORY
    timeout: float = 5.0
    _watch: list[Pid] = field(default_factory=list)
    _modules: dict[Pid, str | None] = field(default_factory=dict)
    _last: dict[Pid, tuple[int, int]] = field(default_factory=dict)  # memory, reductions at the last sample
    _wordsize: int = 0

    def __post_init__(self) -> None:
        for name, value in (("top", self.top), ("max_watch", self.max_watch), ("ets_top", self.ets_top),
                            ("queues_top", self.queues_top)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")

    async def sample(self) -> ResourceSnapshot:
        t = self.timeout
        # 1: the lists to walk and the node's totals, in one round trip
        pids, tabs, mem, *counts = await self.conn.rpc("lists", "zipwith", [_APPLY, [
            _fun("erlang", "processes", 0), _fun("ets", "all", 0), _fun("erlang", "memory", 0),
            *[_fun("erlang", "system_info", 1)] * 4], [[], [], [], *[[_A(k)] for k in _COUNTS]]], timeout=t)
        self._wordsize = _int(counts[3]) or 8
        # 2: three numbers of every process, and every table's info
        ranks, infos = await self.conn.rpc("lists", "zipwith", [_APPLY, [_fun("lists", "zipwith", 3), _fun("lists", "map", 2)], [
            [_INFO2, pids, [_RANK_ITEMS] * len(pids)], [_fun("ets", "info", 1), tabs]]], timeout=t)
        rows = [(p, proplist(r)) for p, r in zip(pids, ranks) if isinstance(r, list)]
        queues = sorted(((p, _int(i.get("message_queue_len"))) for p, i in rows), key=lambda pq: pq[1], reverse=True)
        # 3: the details of the processes worth following
        memory_of = {p: _int(i.get("memory")) for p, i in rows}
        procs = await self._processes(self._candidates(rows), memory_of)
        memory = proplist(mem)
        node = NodeFigures(_int(counts[0]), _int(counts[1]), _int(counts[2]),
                           {k: _int(memory[k]) for k in _MEMORY_TYPES if k in memory})
        return ResourceSnapshot(procs, self._ets(tabs, infos), node,
                                [(p, q) for p, q in queues[: self.queues_top] if q > 0])

    # ---------------------------------------------------------------- processes
    def _candidates(self, rows: list[tuple[Pid, dict[str, Any]]]) -> list[Pid]:
        """The processes to describe: the top ``top`` by memory, by memory growth, by mailbox
        length and by reductions since the last sample (busy now, not busy ever), then the ones
        already followed, at most ``max_watch``."""
        last = self._last
        grown = {p: _int(i.get("memory")) - last.get(p, (0, 0))[0] for p, i in rows if p in last}
        busy = {p: _int(i.get("reductions")) - last.get(p, (0, 0))[1] for p, i in rows if p in last}
        rankings = [
            sorted(rows, key=lambda pr: _int(pr[1].get("memory")), reverse=True),
            sorted((pr for pr in rows if grown.get(pr[0], 0) > 0), key=lambda pr: grown[pr[0]], reverse=True),
            sorted((pr for pr in rows if _int(pr[1].get("message_queue_len")) > 0),
                   key=lambda pr: _int(pr[1].get("message_queue_len")), reverse=True),
            sorted((pr for pr in rows if busy.get(pr[0], 0) > 0), key=lambda pr: busy[pr[0]], reverse=True),
        ]
        picked: list[Pid] = []
        for ranked in rankings:
            for p, _ in ranked[: self.top]:
                if p not in picked:
                    picked.append(p)
        alive = {p for p, _ in rows}
        for p in self._watch:
            if p not in picked and p in alive:
                picked.append(p)
        self._last = {p: (_int(i.get("memory")), _int(i.get("reductions"))) for p, i in rows}
        self._watch = picked[: self.max_watch]
        return self._watch

    async def _processes(self, watch: list[Pid], memory_of: dict[Pid, int]) -> list[ProcessFigures]:
        if not watch:
            return []
        new = [p for p in watch if p not in self._modules]
        listed = [memory_of.get(p, 0) <= self.binary_list_max_memory for p in watch]
        details, bins, translated = await self.conn.rpc("lists", "zipwith", [_APPLY, [
            _fun("lists", "zipwith", 3), _fun("lists", "zipwith", 3), _fun("lists", "map", 2)], [
            [_INFO2, watch, [_DETAIL_ITEMS] * len(watch)], [_INFO2, watch, [_A("binary") if ok else _A("status") for ok in listed]],
            [_fun("proc_lib", "translate_initial_call", 1), new]]], timeout=self.timeout)
        for p, m in zip(new, translated if isinstance(translated, list) else [None] * len(new)):
            found = mfa(m)
            if found is None or found.module == "proc_lib":
                self._modules[p] = None
            else:  # a supervisor's is {supervisor, CallbackModule, 1}
                self._modules[p] = found.function if found.module == "supervisor" else found.module
        out = []
        for i, (p, raw) in enumerate(zip(watch, details if isinstance(details, list) else [])):
            if not isinstance(raw, list):
                continue  # exited between the calls
            info = proplist(raw)
            b = bins[i] if isinstance(bins, list) and i < len(bins) else None
            sizes: list[int] | None = None
            if listed[i] and isinstance(b, tuple) and len(b) == 2 and isinstance(b[1], list):
                sizes = [r[1] for r in b[1] if isinstance(r, tuple) and len(r) >= 2 and isinstance(r[1], int)]
            reg = info.get("registered_name")
            if self._modules.get(p) is None:
                ic = mfa(info.get("initial_call"))
                self._modules[p] = ic.module if ic and ic.module not in ("proc_lib", "erlang") else None
            cf = mfa(info.get("current_function"))
            out.append(ProcessFigures(
                pid=p, registered_name=reg.name if isinstance(reg, Atom) else None, module=self._modules[p],
                current=f"{cf.module}.{cf.function}/{cf.arity}" if cf else None,
                memory=_int(info.get("memory")), heap_bytes=_int(info.get("total_heap_size")) * self._wordsize,
                binary_bytes=None if sizes is None else sum(sizes), binaries=None if sizes is None else len(sizes),
                queue_len=_int(info.get("message_queue_len")),
                reductions=_int(info.get("reductions"))))
        return out

    # ---------------------------------------------------------------- ETS
    def _ets(self, tabs: Any, infos: Any) -> list[EtsFigures]:
        if not isinstance(tabs, list) or not isinstance(infos, list):
            return []
        rows = []
        for tab, info in zip(tabs, infos):
            if not isinstance(info, list):
                continue  # deleted meanwhile
            d = proplist(info)
            name = d.get("name")
            named = d.get("named_table") is True
            label = ":" + name.name if named and isinstance(name, Atom) else (
                name.name if isinstance(name, Atom) else str(tab))
            owner = d.get("owner")
            rows.append(EtsFigures(label, owner if isinstance(owner, Pid) else None, _int(d.get("size")),
                                   _int(d.get("memory")) * self._wordsize))
        rows.sort(key=lambda e: e.memory, reverse=True)
        return rows[: self.ets_top]
