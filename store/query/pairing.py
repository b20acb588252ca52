"""Call → closing (return or exception) pairing, for durations, `calls without return` and
`return`/`exception` conditions on calls.

Why by function: with `return_trace`, every traced call ends with exactly one `return` or
`exception` event of the same MFA in the same process, and calls nest like brackets. The
calls and closings of *one* function in one process are a sub-sequence of a balanced bracket
sequence, hence balanced by themselves: a closing belongs to the innermost open call of its
own function in its own process. That makes pairing one pass in event order with a stack per
`(node, pid, function)`, and lets a query that names functions read only their events through
the `(recording_id, kind, aux)` index. Recursion and nested calls pair correctly; a closing
lost in a gap leaves its call unpaired while later calls still pair.

Measured on this machine: SQL window functions (running sum + LEAD per nesting level) cost
two sorts of every call/closing row — ~5 µs a row — while this pass reads rows already in
table order and costs ~2 µs a row; the full pairing of a recording is cached per recording
until the file grows.
"""

from __future__ import annotations

import gc
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..blocks import KIND_FROM, PROC_ORDER, PROC_WHERE, proc_from, reach
from ..timeblocks import id_range
from .compile import StepCompiler

if TYPE_CHECKING:
    from .context import QueryContext

#: call id → (closing id, closing kind (2 return, 3 exception), closing ts)
Pairs = dict[int, tuple[int, int, int]]

_FULL_CACHE: "weakref.WeakKeyDictionary[object, tuple[int, Pairs]]" = weakref.WeakKeyDictionary()


#: one integer per (node, pid, function): cheaper to fetch and to hash than a tuple. Interned
#: indices are far below 2**24 and node ids below 2**15, so the key fits SQLite's int64.
_KEY = "(e.node_id * 281474976710656 + e.pid * 16777216 + e.aux)"


@contextmanager
def _no_gc():
    """Hundreds of thousands of row tuples make the cyclic GC rescan them again and again
    (measured: it doubles the cost of a 1M-event pairing); rows hold no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _rows(qc: "QueryContext", keys: set[tuple[int, int]] | None, with_ts: bool) -> list[tuple]:
    """`(id, key, kind[, ts])` of the calls and closings of `keys` (all if None), in id order."""
    cols = f"e.id, {_KEY}, e.kind" + (", e.ts" if with_ts else "")
    if keys is None:
        return qc.db.query(f"SELECT {cols} FROM events e WHERE e.id BETWEEN ? AND ? AND e.recording_id = ? "
                           "AND e.kind IN (1, 2, 3) ORDER BY e.id", (*id_range(qc.db, qc.rid), qc.rid))
    sql, params = StepCompiler.keyset_sql(keys, "aux")
    source = StepCompiler(qc, "").source_for((1, 2, 3), keys)
    rows = qc.db.query(f"SELECT {cols} FROM {source} WHERE e.recording_id = ? "
                       f"AND e.kind IN (1, 2, 3) AND {sql}", [qc.rid, *params])
    rows.sort()
    return rows


def pair_calls(qc: "QueryContext", keys: set[tuple[int, int]] | None) -> Pairs:
    """Pairs for the calls of `keys` (node, function idx), or of every function if None."""
    if keys is not None and not keys:
        return {}
    stamp = None
    if keys is None:
        stamp = qc.db.query_one("SELECT max(id) FROM events")[0] or 0
        hit = _FULL_CACHE.get(qc.recording)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    with _no_gc():
        rows = _rows(qc, keys, True)
        stacks: dict[int, list[int]] = {}
        out: Pairs = {}
        for eid, key, kind, ts in rows:
            if kind == 1:
                st = stacks.get(key)
                if st is None:
                    stacks[key] = [eid]
                else:
                    st.append(eid)
            else:
                st = stacks.get(key)
                if st:
                    out[st.pop()] = (eid, kind, ts)
        del rows
    if stamp is not None:
        _FULL_CACHE[qc.recording] = (stamp, out)
    return out


def unanswered_calls(qc: "QueryContext", keys: set[tuple[int, int]] | None,
                     within_native: dict[int, int] | None) -> list[int]:
    """Ids of calls with no closing — or, with `within_native` (node → limit in native
    units), whose closing came later than that — in one pass, without materialising the
    pairs: what is left on the stacks at the end never returned."""
    if keys is not None and not keys:
        return []
    late: list[int] = []
    with _no_gc():
        if within_native is None:
            stacks: dict[int, list[int]] = {}
            for eid, key, kind in _rows(qc, keys, False):
                st = stacks.get(key)
                if kind == 1:
                    if st is None:
                        stacks[key] = [eid]
                    else:
                        st.append(eid)
                elif st:
                    st.pop()
            out = [cid for st in stacks.values() for cid in st]
        else:
            tstacks: dict[int, list[tuple[int, int]]] = {}
            for eid, key, kind, ts in _rows(qc, keys, True):
                st2 = tstacks.get(key)
                if kind == 1:
                    if st2 is None:
                        tstacks[key] = [(eid, ts)]
                    else:
                        st2.append((eid, ts))
                elif st2:
                    cid, cts = st2.pop()
                    if ts - cts > within_native[key >> 48]:
                        late.append(cid)
            out = [cid for st2 in tstacks.values() for cid, _ in st2]
    out += late
    out.sort()
    return out


def functions_without_closings(qc: "QueryContext", keys: set[tuple[int, int]] | None
                               ) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Functions with calls but no return nor exception anywhere in the recording:
    (called at least twice — certainly traced without return_trace, so "without return" says
    nothing about them; called once — ambiguous: a hang, or no return tracing)."""
    def counts(kinds: str) -> dict[tuple[int, int], int]:
        if qc.single_node:  # the block counts (store/blocks.py): no table reads
            (node,) = qc.clocks
            return {(node, a): n for a, n in qc.db.query(
                f"SELECT aux, sum(n) FROM block_kinds WHERE recording_id = ? AND kind IN ({kinds}) "
                "GROUP BY aux", (qc.rid,))}
        return {(nd, a): n for nd, a, n in qc.db.query(  # those kinds' events, through their blocks
            f"SELECT e.node_id, e.aux, count(*) FROM {KIND_FROM} WHERE k.recording_id = ? "
            f"AND k.kind IN ({kinds}) GROUP BY e.node_id, e.aux", (qc.rid,))}

    called, closed = counts("1"), counts("2, 3")
    silent = {k: n for k, n in called.items() if k not in closed and (keys is None or k in keys)}
    return ({k for k, n in silent.items() if n >= 2}, {k for k, n in silent.items() if n < 2})


