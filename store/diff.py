"""Structural diffs of decoded Erlang terms: the delta format for large states.

The human-readable changes shown by ``state_evolution`` are built on these diffs in
store/state_changes.py.

Delta format
============
A delta is a list of operations that turns the previous state of a process into the next one.
A *path* is a list of steps from the root: a map key (any term) when the container is a map,
an integer index (0-based) when it is a list or a tuple. Operations are tuples with an integer
code first, so they encode as plain ETF with no atoms of their own::

    (0, Path, Value)                  SET     replace the value at Path (Path [] = whole state)
    (1, Path, Key, Value)             PUT     add or replace Key in the map at Path
    (2, Path, Key)                    DEL     remove Key from the map at Path
    (3, Path, Pos, NDel, Items)       SPLICE  list at Path: lst[Pos:Pos+NDel] = Items

Applying the operations in order to the previous state gives a term *equal* to the next state
(``same``: Erlang's exact equality ``=:=``: 1 and 1.0 differ, a ``Charlist`` equals the list
of the same integers, map order is irrelevant). Stored, a delta is ``etf.encode(list_of_ops)``
(see store/states.py). ``apply`` never mutates its input: containers on the paths it touches
are copied once per application (copy-on-write), so cached states stay valid.

Lists are diffed by common prefix and suffix: a GenServer's list usually grows or shrinks at
one end, which gives one SPLICE whatever the list's length; a same-length middle section of a
few elements is diffed element by element so a nested change in one item stays small.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

SET, PUT, DEL, SPLICE = 0, 1, 2, 3
_PAIRWISE_MAX = 8


def same(a: Any, b: Any) -> bool:
    """Exact term equality (Erlang ``=:=``) over decoded terms."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if ta is not tb:
        return False
    if ta is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not same(v, b[k]):
                return False
        return True
    if ta is float:
        return a == b and str(a) == str(b)  # 0.0 =/= -0.0 (OTP 27+)
    return a == b


def diff(old: Any, new: Any) -> list[tuple]:
    """Operations turning ``old`` into ``new`` (empty if they are the same term)."""
    ops: list[tuple] = []
    _diff(old, new, [], ops)
    return ops


def _diff(a: Any, b: Any, path: list, ops: list) -> None:
    if same(a, b):
        return
    ta, tb = type(a), type(b)
    if isinstance(a, Mapping) and ta is tb:
        for k in a:
            if k not in b:
                ops.append((DEL, list(path), k))
        for k, v in b.items():
            if k not in a:
                ops.append((PUT, list(path), k, v))
            else:
                _diff(a[k], v, path + [k], ops)
        return
    if ta is tuple and tb is tuple and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, path + [i], ops)
        return
    if isinstance(a, list) and isinstance(b, list):
        n, m = len(a), len(b)
        p = 0
        while p < n and p < m and same(a[p], b[p]):
            p += 1
        s = 0
        while s < n - p and s < m - p and same(a[n - 1 - s], b[m - 1 - s]):
            s += 1
        da, db = n - p - s, m - p - s
        if da == db and 0 < da <= _PAIRWISE_MAX:
            for i in range(p, p + da):
                _diff(a[i], b[i], path + [i], ops)
        else:
            ops.append((SPLICE, list(path), p, da, list(b[p:m - s])))
        return
    ops.append((SET, list(path), b))


class DeltaError(ValueError):
    """A delta that does not fit the state it is applied to (a store bug or a damaged file)."""


def _hashable(key: Any) -> Any:
    """A map key as the decoder keeps it: a key holding a list or a map (``{"ip", [lang: "en"]}``)
    is stored in its frozen form, so a key decoded from a stored delta is frozen the same way."""
    try:
        hash(key)
        return key
    except TypeError:
        from elixir_scope.instrument.etf.terms import freeze

        return freeze(key)


def apply(base: Any, ops: list) -> Any:
    """The state after applying ``ops`` (from ``diff`` or decoded from storage) to ``base``."""
    owned: set[int] = set()
    root = base
    for op in ops:
        code = op[0]
        path = [_hashable(k) for k in op[1]]
        try:
            if code == SET:
                value = op[2]
                root = _update(root, path, 0, lambda _old, v=value: v, owned)
            elif code == PUT:
                key, value = _hashable(op[2]), op[3]
                root = _update(root, path, 0, lambda m, k=key, v=value: _put(m, k, v, owned), owned)
            elif code == DEL:
                key = _hashable(op[2])
                root = _update(root, path, 0, lambda m, k=key: _del(m, k, owned), owned)
            elif code == SPLICE:
                pos, ndel, items = op[2], op[3], op[4]
                root = _update(root, path, 0,
                               lambda lst, p=pos, d=ndel, it=items: _splice(lst, p, d, it, owned), owned)
            else:
                raise DeltaError(f"unknown delta operation code {code!r}")
        except (KeyError, IndexError, TypeError) as exc:
            raise DeltaError(f"delta operation {op[:2]!r} does not fit the state: {exc!r}") from exc
    return root


def _own(x: Any, owned: set[int]) -> Any:
    if id(x) in owned:
        return x
    t = type(x)
    y = dict(x) if t is dict else list(x) if t is list else copy.copy(x)
    owned.add(id(y))
    return y


def _update(node: Any, path: list, i: int, fn, owned: set[int]) -> Any:
    if i == len(path):
        return fn(node)
    key = path[i]
    if type(node) is tuple:
        items = list(node)
        items[key] = _update(node[key], path, i + 1, fn, owned)
        return tuple(items)
    if isinstance(node, (Mapping, list)):
        child = node[key]
        new_child = _update(child, path, i + 1, fn, owned)
        if new_child is child and id(node) in owned:
            return node
        mine = _own(node, owned)
        mine[key] = new_child
        return mine
    raise DeltaError(f"path step {key!r} goes into a {type(node).__name__}, not a container")


def _put(m: Any, key: Any, value: Any, owned: set[int]) -> Any:
    mine = _own(m, owned)
    mine[key] = value
    return mine


def _del(m: Any, key: Any, owned: set[int]) -> Any:
    mine = _own(m, owned)
    del mine[key]
    return mine


def _splice(lst: Any, pos: int, ndel: int, items: Any, owned: set[int]) -> Any:
    if not isinstance(lst, list) or pos + ndel > len(lst):
        raise DeltaError(f"splice at {pos}+{ndel} does not fit a list of {len(lst)}")
    mine = _own(lst, owned)
    mine[pos:pos + ndel] = list(items)
    return mine
