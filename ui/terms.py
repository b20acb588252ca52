"""Decoded Erlang terms as bounded JSON trees for the browser's collapsible term view.

A node is ``{"k": kind, "s": text, "c": [[label, node], ...], "more": n, "mark": m}``:

- ``k``: ``map``, ``struct``, ``list``, ``tuple`` (containers, with children ``c``) or
  ``leaf``; ``s``: the term printed as Elixir prints it (``inspect``, shortened);
- ``more``: children left out (a container shows at most ``MAX_CHILDREN``; the whole tree at
  most ``MAX_NODES`` nodes, deeper than ``MAX_DEPTH`` a container is a leaf);
- ``mark`` (optional): ``changed`` (this value differs from the previous state), ``added``
  (a new map key), or ``inner`` (something below changed) — from ``store.state_changes.changes``.

Paths of changes are compared by the printed form of each step (map key or list index), which
is how they are shown too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.inspect import inspect

MAX_CHILDREN = 100
MAX_NODES = 3000
MAX_DEPTH = 16
SHORT = 160


def short(term: Any, limit: int = SHORT) -> str:
    text = inspect(term, limit=20, printable_limit=limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_text(step: Any) -> str:
    return str(step) if isinstance(step, int) and not isinstance(step, bool) else short(step, 80)


def path_text(path: tuple) -> list[str]:
    return [step_text(s) for s in path]


class _Builder:
    def __init__(self, changed: dict[tuple[str, ...], str]) -> None:
        self.budget = MAX_NODES
        self.changed = changed
        self.inner = {p[:i] for p in changed for i in range(len(p))}

    def node(self, term: Any, path: tuple[str, ...], depth: int) -> dict:
        self.budget -= 1
        out: dict[str, Any] = {"k": "leaf", "s": short(term)}
        mark = self.changed.get(path) or ("inner" if path in self.inner else None)
        if mark:
            out["mark"] = mark
        items = self._children(term)
        if items is None:
            return out
        kind, children = items
        out["k"] = kind
        if kind == "struct":
            out["name"] = short(term.get(Atom("__struct__")), 80)
        if depth >= MAX_DEPTH:
            out["k"] = "leaf"
            return out
        c = []
        for label, value in children:
            if len(c) >= MAX_CHILDREN or self.budget <= 0:
                break
            c.append([label, self.node(value, path + (label,), depth + 1)])
        out["c"] = c
        more = len(children) - len(c)
        if more:
            out["more"] = more
        return out

    @staticmethod
    def _children(term: Any) -> tuple[str, list[tuple[str, Any]]] | None:
        if isinstance(term, Mapping):
            kind = "struct" if isinstance(term.get(Atom("__struct__")), Atom) else "map"
            pairs = [(step_text(k), v) for k, v in term.items()
                     if not (kind == "struct" and k == Atom("__struct__"))]
            return kind, pairs
        if isinstance(term, tuple):
            return "tuple", [(str(i), v) for i, v in enumerate(term)]
        if isinstance(term, list) and term and type(term).__name__ != "Charlist":
            return "list", [(str(i), v) for i, v in enumerate(term)]
        return None


def term_tree(term: Any, changes: list | None = None) -> dict:
    """The JSON tree of ``term``; ``changes`` (``store.state_changes.Change`` objects) mark what changed."""
    marks: dict[tuple[str, ...], str] = {}
    for ch in changes or []:
        marks[tuple(path_text(ch.path))] = "added" if ch.kind == "added" else "changed"
    return _Builder(marks).node(term, (), 0)


def change_json(ch) -> dict:
    """One ``store.state_changes.Change`` for the browser: where, what kind, old and new (shortened)."""
    out = {"kind": ch.kind, "path": path_text(ch.path)}
    if ch.kind in ("list_grown", "list_shrunk", "list_changed"):
        out.update(added=ch.added, removed=ch.removed)
    if ch.kind != "added":
        out["old"] = short(ch.old)
    if ch.kind != "removed":
        out["new"] = short(ch.new)
    return out
