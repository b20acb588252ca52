"""The query planner's statistics (``sqlite_stat1``), gathered at a cost that does not grow
with the events stored.

Some plans depend on them (without them a per-process walk may scan the table backwards
instead of reading through the block index: 5x the CPU of a causal query, measured), so they
are gathered at the first ``finish`` and refreshed whenever the store has doubled in events
since (``refresh_statistics``).

A plain ``ANALYZE`` reads every row of every table it measures: on ``events`` that is the whole
table (0.1 s of CPU at 1.2M events, paid by the capture that crosses a doubling). Everything it
would learn there is known without reading it: ``events`` has no index but its rowid since
schema 7 (the time blocks replaced ``events_by_time``, store/timeblocks.py), so its only
statistic is its row count, the recordings' event counts summed. So ``gather`` runs ``ANALYZE``
on every other table (block index, time blocks, processes, states, causal tables: a few rows per
batch, or only as large as what they hold) and writes the ``events`` row itself — the row
``ANALYZE events`` would write (tests/test_store_stats.py compares them). An index on ``events``
(none in this layout) would be measured by ``ANALYZE``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database

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
    if c.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").fetchone():
        c.execute("ANALYZE events")
        return
    rows = c.execute("SELECT coalesce(sum(event_count), 0) FROM recordings").fetchone()[0]
    c.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'events'")
    if rows:
        c.execute("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', NULL, ?)", (str(rows),))
    c.execute("ANALYZE sqlite_schema")  # the planner reads the rows written above
