"""State history: storing ``state`` events as full snapshots or deltas, and rebuilding them.

Ingest (``StateIngestor``) sees every ``state`` record of a batch. A state whose own ETF is at
most ``full_max_bytes`` is stored full (and also stays in the event's payload). A larger one is
stored as a delta (store/diff.py) against the previous state of the same process, except every
``max_chain`` deltas, when the previous state is unknown, or when the delta would not be much
smaller than the state: then it is stored full (a *keyframe*). Large states are not kept in
``events.payload`` (it is NULL there): the ``states`` row is their only copy, which is the point
of storing deltas — a 50 KB state recorded before and after every callback would otherwise cost
100 KB per message.

The common case costs no decoding at all: the ``before`` state of a callback is byte-identical
to the ``after`` state of the previous one, which is detected on bytes and stored as an empty
delta.

Rebuilding (``StateReader``) finds the row, its anchor (the keyframe), applies the deltas in
order, and keeps a small LRU cache of rebuilt states so stepping through time is cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import diff as _diff
from . import etfscan
from .errors import BatchFormatError, StoreCorruptError

EMPTY_DELTA = b"\x83j"  # term_to_binary([])
_PHASES: dict[bytes, str] = {}  # phase atom bytes -> name (a handful of distinct values)


@dataclass(slots=True)
class StatePolicy:
    """How states are stored. ``full_max_bytes``: states up to this size are stored whole;
    ``max_chain``: at most this many deltas between two full snapshots (bounds rebuild cost);
    ``min_saving``: store a delta only if it is at most this fraction of the full size."""

    full_max_bytes: int = 4096
    max_chain: int = 32
    min_saving: float = 0.5


@dataclass(slots=True)
class _Last:
    row_id: int
    anchor_id: int
    chain: int
    state_bytes: bytes
    decoded: Any = None
    has_decoded: bool = False


def split_state_payload(payload: bytes) -> tuple[str, bytes]:
    """``{Phase, State}`` ETF -> (phase name, the state's own ETF with version byte)."""
    if payload[:3] == b"\x83h\x02":  # the usual shape: only the phase atom needs reading
        tag = payload[3] if len(payload) > 4 else 0
        if tag in (115, 119):
            end = 5 + payload[4]
        elif tag in (100, 118) and len(payload) > 5:
            end = 6 + (payload[4] << 8 | payload[5])
        else:
            raise BatchFormatError("state payload must be {Phase, State} with an atom phase "
                                   "(before/after/checkpoint)")
        if end >= len(payload):
            raise BatchFormatError("state payload {Phase, State} is cut short")
        key = payload[3:end]
        phase = _PHASES.get(key)
        if phase is None:
            phase = _PHASES.setdefault(key, etfscan.atom_text(b"\x83" + key))
        return phase, b"\x83" + payload[end:]
    try:
        elems = etfscan.tuple_elements(payload)
    except BatchFormatError as exc:
        raise BatchFormatError(f"state payload is not a {{Phase, State}} tuple: {exc}") from exc
    if len(elems) != 2:
        raise BatchFormatError(f"state payload is a {len(elems)}-tuple, expected {{Phase, State}}")
    phase = etfscan.atom_text(elems[0])
    if phase is None:
        raise BatchFormatError("state payload phase is not an atom (before/after/checkpoint)")
    return phase, elems[1]


class StateIngestor:
    """Per-writer memory of each process's last state, to store the next one as a delta."""

    def __init__(self, policy: StatePolicy | None = None) -> None:
        self.policy = policy or StatePolicy()
        self._last: dict[tuple[int, int], _Last] = {}

    def save(self) -> dict:
        """What ``restore`` needs to undo the ``rows`` calls of a batch that was rolled back."""
        return dict(self._last)

    def restore(self, saved: dict) -> None:
        self._last = saved

    def rows(self, first_state_id: int, recording_id: int, node_id: int,
             records: list[tuple[int, int, int, int, int, bytes]]) -> tuple[list[tuple], set[int]]:
        """``records``: (event_id, ts, uniq, pid, aux, payload) of state events in order.
        Returns states rows to insert and the event ids whose payload must be dropped from
        ``events`` (large states)."""
        from elixir_scope.instrument.etf import decode, encode

        pol = self.policy
        out: list[tuple] = []
        large: set[int] = set()
        sid = first_state_id
        for event_id, ts, uniq, pid, aux, payload in records:
            phase, sbytes = split_state_payload(payload)
            size = len(sbytes)
            key = (node_id, pid)
            last = self._last.get(key)
            encoding, data, anchor = "full", sbytes, sid
            cur, has_cur = None, False
            if size > pol.full_max_bytes:
                large.add(event_id)
                if last is not None and last.chain < pol.max_chain:
                    if sbytes == last.state_bytes:
                        encoding, data, anchor = "delta", EMPTY_DELTA, last.anchor_id
                        cur, has_cur = last.decoded, last.has_decoded
                    else:
                        if not last.has_decoded:
                            last.decoded, last.has_decoded = decode(last.state_bytes), True
                        cur, has_cur = decode(sbytes), True
                        enc = encode(_diff.diff(last.decoded, cur))
                        if len(enc) <= size * pol.min_saving:
                            encoding, data, anchor = "delta", enc, last.anchor_id
            chain = last.chain + 1 if (encoding == "delta" and last is not None) else 0
            self._last[key] = _Last(sid, anchor, chain, sbytes, cur, has_cur)
            out.append((sid, recording_id, node_id, pid, event_id, ts, uniq, phase, aux,
                        encoding, anchor, size, data))
            sid += 1
        return out, large


class StateReader:
    """Rebuilds states from the ``states`` table, with an LRU cache of rebuilt states."""

    def __init__(self, conn_query, cache_size: int = 256, real=None) -> None:
        self._query = conn_query
        self._real = real or (lambda data: data)  # inflates stored skeletons (store/blobs.py)
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, sid: int, state: Any) -> None:
        self._cache[sid] = state
        self._cache.move_to_end(sid)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def state(self, row: tuple) -> tuple[Any, int]:
        """The state of a states row ``(id, node_id, pid, ts, uniq, encoding, anchor_id, data)``
        and the number of deltas applied to rebuild it."""
        from elixir_scope.instrument.etf import decode

        sid, node_id, pid, ts, uniq, encoding, anchor_id, data = row
        hit = self._cache.get(sid)
        if hit is not None or sid in self._cache:
            self._cache.move_to_end(sid)
            return hit, 0
        if encoding == "full":
            state = decode(self._real(data))
            self._remember(sid, state)
            return state, 0
        chain = self._query(
            "SELECT id, encoding, data FROM states WHERE node_id = ? AND pid = ? "
            "AND ts >= (SELECT ts FROM states WHERE id = ?) AND ts <= ? "
            "AND id >= ? AND id <= ? ORDER BY id", (node_id, pid, anchor_id, ts, anchor_id, sid))
        if not chain or chain[0][0] != anchor_id or chain[0][1] != "full":
            raise StoreCorruptError(f"state row {sid}: its full snapshot {anchor_id} is missing; "
                                    "the store file is damaged (run PRAGMA integrity_check).")
        # start from the latest cached row in the chain, if any
        start, state = 0, None
        for i in range(len(chain) - 1, -1, -1):
            if chain[i][0] in self._cache:
                start, state = i + 1, self._cache[chain[i][0]]
                break
        else:
            state, start = decode(self._real(chain[0][2])), 1
        applied = 0
        for rid, enc, blob in chain[start:]:
            if enc == "full":
                state = decode(self._real(blob))
            elif blob != EMPTY_DELTA:
                state = _diff.apply(state, decode(blob))
                applied += 1
        self._remember(sid, state)
        return state, applied


STATE_ROW_COLUMNS = "id, node_id, pid, ts, uniq, encoding, anchor_id, data"
"""Columns ``StateReader.state`` expects, in order."""
