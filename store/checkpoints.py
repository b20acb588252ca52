"""Checkpointing the WAL beside the writer instead of inside its commits.

Why: SQLite's automatic checkpoint runs inside the COMMIT that finds the WAL past
``wal_autocheckpoint`` pages (10,000 here, store/db.py). It copies every frame of the WAL back
into the database file and, with ``synchronous=NORMAL``, waits for two fsyncs (the WAL before,
the database file after). Measured here (6 Dec 2026, batches recorded by
benchmarks/bench_ingest.py): a checkpoint of a 30-32 MB WAL (~400k stored events) took
0.25-0.48 s of wall-clock time for 0.055 s of CPU — the rest is waiting for the disk — and the
capture's writer thread, the one thing a capture's ingest rate depends on, sat idle for all of
it once every ~500k events.

How: a writable ``Database`` asks its ``BackgroundCheckpointer`` for a PASSIVE checkpoint every
``rows`` rows its transactions wrote. The checkpointer runs it on its own connection, in its
own thread (SQLite releases the GIL while it copies and syncs, so the writer goes on writing and
readers go on reading: a PASSIVE checkpoint never waits for either). The writer's own
autocheckpoint stays as the bound on the WAL's size: when it fires, the frames the background
already copied and synced are not copied again, so its stall is short; and it is still what
restarts the WAL from its beginning (a checkpoint running beside a writer that keeps appending
rarely finds the whole log copied). If the background checkpoint is running at that moment the
writer's attempt is skipped (SQLite does not wait for another checkpointer) and retried at its
next commit.

While a capture streams: a checkpoint does not gate anything a query needs (a reader sees a
committed batch whether its pages are in the WAL or in the file), but its CPU - copying pages,
in SQLite - competes with the traced node on a shared host for the capture's whole busy window.
So the capture's store pipeline ``hold``s the checkpointer while it stores
(instrument/ingest_pipeline.py): held, it asks for a checkpoint only every ``held_rows`` rows
(``held_rows_for``: about half the WAL the writer's own autocheckpoint lets grow, so the WAL stays
bounded and the writer's commits never do the whole copy themselves), and the one that came due
meanwhile runs at ``release`` - when the capture's last batch is stored. Nothing is at risk
while a checkpoint waits: committed transactions are durable in the WAL.

Safety: a checkpoint changes nothing a reader sees and nothing a crash can lose (committed
transactions are in the WAL until copied; an interrupted checkpoint is redone from the WAL on
the next open). A failed background checkpoint (the file went away, the disk is full) is
counted and dropped: the writer's own autocheckpoint still bounds the WAL. The thread starts at
the first request, ends after ``idle_seconds`` without one (a store left open costs no thread),
and ``close()`` stops it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

ROWS = 100_000
"""Rows written between two background checkpoints (~10 MB of WAL for trace events, a
quarter of what the writer's autocheckpoint lets accumulate)."""

HELD_ROWS = 300_000
"""Rows written between two background checkpoints while a capture holds them (``hold``), in a
store of 4 KB pages: ~21 MB of WAL for trace events (69 B of WAL per stored event), half the
writer's 10,000-page (~40 MB) autocheckpoint."""

HELD_ROWS_LARGE_PAGES = 750_000
"""The same in a store of 16 KB pages (new stores since 7 Dec 2026, store/db.py ``PAGE_SIZE``):
its 10,000-page autocheckpoint is ~160 MB of WAL and a stored event adds ~108 B to it (a page
rewritten by a commit is a larger frame), so ~80 MB, half the bound, is 750k events. A capture
of up to that many events then runs no checkpoint beside its node at all
(``benchmarks/bench_staging.py`` prints the WAL bytes per event of both page sizes)."""


def held_rows_for(page_size: int) -> int:
    """Rows between two held checkpoints in a store of ``page_size`` bytes per page."""
    return HELD_ROWS_LARGE_PAGES if page_size >= 16384 else HELD_ROWS

IDLE_SECONDS = 30.0
"""The thread ends after this long without a request (it restarts at the next one)."""


class BackgroundCheckpointer:
    """PASSIVE checkpoints of one store file, in a thread of their own. ``note_rows`` is called
    by the writer after each commit; everything else happens in the thread."""

    def __init__(self, path: Path, *, rows: int = ROWS, held_rows: int = HELD_ROWS,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        if rows <= 0 or held_rows <= 0:
            raise ValueError(f"rows between checkpoints must be > 0, got {rows} (held: {held_rows})")
        self.path = path
        self._file = str(Path(path).absolute())  # the thread opens it later, whatever the cwd then
        self.rows = rows
        self.held_rows = held_rows
        self.idle_seconds = idle_seconds
        self.completed = 0  # checkpoints run to their end (frames copied, file synced)
        self.failed = 0  # checkpoints SQLite refused (counted, dropped: the autocheckpoint remains)
        self._pending_rows = 0
        self._holds = 0  # captures storing now (``hold``/``release``)
        self._busy = False  # a checkpoint asked for and not yet done
        self._wanted = threading.Event()
        self._closing = False
        self._guard = threading.Lock()  # the thread's start/stop, the pending rows, the holds
        self._thread: threading.Thread | None = None

    def note_rows(self, rows: int) -> None:
        """``rows`` more rows were committed; ask for a checkpoint once ``self.rows`` have
        (``self.held_rows`` while a capture holds the checkpoints)."""
        with self._guard:
            self._pending_rows += rows
            due = self.held_rows if self._holds else self.rows
            if self._pending_rows >= due and not self._closing:
                self._request()

    def hold(self) -> None:
        """A capture starts storing: until its ``release``, checkpoints only every
        ``held_rows`` rows. Holds nest (several nodes' captures into one store)."""
        with self._guard:
            self._holds += 1

    def release(self) -> None:
        """A capture has stored its last batch: the checkpoint that came due while it held
        them (``rows`` rows or more since the last one) is asked for now."""
        with self._guard:
            if self._holds == 0:
                raise RuntimeError("BackgroundCheckpointer.release() without a hold()")
            self._holds -= 1
            if not self._holds and self._pending_rows >= self.rows and not self._closing:
                self._request()

    @property
    def held(self) -> bool:
        return self._holds > 0

    def _request(self) -> None:
        """Under ``_guard``: start the thread if needed and wake it."""
        self._pending_rows = 0
        self._busy = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"checkpoint {self.path.name}",
                                            daemon=True)
            self._thread.start()
        self._wanted.set()

    @property
    def busy(self) -> bool:
        """A checkpoint was asked for and has not ended yet (benchmarks wait for it)."""
        return self._busy

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def _run(self) -> None:
        conn = None
        try:
            conn = sqlite3.connect(self._file, isolation_level=None)
            while True:
                if not self._wanted.wait(self.idle_seconds):
                    with self._guard:  # idle: end, unless a request came in meanwhile
                        if not self._wanted.is_set():
                            self._thread = None
                            return
                if self._closing:
                    self._busy = False
                    return
                self._wanted.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.completed += 1
                except sqlite3.Error:
                    self.failed += 1
                with self._guard:
                    if not self._wanted.is_set():
                        self._busy = False
        except sqlite3.Error:  # could not even open the file: the autocheckpoint remains
            self.failed += 1
            with self._guard:
                self._thread = None
                self._busy = False
        finally:
            if conn is not None:
                conn.close()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread (a checkpoint under way finishes first, bounded by ``timeout``)."""
        self._closing = True
        self._wanted.set()
        with self._guard:
            t = self._thread
        if t is not None:
            t.join(timeout)
