"""Build realistic trace batches (docs/event-format.md) for query tests and the benchmark.

Records are encoded exactly as the agent sends them — format 20: the 30-byte headers, then the
ETF payloads made by `instrument.etf.encode` (`store.batch.RecordsBuffer`) — and stored through the store's real ingest API
(`RecordingWriter.ingest_batch`), so queries run against what a capture would produce.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom, Pid, encode
from elixir_scope.store.batch import RecordsBuffer

KIND = {"call": 1, "return": 2, "exception": 3, "send": 4, "send_dead": 5, "receive": 6,
        "spawn": 7, "exit": 8, "link": 9, "unlink": 10, "register": 11, "unregister": 12,
        "state": 13, "gap": 14, "mark": 15, "spawned": 16}
MS = 1_000_000


def mod(name: str) -> Atom:
    """`MyApp.Cart` → the atom `Elixir.MyApp.Cart`; `:ets` → `ets`."""
    return Atom(name[1:] if name.startswith(":") else "Elixir." + name)


class Batch:
    """Accumulates Dict entries and records; `t` is the node's monotonic clock in ns."""

    def __init__(self, node: str = "app@host", t0: int = 1_000_000_000_000) -> None:
        self.node = Atom(node)
        self.t = t0
        self.uniq = 0
        self.entries: list[tuple] = []
        self.buf = RecordsBuffer()
        self._pids: dict[Any, int] = {}
        self._mfas: dict[tuple, int] = {}
        self.count = 0

    # -- interning -----------------------------------------------------------------------
    def pid(self, n: int, name: str | None = None, initial: tuple | None = None) -> int:
        if n in self._pids:
            return self._pids[n]
        idx = len(self._pids) + 1
        self._pids[n] = idx
        reg = Atom("undefined") if name is None else (mod(name) if name[:1].isupper() else Atom(name))
        init = Atom("undefined") if initial is None else (mod(initial[0]), Atom(initial[1]), initial[2])
        self.entries.append((Atom("pid"), idx, Pid(self.node, n, 0, 1), reg, init))
        return idx

    def pid_term(self, n: int) -> Pid:
        return Pid(self.node, n, 0, 1)

    def mfa(self, module: str, function: str, arity: int) -> int:
        key = (module, function, arity)
        if key in self._mfas:
            return self._mfas[key]
        idx = len(self._mfas) + 1
        self._mfas[key] = idx
        self.entries.append((Atom("mfa"), idx, (mod(module), Atom(function), arity)))
        return idx

    # -- records -------------------------------------------------------------------------
    def rec(self, kind: str, pid: int, aux: int, payload: Any, dt_ns: int = 1000, flags: int = 0,
            raw: bytes | None = None) -> None:
        self.t += dt_ns
        self.uniq += 1
        data = raw if raw is not None else encode(payload)
        self.buf.add(KIND[kind], flags, self.t, self.uniq, pid, aux, data)
        self.count += 1

    def call(self, pid: int, mfa: int, args: list, dt_ns: int = 1000) -> None:
        self.rec("call", pid, mfa, args, dt_ns)

    def ret(self, pid: int, mfa: int, value: Any, dt_ns: int = 1000) -> None:
        self.rec("return", pid, mfa, value, dt_ns)

    def exc(self, pid: int, mfa: int, cls: str, reason: Any, dt_ns: int = 1000) -> None:
        self.rec("exception", pid, mfa, (Atom(cls), reason), dt_ns)

    def send(self, pid: int, to_idx: int, msg: Any, dt_ns: int = 1000) -> None:
        to = next(n for n, i in self._pids.items() if i == to_idx)
        self.rec("send", pid, to_idx, (msg, self.pid_term(to)), dt_ns)

    def recv(self, pid: int, msg: Any, dt_ns: int = 1000) -> None:
        self.rec("receive", pid, 0, msg, dt_ns)

    def state(self, pid: int, mfa: int, phase: str, state: Any, dt_ns: int = 1000) -> None:
        self.rec("state", pid, mfa, (Atom(phase), state), dt_ns)

    def gap(self, count: int, reason: str = "overload_queue", dt_ns: int = 1000) -> None:
        self.rec("gap", 0, 0, (Atom(reason), count, b"dropped"), dt_ns)

    def take(self) -> tuple[list, bytes]:
        """The Dict entries and records since the last take (one agent batch)."""
        out = (self.entries, self.buf.binary())
        self.entries = []
        self.buf.clear()
        return out


def new_recording(store, name: str = "test", node: str = "app@host", t0: int = 1_000_000_000_000):
    """(writer, node_id, Batch) for a fresh recording with one node (native unit = ns)."""
    writer = store.create_recording(name, spec={}, limits={})
    node_id = writer.add_node(node, otp_release="25", time_unit=1_000_000_000, time_offset=0,
                              mono_at_start=t0)
    return writer, node_id, Batch(node, t0)


def flush(writer, node_id: int, batch: Batch) -> None:
    entries, records = batch.take()
    if records or entries:
        writer.ingest_batch(node_id, entries, records)
