"""Innermost-containing lookup over properly nested byte intervals (modules in modules,
clauses in modules, `quote` blocks): which module / function clause a node belongs to."""

from __future__ import annotations

from bisect import bisect_right
from typing import Generic, TypeVar

T = TypeVar("T")


class Nested(Generic[T]):
    def __init__(self, items: list[tuple[int, int, T]]) -> None:
        items = sorted(items, key=lambda t: (t[0], -t[1]))
        self.starts = [s for s, _, _ in items]
        self.items = items
        self.parent: list[int] = []
        stack: list[int] = []
        for i, (start, _end, _) in enumerate(items):
            while stack and items[stack[-1]][1] <= start:
                stack.pop()
            self.parent.append(stack[-1] if stack else -1)
            stack.append(i)

    def __bool__(self) -> bool:
        return bool(self.items)

    def find(self, pos: int) -> T | None:
        """The innermost interval containing byte `pos` (bisect, then up the parents)."""
        i = bisect_right(self.starts, pos) - 1
        while i >= 0:
            if self.items[i][1] > pos:
                return self.items[i][2]
            i = self.parent[i]
        return None

    def sweep(self, positions: list[int]) -> list[T | None]:
        """find() for many positions at once: one merge pass when they are sorted (the query
        returns nodes in document order), bisect otherwise."""
        items, n = self.items, len(self.items)
        out: list[T | None] = []
        stack: list[tuple[int, int, T]] = []
        j = 0
        last = -1
        for pos in positions:
            if pos < last:
                return [self.find(p) for p in positions]
            last = pos
            while j < n and items[j][0] <= pos:
                item = items[j]
                while stack and stack[-1][1] <= item[0]:
                    stack.pop()
                stack.append(item)
                j += 1
            while stack and stack[-1][1] <= pos:
                stack.pop()
            out.append(stack[-1][2] if stack else None)
        return out
