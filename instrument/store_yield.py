"""Yielding the CPU to the traced node while it is busy: the capture's store *postpones* its jobs
and catches up after (instrument/ingest_pipeline.py uses what is here).

Why not OS priority: the kernel weighs a thread's niceness or ``SCHED_IDLE`` within its own
scheduling group first (the session's autogroup, a cgroup), and the traced node is nearly always
in another group; an unprivileged thread cannot raise its priority back either (docs/store.md,
"Yielding the CPU to the traced node"). Postponing works whatever the groups: the store threads
get no job to run.

When (``StoreYield``): the pipeline's jobs are postponed while the node is *busy* - its batches
arrive back to back (the last one less than ``quiet_s`` ago) and the machine had less than
``idle_cores`` of idle CPU over the last ``tick_s`` (``CpuIdle``: ``/proc/stat``, all cores,
read once per tick on the event loop; until the kernel has counted a tick, busy) - and has been
for a while: only a *sustained* burst is postponed. The busy stretch starts at the first job
formed (or tick) that finds the node busy and lasts until the batches stop (no batch for
``rest_s``, 1 s; a shorter pause releases what waits but does not end it); jobs formed in its
first ``sustain_s`` are stored beside the node as without this, so a short burst (a capture of a second or so) is queryable as soon as it would be, and a
long busy workload gets the store's work out of all but its first ``sustain_s``. A tick with a
core to spare does not end the stretch (it releases jobs; the next busy one postpones again at
once): the idle signal is noisy, and the store's own catch-up shows as busy. Postponed jobs go
to the threads, in order, when:

- the machine has idle CPU again, or the batches stop arriving (none for ``quiet_s``): enough to
  keep ``SPLIT_BYTES`` in flight, looked at again every tick and whenever a job is stored - the
  store's own work shows as busy CPU, so beside a busy node it takes what was idle and no more,
  and a node that starts tracing again gets its CPU back within a job or two;
- the oldest has waited ``max_lag_s``: those that old (live views - counters, tail, watch - lag
  at most that while the node is busy);
- the session waits for the writer (``settle``: back-pressure, the capture's end, ``stop``,
  ``close``): all of them, so everything is stored and queryable when those return.

Where they wait (``SpillFile``, instrument/spill_file.py): the first ``memory_bytes`` of
postponed records in memory, the rest appended to an unlinked temporary file in the store's
directory - the page cache, not the process's RSS - read back by the store thread that prepares
the job. The file is bounded (``disk_cap_bytes``: by default min(1 GB, a quarter of the free
space when the capture starts)); past the cap, or when the disk is full, postponed jobs stay in
memory, where the pipeline's bound holds the agent's acks as it always did (and then the store
catches up): nothing is dropped for it. The file has no name: it is gone when the pipeline
closes it and when the process dies. A killed process loses the spilled records as it loses
those pending in memory - the file is not a journal and nothing recovers it.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .spill_file import SpillFile, SpillRef, default_cap


@dataclass(frozen=True)
class StoreYield:
    """How a capture's store yields the CPU to a busy node (``CaptureSession.start(store_yield=...)``)."""

    idle_cores: float = 1.0
    """The machine counts as having idle CPU when at least this many cores' worth were idle over
    the last tick (all cores together; a 2-core machine has 2): a core the store's thread can
    have without taking it from the node."""
    quiet_s: float = 0.1
    """Batches have stopped arriving when none came for this long: the node is not busy tracing."""
    max_lag_s: float = 10.0
    """A postponed job waits at most this long: what the node does shows in the store (and in
    the live views) at most this late. (5 s was measured first: at a load of 4-5 the 1M-call
    workload of bench_overhead.py runs longer than that traced, and the store wrote most of it
    beside the node, the jobs released as they reached the lag.)"""
    memory_bytes: int = 4 * 1024 * 1024
    """Postponed records kept in memory; those past it go to the spill file."""
    disk_cap_bytes: int | None = None
    """The spill file's size at most (None: min(1 GB, a quarter of the free space of the store's
    file system when the capture starts: ``spill_file.default_cap``); 0: never spill)."""
    tick_s: float = 0.05
    """How often the idle CPU is read and the postponed jobs looked at."""
    sustain_s: float = 1.5
    """Jobs are postponed only once the node has been busy this long (batches back to back since
    the stretch began, docs/store.md "A sustained burst only"): shorter bursts are stored beside
    the node. 0: postponed from the first busy job (the first version's policy)."""
    rest_s: float = 1.0
    """The busy stretch ends when no batch came for this long (or ``quiet_s`` if longer). A
    shorter pause releases the postponed jobs (``quiet_s``) but the next batch's job is
    postponed at once: on a loaded machine the batches of a long workload pause for a tenth of
    a second now and then, and a stretch that started over at each pause stored the next
    ``sustain_s`` beside the node."""

    def __post_init__(self) -> None:
        for name in ("idle_cores", "quiet_s", "max_lag_s", "tick_s", "sustain_s", "rest_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"StoreYield.{name} must be a number >= 0, got {v!r}")
        if self.tick_s <= 0:
            raise ValueError(f"StoreYield.tick_s must be > 0, got {self.tick_s!r}")
        for name in ("memory_bytes", "disk_cap_bytes"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"StoreYield.{name} must be a number of bytes >= 0, got {v!r}")


def check_yield(value: StoreYield | bool | None) -> StoreYield | None:
    """``store_yield`` as the pipeline takes it: True - the defaults; False/None - off."""
    if value is True:
        return StoreYield()
    if value is False or value is None:
        return None
    if isinstance(value, StoreYield):
        return value
    raise ValueError(f"store_yield is True, False or a StoreYield, got {value!r}")


class CpuIdle:
    """The machine's idle CPU since the last look, in cores (the first line of ``/proc/stat``:
    idle + iowait over all the time counted, times the number of cores). None where there is no
    ``/proc/stat`` (the store then never counts the machine as busy)."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self._path = path
        self._cores = os.cpu_count() or 1
        self._value: float | None = None
        self._last = self._read()
        self.readable = self._last is not None
        """Whether there is a ``/proc/stat`` to read (else the machine never counts as busy)."""

    def _read(self) -> tuple[int, int] | None:
        try:
            with open(self._path, "rb") as f:
                fields = f.readline().split()
            values = [int(v) for v in fields[1:9]]
        except (OSError, ValueError):
            return None
        if len(values) < 5:
            return None
        return values[3] + values[4], sum(values)

    def sample(self) -> float | None:
        """Idle cores since the previous sample that counted time (the kernel counts in ticks
        of 10 ms or so: a sample too soon after the last gives the last value again; None if
        unknown)."""
        now = self._read()
        if now is None:
            return None
        last = self._last
        if last is not None and now[1] <= last[1]:
            return self._value
        self._last = now
        if last is None:
            return None
        self._value = (now[0] - last[0]) / (now[1] - last[1]) * self._cores
        return self._value


@dataclass
class _Postponed:
    dict_entries: list
    events: bytes | SpillRef
    parts: tuple[int, ...]
    at: float  # time.monotonic() when it was postponed


class Postponer:
    """The postponed jobs of one pipeline, in order, and when they go to its threads. Used from
    the event loop only: ``arrived`` for each batch received, ``add`` for each job formed,
    ``release_all`` when the session waits for the writer, ``done`` for each spilled job
    collected, ``close`` at the end. ``launch(dict_entries, events, parts)`` hands a job to the
    threads; ``in_flight()`` gives the records bytes handed and not yet stored."""

    def __init__(self, policy: StoreYield, directory: Path, launch, in_flight, flight_bytes: int,
                 clock=time.monotonic, cpu: CpuIdle | None = None) -> None:
        self.policy = policy
        self._launch = launch
        self._in_flight = in_flight
        self._flight_bytes = flight_bytes
        cap = default_cap(directory) if policy.disk_cap_bytes is None else policy.disk_cap_bytes
        self.spill = SpillFile(directory, cap)
        self._clock = clock  # the time the ticks and the loop's callbacks look at (tests inject theirs)
        self._cpu = CpuIdle() if cpu is None else cpu
        self.idle_cores: float | None = None
        """Idle cores over the last tick (None: unknown, counted as idle)."""
        self._queue: list[_Postponed] = []
        self._head = 0  # the first not yet launched in ``_queue``
        self.postponed_bytes = 0  # records bytes postponed, not yet launched
        self.memory_bytes = 0  # ... of them in memory
        self.spilled_bytes = 0  # records bytes in the spill file not yet stored (launched or not)
        self.postponed_jobs = 0  # jobs postponed at least one tick (counts)
        self.direct_jobs = 0  # jobs handed to the threads as they were formed (counts)
        self._postponed_at_start = 0  # ``postponed_jobs`` when the current stretch began
        self.spilled_jobs = 0
        self.peak_lag = 0.0  # the longest a job waited, seconds
        self.released = {"idle": 0, "quiet": 0, "lag": 0, "wait": 0}
        """Postponed jobs handed to the threads, by why: the machine had idle CPU, the batches
        stopped, the maximum lag, the session waited for the writer (settle/close)."""
        self._last_arrival = -float("inf")
        self._rest = max(policy.quiet_s, policy.rest_s)
        self._busy_since: float | None = None
        """When the current busy stretch began (None: the node is not busy, or the batches
        stopped since)."""
        self.sustained_at: float | None = None
        """How long the first stretch that reached ``sustain_s`` had lasted when a job was first
        postponed in it (seconds; None: no job was ever postponed)."""
        self.short_bursts = 0  # busy stretches that ended before ``sustain_s`` (counts)
        self._timer = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- the event loop's calls -------------------------------------------------------------
    def arrived(self, now: float) -> None:
        if now - self._last_arrival >= self._rest:  # the batches had stopped: the stretch ended
            self._end_stretch()
        self._last_arrival = now
        if self._timer is None and not self._closed:
            self._tick()

    def busy(self, now: float) -> bool:
        """The node traces (batches back to back) and the machine has no idle CPU to spare, and
        the busy stretch has lasted ``sustain_s``."""
        p = self.policy
        quiet = now - self._last_arrival
        if quiet >= p.quiet_s:
            if quiet >= self._rest:
                self._end_stretch()
            return False
        idle = self.idle_cores
        if idle is None:  # not counted yet (the kernel's first tick): busy until it says otherwise
            busy = self._cpu.readable
        else:
            busy = idle < p.idle_cores
        if not busy:
            return False
        if self._busy_since is None:
            self._busy_since = now
        return now - self._busy_since >= p.sustain_s

    def _end_stretch(self) -> None:
        if self._busy_since is not None and self.postponed_jobs == self._postponed_at_start:
            self.short_bursts += 1
        self._busy_since = None
        self._postponed_at_start = self.postponed_jobs

    def add(self, dict_entries: list, events: bytes, parts: tuple[int, ...], now: float) -> None:
        """A job formed: launched at once unless the node is busy (for ``sustain_s`` already) or
        jobs wait before it; a job behind postponed ones waits while ``flight_bytes`` are in
        flight (the catch-up's pace)."""
        if self._head == len(self._queue) and not self.busy(now):
            self.direct_jobs += 1
            self._launch(dict_entries, events, parts)
            return
        stored: bytes | SpillRef = events
        if self.memory_bytes + len(events) > self.policy.memory_bytes:
            ref = self.spill.put(events)
            if ref is not None:
                stored = ref
                self.spilled_bytes += len(events)
                self.spilled_jobs += 1
        if not isinstance(stored, SpillRef):
            self.memory_bytes += len(events)
        self.postponed_bytes += len(events)
        if self.sustained_at is None and self._busy_since is not None:
            self.sustained_at = now - self._busy_since
        self.postponed_jobs += 1
        self._queue.append(_Postponed(dict_entries, stored, parts, now))
        self.release(now)

    def release(self, now: float) -> None:
        """Launch what may go now: while the batches have stopped or the machine has idle CPU,
        enough to keep ``flight_bytes`` in flight (looked at again at every tick and whenever a
        job is stored: the node that starts tracing again gets its CPU back within one job);
        those older than the maximum lag."""
        p = self.policy
        if self._head == len(self._queue):
            return
        if not self.busy(now):
            why = "quiet" if now - self._last_arrival >= p.quiet_s else "idle"
            while self._head < len(self._queue) and self._in_flight() < self._flight_bytes:
                self._launch_next(now, why)
        while self._head < len(self._queue) and now - self._queue[self._head].at >= p.max_lag_s:
            self._launch_next(now, "lag")
        self._compact()

    def release_all(self, now: float | None = None, why: str = "wait") -> None:
        """Every postponed job to the threads, in order (the session waits for the writer)."""
        now = self._clock() if now is None else now
        while self._head < len(self._queue):
            self._launch_next(now, why)
        self._compact()

    def kick(self) -> None:
        """From any thread: a job was stored; look at the postponed ones again (on the loop)."""
        loop = self._loop
        if loop is not None and not self._closed:
            try:
                loop.call_soon_threadsafe(self._kicked)
            except RuntimeError:  # the loop is closed
                pass

    def _kicked(self) -> None:
        if not self._closed and self._head < len(self._queue):
            self.release(self._clock())

    def done(self, ref: SpillRef) -> None:
        """A spilled job was stored (or refused) and collected."""
        self.spilled_bytes -= ref.size
        self.spill.release(ref)

    @property
    def queued(self) -> bool:
        """Jobs are postponed."""
        return self._head < len(self._queue)

    def in_memory(self, pending_bytes: int) -> int:
        """Of ``pending_bytes`` (received, not stored), those held in memory (not spilled)."""
        return pending_bytes - self.spilled_bytes

    def close(self) -> None:
        """No more ticks (the spill file is closed by ``close_spill``, once the threads are done
        with it)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- inside ------------------------------------------------------------------------------
    def _launch_next(self, now: float, why: str) -> None:
        self.released[why] += 1
        job = self._queue[self._head]
        self._queue[self._head] = None  # type: ignore[call-overload]
        self._head += 1
        size = len(job.events)
        self.postponed_bytes -= size
        if not isinstance(job.events, SpillRef):
            self.memory_bytes -= size
        self.peak_lag = max(self.peak_lag, now - job.at)
        self._launch(job.dict_entries, job.events, job.parts)

    def _compact(self) -> None:
        if self._head == len(self._queue):
            self._queue.clear()
            self._head = 0
        elif self._head > 256:
            del self._queue[:self._head]
            self._head = 0

    def _tick(self) -> None:
        self._timer = None
        if self._closed:
            return
        self.idle_cores = self._cpu.sample()
        self.release(self._clock())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without an event loop: no ticks (settle/close release all)
            return
        self._loop = loop
        self._timer = loop.call_later(self.policy.tick_s, self._tick)
