"""Tool results that fit a context window.

A result has two parts: ``structuredContent`` (the full data, validated against the tool's
output schema, for programs and for models that read JSON) and one text block - a compact
summary written for people and models, never the same data again as indented JSON.

Each tool has a byte budget for what it returns (``DEFAULT_BUDGET`` unless it says
otherwise). Lists are cut to what fits, and the result carries a ``next_cursor`` and a hint
naming the call that continues: no default result is bigger than its budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

__all__ = ["DEFAULT_BUDGET", "reply", "fit", "json_size"]

T = TypeVar("T")

# Bytes of one tool result (structured JSON + text summary): about 6k tokens, a few percent
# of a model's context window.
DEFAULT_BUDGET = 24_000


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (pydantic models dumped as the wire sends them)."""
    if isinstance(value, BaseModel):
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


def reply(model: BaseModel, summary: str) -> CallToolResult:
    """The result of a tool: ``model`` as structured content, ``summary`` as its text."""
    return CallToolResult(content=[TextContent(type="text", text=summary)],
                          structured_content=model.model_dump(mode="json", by_alias=True))
