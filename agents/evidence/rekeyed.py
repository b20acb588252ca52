"""A record moved to a new ETS key without its old row being deleted: the table holds it twice.

A table keyed by a tuple that holds a field which can change (a priority, a status, a rank in an
``:ordered_set`` used as a queue) must delete the row under the old key when that field changes:
``:ets.insert/2`` under the new key adds a second row, and whatever walks the table (a picker, a
sender, a billing run) handles the record twice. The recording shows both inserts: the same
record — the same identifier in the key, the same fields but for the changed one — under two keys,
and no delete of the first key in between.

Only when the symptom speaks of something done twice or counted too often (twice, duplicate, two
identical …, more … than): two rows sharing an identifier are otherwise ordinary (a user's sessions).

| kind | what | culprit |
| --- | --- | --- |
| ``ets_rekeyed_not_deleted`` | ``:ets.insert/2`` wrote a row whose tuple key differs from an earlier row's of the same table only where a field changed, shares an identifier with it (a text of 3 characters or more, or a number of 4 digits or more, at the same place), carries the same record but for at most two fields — and the earlier key was never deleted (``delete``, ``take``, ``delete_object``, ``select_delete``, ``match_delete``) before it | the application function that made the second insert, and both keys |
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf.terms import FrozenMap

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_caller, culprit_of

_TOO_MANY = re.compile(
    r"\b(?:twice|two times|duplicated?|duplicates|more than once|two (?:identical|same)|(?:counts?|shows?|lists?|has)"
    r" more [\w ]{1,30} than)\b", re.I)
_DELETES = frozenset({"delete", "take", "delete_object", "select_delete", "match_delete", "delete_all_objects"})
MAX_ROWS = 5000     # inserted rows remembered
MAX_FACTS = 3


def _table(t: Any) -> str:
    return fmt(t, 60)


def _ident(x: Any) -> bool:
    return (isinstance(x, bytes) and len(x) >= 3) or (isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 1000)


def _leaves(t: Any, out: list, path: str = "") -> list:
    """(path, printed value) of every leaf of ``t``, in a stable order (bounded)."""
    if len(out) > 400 or path.count("/") > 6:
        return out
    if isinstance(t, (dict, FrozenMap)):
        for k in sorted(t, key=lambda k: fmt(k, 40))[:200]:
            _leaves(t[k], out, f"{path}/{fmt(k, 40)}")
    elif isinstance(t, (list, tuple)):
        for i, x in enumerate(list(t)[:200]):
            _leaves(x, out, f"{path}/{i}")
    else:
        out.append((path, fmt(t, 80)))
    return out


def _same_record(a: tuple, b: tuple) -> bool:
    """The rows' keys are tuples of one size that share an identifier at one place and differ at
    another, and the rest of the rows differ in at most two leaves."""
    ka, kb = a[0], b[0]
    if not (isinstance(ka, tuple) and isinstance(kb, tuple) and len(ka) == len(kb) >= 2) or ka == kb:
        return False
    if not any(x == y and _ident(x) for x, y in zip(ka, kb)):
        return False
    la, lb = _leaves(a[1:], []), _leaves(b[1:], [])
    if not la or len(la) != len(lb):
        return False
    return sum(1 for x, y in zip(la, lb) if x != y) <= 2


def _objects(c: Call) -> list[tuple]:
    obj = c.args[1] if len(c.args) == 2 else None
    objs = obj if isinstance(obj, list) else [obj]
    return [o for o in objs[:100] if isinstance(o, tuple) and o]


def rekeyed_rows(view: RecordingView, book: FactBook) -> None:
    rows: dict[str, list[tuple[tuple, Call]]] = {}
    named = 0
    for c in view.calls:
        if c.module != "ets" or not c.args:
            continue
        table = _table(c.args[0])
        if c.function in _DELETES:
            if c.function in ("delete", "take") and len(c.args) == 2:
                rows[table] = [(o, x) for o, x in rows.get(table, []) if o[0] != c.args[1]]
            elif c.function == "delete_object" and len(c.args) == 2:
                rows[table] = [(o, x) for o, x in rows.get(table, []) if o != c.args[1]]
            else:
                rows[table] = []
            continue
        if c.function not in ("insert", "insert_new") or c.outcome != "return":
            continue
        for obj in _objects(c):
            earlier = next((r for r in rows.get(table, []) if _same_record(r[0], obj)), None)
            frame = app_caller(c)
            if earlier is not None and frame is not None and named < MAX_FACTS:
                named += 1
                _add(view, book, table, earlier, (obj, c), frame)
            kept = rows.setdefault(table, [])
            if len(kept) < MAX_ROWS:
                kept.append((obj, c))


def _add(view: RecordingView, book: FactBook, table: str, earlier: tuple[tuple, Call], later: tuple[tuple, Call],
         frame: Call) -> None:
    (old, first), (new, second) = earlier, later
    shared = [x for x, y in zip(old[0], new[0]) if x == y and _ident(x)]
    ident = fmt(next((x for x in shared if isinstance(x, bytes)), shared[0]), 40)
    culprit = culprit_of(view, frame, f"{fmt(new[0], 80)} inserted, {fmt(old[0], 80)} left in {table}")
    book.add(Finding(
        detector="ets_rekeyed_not_deleted",
        title=f"{culprit.where} put {ident} into {table} under a new key and left its old row: the table holds it twice",
        summary=(f"{first.parent.mfa if first.parent else 'a call'} inserted {fmt(old, 120)} into {table}; later "
                 f"{frame.mfa} inserted {fmt(new, 120)} — the same record ({ident}) with a changed field, under the "
                 f"key {fmt(new[0], 60)} — and no delete of {fmt(old[0], 60)} came between. A key that holds a field "
                 "that can change keeps the old row when the field changes: whatever walks the table finds the "
                 "record twice."),
        severity="high", confidence=0.62, culprit=culprit,
        evidence=[view.call_evidence(first, f"{fmt(old[0], 80)} inserted into {table}"),
                  view.call_evidence(second, f"{fmt(new[0], 80)} inserted into {table} by {frame.mfa}; the old key "
                                             "was never deleted")],
        signatures=["ets:rekeyed_row"],
        fix_hint=("Delete the row under the old key when a field of the key changes (:ets.delete(table, old_key) before "
                  "inserting under the new one), or key the table by the identifier alone and order elsewhere.")),
        pid=second.pid, ts=second.ts, calls=[first.call_id, second.call_id])


def analyses(symptom: str):
    """The analysis when the symptom speaks of something done or counted too often, else none."""
    return [rekeyed_rows] if _TOO_MANY.search(symptom or "") else []
