"""The query planner's statistics (``sqlite_stat1``), gathered at a cost that does not grow
with the events stored.

Some plans depend on them (without them a per-process walk may scan the table backwards
instead of reading through the block index: 5x the CPU of a causal query, measured), so they
are gathered at the first ``finish`` and refreshed whenever the store has doubled in events
since (``refresh_statistics``).

A plain ``ANALYZE`` reads every entry of every index: on ``events`` that is the whole time index
(0.1 s of CPU at 1.2M events, paid by the capture that crosses a doubling: ~0.25 µs per event
of a 400k-event capture). Everything it would learn there is known without reading it: the
time index's only statistics are its row count, the rows per recording (``ANALYZE``'s
average: the count over the recordings holding events, rounded up) and the rows per
(recording, timestamp), 1 (timestamps are strictly monotonic per node). So ``gather`` runs
``ANALYZE`` on every other table (block index, processes, states, causal tables: a few rows per
batch, or only as large as what they hold) and writes the ``events`` row itself from the
recordings' event counts — the row ``ANALYZE events`` would write (tests/test_store_stats.py
compares them). An index on ``events`` this module does not know is measured by ``ANALYZE``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database

TIME_INDEX = "events_by_time"


def refresh_statistics(db: "Database", *, force: bool = False) -> bool:
    """Gather the planner's statistics when the store has none yet or has doubled in events
    since they were gathered (refreshing at every doubling keeps their cost per stored event
    constant, where one at every ``finish`` would grow with the store). Returns True if it ran."""
    if db.readonly:
        return False
    events = db.query_one("SELECT coalesce(max(id), 0) FROM events")[0]
    row = db.query_one("SELECT value FROM meta WHERE key = 'analyzed_at_events'")
    try:
        last = int(row[0]) if row else 0
    except ValueError:
        last = 0
    if not force and (events == 0 or (last > 0 and events < 2 * last)):
        return False
    with db.write("refreshing the query planner's statistics") as c:
        gather(c)
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('analyzed_at_events', ?)", (str(events),))
    return True


def gather(c: sqlite3.Connection) -> None:
    """``ANALYZE`` on every table but ``events``; the ``events`` rows of ``sqlite_stat1`` written
    from the recordings' counts; the statistics reloaded. Inside the caller's transaction."""
    tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND name NOT LIKE 'sqlite_%' AND name != 'events'")]
    for table in tables:
        c.execute(f'ANALYZE "{table}"')
    indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                       "AND tbl_name = 'events'")}
    if indexes - {TIME_INDEX}:
        c.execute("ANALYZE events")
        return
    rows, recordings = c.execute("SELECT coalesce(sum(event_count), 0), count(*) FROM recordings "
                                 "WHERE event_count > 0").fetchone()
    c.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'events'")
    if rows:
        if indexes:
            c.execute("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', ?, ?)",
                      (TIME_INDEX, f"{rows} {-(-rows // recordings)} 1"))
        else:  # the time index not built yet (a file an older version left): the row count
            c.execute("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', NULL, ?)", (str(rows),))
    c.execute("ANALYZE sqlite_schema")  # the planner reads the rows written above
