"""Building agent batches in Python: the exact byte format of docs/event-format.md.

The agent builds batches on the BEAM; this is the same format built from Python, for tests,
benchmarks, imports from other tools, and Python-side events. ``BatchBuilder`` interns
processes and functions the way the agent does (index per node, 0 = none) and emits the Dict
entries of a batch only for entries new since the previous batch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from .events import EventKind

HEADER = struct.Struct(">BBqqIII")


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
    _buf: bytearray = field(default_factory=bytearray)
    _count: int = 0
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
        self._buf += HEADER.pack(int(kind), flags, ts, ts if uniq is None else uniq, pid, aux, len(payload))
        self._buf += payload
        self._count += 1
        return ts

    def add(self, kind: EventKind | int, pid: int, aux: int, term: Any, **kw) -> int:
        from elixir_scope.instrument.etf import encode

        return self.raw(kind, pid, aux, encode(term), **kw)

    def take(self) -> Batch:
        batch = Batch(self._new, bytes(self._buf), self._count)
        self._new, self._buf, self._count = [], bytearray(), 0
        return batch

    @property
    def pending(self) -> int:
        return self._count
