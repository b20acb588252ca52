"""Export a recording as Parquet files, one per table, for DuckDB, ClickHouse, Spark, pandas…

    report = export_parquet(rec, Path("out/rec7"))

The directory gets ``nodes``, ``processes``, ``functions``, ``events``, ``calls``,
``messages``, ``states`` and ``gaps`` ``.parquet`` files (columns: ``TABLES`` below and
docs/store.md). Names are denormalised into every row (node name, pid text, process name,
module/function/arity), so a question is one ``SELECT`` without joins; a process's name in the
event, call, message and state rows is its registered name, else the first name the
application gives it (process label, ``process_name``, Registry name), and the processes table
lists them all (``app_names``); the ids
(``event_id``, ``call_id``, ``send_id`` …) are the store's, so a row can be looked up again
with every other tool. Terms are bounded Elixir text (``value_bytes``): as stored, so what the
agent redacted on the node stays redacted.

Memory stays bounded: rows are read in pages and written in row groups of ``row_group``
rows; only one row group per table is in memory at a time. The files are written into
``DIR.partial`` and renamed to ``DIR`` at the end: a failed export leaves no half directory,
and an existing ``DIR`` is never overwritten.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ExportError
from ..events import Event, EventKind
from ..states import STATE_ROW_COLUMNS
from .calls import READ_KINDS, CallLimits, CallSpan, CallTracker, event_pages
from .text import app_names_texts, bounded_text, payload_text, process_name, shown_name, unix_nanos

if TYPE_CHECKING:
    from ..reader import Recording

TIME = "timestamp"  # wall-clock time, ns since the epoch, UTC
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "nodes": (("node_id", "int64"), ("node", "string"), ("otp_release", "string"),
              ("time_unit", "int64"), ("time_offset", "int64")),
    "processes": (("node", "string"), ("pid_idx", "int64"), ("pid", "string"), ("registered_name", "string"),
                  ("app_names", "list<string>"), ("initial_call", "string"), ("born_time", TIME), ("died_time", TIME)),
    "functions": (("node", "string"), ("function_idx", "int64"), ("module", "string"), ("function", "string"),
                  ("arity", "int32"), ("mfa", "string")),
    "events": (("event_id", "int64"), ("node", "string"), ("kind", "string"), ("time", TIME), ("ts", "int64"),
               ("uniq", "int64"), ("pid", "string"), ("process_name", "string"), ("module", "string"),
               ("function", "string"), ("arity", "int32"), ("mfa", "string"), ("other_pid", "string"),
               ("truncated", "bool"), ("redacted", "bool"), ("payload", "string"), ("payload_bytes", "int64")),
    "calls": (("call_id", "int64"), ("end_event_id", "int64"), ("parent_call_id", "int64"),
              ("root_call_id", "int64"), ("depth", "int32"), ("node", "string"), ("pid", "string"),
              ("process_name", "string"), ("module", "string"), ("function", "string"), ("arity", "int32"),
              ("mfa", "string"), ("start_time", TIME), ("end_time", TIME), ("duration_ns", "int64"),
              ("outcome", "string"), ("args", "string"), ("result", "string")),
    "messages": (("send_id", "int64"), ("receive_id", "int64"), ("method", "string"), ("dead", "bool"),
                 ("sender_node", "string"), ("sender_pid", "string"), ("sender_name", "string"),
                 ("receiver_node", "string"), ("receiver_pid", "string"), ("receiver_name", "string"),
                 ("send_time", TIME), ("receive_time", TIME), ("latency_ns", "int64"), ("message", "string")),
    "states": (("event_id", "int64"), ("node", "string"), ("pid", "string"), ("process_name", "string"),
               ("phase", "string"), ("callback", "string"), ("time", TIME), ("size", "int64"),
               ("state", "string")),
    "gaps": (("gap_id", "int64"), ("node", "string"), ("event_id", "int64"), ("time", TIME), ("ts", "int64"),
             ("count", "int64"), ("reason", "string"), ("detail", "string")),
}


@dataclass(frozen=True, slots=True)
class ParquetOptions:
    """``row_group``: rows per Parquet row group (and per write); ``value_bytes``: longest text
    of a payload, argument list, return value, message or state; ``compression``: Parquet codec."""

    row_group: int = 65_536
    value_bytes: int = 4096
    compression: str = "zstd"
    calls: CallLimits = field(default_factory=CallLimits)

    def __post_init__(self) -> None:
        if not 1_000 <= self.row_group <= 1_000_000:
            raise ExportError(f"row_group must be 1000..1000000 rows, got {self.row_group}")
        if not 16 <= self.value_bytes <= 1_000_000:
            raise ExportError(f"value_bytes must be 16..1000000, got {self.value_bytes}")
        if self.compression not in ("zstd", "snappy", "gzip", "none"):
            raise ExportError(f"compression must be zstd, snappy, gzip or none, got {self.compression!r}")


@dataclass(slots=True)
class ParquetReport:
    recording_id: int
    directory: str
    rows: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0

    def as_dict(self) -> dict:
        return {"recording_id": self.recording_id, "directory": self.directory, "rows": dict(self.rows),
                "bytes_written": self.bytes_written}


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExportError(f"Parquet export needs pyarrow ({exc}); install it with: "
                          "pip install 'elixir-scope[export]'") from exc
    return pa, pq


class _TableWriter:
    """Rows of one table, written in row groups as they fill."""

    def __init__(self, pa, pq, path: Path, columns: tuple[tuple[str, str], ...], options: ParquetOptions) -> None:
        types = {"int64": pa.int64(), "int32": pa.int32(), "string": pa.string(), "bool": pa.bool_(),
                 TIME: pa.timestamp("ns", tz="UTC"), "list<string>": pa.list_(pa.string())}
        self._pa = pa
        self.schema = pa.schema([(name, types[t]) for name, t in columns])
        self._names = [name for name, _ in columns]
        self._cols: list[list] = [[] for _ in columns]
        self._limit = options.row_group
        self.rows = 0
        self._writer = pq.ParquetWriter(str(path), self.schema, compression=options.compression,
                                        write_statistics=True)

    def add(self, row: tuple) -> None:
        for col, value in zip(self._cols, row):
            col.append(value)
        if len(self._cols[0]) >= self._limit:
            self._flush()

    def _flush(self) -> None:
        if self._cols[0]:
            arrays = [self._pa.array(col, type=self.schema.field(i).type) for i, col in enumerate(self._cols)]
            self._writer.write_table(self._pa.Table.from_arrays(arrays, schema=self.schema))
            self.rows += len(self._cols[0])
            self._cols = [[] for _ in self._names]

    def close(self) -> None:
        self._flush()
        self._writer.close()


def export_parquet(rec: "Recording", directory: Path, options: ParquetOptions | None = None) -> ParquetReport:
    """Write recording ``rec`` as Parquet files into the new directory ``directory``."""
    options = options or ParquetOptions()
    pa, pq = _pyarrow()
    directory = Path(directory)
    if directory.exists():
        raise ExportError(f"{directory} already exists; choose a new directory (exports never overwrite).")
    if not directory.parent.is_dir():
        raise ExportError(f"{directory.parent} is not a directory; create it first.")
    partial = directory.with_name(directory.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        partial.mkdir()
    except OSError as exc:
        raise ExportError(f"cannot create {partial}: {exc}") from exc
    report = ParquetReport(rec.id, str(directory))
    try:
        _Export(rec, options, pa, pq, partial, report).run()
        partial.rename(directory)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ExportError(f"writing Parquet files to {directory} failed: {exc}") from exc
        raise
    report.bytes_written = sum(p.stat().st_size for p in directory.iterdir())
    return report


class _Export:
    def __init__(self, rec: "Recording", options: ParquetOptions, pa, pq, out: Path, report: ParquetReport) -> None:
        self.rec, self.options, self.pa, self.pq, self.out, self.report = rec, options, pa, pq, out, report
        self.ctx = rec.context
        self.limit = options.value_bytes
        self._procs: dict[tuple[int, int], tuple[str | None, str | None]] = {}

    def run(self) -> None:
        writers: dict[str, _TableWriter] = {}
        try:
            for name in TABLES:
                writers[name] = _TableWriter(self.pa, self.pq, self.out / f"{name}.parquet", TABLES[name],
                                             self.options)
            for name, rows in (("nodes", self._nodes()), ("processes", self._processes()),
                               ("functions", self._functions())):
                for row in rows:
                    writers[name].add(row)
            self._one_pass(writers["events"], writers["calls"], writers["messages"])
            for name, rows in (("states", self._states()), ("gaps", self._gaps())):
                for row in rows:
                    writers[name].add(row)
        finally:
            for w in writers.values():
                w.close()
        self.report.rows = {name: w.rows for name, w in writers.items()}

    def _one_pass(self, events: "_TableWriter", calls: "_TableWriter", messages: "_TableWriter") -> None:
        """Events, calls and messages from one read of the events: each payload is decoded and
        printed once, and a call's arguments are printed for its event row and reused for its
        calls row."""
        tracker = CallTracker(self.options.calls)
        for page, send_of in event_pages(self.rec, None, 5000):
            links = self._links([e.id for e in page if e.kind in (EventKind.SEND, EventKind.SEND_DEAD)])
            for e in page:
                text = payload_text(e, self.limit)
                events.add(self._event_row(e, text))
                if e.kind in (EventKind.SEND, EventKind.SEND_DEAD):
                    messages.add(self._message_row(e, links.get(e.id)))
                if e.kind not in READ_KINDS:
                    continue
                closed = tracker.feed(e, send_of)
                if e.kind == EventKind.CALL:
                    span = tracker.top(e)
                    if span is not None and span.call is e:
                        span.args_text = text
                for cs in closed:
                    calls.add(self._call_row(cs, text if cs.end is e else None))
        for cs in tracker.finish():
            calls.add(self._call_row(cs, None))

    # -- helpers ---------------------------------------------------------------------------------
    def _node(self, node_id: int) -> str:
        n = self.ctx.nodes.get(node_id)
        return n.name if n else f"#{node_id}"

    def _time(self, node_id: int, ts: int | None) -> int | None:
        return None if ts is None else unix_nanos(self.ctx.nodes.get(node_id), ts)

    def _proc(self, node_id: int, idx: int) -> tuple[str | None, str | None]:
        """(pid text, name) of a process, printed once per process."""
        if not idx:
            return None, None
        got = self._procs.get((node_id, idx))
        if got is None:
            p = self.ctx.processes.get((node_id, idx))
            got = self._procs[(node_id, idx)] = (p.pid_text, shown_name(p)) if p else (f"#{idx}", None)
        return got

    def _mfa(self, node_id: int, idx: int) -> tuple[str | None, str | None, int | None, str | None]:
        m = self.ctx.functions.get((node_id, idx)) if idx else None
        return (m.module, m.function, m.arity, str(m)) if m else (None, None, None, None)

    # -- tables ----------------------------------------------------------------------------------
    def _nodes(self) -> Iterator[tuple]:
        for n in sorted(self.ctx.nodes.values(), key=lambda n: n.id):
            yield n.id, n.name, n.otp_release, n.time_unit, n.time_offset

    def _processes(self) -> Iterator[tuple]:
        for p in self.rec.processes():
            yield (self._node(p.node_id), p.idx, p.pid_text, process_name(p), app_names_texts(p),
                   str(p.initial_call) if p.initial_call else None,
                   self._time(p.node_id, p.born_ts), self._time(p.node_id, p.died_ts))

    def _functions(self) -> Iterator[tuple]:
        for node_id, idx, m in self.rec.functions():
            yield self._node(node_id), idx, m.module, m.function, m.arity, str(m)

    def _event_row(self, e: Event, text: str) -> tuple:
        pid, name = self._proc(e.node_id, e.pid)
        module = function = arity = mfa = other = None
        if e.kind.aux_is_mfa:
            module, function, arity, mfa = self._mfa(e.node_id, e.aux)
        elif e.kind.aux_is_pid:
            other = self._proc(e.node_id, e.aux)[0]
        size = len(e.payload_bytes) if e.payload_bytes is not None else None
        return (e.id, self._node(e.node_id), e.kind.name.lower(), self._time(e.node_id, e.ts), e.ts, e.uniq,
                pid, name, module, function, arity, mfa, other, e.truncated, e.redacted, text, size)

    def _call_row(self, cs: CallSpan, end_text: str | None) -> tuple:
        c = cs.call
        pid, name = self._proc(c.node_id, c.pid)
        module, function, arity, mfa = self._mfa(c.node_id, c.aux)
        start, end = self._time(c.node_id, c.ts), self._time(c.node_id, cs.end_ts)
        last = cs.end if cs.end is not None else cs.exit_event
        result = end_text if end_text is not None else (payload_text(last, self.limit) if last is not None else None)
        args = cs.args_text if cs.args_text is not None else payload_text(c, self.limit)
        return (c.id, cs.end.id if cs.end is not None else None, cs.parent_id, cs.root_id, cs.depth,
                self._node(c.node_id), pid, name, module, function, arity, mfa, start, end,
                (end - start) if (end is not None and start is not None) else None, cs.outcome, args, result)

    def _links(self, send_ids: list[int]) -> dict[int, tuple]:
        """send id -> (receive id, method, receiver node id, receiver pid idx, receive ts)."""
        links: dict[int, tuple] = {}
        for i in range(0, len(send_ids), 900):
            chunk = send_ids[i:i + 900]
            for row in self.rec.db.query(
                    "SELECT l.send_id, l.recv_id, l.method, l.recv_node, l.recv_pid, r.ts FROM msg_links l "
                    f"JOIN events r ON r.id = l.recv_id WHERE l.send_id IN ({','.join('?' * len(chunk))})", chunk):
                links[row[0]] = row[1:]
        return links

    def _message_row(self, e: Event, link: tuple | None) -> tuple:
        spid, sname = self._proc(e.node_id, e.pid)
        recv_id = method = rnode = rpid = rname = rtime = None
        if link is not None:
            recv_id, method, rnode_id, rpid_idx, rts = link
            rnode = self._node(rnode_id)
            rpid, rname = self._proc(rnode_id, rpid_idx)
            rtime = self._time(rnode_id, rts)
        elif e.aux:
            rnode = self._node(e.node_id)
            rpid, rname = self._proc(e.node_id, e.aux)
        stime = self._time(e.node_id, e.ts)
        try:
            msg = bounded_text(e.payload[0], self.limit)
        except Exception:
            msg = payload_text(e, self.limit)
        return (e.id, recv_id, method, e.kind == EventKind.SEND_DEAD, self._node(e.node_id), spid, sname,
                rnode, rpid, rname, stime, rtime,
                (rtime - stime) if (rtime is not None and stime is not None) else None, msg)

    def _states(self) -> Iterator[tuple]:
        after = 0
        while True:
            rows = self.rec.db.query(
                f"SELECT {STATE_ROW_COLUMNS}, event_id, phase, callback, size FROM states "
                "WHERE recording_id = ? AND id > ? ORDER BY id LIMIT 2000", (self.rec.id, after))
            for row in rows:
                yield self._state_row(row)
            if len(rows) < 2000:
                return
            after = rows[-1][0]

    def _state_row(self, row: tuple) -> tuple:
        _sid, node_id, pid_idx, ts, _uniq = row[:5]
        event_id, phase, callback, size = row[8:]
        pid, name = self._proc(node_id, pid_idx)
        try:
            state: Any = bounded_text(self.rec.states.state(row[:8])[0], self.limit)
        except Exception as exc:  # a damaged row must not stop the export of the others
            state = f"«unreadable state: {type(exc).__name__}»"
        return (event_id, self._node(node_id), pid, name, phase, self._mfa(node_id, callback)[3],
                self._time(node_id, ts), size, state)

    def _gaps(self) -> Iterator[tuple]:
        for g in self.rec.gaps():
            yield (g.id, self._node(g.node_id), g.event_id, self._time(g.node_id, g.ts), g.ts, g.count, g.reason,
                   g.detail)