def closings_for(qc: "QueryContext", calls: list[tuple[int, int, int, int]]) -> dict[int, tuple[int, int, int]]:
    """Closings of a few calls `(id, node, pid, aux)` (a page of rows), found by walking each
    call's own process forward from it through its blocks (store/blocks.py). The first step
    reads two events of the call's function after each call — most calls close there — for
    every call of the page in ONE statement (a page of 50 calls is one round trip, not 50);
    the calls still open go on 64 events at a time."""
    out: dict[int, tuple[int, int, int]] = {}
    step = (f"SELECT * FROM (SELECT ? AS cid, e.id, e.kind, e.ts FROM {proc_from(lo=True)} WHERE {PROC_WHERE} "
            f"AND {reach()} AND e.aux = ? AND e.kind IN (1, 2, 3) ORDER BY {PROC_ORDER} "
            "LIMIT {n})")
    todo = [(cid, node, pid, aux, 1, cid) for cid, node, pid, aux in calls]
    n = 2  # most calls close at the next event of their function in their process
    while todo:
        step_n = step.format(n=n)
        rows_of: dict[int, list[tuple[int, int, int]]] = {}
        for i in range(0, len(todo), 70):  # ≤ 500 parameters per statement
            part = todo[i:i + 70]
            params: list[int] = []
            for cid, node, pid, aux, _depth, after in part:
                params += [cid, after + 1, node, pid, after + 1, after + 1, aux]
            for cid, eid, kind, ts in qc.db.query(" UNION ALL ".join([step_n] * len(part)), params):
                rows_of.setdefault(cid, []).append((eid, kind, ts))
        again = []
        for cid, node, pid, aux, depth, _after in todo:
            rows = rows_of.get(cid)
            if not rows:
                continue
            for eid, kind, ts in sorted(rows):
                depth += 1 if kind == 1 else -1
                if depth == 0:
                    out[cid] = (eid, kind, ts)
                    break
            else:
                again.append((cid, node, pid, aux, depth, max(r[0] for r in rows)))
        todo = again
        n = 64
    return out
