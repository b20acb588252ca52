"""Matching query patterns against decoded payload terms.

Payloads are decoded by `elixir_scope.instrument.etf` into: `Atom` (with `.name`), `bool` for
true/false, `bytes` for binaries, `list` (`Charlist` for STRING_EXT), `tuple`, `dict`, `Pid`,
`ImproperList`, and a few more. A pattern written in Elixir syntax in the query matches them as
Elixir's `=` would, with two deliberate leniencies: numbers compare by value (`1` matches
`1.0`) and maps match when they hold at least the given keys (as `%{k: v} = map` does).

Ordering (`<`, `>=`, …) uses Erlang's term order, so `arg[0] > 100` on a non-number is false
for atoms (atoms sort after numbers… and are therefore *greater*); see `compare`. The planner
refuses `<`/`>` with a pattern containing `_` (there is no order for "anything").
"""

from __future__ import annotations

from typing import Any

from .nodes import (
    PAtom, PathIndex, PathKey, Pattern, PBin, PList, PMap, PNum, PPid, PTuple, PWild,
)

__all__ = ["MISSING", "match", "contains", "compare", "has_wildcard", "pattern_value", "at_path"]


class _Missing:
    """The value of a path that does not exist in the term (`state.nokey`, `arg[9]`)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _etf():
    from elixir_scope.instrument import etf

    return etf


def _atom_name(value: Any) -> str | None:
    if value is True:
        return "true"
    if value is False:
        return "false"
    name = getattr(value, "name", None)
    etf = _etf()
    if isinstance(value, etf.Atom):
        return name
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_list(value: Any) -> tuple[list, Any] | None:
    """(items, tail) for lists (tail = [] for proper lists), None for anything else."""
    etf = _etf()
    if isinstance(value, list):
        return value, []
    if isinstance(value, etf.FrozenList):
        return list(value), []
    if isinstance(value, etf.ImproperList):
        return list(value.items), value.tail
    return None


def _is_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and not isinstance(value, _etf().FrozenList)


def _map_items(value: Any):
    etf = _etf()
    if isinstance(value, dict):
        for k, v in value.items():
            yield (k.term if isinstance(k, etf.ExactKey) else k), v
    elif isinstance(value, etf.FrozenMap):
        yield from value.items()


def _is_map(value: Any) -> bool:
    return isinstance(value, (dict, _etf().FrozenMap))


def match(pat: Pattern, value: Any) -> bool:
    """Whether `value` (a decoded term) matches the pattern."""
    if value is MISSING:
        return False
    if isinstance(pat, PWild):
        return True
    if isinstance(pat, PAtom):
        return _atom_name(value) == pat.name
    if isinstance(pat, PNum):
        return _is_number(value) and value == pat.value
    if isinstance(pat, PBin):
        return isinstance(value, bytes) and value == pat.value
    if isinstance(pat, PPid):
        return isinstance(value, _etf().Pid) and str(value) == pat.text
    if isinstance(pat, PTuple):
        return (_is_tuple(value) and len(value) == len(pat.items)
                and all(match(p, v) for p, v in zip(pat.items, value)))
    if isinstance(pat, PList):
        got = _as_list(value)
        if got is None:
            return False
        items, tail = got
        n = len(pat.items)
        if pat.tail is None:
            return tail == [] and len(items) == n and all(match(p, v) for p, v in zip(pat.items, items))
        if len(items) < n or not all(match(p, v) for p, v in zip(pat.items, items)):
            return False
        rest = items[n:]
        rest_value: Any = rest if tail == [] else (_etf().ImproperList(rest, tail) if rest else tail)
        return match(pat.tail, rest_value)
    if isinstance(pat, PMap):
        if not _is_map(value):
            return False
        items = list(_map_items(value))
        return all(any(match(kp, k) and match(vp, v) for k, v in items) for kp, vp in pat.pairs)
    raise TypeError(f"unknown pattern {pat!r}")


def _children(value: Any):
    if _is_tuple(value):
        yield from value
        return
    got = _as_list(value)
    if got is not None:
        yield from got[0]
        if got[1] != []:
            yield got[1]
        return
    if _is_map(value):
        for k, v in _map_items(value):
            yield k
            yield v


def contains(pat: Pattern, value: Any, _depth: int = 0) -> bool:
    """`~`: some subterm of `value` (or `value` itself) matches `pat`; a string pattern also
    matches as a substring of any binary (or printable charlist) inside `value`."""
    if value is MISSING or _depth > 64:
        return False
    if match(pat, value):
        return True
    if isinstance(pat, PBin):
        if isinstance(value, bytes) and pat.value in value:
            return True
        if isinstance(value, _etf().Charlist):
            try:
                if pat.value.decode("utf-8") in value.text:
                    return True
            except (UnicodeDecodeError, ValueError):
                pass
        if isinstance(pat, PBin) and _atom_name(value) is not None:
            if pat.value.decode("utf-8", "replace") in _atom_name(value):  # type: ignore[operator]
                return True
    return any(contains(pat, child, _depth + 1) for child in _children(value))


def has_wildcard(pat: Pattern) -> bool:
    if isinstance(pat, PWild):
        return True
    if isinstance(pat, (PTuple,)):
        return any(has_wildcard(p) for p in pat.items)
    if isinstance(pat, PList):
        return any(has_wildcard(p) for p in pat.items) or (pat.tail is not None and has_wildcard(pat.tail))
    if isinstance(pat, PMap):
        return any(has_wildcard(k) or has_wildcard(v) for k, v in pat.pairs)
    return False


def pattern_value(pat: Pattern) -> Any:
    """The term a wildcard-free pattern denotes (for ordering comparisons)."""
    etf = _etf()
    if isinstance(pat, PAtom):
        return {"true": True, "false": False}.get(pat.name, etf.Atom(pat.name))
    if isinstance(pat, PNum):
        return pat.value
    if isinstance(pat, PBin):
        return pat.value
    if isinstance(pat, PPid):
        ident, serial = pat.text.strip("<>").split(".")[1:3]
        return etf.Pid(etf.Atom("nonode@nohost"), int(ident), int(serial), 0)
    if isinstance(pat, PTuple):
        return tuple(pattern_value(p) for p in pat.items)
    if isinstance(pat, PList):
        items = [pattern_value(p) for p in pat.items]
        return items if pat.tail is None else etf.ImproperList(items, pattern_value(pat.tail))
    if isinstance(pat, PMap):
        return {etf.freeze(pattern_value(k)): pattern_value(v) for k, v in pat.pairs}
    raise ValueError("a pattern with _ has no value")


def _rank(value: Any) -> int:
    """Erlang term order: number < atom < reference < fun < port < pid < tuple < map < [] <
    list < bitstring."""
    etf = _etf()
    if _is_number(value):
        return 0
    if _atom_name(value) is not None:
        return 1
    if isinstance(value, etf.Ref):
        return 2
    if isinstance(value, (etf.Fun, etf.Export)):
        return 3
    if isinstance(value, etf.Port):
        return 4
    if isinstance(value, etf.Pid):
        return 5
    if _is_tuple(value):
        return 6
    if _is_map(value):
        return 7
    got = _as_list(value)
    if got is not None:
        return 8 if (not got[0] and got[1] == []) else 9
    return 10  # bytes, BitBinary and anything else


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 by Erlang term order (numbers by value, atoms by name, tuples by size then
    elements, maps by size then sorted items, lists element-wise, binaries by bytes)."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 0:
        return (a > b) - (a < b)
    if ra == 1:
        x, y = _atom_name(a), _atom_name(b)
        return (x > y) - (x < y)  # type: ignore[operator]
    if ra == 5:
        x, y = (a.id, a.serial), (b.id, b.serial)
        return (x > y) - (x < y)
    if ra == 6:
        if len(a) != len(b):
            return -1 if len(a) < len(b) else 1
        return _seq(a, b)
    if ra == 7:
        ia, ib = list(_map_items(a)), list(_map_items(b))
        if len(ia) != len(ib):
            return -1 if len(ia) < len(ib) else 1
        key = _sort_key
        return _seq([k for k, _ in sorted(ia, key=key)] + [v for _, v in sorted(ia, key=key)],
                    [k for k, _ in sorted(ib, key=key)] + [v for _, v in sorted(ib, key=key)])
    if ra in (8, 9):
        la, lb = _as_list(a)[0], _as_list(b)[0]  # type: ignore[index]
        c = _seq(la, lb, prefix=True)
        return c
    x, y = bytes(getattr(a, "data", a)) if not isinstance(a, bytes) else a, \
        bytes(getattr(b, "data", b)) if not isinstance(b, bytes) else b
    return (x > y) - (x < y)


class _Key:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: "_Key") -> bool:
        return compare(self.v, other.v) < 0


def _sort_key(item: tuple) -> _Key:
    return _Key(item[0])


def _seq(a, b, prefix: bool = False) -> int:
    for x, y in zip(a, b):
        c = compare(x, y)
        if c:
            return c
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    return 0


def at_path(value: Any, path: tuple[PathIndex | PathKey, ...]) -> Any:
    """Follow `.key` / `[i]` / `["key"]` into a term; MISSING when a step does not exist."""
    for step in path:
        if value is MISSING:
            return MISSING
        if isinstance(step, PathIndex):
            if _is_tuple(value):
                seq = value
            else:
                got = _as_list(value)
                if got is None:
                    return MISSING
                seq = got[0]
            if not 0 <= step.index < len(seq):
                return MISSING
            value = seq[step.index]
        else:
            if not _is_map(value):
                return MISSING
            for k, v in _map_items(value):
                if match(step.key, k):
                    value = v
                    break
            else:
                return MISSING
    return value
