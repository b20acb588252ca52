"""The changes between two states of a process, as people read them (``state_evolution``,
the last change before a failure, report rows).

One ``Change`` per operation of the structural diff (store/diff.py): a map key added or
removed, a value replaced or turned to ``nil``, a list grown, shrunk or changed in place, or
the whole state replaced by one of another shape. Values are shown as bounded Elixir text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .diff import DEL, PUT, SET, diff


@dataclass(frozen=True, slots=True)
class Change:
    """One structural change between two states.

    kind: ``added`` / ``removed`` (map key), ``changed`` (value replaced), ``to_nil`` (a value
    turned to ``nil``), ``list_grown`` / ``list_shrunk`` / ``list_changed`` (with ``added`` and
    ``removed`` element counts), ``replaced`` (the whole state changed shape)."""

    kind: str
    path: tuple
    old: Any = None
    new: Any = None
    added: int = 0
    removed: int = 0

    def describe(self) -> str:
        where = "state" if not self.path else "state" + "".join(f"[{_fmt(k)}]" for k in self.path)
        if self.kind == "list_grown":
            return f"{where}: list grew by {self.added - self.removed}"
        if self.kind == "list_shrunk":
            return f"{where}: list shrank by {self.removed - self.added}"
        if self.kind == "list_changed":
            return f"{where}: {self.removed} list item(s) replaced by {self.added}"
        if self.kind == "added":
            return f"{where}: added = {_fmt(self.new)}"
        if self.kind == "removed":
            return f"{where}: removed (was {_fmt(self.old)})"
        if self.kind == "to_nil":
            return f"{where}: became nil (was {_fmt(self.old)})"
        return f"{where}: {_fmt(self.old)} -> {_fmt(self.new)}"


def _fmt(x: Any, limit: int = 60) -> str:
    """A short Elixir-syntax rendering of a state value (bounded: never raises, however deep
    or big the value - a state comes from the traced application)."""
    from elixir_scope.instrument.etf.inspect import inspect

    text = inspect(x, limit=8, printable_limit=limit, max_depth=8, max_chars=4 * limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_nil(x: Any) -> bool:
    return type(x).__name__ == "Atom" and getattr(x, "name", None) == "nil"


def _at(term: Any, path: list) -> Any:
    for k in path:
        term = term[k]
    return term


def changes(old: Any, new: Any) -> list[Change]:
    """The structural changes from ``old`` to ``new``, one per delta operation."""
    out: list[Change] = []
    for op in diff(old, new):
        code, path = op[0], tuple(op[1])
        if code == SET:
            before = _at(old, list(path))
            if not path and type(before) is not type(op[2]):
                out.append(Change("replaced", path, before, op[2]))
            elif _is_nil(op[2]) and not _is_nil(before):
                out.append(Change("to_nil", path, before, op[2]))
            else:
                out.append(Change("changed", path, before, op[2]))
        elif code == PUT:
            out.append(Change("added", path + (op[2],), None, op[3]))
        elif code == DEL:
            out.append(Change("removed", path + (op[2],), _at(old, list(path))[op[2]], None))
        else:
            pos, ndel, items = op[2], op[3], op[4]
            nadd = len(items)
            kind = "list_grown" if nadd > ndel else "list_shrunk" if nadd < ndel else "list_changed"
            before = _at(old, list(path))
            out.append(Change(kind, path, list(before[pos:pos + ndel]), list(items),
                              added=nadd, removed=ndel))
    return out
