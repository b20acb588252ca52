"""Tool results that fit a context window.

A result has two parts: ``structuredContent`` (the full data, validated against the tool's
output schema, for programs and for models that read JSON) and one text block - a compact
summary written for people and models, never the same data again as indented JSON.

Each tool has a byte budget for what it returns (``DEFAULT_BUDGET``, from ``budget``, unless it
says otherwise). Lists are cut to what fits, and the result carries a ``next_cursor`` and a
hint naming the call that continues: no default result is bigger than its budget.
"""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from ..budget import DEFAULT_BUDGET, fit, json_size

__all__ = ["DEFAULT_BUDGET", "reply", "fit", "json_size"]


def reply(model: BaseModel, summary: str) -> CallToolResult:
    """The result of a tool: ``model`` as structured content, ``summary`` as its text."""
    return CallToolResult(content=[TextContent(type="text", text=summary)],
                          structured_content=model.model_dump(mode="json", by_alias=True))
