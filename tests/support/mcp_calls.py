"""Calling a tool through a real MCP client session and insisting on the outcome."""

from __future__ import annotations

from typing import Any


async def ok(client: Any, name: str, args: dict | None = None) -> dict:
    """The structured result of a call that must succeed (the tool's error text otherwise)."""
    r = await client.call_tool(name, args or {})
    assert not r.is_error, f"{name}: {r.content[0].text}"
    return r.structured_content


async def err(client: Any, name: str, args: dict | None = None) -> str:
    """The error text of a call that must fail."""
    r = await client.call_tool(name, args or {})
    assert r.is_error, f"{name} unexpectedly succeeded: {r.structured_content}"
    return r.content[0].text
