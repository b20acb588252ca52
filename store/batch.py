"""Building agent batches in Python: the exact byte format of docs/event-format.md.

The agent builds batches on the BEAM; this is the same format built from Python, for tests,
benchmarks, imports from other tools, and Python-side events. ``BatchBuilder`` interns
processes and functions the way the agent does (index per node, 0 = none) and emits the Dict
entries of a batch only for entries new since the previous batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import EventKind

from .records import FORMAT, HEADER, SEGMENT


class RecordsBuffer:
    """An events binary being built, in agent format 20 (docs/event-format.md): the record
    headers and the payloads are kept apart and joined behind a segment header by ``binary``."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._heads = bytearray()
        self._payloads = bytearray()
        self.count = 0

    def add(self, kind: int, flags: int, ts: int, uniq: int, pid: int, aux: int, payload: bytes) -> None:
        self._heads += HEADER.pack(kind, flags, ts, uniq, pid, aux, len(payload))
        self._payloads += payload
        self.count += 1

    def binary(self) -> bytes:
        """The events binary of the records added (empty if none)."""
        if not self.count:
            return b""
        return SEGMENT.pack(0, FORMAT, self.count) + self._heads + self._payloads

    def __len__(self) -> int:
        """Bytes of the events binary so far."""
        return (SEGMENT.size if self.count else 0) + len(self._heads) + len(self._payloads)


@dataclass
class Batch:
    dict_entries: list
    events: bytes
    count: int


@dataclass
class BatchBuilder:
    """Accumulates records and Dict entries; ``take()`` returns a Batch and starts the next.

    ``pid(Pid(...), reg_name=None, initial_call=None)`` and ``mfa((M, F, A))`` intern; the
    ``add`` family appends records with the payload term encoded by ``instrument.etf``."""

    node_name: str = "test@localhost"
    _pids: dict = field(default_factory=dict)
    _mfas: dict = field(default_factory=dict)
    _new: list = field(default_factory=list)
    _buf: RecordsBuffer = field(default_factory=RecordsBuffer)
    _ts: int = 0

    def pid(self, pid: Any, reg_name: Any = None, initial_call: tuple | None = None) -> int:
        from elixir_scope.instrument.etf import Atom

        idx = self._pids.get(pid)
        if idx is None:
            idx = self._pids[pid] = len(self._pids) + 1
            reg = Atom(reg_name) if isinstance(reg_name, str) else (reg_name or Atom("undefined"))
            init = (tuple(Atom(x) if isinstance(x, str) else x for x in initial_call)
                    if initial_call else Atom("undefined"))
            self._new.append((Atom("pid"), idx, pid, reg, init))
        return idx

    def mfa(self, mfa: tuple) -> int:
        from elixir_scope.instrument.etf import Atom

        key = tuple(mfa)
        idx = self._mfas.get(key)
        if idx is None:
            idx = self._mfas[key] = len(self._mfas) + 1
            m, f, a = key
            self._new.append((Atom("mfa"), idx, (Atom(m) if isinstance(m, str) else m,
                                                 Atom(f) if isinstance(f, str) else f, a)))
        return idx

    def raw(self, kind: EventKind | int, pid: int, aux: int, payload: bytes, *, ts: int | None = None,
            uniq: int | None = None, flags: int = 0) -> int:
        """Append a record with an already-encoded payload; returns its ts."""
        if ts is None:
            self._ts += 1
            ts = self._ts
        else:
            self._ts = max(self._ts, ts)
        self._buf.add(int(kind), flags, ts, ts if uniq is None else uniq, pid, aux, payload)
        return ts

    def add(self, kind: EventKind | int, pid: int, aux: int, term: Any, **kw) -> int:
        from elixir_scope.instrument.etf import encode

        return self.raw(kind, pid, aux, encode(term), **kw)

    def take(self) -> Batch:
        batch = Batch(self._new, self._buf.binary(), self._buf.count)
        self._new = []
        self._buf.clear()
        return batch

    @property
    def pending(self) -> int:
        return self._buf.count


