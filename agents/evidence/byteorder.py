"""Integers decoded from binaries in the wrong byte order.

| kind | what | culprit |
| --- | --- | --- |
| ``byte_order_swapped`` | a function decodes integers from binaries (``<<…, wh::32, …>>``); for some inputs the integer it returns is ten times and more above all the others, and the same bytes read in the other byte order give a value in the others' range: those inputs were written little-endian (or big-endian) and read the other way | the function, and one of those inputs |

Bounded: the first :data:`MAX_CALLS` application calls, binaries up to :data:`MAX_BYTES` bytes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of

MAX_CALLS = 20_000
MAX_BYTES = 256
SIZES = (8, 4, 2)
SPREAD = 10       # the swapped values stand this far above the others…
MIN_OTHERS = 2    # …of which there must be a few


def _ints(v: Any) -> dict[str, int]:
    """The integers of a decoded result: ``{field: n}`` of a map (or ``{:ok, map}``), or ``{"": n}``."""
    if isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "name", None) == "ok":
        v = v[1]
    if isinstance(v, int) and not isinstance(v, bool):
        return {"": v}
    if isinstance(v, dict):
        return {(k.name if isinstance(k, Atom) else fmt(k, 20)): x for k, x in v.items()
                if isinstance(x, int) and not isinstance(x, bool)}
    return {}


def _readings(data: bytes, n: int) -> tuple[str, int] | None:
    """(the byte order ``n`` was read in, the value the same bytes give in the other order)."""
    for size in SIZES:
        if n >= 1 << (8 * size) or n < 1 << 8:
            continue
        for order, other in (("big", "little"), ("little", "big")):
            window = n.to_bytes(size, order)
            if window in data:
                return order, int.from_bytes(window, other)
    return None


def swapped_byte_orders(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[tuple[Call, int, str, int]]] = defaultdict(list)
    for c in view.calls[:MAX_CALLS]:
        if c.outcome != "return" or not is_app_module(c.module):
            continue
        data = next((a for a in c.args if isinstance(a, bytes) and 4 <= len(a) <= MAX_BYTES), None)
        if data is None:
            continue
        for name, n in _ints(c.value).items():
            r = _readings(data, n)
            if r is not None:
                groups[(c.module, c.function, c.arity, name)].append((c, n, r[0], r[1]))
    found = []
    for key in sorted(groups):
        rows = groups[key]
        high = [r for r in rows if r[3] < r[1]]
        rest = [r for r in rows if r[3] >= r[1]]
        if not high or len(rest) < MIN_OTHERS:
            continue
        top, low = max(r[1] for r in rest), min(r[1] for r in rest)
        if min(r[1] for r in high) < SPREAD * top or not all(low / SPREAD <= r[3] <= top * SPREAD for r in high):
            continue
        found.append((key, high, rest, top, low))
    # the decoder itself, not the functions that call it and pass its result on
    outer = set()
    for _key, high, *_ in found:
        for r in high:
            p = r[0].parent
            while p is not None:
                outer.add(p.call_id)
                p = p.parent
    for key, high, rest, top, low in found:
        if any(r[0].call_id in outer for r in high):
            continue
        c, n, order, other = high[0]
        field = key[3]
        book.add(Finding(
            detector="byte_order_swapped",
            title=f"{c.mfa} reads {field or 'an integer'} as {n}; in the other byte order it is {other}",
            summary=(f"{c.mfa} decoded {field or 'an integer'} = {n} from {fmt(c.args[0], 60)}, {n // max(top, 1)}× the "
                     f"largest of its {len(rest)} other result(s) ({low}…{top}); the same bytes read "
                     f"{'little' if order == 'big' else 'big'}-endian give {other}, right in their range "
                     f"({len(high)} such call(s)). Those inputs were written in the other byte order than the "
                     f"decoder reads ({order}-endian)."),
            severity="high", confidence=0.76, culprit=culprit_of(view, c, c.args[0]),
            evidence=[view.call_evidence(x, f"{x.mfa}({fmt(x.args[0], 50)}) → {field or 'value'} {xn} "
                                            f"(other order: {xo})") for x, xn, _o, xo in high[:3]]
            + [view.call_evidence(rest[0][0], f"{rest[0][0].mfa} → {field or 'value'} {rest[0][1]}")],
            signatures=["data:byte_order_swapped"],
            fix_hint=("Read the field in the byte order its sender writes it — `wh::little-32` in the binary "
                      "pattern — and, when senders differ (a new device generation), choose the order by the "
                      "frame's version field.")),
            pid=c.pid, ts=c.ts)
