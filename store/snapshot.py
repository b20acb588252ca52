"""The whole recorded system at one moment: live processes, their state, status, mailbox, and
the supervision tree.

Who is alive at ``t``: every interned process not born after ``t`` (``spawned`` event) and not
dead at ``t`` (``exit`` event). A process the capture only ever saw as a message target is
included too: it existed, even if nothing else about it was recorded.

For speed (10k processes in well under 100 ms) the snapshot resolves eagerly only what SQL can
answer in one statement per concern: the alive set, and for each process the id of the state
row in force at ``t`` (one correlated index seek per process, run inside SQLite). State values,
status and mailbox are computed on first access per process (``ProcessAt.state`` etc.), since
rebuilding every state of a large system costs a decode each and is rarely all needed.

Supervision tree at ``t`` (best effort, from what a trace can show): edges are spawn parentage
(``spawn``/``spawned`` events) between processes alive at ``t``; an edge is marked ``linked``
when a link between parent and child is in force at ``t`` (from link/unlink events; an OTP
supervisor always links its children). Processes whose parent is unknown or dead are roots.
Processes spawned before the capture started have no recorded parent, so a capture started on
a running system sees a forest of roots unless it also recorded the start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .clocks import moment_on
from .blocks import KIND_FROM, PROC_FROM, PROC_ORDER, PROC_WHERE, kind_where, qualified
from .events import Event, EventKind, ProcessInfo
from .gaps import Gap
from .reader import EVENT_COLUMNS
from .states import STATE_ROW_COLUMNS

if TYPE_CHECKING:
    from .reader import Recording

_UNSET = object()


@dataclass(slots=True, eq=False)
class ProcessAt:
    """One process alive at the snapshot's moment. ``state`` / ``status`` / ``mailbox`` are
    computed on first access."""

    rec: "Recording" = field(repr=False)
    process: ProcessInfo
    ts: int
    state_row: int | None
    parent: ProcessInfo | None = None
    _state: Any = field(default=_UNSET, repr=False)
    _status: Any = field(default=_UNSET, repr=False)
    _mailbox: Any = field(default=_UNSET, repr=False)

    @property
    def has_state(self) -> bool:
        return self.state_row is not None

    @property
    def state(self) -> Any:
        """The recorded state at ``ts`` (None if no state was recorded for this process)."""
        if self._state is _UNSET:
            if self.state_row is None:
                self._state = None
            else:
                row = self.rec.db.query_one(f"SELECT {STATE_ROW_COLUMNS} FROM states WHERE id = ?",
                                            (self.state_row,))
                self._state = self.rec.states.state(row)[0]
        return self._state

    @property
    def current_call(self) -> Event | None:
        """The innermost call running at ``ts`` (called, not yet returned), if traced."""
        self.status
        return self._status[1]

    @property
    def status(self) -> str:
        """``in_call`` (a traced call is running), ``idle`` (no traced call running), or
        ``unknown`` (no call traced for this process)."""
        if self._status is _UNSET:
            rows = self.rec.db.query(
                f"SELECT {qualified(EVENT_COLUMNS)} FROM {PROC_FROM} WHERE {PROC_WHERE} "
                f"AND e.kind IN (1, 2, 3) AND e.ts <= ? ORDER BY {PROC_ORDER}",
                (self.process.node_id, self.process.idx, self.ts))
            if not rows:
                self._status = ("unknown", None)
            else:
                stack: list[tuple] = []
                for r in rows:
                    if r[3] == 1:
                        stack.append(r)
                    else:
                        for i in range(len(stack) - 1, -1, -1):
                            if stack[i][8] == r[8]:
                                del stack[i:]
                                break
                if stack:
                    self._status = ("in_call", self.rec.events_from_rows([stack[-1]])[0])
                else:
                    self._status = ("idle", None)
        return self._status[0]

    @property
    def mailbox(self) -> list[Event] | None:
        """``receive`` events of messages in the mailbox at ``ts`` (received, not yet handled by
        a callback); None when the recording cannot tell (see store/mailbox.py)."""
        if self._mailbox is _UNSET:
            from .mailbox import mailbox_at

            self._mailbox = mailbox_at(self.rec, self.process, self.ts)
        return self._mailbox


@dataclass(slots=True)
class TreeNode:
    process: ProcessInfo
    linked_to_parent: bool
    children: list["TreeNode"] = field(default_factory=list)

    def walk(self, depth: int = 0):
        yield depth, self
        for c in self.children:
            yield from c.walk(depth + 1)


@dataclass(slots=True)
class SystemSnapshot:
    ts: int
    node_id: int
    processes: list[ProcessAt]
    tree: list[TreeNode]
    gaps: list[Gap]
    """Gaps before ``ts`` on this node: the snapshot may miss spawns/exits/states dropped there."""

    def load_states(self) -> int:
        """Materialise every process's state now, with one query per 900 processes instead of
        one per process (what a full dump of the snapshot wants). Returns how many have one."""
        todo = {p.state_row: p for p in self.processes if p.state_row is not None and p._state is _UNSET}
        ids = list(todo)
        rec = self.processes[0].rec if self.processes else None
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            for row in rec.db.query(f"SELECT {STATE_ROW_COLUMNS} FROM states WHERE id IN "
                                    f"({','.join('?' * len(part))})", part):
                todo[row[0]]._state = rec.states.state(row)[0]
        return sum(1 for p in self.processes if p.state_row is not None)

    def process(self, pid_text_or_name: str) -> ProcessAt | None:
        for p in self.processes:
            if p.process.pid_text == pid_text_or_name or p.process.reg_name == pid_text_or_name:
                return p
        return None


def system_snapshot_at(rec: "Recording", t: "int | Event", node_id: int | None = None) -> SystemSnapshot:
    """Every recorded process of ``node_id`` (default: the recording's first node, or the
    event's node) alive at ``t``, with state, status, mailbox and the supervision tree."""
    if isinstance(t, Event):
        node_id = t.node_id if node_id is None else node_id
        ts = moment_on(rec, t, node_id)[0]  # another node's event: happens-before, then clocks
    else:
        ts = t
    if node_id is None:
        nodes = rec.nodes()
        if not nodes:
            return SystemSnapshot(ts, 0, [], [], [])
        node_id = nodes[0].id
    db = rec.db
    rows = db.query(
        "SELECT p.idx, (SELECT s.id FROM states s WHERE s.node_id = p.node_id AND s.pid = p.idx "
        "AND s.ts <= ?1 ORDER BY s.ts DESC, s.uniq DESC, s.id DESC LIMIT 1) "
        "FROM processes p WHERE p.node_id = ?2 AND (p.born_ts IS NULL OR p.born_ts <= ?1) "
        "AND (p.died_ts IS NULL OR p.died_ts > ?1)", (ts, node_id))
    ctx = rec.context
    alive = {idx: ProcessAt(rec, ctx.processes[(node_id, idx)], ts, sid) for idx, sid in rows
             if (node_id, idx) in ctx.processes}
    # parentage and links in force at ts
    parent: dict[int, int] = {}
    links: set[frozenset] = set()
    # these kinds are rare: their blocks (store/blocks.py) lead to them
    for _id, kind, pid, aux in sorted(db.query(
            f"SELECT e.id, e.kind, e.pid, e.aux FROM {KIND_FROM} WHERE {kind_where((7, 9, 10, 16, 17, 18))} "
            "AND e.node_id = ? AND e.ts <= ?", (rec.id, node_id, ts))):
        if kind == EventKind.SPAWN and aux:
            parent.setdefault(aux, pid)
        elif kind == EventKind.SPAWNED and aux:
            parent.setdefault(pid, aux)
        elif aux and kind in (EventKind.LINK, EventKind.GETTING_LINKED):
            links.add(frozenset((pid, aux)))
        elif aux:
            links.discard(frozenset((pid, aux)))
    nodes = {idx: TreeNode(p.process, False) for idx, p in alive.items()}
    roots = []
    for idx, tn in sorted(nodes.items()):
        par = parent.get(idx)
        if par is not None and par in nodes and par != idx:
            tn.linked_to_parent = frozenset((idx, par)) in links
            nodes[par].children.append(tn)
            alive[idx].parent = nodes[par].process
        else:
            roots.append(tn)
    procs = [alive[i] for i in sorted(alive)]
    return SystemSnapshot(ts, node_id, procs, roots, rec.gaps(None, ts, node_id=node_id))
