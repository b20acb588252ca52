"""What one query may cost: a time budget and a memory budget (rows held at once).

A query is text from a person or a model, so it can ask for far too much (a 30-step
`sequence call then call ...` over 200k calls holds 6M candidate rows). `QueryLimits` bounds
it; `Limiter` enforces the bounds while the query runs:

- **time**: `max_seconds` of wall clock for the whole `run_query` call. Python loops call
  `check()`; SQL statements are interrupted by an SQLite progress handler installed for the
  duration of the query (it only ever interrupts statements of the thread running the query).
- **memory**: `max_rows` candidate rows held in memory at once across the steps of a query
  (sequences, absences, sorting); readers ask for at most the remaining allowance plus one
  (`LIMIT`), so an oversized step never gets materialised.

Running out raises `QueryLimitError`, which says which limit tripped and how to narrow the
query. (The number of steps in a sequence is bounded by the parser: `MAX_SEQUENCE_STEPS`.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .errors import QueryLimitError

__all__ = ["QueryLimits", "Limiter", "installed"]


@dataclass(frozen=True)
class QueryLimits:
    # Wall-clock seconds one run_query call may take.
    max_seconds: float = 60.0
    # Candidate rows one query may hold in memory at once (roughly 250 bytes each).
    max_rows: int = 1_000_000

    def __post_init__(self) -> None:
        if not (self.max_seconds > 0) or self.max_rows < 1:
            raise ValueError(f"query limits must be positive, got {self}")


class Limiter:
    def __init__(self, limits: QueryLimits | None = None) -> None:
        self.limits = limits or QueryLimits()
        self.deadline = time.monotonic() + self.limits.max_seconds
        self.rows = 0
        self.expired = False
        self._thread = threading.get_ident()

    # -- time ------------------------------------------------------------------------------
    def check(self) -> None:
        if time.monotonic() > self.deadline:
            self.expired = True
            raise self.time_error()

    def time_error(self) -> QueryLimitError:
        return QueryLimitError(
            f"the query ran longer than its time budget of {self.limits.max_seconds:g} s and was stopped; "
            "narrow it (a function, a process, 'where', 'last 30s', fewer sequence steps) and retry")

    def progress(self) -> int:
        """SQLite progress handler: non-zero interrupts the running statement."""
        if threading.get_ident() == self._thread and time.monotonic() > self.deadline:
            self.expired = True
            return 1
        return 0

    # -- memory ----------------------------------------------------------------------------
    def allowance(self) -> int:
        """How many more rows may be read; readers use it as their SQL LIMIT (plus one)."""
        return max(self.limits.max_rows - self.rows, 0)

    def take(self, n: int, what: str = "candidate events") -> None:
        self.rows += n
        if self.rows > self.limits.max_rows:
            raise QueryLimitError(
                f"the query needs more than {self.limits.max_rows:,} {what} in memory at once "
                "(its memory budget); narrow each step (a function, a process, 'where', a time "
                "window) or use fewer sequence steps")


# One progress handler per connection, shared by every query running on it (queries of
# several threads may share a store connection): it interrupts a statement only when the
# limiter of the thread running that statement has expired.
_active: dict[int, tuple[object, list[Limiter]]] = {}
_active_lock = threading.Lock()


class installed:
    """``with installed(conn, limiter):`` - the limiter's deadline applies to SQL on ``conn``."""

    def __init__(self, conn, limiter: Limiter) -> None:
        self.conn, self.limiter = conn, limiter

    def __enter__(self) -> Limiter:
        with _active_lock:
            entry = _active.get(id(self.conn))
            if entry is None or entry[0] is not self.conn:
                limiters: list[Limiter] = []
                _active[id(self.conn)] = (self.conn, limiters)
                self.conn.set_progress_handler(lambda: _any_expired(limiters), 20_000)
            else:
                limiters = entry[1]
            limiters.append(self.limiter)
        return self.limiter

    def __exit__(self, *exc: object) -> None:
        with _active_lock:
            entry = _active.get(id(self.conn))
            if entry is None:
                return
            limiters = entry[1]
            if self.limiter in limiters:
                limiters.remove(self.limiter)
            if not limiters:
                del _active[id(self.conn)]
                self.conn.set_progress_handler(None, 0)


def _any_expired(limiters: list[Limiter]) -> int:
    for lim in list(limiters):
        if lim.progress():
            return 1
    return 0
