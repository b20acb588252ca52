"""Map keys printed once: the walks over recorded states (:mod:`.lost`, :mod:`.overwritten`,
:mod:`.values`) label every entry by its key as ``fmt(key, limit)`` prints it, and one server's
states repeat the same thousands of keys at every step — printing them again for each recorded
state was most of those walks' cost."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..view import fmt

__all__ = ["key_text"]

_SCALAR_KEYS = (bytes, Atom, int, str)   # (a float by its repr: 0.0 and -0.0 are equal keys, printed apart)


@lru_cache(maxsize=16384, typed=True)
def _key_text(key: Any, limit: int) -> str:
    return fmt(key, limit)


def key_text(key: Any, limit: int = 40) -> str:
    """``fmt(key, limit)`` for a map key, remembered for the scalar keys (a text, an atom, a
    number) that every state of one server repeats: the walks over states label each entry by
    its key, and printing the same 2,000 keys again for each of hundreds of recorded states is
    most of their cost. ``typed``: ``1``, ``1.0`` and ``true`` are different keys; so are composite
    keys (tuples and lists of those) with the same elements of other types."""
    if isinstance(key, _SCALAR_KEYS) and not (isinstance(key, bytes) and len(key) > 256):
        return _key_text(key, limit)
    if not isinstance(key, (tuple, list, float)):
        return fmt(key, limit)
    same = _SAME.get(id(key))
    if same is not None and same[0] is key and same[1] == limit:
        return same[2]   # the very key object again (a map the states share)
    typed = _typed(key, [32])
    if typed is None:
        return fmt(key, limit)
    # a composite key ({lat, lon}, {ip, [lang: "en"]}): remembered by its elements and their
    # types (``{1, 2}`` and ``{1.0, 2}`` are equal tuples, printed differently)
    got = _COMPOSITE.get((typed, limit))
    if got is None:
        if len(_COMPOSITE) >= 16384:
            _COMPOSITE.clear()
        got = _COMPOSITE[(typed, limit)] = fmt(key, limit)
    if len(_SAME) >= 16384:
        _SAME.clear()
    _SAME[id(key)] = (key, limit, got)   # (the key is held: its id stays its own)
    return got


_COMPOSITE: dict[tuple, str] = {}
_SAME: dict[int, tuple[Any, int, str]] = {}


def _typed(t: Any, budget: list[int]) -> tuple | None:
    """A hashable stand-in for a small key made of tuples and lists of scalars, each element with
    its type; None for anything else (then the key is printed every time)."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(t, float):
        return (float, repr(t))
    if isinstance(t, _SCALAR_KEYS):
        return None if isinstance(t, bytes) and len(t) > 256 else (type(t), t)
    if isinstance(t, (tuple, list)):
        out = []
        for x in t:
            y = _typed(x, budget)
            if y is None:
                return None
            out.append(y)
        return (type(t), tuple(out))
    return None
