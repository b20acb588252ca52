"""Small conversions from raw node terms to the plain values the models hold."""

from __future__ import annotations

from typing import Any

from ..etf import Atom, Charlist
from .models import MFA


def text(value: Any) -> str:
    """A charlist, binary or atom as ``str``."""
    if isinstance(value, Charlist):
        return value.text
    if isinstance(value, list):
        return "".join(map(chr, value)) if all(isinstance(c, int) for c in value) else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Atom):
        return value.name
    return str(value)


def name(value: Any) -> str | None:
    """A registered name: an atom, or ``[]`` when there is none."""
    return value.name if isinstance(value, Atom) else None


def mfa(value: Any) -> MFA | None:
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], Atom) and isinstance(value[1], Atom):
        arity = value[2] if isinstance(value[2], int) else len(value[2]) if isinstance(value[2], list) else -1
        return MFA(value[0].name, value[1].name, arity)
    return None


def proplist(items: Any) -> dict[str, Any]:
    """``[{Key, Value}]`` with atom keys -> ``{"key": value}`` (for parsing, not for models)."""
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Atom):
                out[item[0].name] = item[1]
    return out
