"""The read side of one recording: typed events with paging, processes, functions, gaps.

Reads never decode payloads: ``Event.payload`` decodes on first access. Results that cover a
time window are ``EventList`` objects — plain lists of events that also carry the gaps inside
the window they covered and the cursor for the next page, so "no event here" can always be
told apart from "events were dropped here".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from datetime import datetime

from .app_names import read_app_names
from .clocks import NODE_COLUMNS, node_info
from .blocks import KIND_FROM, kind_from, kind_where, proc_from, qualified, reach
from .db import writer_alive
from .errors import RecordingNotFound
from .events import MFA, Event, EventContext, EventKind, NodeInfo, ProcessInfo
from .gaps import Gap, gaps_in
from .states import STATE_ROW_COLUMNS, StateReader
from .timeblocks import time_from, time_where

if TYPE_CHECKING:
    from .db import Database

EVENT_COLUMNS = "id, recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload"
MAX_PAGE = 100_000


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: int
    name: str
    spec: dict
    limits: dict
    meta: dict
    created_at: float
    ended_at: float | None
    end_reason: str | None
    """None while a live writer is recording; ``interrupted`` if its writer died."""
    stats: dict
    event_count: int
    dropped_count: int

    @property
    def status(self) -> str:
        """``recording`` (a live writer), ``ended``, or ``interrupted`` (the writer died)."""
        if self.end_reason is None:
            return "recording"
        return "interrupted" if self.end_reason == "interrupted" else "ended"


def recording_info(db: "Database", row: tuple) -> RecordingInfo:
    (rid, name, spec, limits, meta, created, ended, reason, stats, wpid, whost, wstart,
     count, dropped) = row
    if reason is None and not writer_alive(wpid, whost, wstart):
        reason = "interrupted"  # shown as such even on a read-only open
    return RecordingInfo(rid, name, json.loads(spec or "{}"), json.loads(limits or "{}"),
                         json.loads(meta or "{}"), created, ended, reason,
                         json.loads(stats or "{}"), count, dropped)


RECORDING_COLUMNS = ("id, name, spec_json, limits_json, meta_json, created_at, ended_at, end_reason, "
                     "stats_json, writer_pid, writer_host, writer_started, event_count, dropped_count")


class EventList(list):
    """A page of events (a list) plus ``gaps`` in the covered window and ``next_after_id``
    (pass it as ``after_id`` for the next page; None when this was the last page)."""

    gaps: list[Gap]
    next_after_id: int | None

    def __init__(self, events: Iterable[Event] = (), gaps: list[Gap] | None = None,
                 next_after_id: int | None = None) -> None:
        super().__init__(events)
        self.gaps = gaps or []
        self.next_after_id = next_after_id

    @property
    def crosses_gap(self) -> bool:
        return bool(self.gaps)


@dataclass(frozen=True, slots=True)
class RecordingStats:
    event_count: int
    dropped_count: int
    gap_count: int
    by_kind: dict[str, int]
    agent: dict = field(default_factory=dict)


ProcessRef = Any
"""A process as callers name it: a ProcessInfo, ``(node_id, idx)``, an interned idx (int), a pid
text ``'<0.123.0>'`` or a registered name (``'MyApp.Cart'`` / ``'Elixir.MyApp.Cart'``)."""


class Recording:
    """Read access to one recording. Obtain it from ``TraceStore.recording(id)``."""

    def __init__(self, db: "Database", recording_id: int) -> None:
        self._db = db
        self.id = recording_id
        row = db.query_one(f"SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?", (recording_id,))
        if row is None:
            raise RecordingNotFound(f"no recording {recording_id} in {db.path}; list them with "
                                    "TraceStore.recordings().")
        self._ctx: EventContext | None = None
        self._ctx_count = -1
        self.states = StateReader(db.query, real=db.blobs.real)
        self._cache: dict[str, Any] = {}

    @property
    def db(self) -> "Database":
        return self._db

    @property
    def info(self) -> RecordingInfo:
        row = self._db.query_one(f"SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?", (self.id,))
        return recording_info(self._db, row)

    # -- interned names ----------------------------------------------------------------------
    @property
    def context(self) -> EventContext:
        """Nodes, processes and functions of the recording (reloaded while it is growing)."""
        count = self._db.query_one("SELECT event_count FROM recordings WHERE id = ?", (self.id,))[0]
        if self._ctx is None or count != self._ctx_count:
            nodes = {r[0]: node_info(r) for r in self._db.query(
                f"SELECT {NODE_COLUMNS} FROM nodes WHERE recording_id = ?", (self.id,))}
            procs = {}
            for (node_id, idx, pid_text, reg, m, f, a, born, died, names) in self._db.query(
                    "SELECT node_id, idx, pid_text, reg_name, init_module, init_function, init_arity, "
                    "born_ts, died_ts, app_names FROM processes WHERE recording_id = ?", (self.id,)):
                procs[(node_id, idx)] = ProcessInfo(node_id, idx, pid_text, reg,
                                                    MFA(m, f, a) if m is not None else None, born, died,
                                                    read_app_names(names))
            funcs = {(n, i): MFA(m, f, a) for n, i, m, f, a in self._db.query(
                "SELECT node_id, idx, module, function, arity FROM functions WHERE recording_id = ?",
                (self.id,))}
            self._ctx = EventContext(nodes, procs, funcs, self._load_state_payload)
            self._ctx_count = count
            self._cache.clear()
        return self._ctx

    def nodes(self) -> list[NodeInfo]:
        return sorted(self.context.nodes.values(), key=lambda n: n.id)

    def ts_from_wall(self, when: "datetime", node_id: int | None = None) -> int:
        """The node's monotonic time (native units) at wall-clock ``when`` (aware datetime;
        naive means UTC): the inverse of ``Event.wall_time``. Default node: the first."""
        from datetime import timezone

        nodes = self.context.nodes
        if not nodes:
            raise RecordingNotFound(f"recording {self.id} has no node yet")
        node = nodes[node_id] if node_id is not None else nodes[min(nodes)]
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        micros = int(when.timestamp()) * 1_000_000 + when.microsecond
        return micros * node.time_unit // 1_000_000 - node.time_offset

    def processes(self) -> list[ProcessInfo]:
        return sorted(self.context.processes.values(), key=lambda p: (p.node_id, p.idx))

    def functions(self) -> list[tuple[int, int, MFA]]:
        """(node_id, idx, MFA) of every interned function."""
        return sorted((n, i, m) for (n, i), m in self.context.functions.items())

    def resolve_process(self, ref: ProcessRef) -> ProcessInfo:
        """One process from any ProcessRef; RecordingNotFound (with candidates) otherwise."""
        found = self.resolve_processes(ref)
        if len(found) == 1:
            return found[0]
        if not found:
            raise RecordingNotFound(f"no process {ref!r} in recording {self.id}; list them with "
                                    "Recording.processes().")
        raise RecordingNotFound(f"{ref!r} names {len(found)} processes in recording {self.id} "
                                f"({', '.join(p.label for p in found[:5])}); pass (node_id, idx).")

    def resolve_processes(self, ref: ProcessRef) -> list[ProcessInfo]:
        procs = self.context.processes
        if isinstance(ref, ProcessInfo):
            return [ref]
        if isinstance(ref, tuple) and len(ref) == 2:
            p = procs.get(ref)
            return [p] if p else []
        if isinstance(ref, int):
            return [p for (n, i), p in procs.items() if i == ref]
        text = str(ref)
        if text.startswith("<"):
            return [p for p in procs.values() if p.pid_text == text]
        if text.lstrip().startswith("{"):
            return self._held_via(text)
        alt = {text, text[7:] if text.startswith("Elixir.") else "Elixir." + text}
        named = [p for p in procs.values() if p.reg_name in alt]
        if named:
            return named
        return [p for p in procs.values() if p.pid_text in self._registered_as(alt)]

    def _held_via(self, text: str) -> list[ProcessInfo]:
        """Processes that held a Registry name (``{:via, Registry, {MyApp.Registry, "k"}}``)
        when the agent saw them; a malformed tuple raises ``LiteralSyntaxError``."""
        from elixir_scope.instrument.etf import Atom
        from elixir_scope.instrument.introspect.via import ViaName, parse_process_name

        name = parse_process_name(text)
        if not isinstance(name, ViaName):
            return []
        want = (Atom(name.registry), name.key)
        return [p for p in self.context.processes.values()
                if any(a.kind == "via" and a.term == want for a in p.app_names)]

    def _registered_as(self, names: set[str]) -> set[str]:
        """Pid texts of processes that registered one of ``names`` during the recording."""
        from elixir_scope.instrument.etf import decode

        out = set()
        for node_id, pid, payload in self._db.query(
                f"SELECT e.node_id, e.pid, e.payload FROM {KIND_FROM} WHERE {kind_where((int(EventKind.REGISTER),))}",
                (self.id,)):
            name = getattr(decode(payload), "name", None)
            if name in names:
                p = self.context.processes.get((node_id, pid))
                if p:
                    out.add(p.pid_text)
        return out

    # -- events ------------------------------------------------------------------------------
    def _event(self, row: tuple, ctx: EventContext) -> Event:
        payload = row[9]
        if payload and payload[0] == 0:  # a skeleton: large elements stored once (store/blobs.py)
            payload = self._db.blobs.real(payload)
        return Event(row[0], row[1], row[2], EventKind(row[3]), row[4], row[5], row[6], row[7],
                     row[8], payload, ctx)

    def events_from_rows(self, rows: Iterable[tuple]) -> list[Event]:
        ctx = self.context
        return [self._event(r, ctx) for r in rows]

    def event(self, event_id: int) -> Event:
        row = self._db.query_one(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ? AND recording_id = ?",
                                 (event_id, self.id))
        if row is None:
            raise RecordingNotFound(f"no event {event_id} in recording {self.id}")
        return self._event(row, self.context)

    def events(self, kind: EventKind | int | str | Iterable | None = None, pid: ProcessRef = None,
               since: int | None = None, until: int | None = None, after_id: int | None = None,
               limit: int = 1000, *, node_id: int | None = None, function: MFA | None = None,
               before_id: int | None = None, descending: bool = False) -> EventList:
        """Events in id order (ascending, or descending with ``descending=True``), filtered by
        kind(s), process, node, time window (``since <= ts <= until``, node monotonic time)
        and id cursor; at most ``limit`` (≤ 100000). The result carries the gaps inside the
        window and the cursor of the next page."""
        if not 0 < limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}, got {limit}; page with after_id")
        where, params = ["e.recording_id = ?"], [self.id]
        codes: list[int] = []
        if kind is not None:
            kinds = [kind] if isinstance(kind, (EventKind, int, str)) else list(kind)
            codes = [int(EventKind.parse(k)) for k in kinds]
            where.append(f"e.kind IN ({','.join('?' * len(codes))})")
            params += codes
        if node_id is not None:
            where.append("e.node_id = ?")
            params.append(node_id)
        for col, op, value in (("ts", ">=", since), ("ts", "<=", until), ("id", ">", after_id),
                               ("id", "<", before_id)):
            if value is not None:
                where.append(f"e.{col} {op} ?")
                params.append(value)
        # driven by the block index (store/blocks.py) when a process or a function is asked for
        block, bwhere, bparams = "", [], []
        lo_id = after_id + 1 if after_id is not None else None
        hi_id = before_id - 1 if before_id is not None else None
        if pid is not None:
            procs = self.resolve_processes(pid)
            if not procs:
                raise RecordingNotFound(f"no process {pid!r} in recording {self.id}")
            block = "b"
            keys = " OR ".join("(b.node_id = ? AND b.pid = ?)" for _ in procs)
            bwhere.append(f"({keys})")
            bparams = [x for p in procs for x in (p.node_id, p.idx)]
            alias = "b"
        if function is not None:
            keys = [k for k, m in self.context.functions.items() if m == function]
            if not keys:
                return EventList([], [], None)
            fkeys = " OR ".join("(e.node_id = ? AND e.aux = ?)" for _ in keys)
            where.append(f"e.kind IN (1, 2, 3, 13) AND ({fkeys})")
            params += [x for k in keys for x in k]
            if not block:
                block = "k"
                aux = sorted({i for _, i in keys})
                bwhere.append(f"k.recording_id = ? AND k.kind IN (1, 2, 3, 13) "
                              f"AND k.aux IN ({','.join('?' * len(aux))})")
                bparams = [self.id, *aux]
                alias = "k"
        if not block and codes and self._rare(codes):  # a rare kind: through its blocks
            block, bwhere, bparams, alias = "k", [kind_where(codes)], [self.id], "k"
        order = "DESC" if descending else "ASC"
        if block:
            # one key: its blocks never overlap and come in id order, so no sort is needed
            one_key = alias == "b" and len(bparams) == 2
            if lo_id is not None:
                bwhere.append(reach("?", alias))
                bparams += [lo_id, lo_id]
            if hi_id is not None:
                bwhere.append(f"{alias}.first_id <= ?")
                bparams.append(hi_id)
            by = f"{alias}.first_id {order}, e.id {order}" if one_key else f"e.id {order}"
            # the cursor clips each block's rowid range (store/blocks.py): bound in the FROM
            source = (proc_from if alias == "b" else kind_from)(lo=lo_id is not None, hi=hi_id is not None)
            fparams = [x for x in (lo_id, hi_id) if x is not None]
            rows = self._db.query(f"SELECT {qualified(EVENT_COLUMNS)} FROM {source} WHERE "
                                  f"{' AND '.join(bwhere + where)} ORDER BY {by} LIMIT ?",
                                  fparams + bparams + params + [limit + 1])
        else:  # the recording's time blocks (store/timeblocks.py), in id order: no sort
            twhere, tparams = time_where(self.id, since, until, node_id, lo_id, hi_id)
            fparams = [x for x in (lo_id, hi_id) if x is not None]
            rows = self._db.query(f"SELECT {qualified(EVENT_COLUMNS)} FROM "
                                  f"{time_from(lo=lo_id is not None, hi=hi_id is not None)} WHERE {twhere} "
                                  f"AND {' AND '.join(where)} ORDER BY t.first_id {order}, e.id {order} LIMIT ?",
                                  fparams + tparams + params + [limit + 1])
        more = len(rows) > limit
        evs = self.events_from_rows(rows[:limit])
        # the window this page covers: from the previous page's last event (or `since`, or
        # the beginning) to this page's last event (or `until`, or the end) — so that paging
        # through reports every gap exactly once per window and never skips one between pages
        lo, hi = since, until
        if lo is None and after_id is not None:
            prev = self._db.query_one("SELECT ts FROM events WHERE id = ?", (after_id,))
            lo = prev[0] + 1 if prev else None  # gaps at its ts belonged to the previous page
        if more and evs and not descending:
            hi = max(e.ts for e in evs)
        gaps = self.gaps(lo, hi, node_id=node_id)
        return EventList(evs, gaps, evs[-1].id if (more and evs) else None)

    def _rare(self, codes: list[int]) -> bool:
        """Whether events of these kinds are under 1/16 of the recording and their blocks span
        under half of it (block counts): then reading their blocks beats walking the recording
        in id order."""
        n, rows = self._db.query_one(
            "SELECT coalesce(sum(n), 0), coalesce(sum(last_id - first_id + 1), 0) FROM block_kinds "
            f"WHERE recording_id = ? AND kind IN ({','.join('?' * len(codes))})", [self.id, *codes])
        total = self.info.event_count
        return n * 16 < total and rows * 2 < total

    def gaps(self, since: int | None = None, until: int | None = None, *,
             node_id: int | None = None) -> list[Gap]:
        return gaps_in(self._db, self.id, since, until, node_id)

    @property
    def stats(self) -> RecordingStats:
        info = self.info
        by_kind = {EventKind(k).name.lower(): n for k, n in self._db.query(
            "SELECT kind, sum(n) FROM block_kinds WHERE recording_id = ? GROUP BY kind", (self.id,))}
        ngaps = self._db.query_one("SELECT count(*) FROM gaps WHERE recording_id = ?", (self.id,))[0]
        return RecordingStats(info.event_count, info.dropped_count, ngaps, by_kind, info.stats)

    # -- states ------------------------------------------------------------------------------
    def state_row(self, node_id: int, pid: int, ts: int, uniq: int) -> tuple | None:
        return self._db.query_one(
            f"SELECT {STATE_ROW_COLUMNS}, phase, event_id FROM states WHERE node_id = ? AND pid = ? "
            "AND ts = ? AND uniq = ? ORDER BY id LIMIT 1", (node_id, pid, ts, uniq))

    def _load_state_payload(self, event: Event) -> Any:
        """``{Phase, State}`` of a state event whose payload lives only in ``states``."""
        from elixir_scope.instrument.etf import Atom

        row = self.state_row(event.node_id, event.pid, event.ts, event.uniq)
        if row is None:
            raise RecordingNotFound(f"state event {event.id} has no row in states")
        state, _ = self.states.state(row[:8])
        return (Atom(row[8]), state)

    # -- time travel, causal order, flows (thin delegates; see those modules) -------------------
    def state_at(self, process: ProcessRef, t: "int | Event"):
        """See timetravel.state_at."""
        from .timetravel import state_at

        return state_at(self, process, t)

    def state_evolution(self, process: ProcessRef, since: int | None = None, until: int | None = None,
                        **kw):
        from .timetravel import state_evolution

        return state_evolution(self, process, since, until, **kw)

    def step(self, event: Event, direction: int = 1, scope: str = "recording", module: str | None = None):
        from .stepping import step

        return step(self, event, direction, scope, module)

    def system_snapshot_at(self, t: "int | Event", node_id: int | None = None):
        from .snapshot import system_snapshot_at

        return system_snapshot_at(self, t, node_id)

    def timeline(self, process: ProcessRef, since: int | None = None, until: int | None = None, **kw):
        from .timeline import process_timeline

        return process_timeline(self, process, since, until, **kw)

    def traced_stack(self, event: Event, **kw):
        """The traced calls open in ``event``'s process at that moment, innermost first."""
        from .timeline import traced_stack

        return traced_stack(self, event, **kw)

    def message_flow(self, since: int | None = None, until: int | None = None, **kw):
        from .flows import message_flow

        return message_flow(self, since, until, **kw)

    def causal_past(self, event: Event, limit: int = 100, cursor: int | None = None):
        from .causal import causal_past

        return causal_past(self, event, limit, cursor)

    def causal_future(self, event: Event, limit: int = 100, cursor: int | None = None):
        from .causal import causal_future

        return causal_future(self, event, limit, cursor)
