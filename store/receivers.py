"""Who a ``send`` went to, and where its message bytes are.

The ``send`` record's ``aux`` names the receiver when it is a local pid; otherwise the payload's
``To`` must be resolved: a pid (possibly of another recorded node), a registered name (as
registered at the moment of the send, from ``register``/``unregister`` events, else the name
interned in the batch Dict), or ``{Name, Node}``. ``SendSplitter`` cuts ``{Msg, To}`` into the
two terms' bytes without walking the message when ``To`` is a pid.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from . import etfscan
from .blocks import KIND_FROM, kind_where
from .errors import BatchFormatError

if TYPE_CHECKING:
    from .reader import Recording

_REG = 11


class Names:
    """Registered name -> process, as of a moment (register/unregister events, then the
    names interned in the Dict)."""

    def __init__(self, rec: "Recording") -> None:
        from elixir_scope.instrument.etf import decode

        self.timeline: dict[tuple[int, str], list[tuple[int, int, int]]] = defaultdict(list)
        for eid, node_id, kind, ts, pid, payload in rec.db.query(
                f"SELECT e.id, e.node_id, e.kind, e.ts, e.pid, e.payload FROM {KIND_FROM} "
                f"WHERE {kind_where((11, 12))} ORDER BY e.id", (rec.id,)):
            name = getattr(decode(payload), "name", None)
            if name is not None:
                self.timeline[(node_id, name)].append((ts, pid if kind == _REG else 0, eid))
        self.static = {(p.node_id, p.reg_name): p.idx for p in rec.context.processes.values() if p.reg_name}
        self.node_ids = {n.name: n.id for n in rec.context.nodes.values()}

    def resolve(self, node_id: int, name: str, ts: int) -> int | None:
        best = None
        for t, pid, _ in self.timeline.get((node_id, name), ()):
            if t <= ts:
                best = pid
        if best is not None:
            return best or None
        return self.static.get((node_id, name))


def resolve_receiver(names: Names, pids: dict, node_id: int, ts: int, to_bytes: bytes) -> tuple[int, int] | None:
    from elixir_scope.instrument.etf import Atom, Pid, decode

    to = decode(to_bytes)
    if isinstance(to, Pid):
        node = names.node_ids.get(to.node.name, node_id)
        idx = pids.get((node, str(to)))
        return (node, idx) if idx else None
    if isinstance(to, Atom):
        idx = names.resolve(node_id, to.name, ts)
        return (node_id, idx) if idx else None
    if isinstance(to, tuple) and len(to) == 2 and isinstance(to[0], Atom) and isinstance(to[1], Atom):
        node = names.node_ids.get(to[1].name)
        if node is None:
            return None
        idx = names.resolve(node, to[0].name, ts)
        return (node, idx) if idx else None
    return None


class SendSplitter:
    """``{Msg, To}`` send payload -> (Msg ETF, To ETF), fast when ``To`` is known to be a pid.

    Skipping a large message term by term is the cost of matching; a pid's encoding has a
    known length given its node name, so when the caller knows ``To`` is a pid (the record's
    ``aux`` names a local receiver) the split is tried from the end first: a NEW_PID / PID
    whose node atom is one of the recording's node names, parsing exactly to the end of the
    payload, longest first. Otherwise — and whenever no such tail parses — the message is
    walked. (A tail test alone is not exact when ``To`` is not a pid: a message ending in
    ``88`` followed by a ``{Name, Node}`` can parse as a NEW_PID to the end.)"""

    _HEAD = b"\x83h\x02"

    def __init__(self, node_names: set[str]) -> None:
        self.atoms: dict[int, set[bytes]] = {}  # tail length -> encodings of the node atom
        for name in node_names:
            b = name.encode("utf-8")
            n = len(b)
            encs = [bytes((118,)) + n.to_bytes(2, "big") + b, bytes((100,)) + n.to_bytes(2, "big") + b]
            if n < 256:
                encs += [bytes((119, n)) + b, bytes((115, n)) + b]
            for enc in encs:
                for fixed in (12, 9):  # NEW_PID_EXT: ID, Serial, Creation(4); PID_EXT: Creation(1)
                    self.atoms.setdefault(1 + len(enc) + fixed, set()).add(enc)
        self.tails = sorted(self.atoms, reverse=True)

    def __call__(self, payload: bytes, to_is_pid: bool = False) -> tuple[bytes, bytes]:
        n = len(payload)
        if to_is_pid and payload[:3] == self._HEAD:
            for tail in self.tails:
                start = n - tail
                if start > 3 and payload[start] in (88, 103):
                    head = payload[start + 1:start + 1 + tail - 13 if payload[start] == 88 else start + tail - 9]
                    if head not in self.atoms[tail]:
                        continue
                    try:
                        if etfscan.skip(payload, start) == n:
                            return b"\x83" + payload[3:start], b"\x83" + payload[start:]
                    except BatchFormatError:
                        pass
        msg, to = etfscan.tuple_elements(payload)
        return msg, to
