"""Evaluating a condition on one event in Python — the part of `where` SQL cannot answer.

Semantics shared with the SQL side (tests check both give the same answer):
- a field the event does not have (a `message` on a call, `state.nokey`, `arg[5]` of a
  2-argument call) makes its comparison false, including `!=` — "absent" is not "different";
  wrap in `not (...)` to select events without it;
- `=` matches a pattern, `~` looks for it anywhere inside (substring for strings), `in [..]`
  is any of several patterns, `< <= > >=` order by Erlang term order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import terms
from .fields import Row, meta_text, payload_field, text_matches
from .nodes import And, Compare, Cond, Not, Or, PNum
from .terms import MISSING
from .vocab import METADATA_FIELDS, TIME_FIELDS

if TYPE_CHECKING:
    from .context import QueryContext


def evaluate(cond: Cond, row: Row, qc: "QueryContext") -> bool:
    if isinstance(cond, And):
        return evaluate(cond.left, row, qc) and evaluate(cond.right, row, qc)
    if isinstance(cond, Or):
        return evaluate(cond.left, row, qc) or evaluate(cond.right, row, qc)
    if isinstance(cond, Not):
        return not evaluate(cond.operand, row, qc)
    return _compare(cond, row, qc)


def _compare(c: Compare, row: Row, qc: "QueryContext") -> bool:
    name = c.field.name
    if name == "changed":
        if int(row.event.kind) != 13:
            return False
        hit = row.event.id in qc.changed_state_ids()
        return hit == ((c.op == "=") == (getattr(c.value, "name", "true") == "true"))
    if name in TIME_FIELDS or name == "arity":
        value = meta_text(name, row, qc)
        if value is None:
            return False
        return _order(c, value)  # type: ignore[arg-type]
    if name in METADATA_FIELDS:
        text = meta_text(name, row, qc)
        if text is None:
            return False
        if c.op == "in":
            return any(text_matches(p, text) for p in c.value)  # type: ignore[union-attr]
        if c.op == "~":
            want = getattr(c.value, "name", None) or getattr(c.value, "value", b"")
            if isinstance(want, bytes):
                want = want.decode("utf-8", "replace")
            return str(want).removeprefix("Elixir.") in str(text)
        hit = text_matches(c.value, str(text))  # type: ignore[arg-type]
        return hit if c.op == "=" else not hit
    value = payload_field(name, row, qc)
    if value is MISSING:
        return False
    value = terms.at_path(value, c.field.path)
    if value is MISSING:
        return False
    op = c.op
    if op == "=":
        return terms.match(c.value, value)  # type: ignore[arg-type]
    if op == "!=":
        return not terms.match(c.value, value)  # type: ignore[arg-type]
    if op == "~":
        return terms.contains(c.value, value)  # type: ignore[arg-type]
    if op == "in":
        return any(terms.match(p, value) for p in c.value)  # type: ignore[union-attr]
    cmp = terms.compare(value, terms.pattern_value(c.value))  # type: ignore[arg-type]
    return {"<": cmp < 0, "<=": cmp <= 0, ">": cmp > 0, ">=": cmp >= 0}[op]


def _order(c: Compare, value: int) -> bool:
    if c.op == "in":
        return any(isinstance(p, PNum) and value == p.value for p in c.value)  # type: ignore[union-attr]
    want = c.value.value if isinstance(c.value, PNum) else None  # type: ignore[union-attr]
    if want is None:
        return False
    return {"=": value == want, "!=": value != want, "<": value < want, "<=": value <= want,
            ">": value > want, ">=": value >= want, "~": value == want}[c.op]
