"""The trace store's SQL schema — one embedded SQLite file, WAL mode.

Why this shape
==============
The agent sends compact binary records (docs/event-format.md). Ingest keeps each record as one
row of ``events`` with its payload as the raw External Term Format bytes (a BLOB): no term is
decoded on the hot path. Everything a query needs to *filter* on is a plain integer column of
the fixed 30-byte header (kind, flags, ts, uniq, pid, aux); names are interned per node in
``processes`` and ``functions`` exactly as the agent's batch ``Dict`` gives them.

Identity conventions (read these before writing SQL against the store):

* ``nodes.id`` is global to the file. Interned indices (``processes.idx``, ``functions.idx``,
  ``events.pid``, ``events.aux``) are per *node* of a recording, so every join is on
  ``(node_id, idx)``: ``events e JOIN processes p ON p.node_id = e.node_id AND p.idx = e.pid``.
  Index 0 means "none" and has no row.
* ``events.id`` is global to the file and increases in ingest order. Within one process,
  ingest order is event order (the BEAM delivers one process's trace messages in order); across
  processes of one node order by ``(ts, uniq)``; across nodes by happens-before, then by the
  common clock ``ts + nodes.time_offset - nodes.clock_skew`` (store/clocks.py).
* ``events.ts`` is the node's ``erlang:monotonic_time()`` in native units
  (``nodes.time_unit`` per second). Wall-clock time = ``ts + time_offset`` (same unit).

Tables and columns
==================
``meta`` — key/value facts about the file.
    key, value: ``schema_version`` (integer as text; see SCHEMA_VERSION), ``created_at``
    (unix seconds), ``created_by`` (library version).

``recordings`` — one capture session (possibly several nodes).
    id; name; spec_json (the trace spec as given to the capture, JSON); limits_json (the
    safety limits in force, JSON); meta_json (free-form, JSON); created_at / ended_at (unix
    seconds, wall clock of the Python host); end_reason (NULL while being written, then
    ``stopped`` / ``max_events`` / ``max_seconds`` / ``node_down`` / ``overload_*`` /
    ``interrupted`` — the writer died before finishing — …); stats_json (final counters from
    the agent, JSON, e.g. offered/sent/dropped); writer_pid, writer_host, writer_started (who
    is writing it: lets a later open tell a live writer from a dead one); event_count,
    dropped_count (kept current by ingest, one transaction with the events); causal_upto
    (highest events.id already covered by ``msg_links``/``clocks``; causal analysis runs
    lazily on first use and incrementally after that).

``nodes`` — a traced node within a recording.
    id; recording_id; name (``'app@host'``); otp_release; time_unit (native units per second,
    ``erlang:convert_time_unit(1, second, native)``); time_offset (``erlang:time_offset()`` in
    native units at capture start); mono_at_start (monotonic time at capture start, or NULL);
    clock_skew / clock_error (schema 4): the node's system time minus this host's system time,
    and the bound on that estimate's error, both in the node's native units, from round-trip
    probes at capture start (instrument/clock.py; NULL: not probed); clock_skew_end /
    clock_error_end: the same from probes at the end (NULL when the node was gone); end_reason,
    end_detail, stats_json (schema 4): how this node's part of the capture ended (a node that
    leaves a multi-node capture ends its part with ``node_down`` while the others go on) and
    its agent's counters (JSON); NULL while running or for recordings made before schema 4.
    Cross-node order uses ``ts + time_offset - clock_skew`` (the host's clock; store/clocks.py).

``processes`` — interned processes (from the batch Dict ``{pid, Idx, Pid, RegName, InitialCall}``).
    recording_id; node_id; idx; pid_text (``'<0.123.0>'``); pid_node (node atom text of the
    Pid); pid_id, pid_serial, pid_creation; reg_name (registered name when interned, or NULL);
    init_module, init_function, init_arity (real initial call, or NULL);
    born_ts (ts of its ``spawned`` event, NULL if it existed before / never seen born);
    died_ts (ts of its ``exit`` event, NULL if not seen dying); exit_event_id;
    app_names (schema 5): what the application calls the process, read by the agent when it
    interned the pid (or once more a batch later, for one interned at its spawn): ETF of a list
    of ``{Kind, Term, Flags}``, Kind ``'$process_label'`` (``proc_lib:set_label/1`` or set by
    hand), ``process_name`` or ``via`` (``{Registry, Key}`` of an Elixir Registry name), Term cut
    to 256 bytes and redacted on the node (Flags bit 0 cut, bit 1 redacted); NULL when none.

``functions`` — interned MFAs (from ``{mfa, Idx, {M, F, A}}``).
    recording_id; node_id; idx; module (atom text, Elixir modules as ``'Elixir.Foo'``);
    function; arity.

``events`` — one row per record, see docs/event-format.md for kinds and payloads.
    id; recording_id; node_id; kind (code, see events.EventKind); flags (bit 0 truncated,
    bit 1 redacted); ts; uniq; pid (process idx); aux (kind-dependent idx); payload (raw ETF
    bytes with the 131 version byte, or for large ``call``/``return``/``state`` payloads a
    skeleton referring to ``blobs``). ``payload`` is NULL only for ``state`` events whose state
    is large: the state then lives in ``states`` (full or as a delta) and the reader rebuilds
    the ``{Phase, State}`` term from there.

``states`` — the state history, one row per ``state`` event.
    id; recording_id; node_id; pid; event_id (the ``state`` event); ts; uniq; phase
    (``before`` / ``after`` / ``checkpoint``); callback (functions idx of the callback, 0 for a
    checkpoint); encoding (``full``: ``data`` is the ETF of the state; ``delta``: ``data`` is
    the ETF of a delta list, see store/diff.py, against the previous row of the same process);
    anchor_id (id of the nearest ``full`` row of this process at or before this one: rebuilding
    = decode anchor, apply the deltas of rows anchor_id < id ≤ this id in id order); size
    (byte size of the state's own ETF); data.

``gaps`` — places where events were dropped (never silent).
    id; recording_id; node_id; event_id (the ``gap`` event, or NULL when the gap was detected on
    the Python side); ts (where it happened, node monotonic time); count (events lost); reason
    (``rate_limit``, ``overload_queue``, ``node_lost`` …); detail (text).

``msg_links`` — happens-before edges between events of different processes (store/causal/matching.py).
    recording_id; send_id (the ``send`` event, or the parent's ``spawn`` event); recv_id (the
    matching ``receive`` event, or the child's ``spawned`` event); method (``fifo_bytes``:
    receive matched to the earliest unmatched send of identical message bytes to that receiver;
    ``seq_trace``: matched by seq_trace serial; ``spawn``); send_node, send_pid, recv_node,
    recv_pid (the two processes, as in ``events``; schema 2). A ``send`` with no row here was
    never seen received (lost, not traced, or still in flight when the capture ended).

``blobs`` — large sub-terms stored once (schema 3, store/blobs.py).
    hash (blake2b-128 of ``data``); data (the element's ETF bytes, no version byte). A
    ``call``/``return``/``state`` payload or a ``states.data`` whose first byte is 0 instead of
    131 is a *skeleton* referring to rows here; readers inflate it to the original bytes.

``clocks`` — a Lamport clock per event (store/causal/lamport_clocks.py).
    event_id; recording_id; lamport: 1 + max(previous event of the same process, the matched
    send for a receive / spawn for a spawned). If a → b (happens-before) then
    lamport(a) < lamport(b).

``block_procs`` / ``block_kinds`` — the block index (schema 6, store/blocks.py): per stored batch,
    one row per process (node_id, pid) and one per (recording_id, kind, aux) it holds, with the
    exact id range first_id .. last_id of those events in the batch and their count n. Readers
    that seek events by process or by kind/function read the candidate ranges here, then the
    events by rowid range (``id BETWEEN first_id AND last_id AND pid = …``).

``block_time`` — the time blocks (schema 7, store/timeblocks.py): per stored batch (at most
    ``timeblocks.ROWS`` ids a row, an index on ``(recording_id, min_ts)``; ``time_spans`` holds a recording's greatest ``max_ts - min_ts``), recording_id, first_id, last_id, node_id and the batch's min_ts,
    max_ts and count n. Readers that seek events by time (windows, the first event at or after
    a ts, time-ordered walks) read the overlapping blocks, then the events by rowid range.

Indexes serve state lookup (``node_id, pid, ts, uniq`` on states) and gaps by time; ``events``
has none but its rowid: time windows go through the time blocks, per-process order and
kind/function filters through the block index.
"""

