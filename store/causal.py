"""Causal order: happens-before from send→receive matching, Lamport clocks, causal past/future.

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

``seq_trace`` serials: the current record format (docs/event-format.md) carries none, so every
link is ``fifo_bytes`` (or ``spawn`` for spawn→spawned). ``msg_links.method`` is where a
serial-based match would be recorded, and a future record kind carrying serials would be
matched first, before the byte rule.

Clocks and walks
================
Every event gets a Lamport clock (``clocks``), computed with a topological sweep: each process
in its own order, a receive waiting for its matched send. Causal past/future are computed as a
*horizon* per process — the last (first) event of each process that can have influenced (be
influenced by) the event — by following links from receives (sends) inside the horizon until
nothing grows. The answer is then a union of per-process ranges, paged by event id.

All of this is derived data, computed once per recording on first use and stored in
``msg_links`` / ``clocks`` (on a read-only store: TEMP tables of the same names, for the life of
the connection). When the recording has grown since, only the new events are analysed
(``_incremental``), unless they reach back in time before the analysed ones: then everything
is recomputed.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import etfscan
from .errors import BatchFormatError
from .events import Event, EventKind
from .gaps import Gap
from .reader import EVENT_COLUMNS
from .receivers import Names, SendSplitter, resolve_receiver

if TYPE_CHECKING:
    from .reader import Recording

_SEND, _RECV, _SPAWN, _SPAWNED = 4, 6, 7, 16
_REFERENCE_TAGS = (b"Z", b"r", b"e")  # NEWER_REFERENCE_EXT, NEW_REFERENCE_EXT, REFERENCE_EXT

_TEMP_DDL = [
    "CREATE TEMP TABLE IF NOT EXISTS msg_links (recording_id INTEGER NOT NULL, send_id INTEGER "
    "NOT NULL PRIMARY KEY, recv_id INTEGER NOT NULL, method TEXT NOT NULL, send_node INTEGER NOT NULL, "
    "send_pid INTEGER NOT NULL, recv_node INTEGER NOT NULL, recv_pid INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS temp.t_links_recv ON msg_links (recv_node, recv_pid, recv_id)",
    "CREATE INDEX IF NOT EXISTS temp.t_links_send ON msg_links (send_node, send_pid, send_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS temp.t_links_recv_id ON msg_links (recv_id)",
    "CREATE TEMP TABLE IF NOT EXISTS clocks (event_id INTEGER PRIMARY KEY, recording_id INTEGER "
    "NOT NULL, lamport INTEGER NOT NULL)",
    "CREATE TEMP TABLE IF NOT EXISTS causal_done (recording_id INTEGER PRIMARY KEY, upto INTEGER)",
]


def ensure_causal(rec: "Recording") -> None:
    """Compute (or refresh) msg_links and clocks for the recording if it has grown."""
    db = rec.db
    top = db.query_one("SELECT max(id) FROM events WHERE recording_id = ?", (rec.id,))[0] or 0
    if db.readonly:
        with db.lock:
            for stmt in _TEMP_DDL:
                db.conn.execute(stmt)
        row = db.query_one("SELECT upto FROM causal_done WHERE recording_id = ?", (rec.id,))
        done = row[0] if row else 0
    else:
        done = db.query_one("SELECT causal_upto FROM recordings WHERE id = ?", (rec.id,))[0]
    if done >= top:
        return
    step = _incremental(rec, done) if done > 0 else None
    if step is None:
        links = match_messages(rec)
        clocks = lamport_clocks(rec, links)
    else:
        links, clocks = step
    clocks.sort()  # insert in key order: appends to the B-trees instead of random inserts
    rows = sorted((s, rec.id, r, m, sn, sp, rn, rp) for (s, r, m, sn, sp, rn, rp) in links)
    rows = [(rid, s, r, m, sn, sp, rn, rp) for (s, rid, r, m, sn, sp, rn, rp) in rows]
    if db.readonly:
        with db.lock:
            c = db.conn
            if step is None:
                c.execute("DELETE FROM temp.msg_links WHERE recording_id = ?", (rec.id,))
                c.execute("DELETE FROM temp.clocks WHERE recording_id = ?", (rec.id,))
            c.executemany("INSERT INTO temp.msg_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            c.executemany("INSERT INTO temp.clocks VALUES (?, ?, ?)", [(e, rec.id, l) for e, l in clocks])
            c.execute("INSERT OR REPLACE INTO causal_done VALUES (?, ?)", (rec.id, top))
        return
    with db.write("storing causal order") as c:
        if step is None:
            c.execute("DELETE FROM msg_links WHERE recording_id = ?", (rec.id,))
            c.execute("DELETE FROM clocks WHERE recording_id = ?", (rec.id,))
        c.executemany("INSERT INTO msg_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        c.executemany("INSERT INTO clocks VALUES (?, ?, ?)", [(e, rec.id, l) for e, l in clocks])
        c.execute("UPDATE recordings SET causal_upto = ? WHERE id = ?", (top, rec.id))


def _wall_ns(rec: "Recording"):
    nodes = rec.context.nodes

    def key(node_id: int, ts: int) -> int:
        n = nodes[node_id]
        return (ts + n.time_offset) * 1_000_000_000 // n.time_unit

    return key


_MSG_COLS = "id, node_id, kind, ts, uniq, pid, aux, payload"


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
    wall = _wall_ns(rec)
    names = Names(rec)
    pids = {(p.node_id, p.pid_text): p.idx for p in rec.context.processes.values()}
    if rows is None:
        rows = rec.db.query(f"SELECT {_MSG_COLS} FROM events "
                            "WHERE recording_id = ? AND kind IN (4, 6, 7, 16) ORDER BY id", (rec.id,))
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
                msg, to = split(payload)
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


def lamport_clocks(rec: "Recording", links: list[tuple], after_id: int = 0,
                   start: dict | None = None, known: dict | None = None) -> list[tuple[int, int]]:
    """(event_id, lamport) for every event with id > ``after_id``: a topological sweep over
    process order plus links. ``start``: each process's clock before that point; ``known``:
    clocks of earlier sends that new receives depend on."""
    dep = {r[1]: r[0] for r in links}
    per_proc: dict[tuple[int, int], list[int]] = defaultdict(list)
    for eid, node_id, pid in rec.db.query(
            "SELECT id, node_id, pid FROM events WHERE recording_id = ? AND id > ? ORDER BY id",
            (rec.id, after_id)):
        per_proc[(node_id, pid)].append(eid)
    lam: dict[int, int] = dict(known or {})
    pos = dict.fromkeys(per_proc, 0)
    last = {p: (start or {}).get(p, 0) for p in per_proc}
    waiting: dict[int, list] = defaultdict(list)
    needed = set(dep.values())
    out: list[tuple[int, int]] = []
    stack = list(per_proc)
    forced = False
    while True:
        while stack:
            p = stack.pop()
            ids, i, c = per_proc[p], pos[p], last[p]
            while i < len(ids):
                eid = ids[i]
                d = dep.get(eid)
                if d is not None and not forced:
                    dc = lam.get(d)
                    if dc is None:
                        waiting[d].append(p)
                        break
                    c = max(c, dc)
                elif d is not None and d in lam:
                    c = max(c, lam[d])
                c += 1
                out.append((eid, c))
                if eid in needed:
                    lam[eid] = c
                    if eid in waiting:
                        stack.extend(waiting.pop(eid))
                i += 1
            pos[p], last[p] = i, c
        blocked = [p for p in per_proc if pos[p] < len(per_proc[p])]
        if not blocked:
            break
        # only possible if links contradict each other (clock skew across nodes): break the tie
        forced = True
        stack = blocked
        waiting.clear()
    return out


def _incremental(rec: "Recording", done: int) -> tuple[list, list] | None:
    """Links and clocks of the events after ``done``, or None when they cannot be computed
    without revisiting earlier ones (then everything is recomputed). Safe only when every new
    event is later, in wall-clock time, than every already-analysed one — otherwise a late
    send could take the place of an earlier match (the matching is FIFO over time)."""
    db, wall = rec.db, _wall_ns(rec)
    old_max = db.query("SELECT node_id, max(ts) FROM events WHERE recording_id = ? AND id <= ? "
                       "GROUP BY node_id", (rec.id, done))
    new_min = db.query("SELECT node_id, min(ts) FROM events WHERE recording_id = ? AND id > ? "
                       "GROUP BY node_id", (rec.id, done))
    if not old_max or not new_min:
        return None
    if min(wall(n, t) for n, t in new_min) <= max(wall(n, t) for n, t in old_max):
        return None
    # the new message events, plus earlier sends / spawns still waiting for their other half
    rows = db.query(f"SELECT {_MSG_COLS} FROM events e WHERE recording_id = ? AND kind IN (4, 6, 7, 16) "
                    "AND (id > ? OR (kind IN (4, 7) AND NOT EXISTS "
                    "(SELECT 1 FROM msg_links l WHERE l.send_id = e.id))) ORDER BY id", (rec.id, done))
    links = match_messages(rec, rows)
    if any(r[1] <= done for r in links):
        return None
    old_sends = [r[0] for r in links if r[0] <= done]
    known = {}
    for i in range(0, len(old_sends), 900):
        part = old_sends[i:i + 900]
        known.update(db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                              f"({','.join('?' * len(part))})", part))
    last_ids = db.query("SELECT node_id, pid, max(id) FROM events WHERE recording_id = ? AND id <= ? "
                        "GROUP BY node_id, pid", (rec.id, done))
    by_id = {eid: (n, p) for n, p, eid in last_ids}
    start = {}
    ids = list(by_id)
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        for eid, lam in db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                                 f"({','.join('?' * len(part))})", part):
            start[by_id[eid]] = lam
    return links, lamport_clocks(rec, links, done, start, known)


# -- walks ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class CausalPage:
    """A page of the causal past (most recent first) or future (earliest first) of ``origin``.

    ``clocks`` maps event id -> Lamport clock; ``processes`` is how many processes the
    relation reaches; ``next_cursor`` continues the walk (None at the end); ``gaps`` are the
    gaps within the time span of this page on the nodes involved (a dropped event there
    could have been a cause or an effect)."""

    origin: Event
    direction: str
    events: list[Event]
    clocks: dict[int, int]
    processes: int
    next_cursor: int | None
    gaps: list[Gap] = field(default_factory=list)


def past_horizon(rec: "Recording", event: Event) -> dict[tuple[int, int], int]:
    """For each process, the highest event id that happens-before ``event``."""
    ensure_causal(rec)
    origin = (event.node_id, event.pid)
    h = {origin: event.id}  # inclusive for links: a receive's own send is in its past
    done: dict[tuple[int, int], int] = {}
    work = [origin]
    while work:
        p = work.pop()
        hi, lo = h[p], done.get(p, 0)
        if hi <= lo:
            continue
        done[p] = hi
        for sn, sp, sid in rec.db.query(
                "SELECT send_node, send_pid, send_id FROM msg_links WHERE recv_node = ? AND recv_pid = ? "
                "AND recv_id > ? AND recv_id <= ?", (p[0], p[1], lo, hi)):
            q = (sn, sp)
            if sid > h.get(q, 0):
                h[q] = sid
                work.append(q)
    h[origin] = event.id - 1  # the event itself is not part of its past
    return {p: v for p, v in h.items() if v > 0}


def future_horizon(rec: "Recording", event: Event) -> dict[tuple[int, int], int]:
    """For each process, the lowest event id that ``event`` happens-before."""
    ensure_causal(rec)
    origin = (event.node_id, event.pid)
    inf = 2**63 - 1
    h = {origin: event.id}  # inclusive for links: a send's own receive is in its future
    done: dict[tuple[int, int], int] = {}
    work = [origin]
    while work:
        p = work.pop()
        lo, hi = h[p], done.get(p, inf)
        if lo >= hi:
            continue
        done[p] = lo
        for rn, rp, rid in rec.db.query(
                "SELECT recv_node, recv_pid, recv_id FROM msg_links WHERE send_node = ? AND send_pid = ? "
                "AND send_id >= ? AND send_id < ?", (p[0], p[1], lo, hi)):
            q = (rn, rp)
            if rid < h.get(q, inf):
                h[q] = rid
                work.append(q)
    h[origin] = event.id + 1  # the event itself is not part of its future
    return h


def _page(rec: "Recording", origin: Event, horizon: dict, past: bool, limit: int,
          cursor: int | None) -> CausalPage:
    if not 0 < limit <= 10_000:
        raise ValueError(f"limit must be 1..10000, got {limit}; page with the cursor")
    streams = []
    for (node_id, pid), bound in horizon.items():  # ids only: the (node_id, pid) index covers them
        if past:
            hi = bound if cursor is None else min(bound, cursor - 1)
            rows = rec.db.query("SELECT id FROM events WHERE node_id = ? AND pid = ? AND id <= ? "
                                "ORDER BY id DESC LIMIT ?", (node_id, pid, hi, limit + 1))
        else:
            lo = bound if cursor is None else max(bound, cursor + 1)
            rows = rec.db.query("SELECT id FROM events WHERE node_id = ? AND pid = ? AND id >= ? "
                                "ORDER BY id LIMIT ?", (node_id, pid, lo, limit + 1))
        streams.append([r[0] for r in rows])
    merged = heapq.merge(*streams, reverse=past)
    picked = []
    for eid in merged:
        picked.append(eid)
        if len(picked) > limit:
            break
    more = len(picked) > limit
    picked = picked[:limit]
    by_id = {}
    for i in range(0, len(picked), 900):
        part = picked[i:i + 900]
        for row in rec.db.query(f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN "
                                f"({','.join('?' * len(part))})", part):
            by_id[row[0]] = row
    events = rec.events_from_rows([by_id[i] for i in picked])
    cursor_next = events[-1].id if more and events else None
    if len(rec.context.nodes) > 1 and len({e.node_id for e in events}) > 1:
        # ids are ingest order, arbitrary between nodes: show the page in happens-before order
        # (the common clock between unrelated events); the cursor stays an id
        from .clocks import happens_before_order

        events = happens_before_order(rec, events)
        if past:
            events.reverse()
    clocks = {}
    if events:
        ids = [e.id for e in events]
        for eid, lam in rec.db.query(f"SELECT event_id, lamport FROM clocks WHERE event_id IN "
                                     f"({','.join('?' * len(ids))})", ids):
            clocks[eid] = lam
    gaps: list[Gap] = []
    if events:
        lo, hi = min(e.ts for e in events), max(e.ts for e in events)
        for node_id in {e.node_id for e in events}:
            gaps += rec.gaps(lo, hi, node_id=node_id)
    return CausalPage(origin, "past" if past else "future", events, clocks, len(horizon),
                      cursor_next, gaps)


def causal_past(rec: "Recording", event: Event, limit: int = 100, cursor: int | None = None) -> CausalPage:
    """Events that happen-before ``event`` ("what could have caused this?"), most recent
    first, ``limit`` per page; pass ``page.next_cursor`` as ``cursor`` for the next page."""
    return _page(rec, event, past_horizon(rec, event), True, limit, cursor)


def causal_future(rec: "Recording", event: Event, limit: int = 100, cursor: int | None = None) -> CausalPage:
    """Events ``event`` happens-before ("what did this affect?"), earliest first, paged."""
    return _page(rec, event, future_horizon(rec, event), False, limit, cursor)


def happens_before(rec: "Recording", a: Event, b: Event) -> bool:
    """True if ``a`` → ``b`` (a could have influenced b)."""
    if a.id == b.id:
        return False
    return past_horizon(rec, b).get((a.node_id, a.pid), 0) >= a.id


def lamport(rec: "Recording", event: Event) -> int:
    ensure_causal(rec)
    row = rec.db.query_one("SELECT lamport FROM clocks WHERE event_id = ?", (event.id,))
    return row[0] if row else 0


def unmatched_sends(rec: "Recording", limit: int = 1000, after_id: int = 0) -> list[Event]:
    """Sends never seen received (lost, untraced receiver, or in flight at the end)."""
    ensure_causal(rec)
    rows = rec.db.query(
        f"SELECT {EVENT_COLUMNS} FROM events e WHERE recording_id = ? AND kind = ? AND id > ? "
        "AND NOT EXISTS (SELECT 1 FROM msg_links l WHERE l.send_id = e.id) ORDER BY id LIMIT ?",
        (rec.id, int(EventKind.SEND), after_id, limit))
    return rec.events_from_rows(rows)
