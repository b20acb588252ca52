"""Matching sends to receives (and spawns to the spawned): the happens-before edges.

Matching by identity, not content
=================================
The BEAM's ``receive`` trace event names the receiver and the message, not the sender. So a
receive is matched, per receiver, to the *earliest still-unmatched send* to that receiver whose
message has the same bytes and that happened before it. Two identical messages sent twice are
therefore matched to two different receives, in order (a mailbox is FIFO per sender pair, and
taking the earliest unmatched send keeps the matching a bijection). The receiver of a send is
its ``aux`` (an interned local pid) or, when ``aux`` is 0, the decoded ``To``: a pid (possibly
on another recorded node), a registered name (resolved with the ``register``/``unregister``
events in force at the send, then the interned names), or ``{Name, Node}``.

A send to a process *alias* (a reference: since OTP 24 every ``gen_server:call`` reply goes to
the caller's alias, ``Alias ! {[alias | Alias], Reply}``) names no process. Such a send is
matched to the earliest later receive, by any process, of the same message bytes — which
carry the alias reference, unique to that call, so the match is exact. Method ``alias_bytes``.

Across nodes, events are ordered on the common clock (store/clocks.py); a receive that shows,
on the corrected clocks, up to the two nodes' clock error bounds before its send on another
node is still matched to it. Nodes of different OTP releases encode equal messages
differently: a recording that mixes releases compares canonical bytes (``etfscan.canonical``).
A ``spawn`` is matched to the child's ``spawned`` (method ``spawn``), on whichever node each
was recorded.

``seq_trace`` serials: the current record format (docs/event-format.md) carries none, so every
link is ``fifo_bytes`` (or ``spawn`` for spawn→spawned). ``msg_links.method`` is where a
serial-based match would be recorded, and a future record kind carrying serials would be
matched first, before the byte rule.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING

from .. import etfscan
from ..errors import BatchFormatError
from ..receivers import Names, SendSplitter, resolve_receiver
from ..timeblocks import id_range

if TYPE_CHECKING:
    from ..reader import Recording


_SEND, _RECV, _SPAWN, _SPAWNED = 4, 6, 7, 16
_REFERENCE_TAGS = (b"Z", b"r", b"e")  # NEWER_REFERENCE_EXT, NEW_REFERENCE_EXT, REFERENCE_EXT

# the columns ``match_messages`` reads from each row of ``events``
MSG_COLUMNS = "id, node_id, kind, ts, uniq, pid, aux, payload"


def wall_ns(rec: "Recording"):
    """(node_id, ts) -> ns on the recording's common clock."""
    nodes = rec.context.nodes

    def key(node_id: int, ts: int) -> int:
        n = nodes[node_id]
        return (ts + n.time_offset) * 1_000_000_000 // n.time_unit

    return key