from __future__ import annotations

from .blocks import TABLES as BLOCK_TABLES
from .timeblocks import TABLES as TIME_TABLES

SCHEMA_VERSION = 7
"""Version of the layout below. Older files are migrated on open (see store/db.py);
newer ones are refused with a clear error.

History: 1 — first layout. 2 — ``msg_links`` carries the sender's and receiver's process
(so causal walks need no join through ``events``); migrating drops the derived causal tables
(``msg_links``, ``clocks``) and resets ``recordings.causal_upto``: they are recomputed on first
use. No recorded data changes. 3 — the ``blobs`` table: large elements of ``call``, ``return``
and ``state`` payloads and of ``states`` rows stored once by content (store/blobs.py); older
files only gain the empty table. 4 — per-node clock estimates (``nodes.clock_skew``,
``clock_error``, ``clock_skew_end``, ``clock_error_end``) and per-node ends (``nodes.end_reason``,
``end_detail``, ``stats_json``) for multi-node captures; older files gain NULL columns. 5 — ``processes.app_names`` (process
labels and Registry names; NULL for older files). 6 — the
block index (``block_procs``, ``block_kinds``, store/blocks.py) replaces the per-event indexes
``events_by_process`` and ``events_by_kind``; migrating builds the block rows from the stored
events and drops those two indexes. 7 — the time blocks (``block_time``, store/timeblocks.py)
replace the per-event index ``events_by_time``; migrating builds them from the stored events and
drops the index."""

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS recordings (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    spec_json       TEXT NOT NULL DEFAULT '{}',
    limits_json     TEXT NOT NULL DEFAULT '{}',
    meta_json       TEXT NOT NULL DEFAULT '{}',
    created_at      REAL NOT NULL,
    ended_at        REAL,
    end_reason      TEXT,
    stats_json      TEXT,
    writer_pid      INTEGER,
    writer_host     TEXT,
    writer_started  REAL,
    event_count     INTEGER NOT NULL DEFAULT 0,
    dropped_count   INTEGER NOT NULL DEFAULT 0,
    causal_upto     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS nodes (
    id             INTEGER PRIMARY KEY,
    recording_id   INTEGER NOT NULL REFERENCES recordings(id),
    name           TEXT NOT NULL,
    otp_release    TEXT NOT NULL,
    time_unit      INTEGER NOT NULL,
    time_offset    INTEGER NOT NULL,
    mono_at_start  INTEGER,
    clock_skew      INTEGER,
    clock_error     INTEGER,
    clock_skew_end  INTEGER,
    clock_error_end INTEGER,
    end_reason     TEXT,
    end_detail     TEXT,
    stats_json     TEXT
);

CREATE TABLE IF NOT EXISTS processes (
    recording_id   INTEGER NOT NULL,
    node_id        INTEGER NOT NULL REFERENCES nodes(id),
    idx            INTEGER NOT NULL,
    pid_text       TEXT NOT NULL,
    pid_node       TEXT,
    pid_id         INTEGER,
    pid_serial     INTEGER,
    pid_creation   INTEGER,
    reg_name       TEXT,
    init_module    TEXT,
    init_function  TEXT,
    init_arity     INTEGER,
    born_ts        INTEGER,
    died_ts        INTEGER,
    exit_event_id  INTEGER,
    app_names      BLOB,
    PRIMARY KEY (node_id, idx)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS functions (
    recording_id  INTEGER NOT NULL,
    node_id       INTEGER NOT NULL REFERENCES nodes(id),
    idx           INTEGER NOT NULL,
    module        TEXT NOT NULL,
    function      TEXT NOT NULL,
    arity         INTEGER NOT NULL,
    PRIMARY KEY (node_id, idx)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    id            INTEGER PRIMARY KEY,
    recording_id  INTEGER NOT NULL,
    node_id       INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    flags         INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    uniq          INTEGER NOT NULL,
    pid           INTEGER NOT NULL,
    aux           INTEGER NOT NULL,
    payload       BLOB
);

CREATE TABLE IF NOT EXISTS states (
    id            INTEGER PRIMARY KEY,
    recording_id  INTEGER NOT NULL,
    node_id       INTEGER NOT NULL,
    pid           INTEGER NOT NULL,
    event_id      INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    uniq          INTEGER NOT NULL,
    phase         TEXT NOT NULL,
    callback      INTEGER NOT NULL,
    encoding      TEXT NOT NULL CHECK (encoding IN ('full', 'delta')),
    anchor_id     INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    data          BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS gaps (
    id            INTEGER PRIMARY KEY,
    recording_id  INTEGER NOT NULL,
    node_id       INTEGER NOT NULL,
    event_id      INTEGER,
    ts            INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    detail        TEXT
);

CREATE TABLE IF NOT EXISTS msg_links (
    recording_id  INTEGER NOT NULL,
    send_id       INTEGER NOT NULL,
    recv_id       INTEGER NOT NULL,
    method        TEXT NOT NULL,
    send_node     INTEGER NOT NULL,
    send_pid      INTEGER NOT NULL,
    recv_node     INTEGER NOT NULL,
    recv_pid      INTEGER NOT NULL,
    PRIMARY KEY (send_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS blobs (
    hash          BLOB PRIMARY KEY,
    data          BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS clocks (
    event_id      INTEGER PRIMARY KEY,
    recording_id  INTEGER NOT NULL,
    lamport       INTEGER NOT NULL
);
""" + BLOCK_TABLES + TIME_TABLES

EVENT_INDEXES: dict[str, str] = {}
"""Secondary indexes of ``events``: none since schema 7. The entries per process and per
kind/function became the block index (schema 6, store/blocks.py) and the entries per
``(recording_id, ts)`` the time blocks (schema 7, store/timeblocks.py): rows per stored batch,
written in the batch's own transaction, whose upkeep per event is a fraction of an index
entry's. So a recording is queryable the moment its batch commits, older recordings stay
queryable while a capture writes, and ingest costs the same in an empty store and in one
holding millions of events. (Earlier versions dropped the indexes for the whole store during a
capture and rebuilt them at ``finish``: the rebuild grew with the store — 8 s at 3M events. A
file left that way has ``meta.event_indexes = 'pending'``; the next writable open clears the
mark — the migrations to schema 6 and 7 built the block rows of every stored event.) Block
upkeep is cheapest per event when a transaction holds many events: the capture stores the
batches that queued up while it was writing in one transaction (instrument/session.py)."""

INDEXES = "".join(f"{stmt};\n" for stmt in EVENT_INDEXES.values()) + """
CREATE INDEX IF NOT EXISTS states_by_process ON states (node_id, pid, ts, uniq);
CREATE INDEX IF NOT EXISTS gaps_by_time      ON gaps (recording_id, ts);
CREATE INDEX IF NOT EXISTS nodes_by_recording ON nodes (recording_id);
CREATE UNIQUE INDEX IF NOT EXISTS msg_links_by_recv ON msg_links (recv_id);
CREATE INDEX IF NOT EXISTS msg_links_by_receiver ON msg_links (recv_node, recv_pid, recv_id);
CREATE INDEX IF NOT EXISTS msg_links_by_sender ON msg_links (send_node, send_pid, send_id);
"""

VIEWS = """
CREATE VIEW IF NOT EXISTS events_named AS
SELECT e.id, e.recording_id, e.node_id, n.name AS node_name, e.kind, e.flags, e.ts, e.uniq,
       e.ts + n.time_offset AS wall_native, n.time_unit,
       e.pid, p.pid_text, p.reg_name,
       e.aux, f.module, f.function, f.arity,
       e.payload
FROM events e
JOIN nodes n ON n.id = e.node_id
LEFT JOIN processes p ON p.node_id = e.node_id AND p.idx = e.pid
LEFT JOIN functions f ON f.node_id = e.node_id AND f.idx = e.aux AND e.kind IN (1, 2, 3, 13);
"""
"""``events_named``: events with their node, process and (for call/return/exception/state)
function names joined in — the convenient read shape for the query language."""


def create_statements() -> str:
    """All DDL for a fresh file at SCHEMA_VERSION (idempotent)."""
    return TABLES + INDEXES + VIEWS
