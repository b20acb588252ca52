"""A compact text summary of any tool result model, for the text block of a tool result.

The structured content carries the full data; the text is what a person or a model reads
first: the scalar fields on one line, then each list item on one line (its non-empty scalar
fields, ``name=value``), everything bounded - no item line over ``ITEM_CHARS`` and the whole
text within ``TEXT_BUDGET`` bytes, saying how many items it left for the structured content.
Tools with a better summary of their own build it themselves (``output.reply``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["summarize", "TEXT_BUDGET", "ITEM_CHARS"]

TEXT_BUDGET = 6_000
ITEM_CHARS = 240
_SCALARS = (str, int, float, bool)


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _scalar_fields(obj: dict[str, Any]) -> list[str]:
    out = []
    for k, v in obj.items():
        if v is None or v == "" or isinstance(v, (list, dict)):
            continue
        out.append(f"{k}={v}" if not isinstance(v, str) or " " not in v else f"{k}={v!r}")
    return out


def _item_line(item: Any) -> str:
    if isinstance(item, dict):
        return _clip(" ".join(_scalar_fields(item)), ITEM_CHARS)
    return _clip(str(item), ITEM_CHARS)


def summarize(model: BaseModel, budget: int = TEXT_BUDGET) -> str:
    data = model.model_dump(mode="json", by_alias=True)
    lines: list[str] = []
    head = _scalar_fields(data)
    if head:
        lines.append(_clip(", ".join(head), 600))
    used = sum(len(x.encode()) + 1 for x in lines)
    for key, value in data.items():
        if isinstance(value, dict) and value:
            inner = ", ".join(f"{k}: {_clip(v if isinstance(v, _SCALARS) else str(v), 80)}" for k, v in value.items())
            line = _clip(f"{key}: {inner}", 600)
            lines.append(line)
            used += len(line.encode()) + 1
        if not isinstance(value, list) or not value:
            continue
        if all(isinstance(v, _SCALARS) for v in value):
            line = _clip(f"{key}: {', '.join(map(str, value))}", 600)
            lines.append(line)
            used += len(line.encode()) + 1
            continue
        lines.append(f"{key} ({len(value)}):")
        used += len(key) + 8
        for n, item in enumerate(value):
            line = f"- {_item_line(item)}"
            if used + len(line.encode()) + 1 > budget:
                lines.append(f"… {len(value) - n} more {key} in the structured content")
                break
            lines.append(line)
            used += len(line.encode()) + 1
    return "\n".join(lines) if lines else "(empty result)"
