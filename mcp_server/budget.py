"""Byte budgets for results, with no MCP SDK import (the command line uses them too).

``DEFAULT_BUDGET`` is what one tool result (structured JSON + text summary) may take: about
6k tokens, a few percent of a model's context window. ``fit`` says how many leading items
of a list fit a budget, so a page is cut to what fits and continues with a cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["DEFAULT_BUDGET", "fit", "json_size"]

T = TypeVar("T")

DEFAULT_BUDGET = 24_000


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (pydantic models dumped as the wire sends them)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True)
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def fit(items: Sequence[T], budget: int, size: Callable[[T], int] = json_size, *, at_least: int = 1) -> int:
    """How many leading ``items`` fit in ``budget`` bytes (at least ``at_least`` when there
    are any, so a page always makes progress)."""
    used = 0
    for n, item in enumerate(items):
        used += size(item) + 1
        if used > budget and n >= at_least:
            return n
    return len(items)
