"""The capture's store pipeline: received batches are prepared in one thread and written in
another, so the two cores work at once while the store catches up.

Storing a batch is two kinds of work (store/ingest.py): *preparing* it - the Dict rows, the
header walk, the block rows - is pure Python and holds the GIL; *writing* it is mostly SQLite
(``sqlite3_step`` of the multi-row INSERTs, the COMMIT), which runs with the GIL released. One
thread doing both leaves the second core idle while the first walks headers; here a *prepare*
thread walks batch N+1 while the *write* thread's SQLite work on batch N runs on the other
core, and the event loop receives and decodes beside both.

Three stages, each in order (FIFO): the event loop ``submit``s a batch;
``RecordingWriter.prepare_batch`` prepares it; the write thread waits for that preparation and
runs ``store_prepared``. So event ids stay arrival order and a batch is stored whole or not at
all, in its own transaction.

Where a job is prepared depends on how far behind the store is (``SPLIT_BYTES``). Catching up
(more than that pending), the prepare thread walks job N+1 while the writer stores job N: the two
cores work at once. Keeping up - a capture running beside its traced node, the usual case - the
write thread prepares each job itself, right before writing it: one thread instead of two handing
the GIL back and forth around every SQLite statement, one thread less to wake beside a busy node
(``benchmarks/bench_staging.py``'s "prepared apart" row compares the two: within the noise in CPU
per event). Two preparations never run at once:
a job prepared on the prepare thread first waits for the one before it.

Staging: the batches submitted within ``JOB_WAIT_S`` (25 ms) of the first, up to
``MIN_JOB_BYTES`` (1 MB), are joined into one *job* before they go to the threads: storing has a
cost per job besides its cost per record (the header arrays, the statements, the block rows, the
commit), and the agent's default batches of 2,000 records paid it every few milliseconds.
Records become queryable up to 25 ms later; ``settle`` and ``close`` submit what is staged at
once.

Bounded: ``pending_bytes`` counts the records bytes received and not yet stored. The session
acknowledges a batch to the agent (which lets it send more) only while that is at most
``max_pending_bytes`` (``may_ack``); past it, the ack waits for the writer (``settle``) -
back-pressure, counted in ``held_acks``. So Python holds at most that bound plus the agent's
window of unacknowledged batches.

Failures: the first job the store refuses (disk full, read-only, a malformed batch) stops the
pipeline: its batches and every batch submitted after them are not stored (``lost_batches``:
their records binaries, each batch as received, counted by the session into a ``store_error``
gap); what was stored before stays. ``failure`` holds the error.

WAL checkpoints: from its first batch until it is closed, the pipeline holds the store's
background checkpoints (``hold_checkpoints``, store/checkpoints.py): they wait, bounded by the
WAL's size, and run when the capture's last batch is stored - out of the capture's busy window,
where their CPU would compete with the traced node (bench_overhead.py). A recording without
checkpoints (the benchmarks' counting sink) has nothing to hold.

Yielding to the traced node: the store can *postpone* its jobs while the node is busy and catch
up after (``STORE_YIELD``, ``CaptureSession.start(store_yield=...)``; instrument/store_yield.py:
when, and the spill file that keeps the postponed records out of memory; ``may_ack`` counts the
records held in memory only). Or its threads can run below the node (``STORE_PRIORITY``,
``store_priority=...``: ``SCHED_IDLE`` or a niceness, set by each thread on itself). Either way
nothing else changes - order, atomicity, ``settle``/``close`` waiting for every job. Measured:
docs/store.md, "Yielding the CPU to the traced node".

The GIL: CPython hands it to a thread that waits for it (the writer, back from a
``sqlite3_step``) only after the *switch interval* (5 ms) when another thread runs Python
code, far longer than a statement's step (~0.2 ms); so the prepare thread's header walk
pauses (``time.sleep(0)``) every ``store.records.PAUSE_RECORDS`` payloads, where the writer
takes the GIL, binds its next statement and lets it go again in SQLite. (Lowering the switch
interval process-wide instead was measured no better, and would touch every thread.)
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..store import StoreError
from .heap import tune_for_capture
from .spill_file import SpillRef
from .store_yield import Postponer, StoreYield, check_yield
from .thread_priority import check_priority, lower_priority

MAX_GROUP_BYTES = 8 * 1024 * 1024
"""At most this many records bytes (~110k events) in one transaction of the write thread."""
MIN_JOB_BYTES = 1024 * 1024
"""Batches are stored in jobs of at least this many records bytes (~14k events of a call-tracing
capture), or of what arrived within ``JOB_WAIT_S``: the batches received are *staged* and
submitted together. Storing a batch has a cost per batch besides its cost per record (the
statements, the block rows, the header arrays, the commit rewriting the pages it touched to the
WAL), which the agent's default batches of 2,000 records paid every few milliseconds
(``benchmarks/bench_staging.py`` measures both, and batches of 10,000, on the same records)."""
JOB_WAIT_S = 0.025
"""How long a staged batch waits for more before it is submitted: records become queryable up
to this much later. Never while the session waits for the writer (``settle``: back-pressure, the
capture's end) or once the pipeline is closing."""
SPLIT_BYTES = 4 * 1024 * 1024
"""Past this many records bytes pending (received, not yet stored: ~55k events of a
call-tracing capture, a few jobs), jobs are prepared on the prepare thread, beside the writer;
at or below it, by the write thread itself (one thread, less CPU per event)."""
MAX_PENDING_BYTES = 32 * 1024 * 1024
"""Records bytes received (and acknowledged) but not yet stored, at most (~450k events of a
call-tracing capture, ~10 agent windows of the benchmark's limits)."""


STORE_YIELD: StoreYield | None = None
"""Whether the store postpones its jobs while the traced node is busy and catches up after
(instrument/store_yield.py; ``CaptureSession.start(store_yield=...)``): None - it stores as the
batches come (the default). ``StoreYield()`` postpones only a *sustained* burst (1.5 s of
batches back to back on a machine with no core to spare, ``sustain_s``), so a short capture is
stored beside the node. Not the default: measured at a load of 5-9 it kept bench_ingest's ratio
about main's (8 processes 0.54/0.68/0.70x at 6-7; at 9 a round under 0.5x, as main had) and took
~60 % of Python's CPU out of bench_overhead's window, but the slowdown ratio in the same rounds
was not measurably lower than without it, and no row (not even the one that stores nothing) had
its worst round <= 1.0 at those loads (docs/store.md, "A sustained burst only")."""


STORE_PRIORITY: int | str = 0
"""How the store threads (prepare, write) run beside the event loop (Linux, per thread): 0 - at
the process's own priority (the default); ``"idle"`` - the ``SCHED_IDLE`` policy: they run only
when nothing else wants their core, and a thread of any other policy waking there preempts them
at once, so the traced node on the same cores is served first and the store catches up when it
idles; a number 1-19 - that much nicer. Both are weighed by the kernel *within* this process's
scheduling group (its session's autogroup, its cgroup) first: against a node in another
session or cgroup they yield only what the group's share allows. Not the default: a store
thread that yields falls behind while the node is busy, so the bound on what Python holds
(``MAX_PENDING_BYTES``) holds the agent's acks sooner (the agent then buffers, and past its
``max_buffer`` drops), and any busy thread of this process's group (another capture's, an
analysis) starves it; an unprivileged thread cannot take the priority back (docs/store.md,
"Yielding the CPU to the traced node")."""


def join_records(chunks: list[bytes]) -> bytearray:
    """Records binaries received together, as one: grown in place from the first (the store
    reads a bytearray without copying it again, store/ingest.py ``prepare_batch``); about a
    third of the CPU of ``bytearray(b"".join(chunks))``, which copies every byte twice."""
    joined = bytearray(chunks[0])
    for chunk in chunks[1:]:
        joined += chunk
    return joined


def _pause() -> None:
    """Between two slices of a header walk: let a thread waiting for the GIL (the writer,
    back from SQLite) take it now rather than after the switch interval."""
    time.sleep(0)


@dataclass
class _Job:
    events: bytes | SpillRef  # the records binary (counted lost if the store refuses it), or its spill
    prepared: Future  # of the prepare thread: the PreparedBatch
    written: Future | None = None  # of the write thread: True if stored
    stored: bool | None = None  # set by the write thread
    parts: tuple[int, ...] = ()  # the sizes of the batches joined into ``events`` (staged)

    def batches(self) -> list[bytes]:
        """The records binaries of the batches joined into this job, each as received (a
        refused job's records are counted batch by batch: a malformed one does not hide the
        others' count)."""
        events = self.events.load() if isinstance(self.events, SpillRef) else self.events
        if len(self.parts) < 2:
            return [events]
        out, at = [], 0
        for n in self.parts:
            out.append(bytes(events[at:at + n]))
            at += n
        return out

    @property
    def size(self) -> int:
        """Records bytes."""
        return len(self.events)


class StorePipeline:
    """Batches of one node into one recording (a store ``RecordingWriter``), prepared and
    written in two threads. Used from the event loop only (``submit``, ``settle``, ``close``)."""

    def __init__(self, recording: Any, node_id: int, *, max_pending_bytes: int = MAX_PENDING_BYTES,
                 name: str = "capture", stage_bytes: int = MIN_JOB_BYTES,
                 stage_wait: float = JOB_WAIT_S, split_bytes: int = SPLIT_BYTES,
                 priority: int | str | None = None,
                 yield_to_node: StoreYield | bool | None = None) -> None:
        if max_pending_bytes <= 0:
            raise ValueError(f"max_pending_bytes must be > 0, got {max_pending_bytes}")
        # the capture's large buffers reuse heap memory instead of fresh pages (instrument/heap.py)
        self.heap = tune_for_capture()
        self.recording = recording
        self.node_id = node_id
        self.max_pending_bytes = max_pending_bytes
        self.stored = 0
        """Records stored (committed) so far; updated by the write thread."""
        self.pending_bytes = 0
        self.peak_pending_bytes = 0
        self.held_acks = 0
        self.prepare_cpu = 0.0
        """CPU seconds spent preparing this pipeline's batches, on whichever thread
        (``time.thread_time``)."""
        self.split_bytes = split_bytes
        """Jobs submitted with more than this pending are prepared on the prepare thread, the
        others by the write thread (``SPLIT_BYTES``; 0: always the prepare thread)."""
        self.prepared_apart = 0
        """Jobs prepared on the prepare thread (the store was catching up)."""
        self.write_cpu = 0.0
        """CPU seconds the write thread spent storing them (its SQLite work and WAL writes
        included; the WAL checkpoints beside it are another thread's, store/checkpoints.py)."""
        self.thread_ids: dict[str, int] = {}
        """``threading.get_ident()`` of the prepare and write threads once each has run a job
        (the prepare thread only once a job was prepared apart):
        a benchmark reads their CPU at any moment (``time.pthread_getcpuclockid``), where
        ``prepare_cpu``/``write_cpu`` count whole jobs."""
        self.failure: StoreError | None = None
        self.lost_batches: list[bytes] = []
        self._jobs: deque[_Job] = deque()  # submitted, not yet collected (the event loop's)
        self._unclaimed: deque[_Job] = deque()  # not yet taken by the write thread (its own)
        self.priority = check_priority(STORE_PRIORITY if priority is None else priority)
        """How the prepare and write threads yield to the traced node (``STORE_PRIORITY``)."""
        self._prepare = ThreadPoolExecutor(1, thread_name_prefix=f"es-prepare {name}",
                                           initializer=lower_priority, initargs=(self.priority,))
        self._write = ThreadPoolExecutor(1, thread_name_prefix=f"es-write {name}",
                                         initializer=lower_priority, initargs=(self.priority,))
        self._closed = False
        self.stage_bytes = stage_bytes
        """Jobs of at least this many bytes, or what arrived within ``stage_wait`` seconds
        (``MIN_JOB_BYTES``, ``JOB_WAIT_S``); 0: every batch is its own job."""
        self.stage_wait = stage_wait
        self._staged: list[bytes] = []  # records binaries received, not yet submitted as a job
        self._staged_dicts: list = []
        self._staged_bytes = 0
        self._stage_timer: asyncio.TimerHandle | None = None
        self._held = False  # holding the store's checkpoints (from the first batch until closed)
        policy = check_yield(STORE_YIELD if yield_to_node is None else yield_to_node)
        self.postponer: Postponer | None = None
        """Postpones the jobs while the node is busy (``STORE_YIELD``); None: every job is
        handed to the threads as it is formed."""
        if policy is not None:
            self.postponer = Postponer(policy, _directory(recording), self._launch, self._in_flight,
                                       max(split_bytes, 2 * stage_bytes, 1))

    def submit(self, dict_entries: list, events: bytes) -> None:
        """Queue one batch (or several joined) to be stored after those submitted before. From
        a running event loop, the batch is staged first (``MIN_JOB_BYTES``, ``JOB_WAIT_S``);
        its bytes count as pending at once."""
        if self._closed:
            raise RuntimeError("this store pipeline is closed")
        if self.failure is not None:
            self.lost_batches.append(events)
            return
        self.pending_bytes += len(events)
        self.peak_pending_bytes = max(self.peak_pending_bytes, self.pending_bytes)
        if self.postponer is not None:
            self.postponer.arrived(time.monotonic())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without an event loop: no timer to submit a staged batch
            loop = None
        self._staged.append(events)
        self._staged_dicts.extend(dict_entries)
        self._staged_bytes += len(events)
        if loop is None or self._staged_bytes >= self.stage_bytes or self.stage_wait <= 0:
            self._submit_staged()
        elif self._stage_timer is None:
            self._stage_timer = loop.call_later(self.stage_wait, self._submit_staged)

    def _submit_staged(self) -> None:
        """The staged batches, joined, as one job (its bytes are pending already)."""
        if self._stage_timer is not None:
            self._stage_timer.cancel()
            self._stage_timer = None
        if not self._staged:
            return
        staged, dict_entries = self._staged, self._staged_dicts
        events = staged[0] if len(staged) == 1 else join_records(staged)
        self._staged, self._staged_dicts, self._staged_bytes = [], [], 0
        if self.failure is not None:
            self.pending_bytes -= len(events)
            self.lost_batches.extend(staged)
            return
        if not self._held:
            hold = getattr(self.recording, "hold_checkpoints", None)
            if hold is not None:
                hold()
                self._held = True
        parts = tuple(len(b) for b in staged)
        if self.postponer is not None:
            self.postponer.add(dict_entries, events, parts, time.monotonic())
        else:
            self._launch(dict_entries, events, parts)

    def _launch(self, dict_entries: list, events: bytes | SpillRef, parts: tuple[int, ...]) -> None:
        """Hand one job to the threads (after every job handed before it)."""
        last = self._jobs[-1].prepared if self._jobs else None
        if self.pending_bytes > self.split_bytes:  # catching up: prepared beside the writer
            self.prepared_apart += 1
            prepared = self._prepare.submit(self._prepare_batch, dict_entries, events, last, True)
        else:  # keeping up: the writer prepares it, just before writing it
            prepared = self._write.submit(self._prepare_batch, dict_entries, events, None, False)
        job = _Job(events, prepared, parts=parts)
        self._unclaimed.append(job)
        job.written = self._write.submit(self._store, job)
        if self.postponer is not None and self.postponer.queued:
            job.written.add_done_callback(lambda _f: self.postponer.kick())
        self._jobs.append(job)

    def _in_flight(self) -> int:
        """Records bytes handed to the threads and not yet stored (the jobs done are collected
        first: after the last batch, nothing else collects them)."""
        self._collect()
        return self.pending_bytes - self._staged_bytes - self.postponer.postponed_bytes

    def _prepare_batch(self, dict_entries: list, events: bytes, after: Future | None, apart: bool) -> Any:
        """Prepare one job (``apart``: on the prepare thread); ``after``: the job before it,
        which may still be being prepared by the write thread (two preparations never run at
        once: a recording's writer is not shared between threads that way)."""
        if apart:
            self.thread_ids.setdefault("prepare", threading.get_ident())
        if after is not None:
            try:
                after.result()
            except BaseException:  # that job's failure is its own (the writer counts it)
                pass
        if self.failure is not None:
            return None
        cpu = time.thread_time()
        try:
            if isinstance(events, SpillRef):  # postponed into the spill file: read back here
                events = events.load()
            return self.recording.prepare_batch(self.node_id, dict_entries, events, _pause)
        finally:
            self.prepare_cpu += time.thread_time() - cpu

    def _store(self, job: _Job) -> bool:
        """Write thread: store ``job``'s batch, with those submitted after it that are prepared
        already (in one transaction, up to ``MAX_GROUP_BYTES``: the writer catching up stores
        larger transactions), unless an earlier one failed. True if stored."""
        if job.stored is not None:  # stored (or refused) with an earlier job's transaction
            return job.stored
        if self.failure is not None:
            return False
        unclaimed = self._unclaimed  # appended by the event loop, taken from here only
        group = [unclaimed.popleft()]  # the jobs run in submission order: this is ``job``
        self.thread_ids.setdefault("write", threading.get_ident())
        cpu = time.thread_time()
        try:
            batches = [job.prepared.result()]
            size = job.size
            while unclaimed and size < MAX_GROUP_BYTES:
                nxt = unclaimed[0].prepared
                if not nxt.done() or nxt.exception() is not None:
                    break
                group.append(unclaimed.popleft())
                batches.append(nxt.result())
                size += group[-1].size
            self.stored += self.recording.store_prepared(*batches)
        except StoreError as exc:
            self.failure = exc
        except Exception as exc:  # a bug, not the store's refusal: the capture still ends cleanly
            self.failure = StoreError(f"storing a batch failed unexpectedly ({exc!r}); please report "
                                      "it with the capture's spec")
        self.write_cpu += time.thread_time() - cpu
        ok = self.failure is None
        for j in group:
            j.stored = ok
        return ok

    @property
    def memory_pending_bytes(self) -> int:
        """Of ``pending_bytes``, those held in memory (the others wait in the spill file)."""
        p = self.postponer
        return self.pending_bytes if p is None else p.in_memory(self.pending_bytes)

    def may_ack(self) -> bool:
        """Whether the batches received so far may be acknowledged now (those held in memory
        under the bound)."""
        self._collect()
        if self.memory_pending_bytes <= self.max_pending_bytes:
            return True
        self.held_acks += 1
        return False

    async def settle(self, limit: int | None = None) -> None:
        """Wait until at most ``limit`` bytes (default: the bound) are pending, or the pipeline
        failed. ``limit=0``: until every submitted batch is stored (or refused)."""
        limit = self.max_pending_bytes if limit is None else limit
        self._submit_staged()  # waiting for the writer: what is staged goes now
        if self.postponer is not None:  # ... and what was postponed
            self.postponer.release_all()
        while self._jobs and (self.pending_bytes if limit == 0 else self.memory_pending_bytes) > limit \
                and self.failure is None:
            await asyncio.wrap_future(self._jobs[0].written)
            self._collect()
        if self.failure is not None:
            await self._wait_all()
        self._collect()

    async def _wait_all(self) -> None:
        for job in list(self._jobs):
            await asyncio.wrap_future(job.written)

    def _collect(self) -> None:
        """Take the finished jobs off the queue (in order): their bytes are no longer pending;
        the records binaries of the refused ones go to ``lost_batches``."""
        jobs = self._jobs
        while jobs and jobs[0].written.done():
            job = jobs.popleft()
            self.pending_bytes -= job.size
            if not job.written.result():
                self.lost_batches.extend(job.batches())
            if isinstance(job.events, SpillRef):
                self.postponer.done(job.events)

    async def close(self) -> None:
        """Store everything submitted (or, after a failure, count it lost), then end the threads.
        Idempotent."""
        if self._closed:
            return
        try:
            await self.settle(0)
        finally:
            self._end_threads()

    def _end_threads(self) -> None:
        """Closed: the threads exit once done with the jobs handed to them; the spill file is
        closed after the last of those (by the write thread, which waits for every job's
        preparation), or now if nothing is pending."""
        if self.postponer is not None:
            self.postponer.release_all()
            self.postponer.close()
        self._closed = True
        if self.postponer is not None:
            spill = self.postponer.spill
            if self._jobs:
                self._write.submit(spill.close)
            else:
                spill.close()
        self._prepare.shutdown(wait=False)
        self._write.shutdown(wait=False)
        self._release()

    def close_now(self) -> None:
        """End without waiting (the session's task was cancelled): the threads finish the
        jobs queued (a batch is stored whole or not at all) and exit."""
        if not self._closed:
            self._submit_staged()
            self._end_threads()

    def _release(self) -> None:
        """The store's checkpoints may run again (the one that came due while held runs now)."""
        if self._held:
            self._held = False
            self.recording.release_checkpoints()


def _directory(recording: Any) -> Path:
    """Where a recording's spill file goes: its store's directory (a recording without one, the
    benchmarks' counting sink: the temporary directory)."""
    path = getattr(recording, "store_path", None)
    return Path(path).parent if path is not None else Path(tempfile.gettempdir())