class SyntheticTrace:
    """Scripted traces in the agent's exact format, for tests and benchmarks: GenServer
    calls with state records, plain messages, spawns and exits — what the agent would emit
    for the same activity. Each helper appends records with increasing timestamps and returns
    the ts of its last record."""

    def __init__(self, node_name: str = "test@localhost", step: int = 1000) -> None:
        from elixir_scope.instrument.etf import Atom

        self.builder = BatchBuilder(node_name)
        self.node = Atom(node_name)
        self.step = step
        self.ts = 0
        self._serial = 0

    def tick(self) -> int:
        self.ts += self.step
        return self.ts

    def new_pid(self, n: int | None = None, reg_name: str | None = None,
                initial_call: tuple | None = None) -> tuple[Any, int]:
        """A fresh Pid and its interned index."""
        from elixir_scope.instrument.etf import Pid

        self._serial += 1
        pid = Pid(self.node, n if n is not None else 100 + self._serial, 0, 1)
        return pid, self.builder.pid(pid, reg_name, initial_call)

    def send(self, src: int, dst: int, dst_pid: Any, msg: Any, *, received: bool = True,
             to: Any = None) -> int:
        b = self.builder
        b.add(EventKind.SEND, src, dst if to is None else 0, (msg, dst_pid if to is None else to), ts=self.tick())
        if received:
            b.add(EventKind.RECEIVE, dst, 0, msg, ts=self.tick())
        return self.ts

    def gen_call(self, client: tuple, server: tuple, module: str, request: Any, state_before: Any,
                 state_after: Any, reply: Any, *, handled: bool = True) -> int:
        """``GenServer.call``: the $gen_call message, handle_call with state before/after, reply."""
        from elixir_scope.instrument.etf import Atom, Ref

        (cpid, cidx), (spid, sidx) = client, server
        self._serial += 1
        ref = Ref(self.node, 1, (self._serial, 0, 0))
        from_ = (cpid, ref)
        self.send(cidx, sidx, spid, (Atom("$gen_call"), from_, request))
        if not handled:
            return self.ts
        f = self.builder.mfa((module, "handle_call", 3))
        b = self.builder
        b.add(EventKind.CALL, sidx, f, [request, from_, state_before], ts=self.tick())
        b.add(EventKind.STATE, sidx, f, (Atom("before"), state_before), ts=self.tick())
        b.add(EventKind.RETURN, sidx, f, (Atom("reply"), reply, state_after), ts=self.tick())
        b.add(EventKind.STATE, sidx, f, (Atom("after"), state_after), ts=self.tick())
        self.send(sidx, cidx, cpid, (ref, reply))
        return self.ts

    def checkpoint(self, server: tuple, state: Any) -> int:
        from elixir_scope.instrument.etf import Atom

        self.builder.add(EventKind.STATE, server[1], 0, (Atom("checkpoint"), state), ts=self.tick())
        return self.ts

    def spawn(self, parent: tuple, child: tuple, mfa_args: tuple) -> int:
        b = self.builder
        b.add(EventKind.SPAWN, parent[1], child[1], mfa_args, ts=self.tick())
        b.add(EventKind.SPAWNED, child[1], parent[1], mfa_args, ts=self.tick())
        return self.ts

    def link(self, a: tuple, b_: tuple) -> int:
        b = self.builder
        b.add(EventKind.LINK, a[1], b_[1], b_[0], ts=self.tick())
        b.add(EventKind.GETTING_LINKED, b_[1], a[1], a[0], ts=self.tick())
        return self.ts

    def exit(self, proc: tuple, reason: Any) -> int:
        self.builder.add(EventKind.EXIT, proc[1], 0, reason, ts=self.tick())
        return self.ts

    def gap(self, reason: str, count: int) -> int:
        from elixir_scope.instrument.etf import Atom

        self.builder.add(EventKind.GAP, 0, 0, (Atom(reason), count, b""), ts=self.tick())
        return self.ts

    def take(self) -> Batch:
        return self.builder.take()
