"""Call → return pairing in SQL, for durations, `calls without return` and `return` on calls.

Why by function: with `return_trace`, every traced call ends with exactly one `return` or
`exception` event of the same MFA in the same process, and calls nest like brackets. The
calls and closings of *one* function in one process are a sub-sequence of a balanced bracket
sequence, hence balanced by themselves. So pairing runs per partition `(node, pid, aux)` —
small partitions, and restricted to the functions the query names, read through the
`(recording_id, kind, aux)` index. Within a partition a running sum gives each event its
nesting level; a call's closing is the next event at the same level (LEAD), if it is a
closing. Recursion, nested calls and a closing lost in a gap (the call stays unpaired, the
later ones still pair) are handled; the order is the process's own order (`events.id`).
"""

from __future__ import annotations

from typing import Any

from .compile import StepCompiler

PAIRING_SQL = """
WITH cr AS (
    SELECT e.id, e.node_id, e.pid, e.aux, e.kind, e.ts,
           SUM(CASE WHEN e.kind = 1 THEN 1 ELSE -1 END) OVER (
               PARTITION BY e.node_id, e.pid, e.aux ORDER BY e.id ROWS UNBOUNDED PRECEDING) AS run
    FROM events e
    WHERE e.recording_id = ? AND e.kind IN (1, 2, 3) {restrict}
), lv AS (
    SELECT id, node_id, pid, aux, kind, ts,
           CASE WHEN kind = 1 THEN run ELSE run + 1 END AS lvl
    FROM cr
), pr AS (
    SELECT id, kind,
           LEAD(id) OVER w AS cid, LEAD(kind) OVER w AS ckind, LEAD(ts) OVER w AS cts
    FROM lv
    WINDOW w AS (PARTITION BY node_id, pid, aux, lvl ORDER BY id)
)
"""


def pairing_cte(rid: int, function_keys: set[tuple[int, int]] | None) -> tuple[str, list[Any]]:
    """The WITH clause defining `pr(id, kind, cid, ckind, cts)`: for each call (kind 1) its
    closing event id / kind / ts, or NULLs. Join it to `events e` on `pr.id = e.id`."""
    params: list[Any] = [rid]
    restrict = ""
    if function_keys is not None:
        sql, p = StepCompiler.keyset_sql(function_keys, "aux")
        restrict = "AND " + sql
        params += p
    return PAIRING_SQL.format(restrict=restrict), params


def closing_select() -> str:
    """Columns to add to a select over `events e JOIN pr`: the closing, only when it is one."""
    return ("CASE WHEN pr.ckind IN (2, 3) THEN pr.cid END AS close_id, "
            "CASE WHEN pr.ckind IN (2, 3) THEN pr.ckind END AS close_kind, "
            "CASE WHEN pr.ckind IN (2, 3) THEN pr.cts END AS close_ts")


def functions_without_closings(qc, keys: set[tuple[int, int]] | None) -> set[tuple[int, int]]:
    """Functions called in the recording that never returned nor raised at all: they were
    traced without return_trace, so "without return" says nothing about them."""
    rows = qc.db.query(
        "SELECT node_id, aux, max(kind) FROM events WHERE recording_id = ? AND kind IN (1, 2, 3) "
        "GROUP BY node_id, aux", (qc.rid,))
    out = {(n, a) for n, a, k in rows if k == 1}
    return out if keys is None else out & keys