def _clock_slack(rec: "Recording") -> dict[int, int]:
    """Per node, its clock error bound in ns, for a multi-node recording with probed clocks
    (empty otherwise: then there is nothing to tolerate)."""
    nodes = rec.context.nodes
    if len(nodes) < 2:
        return {}
    out = {nid: (n.clock_error or 0) * 1_000_000_000 // n.time_unit for nid, n in nodes.items()}
    return out if any(out.values()) else {}


def _process_identity(rec: "Recording"):
    """(node_id, idx) -> one key per real process: a process interned on its own node and the
    same pid interned on another node (a remote parent or child of a spawn) get the same key.
    One node: the identity."""
    nodes = rec.context.nodes
    if len(nodes) < 2:
        return lambda node_id, idx: (node_id, idx)
    by_name = {n.name: nid for nid, n in nodes.items()}
    keys = {(nid, idx): (by_name.get(pnode, nid), text) for nid, idx, text, pnode in rec.db.query(
        "SELECT node_id, idx, pid_text, pid_node FROM processes WHERE recording_id = ?", (rec.id,))}
    return lambda node_id, idx: keys.get((node_id, idx), (node_id, idx))


def _take_early(early: dict, msg: bytes, target: tuple | None, send_node: int, send_wall: int,
                slack: dict[int, int]) -> tuple | None:
    """The earliest receive of ``msg`` already seen on another node (by ``target``, or by
    anyone for an alias send) that the clocks' error bounds allow to follow this send."""
    d = early.get(msg)
    if not d:
        return None
    for i, item in enumerate(d):
        _eid, rwall, rnode, rpid = item
        if rnode == send_node or (target is not None and (rnode, rpid) != target):
            continue
        if rwall >= send_wall - slack.get(send_node, 0) - slack.get(rnode, 0):
            del d[i]
            return item
    return None


def match_messages(rec: "Recording", rows: list[tuple] | None = None) -> list[tuple[int, int, str, int, int, int, int]]:
    """(send_id, recv_id, method, send_node, send_pid, recv_node, recv_pid) for every matched
    send→receive and spawn→spawned pair among ``rows`` (default: the whole recording)."""
    wall = wall_ns(rec)
    names = Names(rec)
    pids = {(p.node_id, p.pid_text): p.idx for p in rec.context.processes.values()}
    if rows is None:
        rows = rec.db.query(f"SELECT {MSG_COLUMNS} FROM events WHERE id BETWEEN ? AND ? "
                            "AND recording_id = ? AND kind IN (4, 6, 7, 16) ORDER BY id",
                            (*id_range(rec.db, rec.id), rec.id))
    evs = sorted(rows, key=lambda r: (wall(r[1], r[3]), r[1], r[3], r[4], r[0]))
    # nodes of different releases encode equal messages differently (atoms): compare the
    # canonical bytes then (etfscan.canonical); one release: the bytes as they are
    mixed = len({n.otp_release for n in rec.context.nodes.values()}) > 1
    # cross-node order: happens-before first, clocks second. A receive on one node may show,
    # on the corrected clocks, up to the two nodes' error bounds before its send on another
    slack = _clock_slack(rec)
    early: dict[bytes, deque] = defaultdict(deque)

    def canon(b: bytes) -> bytes:
        try:
            return etfscan.canonical(b)
        except BatchFormatError:
            return b
    pending: dict[tuple[int, int], dict[bytes, deque]] = defaultdict(lambda: defaultdict(deque))
    to_alias: dict[bytes, deque] = defaultdict(deque)  # sends to an alias, by message bytes
    spawns: dict[tuple, deque] = defaultdict(deque)
    early_spawned: dict[tuple, deque] = defaultdict(deque)
    ident = _process_identity(rec)
    out = []
    split = SendSplitter({r[0] for r in rec.db.query(
        "SELECT DISTINCT pid_node FROM processes WHERE recording_id = ? AND pid_node IS NOT NULL",
        (rec.id,))} | {n.name for n in rec.context.nodes.values()})
    for eid, node_id, kind, ts, uniq, pid, aux, payload in evs:
        if kind == _SEND:
            try:
                msg, to = split(payload, to_is_pid=bool(aux))
            except BatchFormatError:
                continue
            if mixed:
                msg = canon(msg)
            target = (node_id, aux) if aux else resolve_receiver(names, pids, node_id, ts, to)
            alias = not target and to[1:2] in _REFERENCE_TAGS
            if early and (target or alias):
                got = _take_early(early, msg, target, node_id, wall(node_id, ts), slack)
                if got is not None:
                    out.append((eid, got[0], "fifo_bytes" if target else "alias_bytes", node_id, pid,
                                got[2], got[3]))
                    continue
            if target:
                pending[target][msg].append((eid, node_id, pid))
            elif alias:
                to_alias[msg].append((eid, node_id, pid))
        elif kind == _RECV:
            if mixed:
                payload = canon(payload)
            q = pending.get((node_id, pid))
            d = q.get(payload) if q else None
            if d:
                sid, sn, sp = d.popleft()
                out.append((sid, eid, "fifo_bytes", sn, sp, node_id, pid))
                continue
            d = to_alias.get(payload) if to_alias else None
            if d:
                sid, sn, sp = d.popleft()
                out.append((sid, eid, "alias_bytes", sn, sp, node_id, pid))
            elif slack:
                # maybe sent from another node whose clock, even corrected, puts the send a
                # little later: kept for a send within the clocks' error bounds
                early[payload].append((eid, wall(node_id, ts), node_id, pid))
        elif kind == _SPAWN:
            key = (ident(node_id, pid), ident(node_id, aux))  # parent, child
            if early_spawned[key]:
                rid, rn, rp = early_spawned[key].popleft()
                out.append((eid, rid, "spawn", node_id, pid, rn, rp))
            else:
                spawns[key].append((eid, node_id, pid))
        elif kind == _SPAWNED:
            key = (ident(node_id, aux), ident(node_id, pid))
            if spawns[key]:
                sid, sn, sp = spawns[key].popleft()
                out.append((sid, eid, "spawn", sn, sp, node_id, pid))
            else:  # same-ts ordering between two processes can put the child's event first
                early_spawned[key].append((eid, node_id, pid))
    return out
